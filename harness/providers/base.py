"""What a model call takes and gives back. A failure is a value, never an exception."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ErrorKind = Literal[
    "rate_limit",
    "server_error",
    "timeout",
    "connection",
    "bad_response",
    "auth",
    "bad_request",
    "not_found",
    "context_window",
    "content_filter",
    "budget",
    "unknown",
]

# Worth another try: the same request may succeed a moment later.
RETRYABLE: frozenset[str] = frozenset(
    {"rate_limit", "server_error", "timeout", "connection", "bad_response"}
)


# What an HTTP status says about a failed call, below 500 (5xx is always server_error).
STATUS_KINDS: dict[int, ErrorKind] = {
    400: "bad_request",
    401: "auth",
    403: "auth",
    404: "not_found",
    408: "timeout",
    413: "context_window",
    422: "bad_request",
    429: "rate_limit",
}


def parse_retry_after(value: object) -> float | None:
    """Seconds to wait from a Retry-After header: a number, or an HTTP date."""
    if value is None:
        return None
    try:
        return max(0.0, float(str(value)))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(str(value)).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Request:
    """One chat completion to make."""

    model: str  # LiteLLM model string
    messages: tuple[dict[str, str], ...]
    params: dict[str, Any] = field(default_factory=dict)  # temperature, max_tokens, seed, ...
    api_base: str | None = None
    api_key_env: str | None = None  # the variable's name; the key itself never travels
    timeout: float = 120.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderError:
    """Why a call failed, with a kind the runner and the gate can act on."""

    kind: ErrorKind
    message: str
    retry_after: float | None = None
    status: int | None = None

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


@dataclass(frozen=True)
class Completion:
    """The answer to one request, or the error that took its place."""

    text: str | None
    error: ProviderError | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    finish_reason: str | None = None
    # self_check: the later turns sent after the request's messages (the text answers the last)
    turns: tuple[dict[str, str], ...] = ()


class Provider(Protocol):
    """Anything that turns a Request into a Completion without raising."""

    async def complete(self, request: Request) -> Completion: ...
