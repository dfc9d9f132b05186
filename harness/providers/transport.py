"""A lean transport for OpenAI-compatible chat endpoints, with LiteLLM doing the thinking.

For ``openai/...`` models and OpenAI-compatible servers (vLLM, LM Studio, llama.cpp's
server, any ``api_base``), ``litellm.acompletion`` spends about 2.8 ms of CPU per call in
logging, callbacks, response objects and cost bookkeeping: on 2 cores that, not the model,
limits a large run. Here LiteLLM still resolves the model string
(``get_llm_provider``), maps the parameters (``get_optional_params``), shapes the request
(the provider's own ``transform_request``) and prices the answer (its offline table);
only the HTTP round trip goes through one shared aiohttp session. Every other provider,
and any model given ``extra`` LiteLLM arguments, takes the full ``litellm.acompletion``
path. ``HARNESS_TRANSPORT=litellm`` sends everything through LiteLLM.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from typing import Any

from harness.providers.base import (
    STATUS_KINDS,
    Completion,
    ErrorKind,
    Provider,
    ProviderError,
    Request,
    parse_retry_after,
)
from harness.providers.litellm_provider import LiteLLMProvider, load_litellm
from harness.secrets import redact

# Providers whose chat endpoint speaks the OpenAI wire format and authenticates with a
# bearer token. Others (Azure, Anthropic, Bedrock, ...) have their own shapes.
LEAN_PROVIDERS = frozenset({"openai", "custom_openai", "hosted_vllm", "lm_studio"})
OPENAI_BASE = "https://api.openai.com/v1"



@dataclass(frozen=True)
class Route:
    """Everything about a model that is the same for each of its calls."""

    model: str  # the name the server knows (LiteLLM's provider prefix removed)
    url: str
    headers: dict[str, str]
    optional_params: dict[str, Any]
    config: Any  # LiteLLM's chat config (transform_request); None for the plain route
    price_in: float | None
    price_out: float | None
    proxy: str | None = None  # from HTTP(S)_PROXY / NO_PROXY, looked up once per route


class LeanProvider:
    """OpenAI-compatible calls over a shared session; everything else via LiteLLM."""

    def __init__(self, fallback: Provider | None = None) -> None:
        self.fallback = fallback or LiteLLMProvider()
        self._routes: dict[tuple[Any, ...], Route | None] = {}
        self._session: Any = None
        self.enabled = os.environ.get("HARNESS_TRANSPORT", "lean") != "litellm"

    def _route(self, request: Request) -> Route | None:
        key = (request.model, request.api_base, request.api_key_env,
               tuple(sorted(request.params.items())), bool(request.extra))
        if key not in self._routes:
            route = self._make_route(request)
            if route is not None:
                route = replace(route, proxy=_env_proxy(route.url))
            self._routes[key] = route
        return self._routes[key]

    def _make_route(self, request: Request) -> Route | None:
        if not self.enabled or request.extra or request.model.startswith("local/"):
            return None
        return self._plain_route(request) or self._litellm_route(request)

    def _plain_route(self, request: Request) -> Route | None:
        """``openai/NAME`` at an explicit ``api_base`` where NAME is a model LiteLLM's table
        does not know (a self-hosted or proxied model). LiteLLM sends such requests in the
        plain OpenAI format, unchanged (OpenAIUnknownModelConfig; a test holds the two
        equal), so this route needs no LiteLLM import, which costs about 3 s per process."""
        from harness.cost import price

        provider, _, name = request.model.partition("/")
        if provider != "openai" or not name or not request.api_base \
                or price(request.model) is not None:
            return None
        key = "not-needed"
        if request.api_key_env:
            key = os.environ.get(request.api_key_env) or ""
            if not key:
                return None
        elif os.environ.get("OPENAI_API_KEY"):
            key = os.environ["OPENAI_API_KEY"]
        params = {k: v for k, v in request.params.items() if v is not None}
        return Route(
            model=name,
            url=request.api_base.rstrip("/") + "/chat/completions",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            optional_params=params,
            config=None,
            price_in=None,
            price_out=None,
        )

    def _litellm_route(self, request: Request) -> Route | None:
        litellm = load_litellm()
        try:
            model, provider, dynamic_key, dynamic_base = litellm.get_llm_provider(
                request.model, api_base=request.api_base)
        except Exception:  # LiteLLM does not know the string: its own path will explain
            return None
        if provider not in LEAN_PROVIDERS:
            return None
        base = request.api_base or dynamic_base
        if base is None and provider == "openai":
            base = os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE") \
                or OPENAI_BASE
        if not base:
            return None
        if request.api_key_env:
            key = os.environ.get(request.api_key_env)
            if not key:
                return None  # the LiteLLM path reports the missing variable as an auth error
        else:
            key = dynamic_key or (os.environ.get("OPENAI_API_KEY") if provider == "openai"
                                  else None) or ("not-needed" if request.api_base else None)
        if key is None:
            return None  # no key: LiteLLM's own path gives its usual auth error
        from litellm.types.utils import LlmProviders
        from litellm.utils import ProviderConfigManager

        optional = litellm.get_optional_params(
            model=model, custom_llm_provider=provider, drop_params=True, **request.params)
        config = ProviderConfigManager.get_provider_chat_config(
            model=model, provider=LlmProviders(provider))
        if config is None:
            return None
        from harness.cost import price

        unit = price(request.model)
        return Route(
            model=model,
            url=base.rstrip("/") + "/chat/completions",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            optional_params=optional,
            config=config,
            price_in=unit.input if unit else None,
            price_out=unit.output if unit else None,
        )

    async def _get_session(self) -> Any:
        if self._session is None or self._session.closed:
            import aiohttp

            # The runner limits concurrency; the connector must not add a second limit.
            # trust_env stays off: it makes aiohttp look up proxies and netrc in a thread on
            # every request; proxies are looked up once per route instead.
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def complete(self, request: Request) -> Completion:
        route = self._route(request)
        if route is None:
            return await self.fallback.complete(request)
        messages = [dict(m) for m in request.messages]
        if route.config is None:
            body = {"model": route.model, "messages": messages, **route.optional_params}
        else:
            body = route.config.transform_request(
                model=route.model, messages=messages,
                optional_params=dict(route.optional_params), litellm_params={}, headers={})
            body.update(body.pop("extra_body", None) or {})  # as the OpenAI SDK does
            if body.get("stream") is False:
                del body["stream"]  # the SDK leaves a false stream out of the request too
        payload = json.dumps(body)
        session = await self._get_session()
        import aiohttp

        started = time.perf_counter()
        try:
            async with session.post(
                route.url, data=payload, headers=route.headers, proxy=route.proxy,
                timeout=aiohttp.ClientTimeout(total=request.timeout),
            ) as response:
                raw = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            return _failed("timeout", f"no answer within {request.timeout:g} s", started)
        except aiohttp.ClientError as exc:
            return _failed("connection", f"{type(exc).__name__}: {exc}", started)
        latency = (time.perf_counter() - started) * 1000
        if status != 200:
            return Completion(None, _http_error(status, raw, retry_after), latency_ms=latency)
        return _parse(raw, route, latency)


def _env_proxy(url: str) -> str | None:
    """The proxy the environment asks for this URL (HTTP_PROXY, HTTPS_PROXY, NO_PROXY)."""
    import urllib.request
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    if urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(urlsplit(url).scheme)


def _failed(kind: ErrorKind, message: str, started: float) -> Completion:
    return Completion(None, ProviderError(kind, redact(message)[:2000]),
                      latency_ms=(time.perf_counter() - started) * 1000)


def _http_error(status: int, raw: bytes, retry_after: str | None) -> ProviderError:
    text = raw.decode("utf-8", "replace")
    message, code = text[:500], ""
    try:
        err = json.loads(text).get("error", {})
        if isinstance(err, dict):
            message = str(err.get("message") or message)
            code = str(err.get("code") or err.get("type") or "")
        elif isinstance(err, str):
            message = err
    except (ValueError, AttributeError):
        pass
    kind: ErrorKind = "server_error" if status >= 500 else STATUS_KINDS.get(status, "unknown")
    lowered = f"{code} {message}".lower()
    if "context_length" in lowered or "maximum context" in lowered:
        kind = "context_window"
    elif "content_filter" in lowered or "content_policy" in lowered:
        kind = "content_filter"
    return ProviderError(kind, redact(f"HTTP {status}: {message}")[:2000],
                         retry_after=parse_retry_after(retry_after), status=status)


def _parse(raw: bytes, route: Route, latency: float) -> Completion:
    try:
        data = json.loads(raw)
        choice = data["choices"][0]
        text = choice["message"].get("content")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        what = "no choices" if b'"choices"' in raw else "not a chat completion"
        return Completion(None, ProviderError(
            "bad_response", f"malformed response ({what}): {raw[:200]!r}"), latency_ms=latency)
    if text is not None and not isinstance(text, str):
        return Completion(None, ProviderError("bad_response", "message content is not text"),
                          latency_ms=latency)
    usage = data.get("usage") or {}
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens")
    cost = None
    if route.price_in is not None and route.price_out is not None \
            and isinstance(prompt, int) and isinstance(completion, int):
        cost = prompt * route.price_in + completion * route.price_out
    return Completion(
        text=text or "",
        prompt_tokens=prompt if isinstance(prompt, int) else None,
        completion_tokens=completion if isinstance(completion, int) else None,
        cost_usd=cost,
        latency_ms=latency,
        finish_reason=choice.get("finish_reason"),
    )
