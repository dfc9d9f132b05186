"""The LiteLLM provider: any model string LiteLLM knows, plus OpenAI-compatible servers.

LiteLLM is imported on first use only: it costs seconds to import, and ``harness --help``
or ``harness validate`` never need it.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any

from harness.providers.base import (
    STATUS_KINDS,
    Completion,
    ErrorKind,
    ProviderError,
    Request,
    parse_retry_after,
)
from harness.secrets import redact

_litellm: Any = None


def load_litellm() -> Any:
    """Import LiteLLM configured for offline, private use (once per process)."""
    global _litellm
    if _litellm is None:
        # The price table ships with LiteLLM; never fetch it from the network.
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_TELEMETRY", "False")
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        litellm.drop_params = True  # a parameter a provider lacks is dropped, not an error
        litellm.turn_off_message_logging = True
        from harness.providers import local

        local.register(litellm)  # `local/...` models resolve to the embedded model
        _litellm = litellm
    return _litellm



def classify(exc: BaseException) -> ProviderError:
    """Turn whatever LiteLLM (or the network under it) raised into a ProviderError."""
    litellm = load_litellm()
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    message = redact(f"{type(exc).__name__}: {exc}")[:2000]
    kind: ErrorKind
    if isinstance(exc, litellm.ContextWindowExceededError):
        kind = "context_window"
    elif isinstance(exc, litellm.ContentPolicyViolationError):
        kind = "content_filter"
    elif isinstance(exc, litellm.RateLimitError):
        kind = "rate_limit"
    elif isinstance(exc, (litellm.Timeout, TimeoutError)):
        kind, status = "timeout", None  # LiteLLM stamps 408 on timeouts no server sent
    elif (cause := _underlying_failure(exc)) is not None:
        # LiteLLM reports a cut connection or an unparsable body as an InternalServerError
        # with a made-up status 500; the server never sent that status.
        kind, status = cause, None
    elif isinstance(exc, (litellm.AuthenticationError, litellm.PermissionDeniedError)):
        kind = "auth"
    elif isinstance(exc, litellm.NotFoundError):
        kind = "not_found"
    elif isinstance(exc, (litellm.BadRequestError, litellm.UnprocessableEntityError)):
        kind = "bad_request"
    elif isinstance(exc, (litellm.InternalServerError, litellm.ServiceUnavailableError)) or (
        status is not None and status >= 500
    ):
        kind = "server_error"
    elif status in STATUS_KINDS:
        kind = STATUS_KINDS[status]
    elif _looks_malformed(message):
        kind = "bad_response"
    elif isinstance(exc, (litellm.APIConnectionError, ConnectionError, OSError)):
        kind = "connection"
    else:
        kind = "unknown"
    if kind == "connection" and _looks_malformed(message):
        kind = "bad_response"
    return ProviderError(kind, message, retry_after=_retry_after(exc), status=status)


def _underlying_failure(exc: BaseException) -> ErrorKind | None:
    """"connection" or "bad_response" when a transport or decoding error caused ``exc``."""
    import json

    import httpx
    import openai

    transport = (openai.APIConnectionError, httpx.TransportError, ConnectionError)
    cause = exc.__cause__ or exc.__context__
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, json.JSONDecodeError):
            return "bad_response"
        if isinstance(cause, transport):
            return "connection"
        cause = cause.__cause__ or cause.__context__
    return None


def _looks_malformed(message: str) -> bool:
    lowered = message.lower()
    return any(s in lowered for s in ("json", "decode", "validation error", "invalid response",
                                      "empty choices", "list index out of range"))


def _retry_after(exc: BaseException) -> float | None:
    headers: Any = None
    response = getattr(exc, "response", None)
    if response is not None:
        headers = getattr(response, "headers", None)
    if not headers:
        headers = getattr(exc, "litellm_response_headers", None)
    if not headers:
        return None
    try:
        return parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"))
    except AttributeError:
        return None


class LiteLLMProvider:
    """Calls ``litellm.acompletion`` once per request; retries are the runner's job."""

    async def complete(self, request: Request) -> Completion:
        litellm = load_litellm()
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": [dict(m) for m in request.messages],
            "timeout": request.timeout,
            "num_retries": 0,  # the runner retries, once, with Retry-After and jitter
            "max_retries": 0,
            **request.params,
            **request.extra,
        }
        if request.api_base:
            kwargs["api_base"] = request.api_base
        if request.api_key_env:
            key = os.environ.get(request.api_key_env)
            if not key:
                return Completion(None, ProviderError(
                    "auth", f"environment variable {request.api_key_env} is not set"))
            kwargs["api_key"] = key
        elif request.api_base and request.model.startswith("openai/") and not os.environ.get(
            "OPENAI_API_KEY"
        ):
            # Local OpenAI-compatible servers rarely check keys, but the client wants one.
            kwargs["api_key"] = "not-needed"
        started = time.perf_counter()
        try:
            response = await litellm.acompletion(**kwargs)
        except Exception as exc:  # every failure becomes data on the result
            return Completion(None, classify(exc),
                              latency_ms=(time.perf_counter() - started) * 1000)
        latency = (time.perf_counter() - started) * 1000
        completion = to_completion(response, latency)
        if request.model.startswith("local/") and completion.error is None:
            completion = replace(completion, cost_usd=0.0)  # in-process: costs nothing
        return completion


def to_completion(response: Any, latency_ms: float) -> Completion:
    """Read text, usage and cost out of a LiteLLM ModelResponse."""
    choices = getattr(response, "choices", None) or []
    if not choices:
        return Completion(None, ProviderError("bad_response", "the response had no choices"),
                          latency_ms=latency_ms)
    message = getattr(choices[0], "message", None)
    text = getattr(message, "content", None)
    if text is not None and not isinstance(text, str):
        return Completion(None, ProviderError("bad_response", "message content is not text"),
                          latency_ms=latency_ms)
    usage = getattr(response, "usage", None)
    prompt_tokens = getattr(usage, "prompt_tokens", None) if usage is not None else None
    completion_tokens = getattr(usage, "completion_tokens", None) if usage is not None else None
    hidden = getattr(response, "_hidden_params", None) or {}
    cost = hidden.get("response_cost") if isinstance(hidden, dict) else None
    if cost is None:
        cost = _cost(response)
    return Completion(
        text=text or "",
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=float(cost) if cost is not None else None,
        latency_ms=latency_ms,
        finish_reason=getattr(choices[0], "finish_reason", None),
    )


def _cost(response: Any) -> float | None:
    litellm = load_litellm()
    try:
        return float(litellm.completion_cost(completion_response=response))
    except Exception:  # unknown model in the price table: cost unknown, not zero
        return None
