"""What a model call takes and gives back. A failure is a value, never an exception."""

from __future__ import annotations

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


class Provider(Protocol):
    """Anything that turns a Request into a Completion without raising."""

    async def complete(self, request: Request) -> Completion: ...
