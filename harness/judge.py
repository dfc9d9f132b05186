"""LLM judges whose verdicts are checked before they count.

A judge is a model asked for a verdict as JSON. Its call goes through the run's provider,
retry policy, response cache and concurrency limit, like any case's call. The reply is
parsed and validated; a reply that does not fit is quoted back with a short correction,
and a judge that still gives nothing usable ends in a judge error: never a pass or a fail.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.providers.base import Completion, Provider, Request
from harness.runner import Budget, EstimateFn, RetryPolicy, metered_call
from harness.spec.models import ModelConfig
from harness.store import ResponseCache, request_key

CORRECTIONS = 2  # re-asks after a malformed verdict: up to three calls per judge
QUOTE_CHARS = 400  # how much of a malformed reply is quoted back


class JudgeError(Exception):
    """A judge gave no usable verdict (after its corrections), or could not be reached."""


@dataclass(frozen=True)
class VerdictShape:
    """What a verdict must look like: ``hint`` is shown to the judge (the JSON shape);
    ``validate`` turns the parsed JSON into the verdict's data or raises ValueError with
    what was wrong (that message is quoted in the correction)."""

    hint: str
    validate: Callable[[Any], dict[str, Any]]


@dataclass(frozen=True)
class Verdict:
    """One judge's answer: ``data`` is the validated verdict; ``error`` is set instead when
    there is none. Usage covers every call this verdict took, corrections included."""

    model: str
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    calls: int = 0  # calls that reached the provider (retries included)
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    over_budget: bool = False  # not asked: its worst case did not fit the run's --max-cost

    def usage(self) -> dict[str, Any]:
        return {"model": self.model, "calls": self.calls, "cached_calls": self.cached_calls,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "cost_usd": self.cost_usd}


def judge_configs(models: Sequence[ModelConfig | str]) -> list[ModelConfig]:
    return [m if isinstance(m, ModelConfig) else ModelConfig(id=m) for m in models]


class JudgeClient:
    """Asks every judge model for a verdict, one call each (plus corrections)."""

    def __init__(
        self,
        provider: Provider,
        models: Sequence[ModelConfig | str],
        retry: RetryPolicy | None = None,
        cache: ResponseCache | None = None,
        semaphore: asyncio.Semaphore | None = None,
        timeout: float = 120.0,
        max_tokens: int = 1024,
        budget: Budget | None = None,
        estimate: EstimateFn | None = None,
    ) -> None:
        self.provider = provider
        self.models = judge_configs(models)
        self.retry = retry or RetryPolicy()
        self.cache = cache
        self.semaphore = semaphore
        self.timeout = timeout
        self.max_tokens = max_tokens
        # --max-cost: each judge call reserves its worst case (``estimate``) first, like a
        # case's call, and settles at what it cost, so the limit bounds model + judges.
        self.budget = budget
        self.estimate = estimate

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def with_models(self, models: Sequence[ModelConfig | str]) -> JudgeClient:
        """The same client (provider, cache, retries, concurrency) for other judges.

        A judge named only by its model string goes to the server of the run's first
        judge (``--api-base``), as a model named on the command line would.
        """
        base = self.models[0].api_base if self.models else None
        configs = [ModelConfig(id=m, api_base=None if m.startswith("local/") else base)
                   if isinstance(m, str) else m for m in models]
        return JudgeClient(self.provider, configs, self.retry, self.cache, self.semaphore,
                           self.timeout, self.max_tokens, self.budget, self.estimate)

    async def verdicts(
        self, messages: Sequence[dict[str, str]], schema_hint: VerdictShape
    ) -> list[Verdict]:
        """Every judge's verdict on ``messages``, in the order the judges were given."""
        return list(await asyncio.gather(
            *(self._verdict(model, messages, schema_hint) for model in self.models)))

    def _request(self, model: ModelConfig, messages: Sequence[dict[str, str]]) -> Request:
        # temperature 0 and a fixed seed: a judge should say the same thing twice
        params: dict[str, Any] = {"temperature": 0.0, "seed": 0,
                                  "max_tokens": model.max_tokens or self.max_tokens}
        return Request(model=model.id, messages=tuple(messages), params=params,
                       api_base=model.api_base, api_key_env=model.api_key_env,
                       timeout=model.timeout or self.timeout, extra=dict(model.extra))

    async def _call(self, request: Request) -> tuple[Completion | None, int, bool, str]:
        """The judge's reply (from the cache when it holds one); None when the budget
        cannot take the call's worst case, in which case nothing is sent."""
        key = request_key(request)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return hit, 0, True, key
        got = await metered_call(self.provider, request, self.retry, self.semaphore,
                                 self.budget, self.estimate)
        if got is None:
            return None, 0, False, key
        return got[0], got[1], False, key

    async def _verdict(self, model: ModelConfig, messages: Sequence[dict[str, str]],
                       shape: VerdictShape) -> Verdict:
        from harness.checks.format import _NOTHING, extract_json

        convo = list(messages)
        usage = _Usage()
        fresh: list[tuple[str, Request, Completion]] = []
        for attempt in range(CORRECTIONS + 1):
            request = self._request(model, convo)
            completion, attempts, cached, key = await self._call(request)
            if completion is None:
                return usage.verdict(model.name, over_budget=True, error=(
                    f"judge {model.name} not asked: its call could exceed --max-cost"))
            usage.add(completion, attempts, cached)
            if completion.error is not None or completion.text is None:
                err = completion.error
                why = f"{err.kind}: {err.message}" if err else "no text in the response"
                return usage.verdict(model.name, error=f"judge {model.name} failed: {why}")
            if not cached:
                fresh.append((key, request, completion))
            value, where = extract_json(completion.text)
            try:
                if value is _NOTHING:
                    raise ValueError(where)
                data = shape.validate(value)
            except ValueError as exc:
                problem = str(exc)
                if attempt == CORRECTIONS:
                    return usage.verdict(model.name, error=(
                        f"judge {model.name} gave no usable verdict after "
                        f"{CORRECTIONS + 1} tries: {problem}; last reply: "
                        f"{_quote(completion.text)}"))
                convo = [*convo, {"role": "assistant", "content": completion.text},
                         {"role": "user", "content": _correction(completion.text, problem,
                                                                 shape.hint)}]
                continue
            # Cache the whole exchange only once it led to a verdict, so a judge that
            # failed is asked afresh next run instead of failing from the cache.
            if self.cache is not None:
                for k, req, comp in fresh:
                    self.cache.put(k, req.model, comp)
            return usage.verdict(model.name, data=data)
        raise AssertionError("unreachable")  # the loop always returns


@dataclass
class _Usage:
    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None

    def add(self, completion: Completion, attempts: int, cached: bool) -> None:
        if cached:
            self.cached_calls += 1
            return  # an answer from the cache cost nothing this time
        self.calls += attempts
        self.prompt_tokens += completion.prompt_tokens or 0
        self.completion_tokens += completion.completion_tokens or 0
        if completion.cost_usd is not None:
            self.cost = (self.cost or 0.0) + completion.cost_usd

    def verdict(self, model: str, data: dict[str, Any] | None = None,
                error: str | None = None, over_budget: bool = False) -> Verdict:
        return Verdict(model, data or {}, error, self.calls, self.cached_calls,
                       self.prompt_tokens, self.completion_tokens, self.cost, over_budget)


def _quote(text: str) -> str:
    text = text.strip()
    return json.dumps(text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "…",
                      ensure_ascii=False)


def _correction(reply: str, problem: str, hint: str) -> str:
    return (f"Your reply could not be used ({problem}). You wrote: {_quote(reply)}\n"
            f"Answer again with only a JSON object of this shape, and nothing else:\n{hint}")


def total_usage(verdicts: Sequence[Verdict]) -> dict[str, Any]:
    """Calls, tokens and cost of a set of verdicts, for a check's evidence."""
    costs = [v.cost_usd for v in verdicts if v.cost_usd is not None]
    return {
        "calls": sum(v.calls for v in verdicts),
        "cached_calls": sum(v.cached_calls for v in verdicts),
        "prompt_tokens": sum(v.prompt_tokens for v in verdicts),
        "completion_tokens": sum(v.completion_tokens for v in verdicts),
        "cost_usd": sum(costs) if costs else None,
    }
