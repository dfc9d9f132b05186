"""Run case × model × repeat through a provider: concurrency, timeouts, retries, cache.

A provider failure never escapes: after its retries it is recorded on the result as an
error with its kind, and the run goes on.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.checks.registry import CheckInput
from harness.providers.base import Completion, Provider, ProviderError, Request
from harness.results import CaseResult, CheckRecord, ErrorRecord, Usage
from harness.spec.loader import CaseSpec, LoadedSuite
from harness.spec.models import ModelConfig
from harness.store import ResponseCache, request_key


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a retryable failure is tried again."""

    max_attempts: int = 4
    base_delay: float = 1.0  # seconds before the 2nd attempt; doubles each time
    max_delay: float = 60.0  # no single wait is longer, even when Retry-After asks for it

    def delay(self, attempt: int, error: ProviderError) -> float:
        if error.retry_after is not None:
            return min(self.max_delay, error.retry_after)
        backoff: float = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return backoff * (0.5 + random.random())  # jitter: clients do not retry in lockstep


@dataclass
class RunSettings:
    concurrency: int = 8
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    cache: ResponseCache | None = None
    repeat: int = 1


@dataclass(frozen=True)
class WorkItem:
    """One call to make: a case of a suite, for a model, for one repeat."""

    suite: LoadedSuite
    case: CaseSpec
    model: ModelConfig
    repeat: int = 0

    def request(self) -> Request:
        defaults = self.suite.defaults
        params: dict[str, Any] = {}
        for name in ("temperature", "max_tokens", "seed", "top_p"):
            value = getattr(self.model, name)
            value = getattr(defaults, name) if value is None else value
            if value is not None:
                params[name] = value
        return Request(
            model=self.model.id,
            messages=self.case.messages,
            params=params,
            api_base=self.model.api_base,
            api_key_env=self.model.api_key_env,
            timeout=self.model.timeout or defaults.timeout,
            extra=dict(self.model.extra),
        )


def resolve_models(
    suite: LoadedSuite, requested: Sequence[str], api_base: str | None
) -> list[ModelConfig]:
    """The models to run a suite on: the command line's when given, else the suite's.

    A model named on the command line keeps the settings the suite gives it (matched by
    id or label); ``--api-base`` applies to every model named on the command line.
    """
    if not requested:
        return [_local_defaults(m) for m in suite.models]
    chosen = []
    for name in requested:
        match = next((m for m in suite.models if name in (m.id, m.label)), None)
        config = match or ModelConfig(id=name)
        if api_base and not name.startswith("local/"):
            config = config.model_copy(update={"api_base": api_base})
        chosen.append(_local_defaults(config))
    return chosen


def _local_defaults(config: ModelConfig) -> ModelConfig:
    # The embedded model answers one call at a time; queueing more only inflates latency.
    if config.id.startswith("local/") and config.concurrency is None:
        return config.model_copy(update={"concurrency": 1})
    return config


def plan(
    suites: Sequence[LoadedSuite],
    models: Sequence[str] = (),
    api_base: str | None = None,
    repeat: int = 1,
) -> list[WorkItem]:
    """Every call a run will make, in a stable order."""
    return [
        WorkItem(suite, case, model, r)
        for suite in suites
        for model in resolve_models(suite, models, api_base)
        for case in suite.cases
        for r in range(repeat)
    ]


ProgressFn = Callable[[CaseResult], None]


async def call_with_retries(
    provider: Provider, request: Request, policy: RetryPolicy
) -> tuple[Completion, int]:
    """Call until success, a failure not worth retrying, or the attempts run out."""
    attempt = 0
    while True:
        attempt += 1
        try:
            # A safety net above the provider's own timeout: a hung call must end.
            completion = await asyncio.wait_for(
                provider.complete(request), timeout=request.timeout + 5
            )
        except TimeoutError:
            completion = Completion(None, ProviderError(
                "timeout", f"no answer within {request.timeout:g} s"))
        error = completion.error
        if error is None or not error.retryable or attempt >= policy.max_attempts:
            return completion, attempt
        await asyncio.sleep(policy.delay(attempt, error))


def score(item: WorkItem, completion: Completion, attempts: int, cached: bool) -> CaseResult:
    """Run the case's checks on a completion and build its result."""
    case = item.case
    checks: list[CheckRecord] = []
    if completion.error is None and completion.text is not None:
        inp = CheckInput(
            output=completion.text,
            model=item.model.name,
            case_id=case.id,
            vars=case.vars,
            context=case.context,
            messages=case.messages,
            latency_ms=completion.latency_ms,
            cost_usd=completion.cost_usd,
        )
        for bound in case.checks:
            verdict = bound(inp)
            checks.append(CheckRecord(
                check=bound.name, args=bound.args, negate=bound.negate, passed=verdict.passed,
                score=verdict.score, reason=verdict.reason, evidence=verdict.evidence,
            ))
        status = "passed" if all(c.passed for c in checks) else "failed"
        error = None
    else:
        status = "error"
        err = completion.error or ProviderError("bad_response", "no text in the response")
        error = ErrorRecord(kind=err.kind, message=err.message, attempts=attempts,
                            status=err.status)
    request = item.request()
    return CaseResult(
        suite=item.suite.name,
        case_id=case.id,
        model=item.model.name,
        model_id=item.model.id,
        repeat=item.repeat,
        status=status,
        tags=list(case.tags),
        source=case.source,
        vars=case.vars,
        context=list(case.context),
        messages=[dict(m) for m in case.messages],
        params=request.params,
        output=completion.text,
        error=error,
        usage=Usage(prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens),
        cost_usd=completion.cost_usd,
        latency_ms=completion.latency_ms,
        cached=cached,
        attempts=attempts,
        finish_reason=completion.finish_reason,
        checks=checks,
    )


async def execute(
    items: Sequence[WorkItem],
    provider: Provider,
    settings: RunSettings,
    on_result: ProgressFn | None = None,
    results: list[CaseResult] | None = None,
) -> list[CaseResult]:
    """Run every item; results are appended to ``results`` as they finish (so a caller
    interrupted half-way still holds everything that completed)."""
    done = results if results is not None else []
    overall = asyncio.Semaphore(settings.concurrency)
    per_model = {
        item.model.name: asyncio.Semaphore(item.model.concurrency or settings.concurrency)
        for item in items
    }

    async def one(item: WorkItem) -> None:
        request = item.request()
        key = request_key(request, item.repeat)
        cached = settings.cache.get(key) if settings.cache is not None else None
        if cached is not None:
            result = score(item, cached, attempts=0, cached=True)
        else:
            async with per_model[item.model.name], overall:
                completion, attempts = await call_with_retries(provider, request,
                                                               settings.retry)
            if settings.cache is not None:
                settings.cache.put(key, request.model, completion)
            result = score(item, completion, attempts, cached=False)
        done.append(result)
        if on_result is not None:
            on_result(result)

    await asyncio.gather(*(one(item) for item in items))
    order = {(i.suite.name, i.case.id, i.model.name, i.repeat): n for n, i in enumerate(items)}
    done.sort(key=lambda r: order.get(r.key, len(order)))
    return done


class Progress:
    """A one-line progress bar on a terminal; a line every few seconds elsewhere."""

    def __init__(self, total: int, stream: Any, interactive: bool) -> None:
        self.total = total
        self.stream = stream
        self.interactive = interactive
        self.started = time.monotonic()
        self.last_print = 0.0
        self.counts = {"passed": 0, "failed": 0, "error": 0}

    def __call__(self, result: CaseResult) -> None:
        self.counts[result.status] += 1
        now = time.monotonic()
        finished = sum(self.counts.values()) == self.total
        if self.interactive or finished or now - self.last_print >= 5:
            self.last_print = now
            self.draw(end="\n" if finished else "")

    def draw(self, end: str = "") -> None:
        done = sum(self.counts.values())
        width = 24
        filled = int(width * done / self.total) if self.total else width
        elapsed = time.monotonic() - self.started
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
            f"passed {self.counts['passed']} · failed {self.counts['failed']} · "
            f"errors {self.counts['error']} · {elapsed:5.1f}s"
        )
        if self.interactive:
            self.stream.write("\r" + line + end)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
