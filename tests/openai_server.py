"""A real loopback HTTP server that speaks the OpenAI chat-completions API, for offline tests.

Standard library only. It listens on 127.0.0.1 (a free port), answers each request on its
own thread, counts what it receives, and can be scripted to misbehave the ways real
providers do: rate limits with Retry-After, 5xx, hangs, connections cut mid-body,
malformed bodies, empty ``choices``.

    with OpenAIServer(latency_ms=50, faults=[Fault.http(429, retry_after=1)]) as server:
        ...  # point LiteLLM at server.base_url with a model like "openai/mock-a"
        assert server.count == 2

Faults are chosen per chat request, first match wins:

1. ``faults``: a list consumed in order (``None`` items mean "answer normally"), or a
   callable ``(n, body) -> Fault | None`` where ``n`` is the 1-based request number;
2. ``fail_rate``: a seeded random share of requests gets one of ``random_faults`` (the
   seed fixes the sequence of draws; under concurrency, arrival order decides which
   request gets which draw).

A fault may be given as a ``Fault`` or as a short name: "401", "429", "500", "503",
"hang", "reset", "invalid_json", "empty_choices".

``usage.prompt_tokens`` counts the words of the messages, unless a ``tokenizer`` is given:
a callable ``(messages) -> int`` that counts them the way the real provider does (a test
of cost estimates passes one built on tiktoken). ``in_flight_for`` and
``max_in_flight_for`` count, per model (the body's ``model``), requests from their arrival
until their reply starts to go out: a client that sends its next request the moment a
reply arrives is never counted twice, however slowly the server's thread winds down.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

FaultKind = Literal["status", "hang", "reset", "invalid_json", "empty_choices"]
Script = Callable[[dict[str, Any]], str] | Mapping[str, str]
FaultFn = Callable[[int, dict[str, Any]], "Fault | str | None"]
Tokenizer = Callable[[list[dict[str, Any]]], int]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_api_key",
    403: "permission_denied",
    404: "not_found_error",
    429: "rate_limit_exceeded",
    500: "server_error",
    503: "service_unavailable",
}


@dataclass(frozen=True)
class Fault:
    """One way to fail one request."""

    kind: FaultKind
    status: int = 500
    retry_after: float | str | None = None  # seconds, or an HTTP date, for the header
    seconds: float = 30.0  # how long a hang lasts (the server's shutdown cuts it short)
    message: str | None = None  # error message; "{auth}" is replaced by the bearer token
    body: str | None = None  # a raw body instead of OpenAI's error JSON (a proxy's HTML page)

    @classmethod
    def http(cls, status: int, retry_after: float | str | None = None,
             message: str | None = None, body: str | None = None) -> Fault:
        return cls("status", status=status, retry_after=retry_after, message=message,
                   body=body)

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Fault:
        return cls("hang", seconds=seconds)

    @classmethod
    def reset(cls) -> Fault:
        return cls("reset")

    @classmethod
    def invalid_json(cls) -> Fault:
        return cls("invalid_json")

    @classmethod
    def empty_choices(cls) -> Fault:
        return cls("empty_choices")

    @classmethod
    def parse(cls, spec: Fault | str) -> Fault:
        if isinstance(spec, Fault):
            return spec
        if spec.isdigit():
            status = int(spec)
            return cls.http(status, retry_after=0 if status == 429 else None)
        if spec in ("hang", "reset", "invalid_json", "empty_choices"):
            return cls(spec)  # type: ignore[arg-type]
        raise ValueError(f"unknown fault {spec!r}")


def words(text: str) -> int:
    return len(text.split())


def default_reply(body: dict[str, Any]) -> str:
    """``echo: <last user message>``: deterministic, and checks can look for the prompt."""
    return f"echo: {last_user_message(body)}"


def last_user_message(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


class _Abort(Exception):
    """Raised by a handler after it cut the connection on purpose."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # OpenAIServer.close joins the handler threads itself
    request_queue_size = 128  # bursts of concurrent connects must not overflow the backlog
    owner: OpenAIServer

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self.process_request_thread,
                                  args=(request, client_address), daemon=True)
        with self.owner._lock:
            self.owner._threads = [t for t in self.owner._threads if t.is_alive()]
            self.owner._threads.append(thread)
        thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        import traceback

        self.owner.errors.append(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest shows failures, not access logs

    def setup(self) -> None:
        super().setup()
        with self.server.owner._lock:
            self.server.owner._connections.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()
        with self.server.owner._lock:
            self.server.owner._connections.discard(self.connection)

    def handle(self) -> None:
        with contextlib.suppress(_Abort, OSError, ValueError):
            super().handle()

    # -- routes --------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            owner = self.server.owner
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "harness-tests"}
                    for m in owner.models]
            self.send_json(200, {"object": "list", "data": data})
        else:
            self.send_error_json(404, f"no route for GET {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self.send_error_json(404, f"no route for POST {self.path}")
            return
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("body is not an object")
        except ValueError as exc:
            self.send_error_json(400, f"request body is not a JSON object: {exc}")
            return
        self.server.owner._chat(self, body)

    # -- writing -------------------------------------------------------------------------

    def send_json(self, status: int, payload: Any, headers: Mapping[str, str] = {}) -> None:
        self.send_bytes(status, json.dumps(payload).encode("utf-8"), headers)

    def send_bytes(self, status: int, data: bytes, headers: Mapping[str, str] = {}) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/json", **headers}
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def send_error_json(self, status: int, message: str,
                        headers: Mapping[str, str] = {}) -> None:
        error = {"message": message, "type": _ERROR_TYPES.get(status, "error"),
                 "param": None, "code": _ERROR_TYPES.get(status)}
        self.send_json(status, {"error": error}, headers)

    def cut(self, data: bytes) -> None:
        """Send ``data`` then reset the connection (RST, not a polite FIN)."""
        self.close_connection = True
        with contextlib.suppress(OSError, ValueError):
            self.wfile.write(data)
            self.wfile.flush()
            if data:
                # Let the client read what was sent: an RST discards unread data, and the
                # point is a reply cut off in the middle, not a refused connection.
                time.sleep(0.05)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            # The socket's fd closes only when the file objects made from it are closed too.
            self.rfile.close()
            self.wfile.close()
            self.connection.close()
        raise _Abort


class OpenAIServer:
    """The server; use it as a context manager (or call ``start`` and ``close``)."""

    def __init__(
        self,
        *,
        latency_ms: float = 0,
        script: Script | None = None,
        faults: Iterable[Fault | str | None] | FaultFn | None = None,
        fail_rate: float = 0.0,
        seed: int = 0,
        random_faults: Iterable[Fault | str] = ("500", "503", "429"),
        models: Iterable[str] = ("mock-a", "mock-b"),
        finish_reason: str = "stop",
        tokenizer: Tokenizer | None = None,
    ) -> None:
        self.latency_ms = latency_ms
        self.script = script
        self.fail_rate = fail_rate
        self.random_faults = [Fault.parse(f) for f in random_faults]
        self.models = list(models)
        self.finish_reason = finish_reason
        self.tokenizer = tokenizer
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._httpd: _HTTPServer | None = None
        self._serve_thread: threading.Thread | None = None
        self.faults = faults
        self.reset()

    # -- configuration and observation ---------------------------------------------------

    @property
    def faults(self) -> list[Fault | str | None] | FaultFn | None:
        return self._faults

    @faults.setter
    def faults(self, value: Iterable[Fault | str | None] | FaultFn | None) -> None:
        with self._lock:
            self._faults = value if value is None or callable(value) else list(value)

    def reset(self) -> None:
        """Forget every request seen so far (faults and script stay)."""
        with self._lock:
            self.requests: list[dict[str, Any]] = []  # chat request bodies, in arrival order
            self.headers: list[dict[str, str]] = []  # their headers, same order
            self.per_model: Counter[str] = Counter()
            self.served: list[str] = []  # per request: "ok" or the fault kind it got
            self.in_flight = getattr(self, "in_flight", 0)  # requests still running stay
            self.max_in_flight = self.in_flight
            self.in_flight_for: Counter[str] = getattr(self, "in_flight_for", Counter())
            self.max_in_flight_for: Counter[str] = Counter(+self.in_flight_for)
            self.errors: list[str] = []  # tracebacks from inside the server (should stay [])

    @property
    def count(self) -> int:
        """Chat-completion requests received (every attempt counts)."""
        return len(self.requests)

    def count_for(self, model: str) -> int:
        return self.per_model[model]

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> OpenAIServer:
        self._stopping.clear()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._serve_thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"openai-server-{self.port}", daemon=True,
        )
        self._serve_thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # ends hangs and latency waits at once
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # wakes handlers idling on keep-alive connections
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._httpd.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join(max(0.0, deadline - time.monotonic()))
        self._httpd = None

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- behaviour -----------------------------------------------------------------------

    def reply_for(self, body: dict[str, Any]) -> str:
        script = self.script
        if script is None:
            return default_reply(body)
        if callable(script):
            return script(body)
        last = last_user_message(body)
        for needle, reply in script.items():
            if needle in last:
                return reply
        return default_reply(body)

    def _pick_fault(self, n: int, body: dict[str, Any]) -> Fault | None:
        with self._lock:
            faults = self._faults
            spec: Fault | str | None = None
            if callable(faults):
                spec = None  # called outside the lock below
            elif faults:
                spec = faults.pop(0)
            roll = self._rng.random() if self.fail_rate else 1.0
            random_pick = self._rng.choice(self.random_faults) if roll < self.fail_rate else None
        if callable(faults):
            spec = faults(n, body)
        if spec is None:
            spec = random_pick
        return None if spec is None else Fault.parse(spec)

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _chat(self, handler: _Handler, body: dict[str, Any]) -> None:
        model = str(body.get("model", ""))
        with self._lock:
            self.requests.append(body)
            self.headers.append({k.lower(): v for k, v in handler.headers.items()})
            self.per_model[model] += 1
            n = len(self.requests)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.in_flight_for[model] += 1
            self.max_in_flight_for[model] = max(self.max_in_flight_for[model],
                                                self.in_flight_for[model])
        answering = True
        try:
            fault = self._pick_fault(n, body)
            with self._lock:
                self.served.append("ok" if fault is None else _fault_name(fault))
            self._wait(self.latency_ms / 1000)
            if fault is None or fault.kind != "hang":  # a hang is still being answered
                # Stop counting once the reply starts to go out: a client may send its
                # next request before this thread has finished writing.
                with self._lock:
                    self.in_flight -= 1
                    self.in_flight_for[model] -= 1
                    answering = False
            self._respond(handler, body, model, n, fault)
        finally:
            if answering:
                with self._lock:
                    self.in_flight -= 1
                    self.in_flight_for[model] -= 1

    def _respond(self, handler: _Handler, body: dict[str, Any], model: str, n: int,
                 fault: Fault | None) -> None:
        if fault is not None and fault.kind == "status":
            headers = {}
            if fault.retry_after is not None:
                value = fault.retry_after
                headers["Retry-After"] = f"{value:g}" if isinstance(value, float | int) else value
            if fault.body is not None:
                headers["Content-Type"] = "text/html; charset=utf-8"
                handler.send_bytes(fault.status, fault.body.encode("utf-8"), headers)
                return
            auth = handler.headers.get("Authorization", "").removeprefix("Bearer ")
            message = (fault.message or f"mock failure {fault.status}").replace("{auth}", auth)
            handler.send_error_json(fault.status, message, headers)
            return
        if fault is not None and fault.kind == "hang":
            self._wait(fault.seconds)
            handler.cut(b"")
        reply = self.reply_for(body)
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        if self.tokenizer is not None:
            prompt_tokens = self.tokenizer(messages)
        else:
            prompt_tokens = sum(words(_text(m.get("content"))) for m in messages)
        completion_tokens = words(reply)
        payload: dict[str, Any] = {
            "id": f"chatcmpl-mock-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_mock",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply},
                "logprobs": None,
                "finish_reason": self.finish_reason,
            }],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        if fault is not None and fault.kind == "empty_choices":
            payload["choices"] = []
        data = json.dumps(payload).encode("utf-8")
        if fault is not None and fault.kind == "invalid_json":
            handler.send_bytes(200, data[: len(data) // 2])  # complete HTTP, broken JSON
            return
        if fault is not None and fault.kind == "reset":
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.cut(data[: len(data) // 3])
        handler.send_bytes(200, data)


def _fault_name(fault: Fault) -> str:
    return str(fault.status) if fault.kind == "status" else fault.kind
