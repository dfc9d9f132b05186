"""The response cache (a finished, successful call is never paid for twice) and the run
store (every result of every run, written as it finishes).

SQLite, one row per request key. The key is a hash of the model string, the server, the
messages and the generation parameters; API keys never enter it, and neither the key nor
the row holds any secret.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.providers.base import Completion, Request
from harness.results import CaseResult, ResultKey

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    body TEXT NOT NULL,
    created REAL DEFAULT (unixepoch('subsec'))
)
"""


def request_key(request: Request, repeat: int = 0, prompt: str | None = None) -> str:
    """A stable hash of everything that changes the answer (and nothing secret)."""
    payload: dict[str, Any] = {
        "model": request.model,
        "api_base": request.api_base,
        "messages": list(request.messages),
        "params": request.params,
        "extra": request.extra,
        "repeat": repeat,  # each repeat is its own sample, so each has its own key
    }
    if prompt is not None:
        # two variants that send the same text are still separate samples (sampled at a
        # temperature, sharing one answer would hide their difference); keys of suites
        # without variants stay as they were
        payload["prompt"] = prompt
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _connect(path: Path, schema: str) -> sqlite3.Connection:
    """A SQLite database in WAL mode, usable from any thread (callers hold a lock).

    Several processes may open the same file at once (pytest-xdist workers, two runs
    sharing a cache). Switching to WAL and creating the tables need a moment of exclusive
    access, which SQLite refuses at once ("database is locked") instead of waiting for, so
    those steps are retried for a while before giving up.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    deadline = time.monotonic() + 30
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives the process dying (not a power cut),
            # and costs tens of microseconds instead of an fsync.
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(schema)
            return db
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                db.close()
                raise
            time.sleep(0.02 + random.random() * 0.05)


class ResponseCache:
    """Successful completions by request key."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = _connect(self.path, SCHEMA)

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


RUNS_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'running',
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL,
    suite TEXT NOT NULL,
    case_id TEXT NOT NULL,
    model TEXT NOT NULL,
    repeat INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, suite, case_id, model, repeat)
) WITHOUT ROWID;
"""

# A result's prompt variant shares the case_id column (after a unit separator, which no id
# holds), so the primary key of stores made before prompt variants still tells them apart.
PROMPT_SEP = "\x1f"


def _stored_case(case_id: str, prompt: str | None) -> str:
    return case_id if prompt is None else f"{case_id}{PROMPT_SEP}{prompt}"


class UnknownRun(LookupError):
    """A run id (or 'last') that the store does not hold."""


class RunStore:
    """Every run and each of its results, written the moment a result is finished.

    Results are committed as they finish (the session groups those finished in the same
    event-loop turn into one transaction), in WAL mode: a process killed at any instant
    keeps every result committed, which is what makes ``--resume`` exact.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = _connect(self.path, RUNS_SCHEMA)

    def create_run(self, run_id: str, created_at: str, config: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO runs (run_id, created_at, config) VALUES (?, ?, ?)",
                (run_id, created_at, json.dumps(config, sort_keys=True)),
            )

    def resolve(self, run_id: str) -> str:
        """``run_id`` itself, or the newest run for 'last'; UnknownRun otherwise."""
        with self._lock:
            if run_id == "last":
                row = self._db.execute(
                    "SELECT run_id FROM runs ORDER BY created_at DESC, rowid DESC LIMIT 1"
                ).fetchone()
            else:
                row = self._db.execute(
                    "SELECT run_id FROM runs WHERE run_id = ?", (run_id,)
                ).fetchone()
        if row is None:
            known = ", ".join(r for r, in self.recent(5)) or "none yet"
            raise UnknownRun(f"no run '{run_id}' in {self.path} (recent runs: {known})")
        return str(row[0])

    def recent(self, limit: int = 10) -> list[tuple[str]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT run_id FROM runs ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)
            ).fetchall()
        return [(str(r[0]),) for r in rows]

    def run_info(self, run_id: str) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute(
                "SELECT created_at, config, status, finished_at FROM runs WHERE run_id = ?",
                (run_id,),
            ).fetchone()
        if row is None:
            raise UnknownRun(f"no run '{run_id}' in {self.path}")
        return {"run_id": run_id, "created_at": row[0], "config": json.loads(row[1]),
                "status": row[2], "finished_at": row[3]}

    def update_config(self, run_id: str, config: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET config = ? WHERE run_id = ?",
                             (json.dumps(config, sort_keys=True), run_id))

    def set_status(self, run_id: str, status: str, finished_at: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                (status, finished_at, run_id),
            )

    def add(self, run_id: str, result: CaseResult) -> None:
        """Store one finished result (replacing an earlier one with the same key)."""
        self.add_many(run_id, [result])

    def add_many(self, run_id: str, results: list[CaseResult]) -> None:
        """Store finished results in one transaction (a group commit)."""
        rows = [(run_id, r.suite, _stored_case(r.case_id, r.prompt), r.model, r.repeat,
                 r.model_dump_json())
                for r in results]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO results (run_id, suite, case_id, model, repeat, "
                    "body) VALUES (?, ?, ?, ?, ?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def finished(self, run_id: str) -> set[ResultKey]:
        with self._lock:
            rows = self._db.execute(
                "SELECT suite, case_id, model, repeat FROM results WHERE run_id = ?", (run_id,)
            ).fetchall()
        keys: set[ResultKey] = set()
        for s, c, m, r in rows:
            case_id, _, prompt = str(c).partition(PROMPT_SEP)
            keys.add((str(s), case_id, str(m), int(r), prompt or None))
        return keys

    def results(self, run_id: str) -> Iterator[CaseResult]:
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM results WHERE run_id = ?", (run_id,)
            ).fetchall()
        for (body,) in rows:
            yield CaseResult.model_validate_json(body)

    def close(self) -> None:
        with self._lock:
            self._db.close()
