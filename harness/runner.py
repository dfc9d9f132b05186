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

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.suite.name, self.case.id, self.model.name, self.repeat)

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


def score(
    item: WorkItem, request: Request, completion: Completion, attempts: int, cached: bool
) -> CaseResult:
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


@dataclass
class Budget:
    """A spending limit: a call starts only if what it may cost still fits."""

    limit: float
    spent: float = 0.0
    reserved: float = 0.0
    refused: int = 0

    def reserve(self, estimate: float) -> bool:
        if self.spent + self.reserved + estimate > self.limit + 1e-12:
            self.refused += 1
            return False
        self.reserved += estimate
        return True

    def settle(self, estimate: float, actual: float | None) -> None:
        self.reserved -= estimate
        # An unknown actual cost counts as its estimate: never assume a call was free.
        self.spent += estimate if actual is None else actual


EstimateFn = Callable[[Request], float | None]


@dataclass
class Outcome:
    """What a run did: its results, and why it stopped early if it did."""

    results: list[CaseResult]
    not_run: list[WorkItem] = field(default_factory=list)
    stopped: str | None = None  # None, "interrupted" or "max_cost"


async def execute(
    items: Sequence[WorkItem],
    provider: Provider,
    settings: RunSettings,
    on_result: ProgressFn | None = None,
    results: list[CaseResult] | None = None,
    stop: asyncio.Event | None = None,
    budget: Budget | None = None,
    estimate: EstimateFn | None = None,
) -> Outcome:
    """Run every item; each result is appended to ``results`` and passed to ``on_result``
    the moment it is finished, so a caller interrupted half-way keeps everything done.

    Concurrency is limited globally and per model: each model has its own queue and
    workers, and all share one FIFO semaphore, so a slow model cannot starve a fast one.
    Setting ``stop`` cancels calls in flight (they count as not run); a ``budget`` stops
    new calls once the next one might exceed it.
    """
    done = results if results is not None else []
    overall = asyncio.Semaphore(settings.concurrency)
    queues: dict[str, list[WorkItem]] = {}
    limits: dict[str, int] = {}
    for item in items:
        queues.setdefault(item.model.name, []).append(item)
        limits[item.model.name] = min(settings.concurrency,
                                      item.model.concurrency or settings.concurrency)
    for queue in queues.values():
        queue.reverse()  # pop() from the end keeps plan order
    stopped: str | None = None

    async def one(item: WorkItem) -> None:
        nonlocal stopped
        request = item.request()
        key = request_key(request, item.repeat)
        cached = settings.cache.get(key) if settings.cache is not None else None
        if cached is not None:
            result = score(item, request, cached, attempts=0, cached=True)
        else:
            cost_guess = 0.0
            if budget is not None:
                cost_guess = (estimate(request) if estimate else None) or 0.0
                if not budget.reserve(cost_guess):
                    stopped = stopped or "max_cost"
                    return
            completion: Completion | None = None
            try:
                async with overall:
                    completion, attempts = await call_with_retries(provider, request,
                                                                   settings.retry)
            finally:
                if budget is not None:  # a cancelled call counts as its estimate
                    budget.settle(cost_guess, completion.cost_usd if completion else None)
            if settings.cache is not None:
                settings.cache.put(key, request.model, completion)
            result = score(item, request, completion, attempts, cached=False)
        done.append(result)
        if on_result is not None:
            on_result(result)

    async def worker(queue: list[WorkItem]) -> None:
        while queue and stopped is None:
            await one(queue.pop())

    workers = [asyncio.create_task(worker(queue))
               for name, queue in queues.items() for _ in range(limits[name])]
    waiter = asyncio.create_task(stop.wait()) if stop is not None else None
    try:
        pending: set[asyncio.Task[Any]] = set(workers)
        while pending:
            watch = pending | ({waiter} if waiter is not None else set())
            finished, _ = await asyncio.wait(watch, return_when=asyncio.FIRST_COMPLETED)
            if waiter is not None and waiter in finished:
                stopped = "interrupted"
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                break
            for task in finished:
                if task is not waiter:
                    task.result()  # a bug in the runner itself must not pass silently
            pending -= finished
    finally:
        if waiter is not None:
            waiter.cancel()
        for task in workers:
            task.cancel()
    order = {item.key: n for n, item in enumerate(items)}
    done.sort(key=lambda r: order.get(r.key, len(order)))
    finished_keys = {r.key for r in done}
    not_run = [item for item in items if item.key not in finished_keys]
    if stopped is None and not_run:
        stopped = "max_cost" if budget is not None and budget.refused else "interrupted"
    return Outcome(done, not_run, stopped)


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
