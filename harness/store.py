"""The response cache: a finished, successful call is never paid for twice.

SQLite, one row per request key. The key is a hash of the model string, the server, the
messages and the generation parameters; API keys never enter it, and neither the key nor
the row holds any secret.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from harness.providers.base import Completion, Request

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    body TEXT NOT NULL,
    created REAL DEFAULT (unixepoch('subsec'))
)
"""


def request_key(request: Request, repeat: int = 0) -> str:
    """A stable hash of everything that changes the answer (and nothing secret)."""
    payload = {
        "model": request.model,
        "api_base": request.api_base,
        "messages": list(request.messages),
        "params": request.params,
        "extra": request.extra,
        "repeat": repeat,  # each repeat is its own sample, so each has its own key
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """Successful completions by request key."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        body: dict[str, Any] = json.loads(row[0])
        return Completion(
            text=body["text"],
            prompt_tokens=body.get("prompt_tokens"),
            completion_tokens=body.get("completion_tokens"),
            cost_usd=body.get("cost_usd"),
            latency_ms=body.get("latency_ms"),
            finish_reason=body.get("finish_reason"),
        )

    def put(self, key: str, model: str, completion: Completion) -> None:
        if completion.error is not None or completion.text is None:
            return  # only answers are cached; an error must be retried next time
        body = json.dumps({
            "text": completion.text,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "cost_usd": completion.cost_usd,
            "latency_ms": completion.latency_ms,
            "finish_reason": completion.finish_reason,
        })
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, model, body) VALUES (?, ?, ?)",
                (key, model, body),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
