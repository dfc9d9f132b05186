"""Run case × model × repeat through a provider: concurrency, timeouts, retries, cache.

A provider failure never escapes: after its retries it is recorded on the result as an
error with its kind, and the run goes on.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from harness.checks.registry import CheckInput, CheckResult
from harness.failures import classify
from harness.providers.base import Completion, Provider, ProviderError, Request
from harness.results import CaseResult, CheckRecord, ErrorRecord, ResultKey, Usage
from harness.spec.loader import CaseSpec, LoadedSuite
from harness.spec.models import ModelConfig
from harness.store import ResponseCache, request_key

if TYPE_CHECKING:
    from harness.judge import JudgeClient


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
    judges: list[ModelConfig] = field(default_factory=list)  # --judge: overrides the suites'


@dataclass(frozen=True)
class WorkItem:
    """One call to make: a case of a suite, for a model, for one repeat."""

    suite: LoadedSuite
    case: CaseSpec
    model: ModelConfig
    repeat: int = 0

    @property
    def key(self) -> ResultKey:
        return (self.suite.name, self.case.id, self.model.name, self.repeat, self.case.prompt)

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


def combine_turns(first: Completion, second: Completion,
                  turns: tuple[dict[str, str], ...]) -> Completion:
    """One completion for a two-turn exchange: the second reply, with tokens, cost and
    latency of both calls (unknown when either is unknown)."""
    def total(a: float | int | None, b: float | int | None) -> Any:
        return None if a is None or b is None else a + b

    return replace(
        second,
        prompt_tokens=total(first.prompt_tokens, second.prompt_tokens),
        completion_tokens=total(first.completion_tokens, second.completion_tokens),
        cost_usd=total(first.cost_usd, second.cost_usd),
        latency_ms=total(first.latency_ms, second.latency_ms),
        turns=turns,
    )


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
    item: WorkItem, request: Request, completion: Completion, attempts: int, cached: bool,
    judge: JudgeClient | None = None,
) -> CaseResult:
    """Run the case's checks on a completion and build its result.

    A case with an async check (an LLM judge) is scored on an event loop of its own; in
    the runner, ``score_async`` awaits it on the run's loop instead.
    """
    if completion.error is None and completion.text is not None and any(
        b.is_async for b in item.case.checks
    ):
        return asyncio.run(score_async(item, request, completion, attempts, cached, judge))
    inp = _check_input(item, completion, judge)
    verdicts = [bound(inp) for bound in item.case.checks] if inp is not None else []
    return _result(item, request, completion, attempts, cached, verdicts)


async def score_async(
    item: WorkItem, request: Request, completion: Completion, attempts: int, cached: bool,
    judge: JudgeClient | None = None,
) -> CaseResult:
    """``score``, awaiting async checks; they run concurrently with one another."""
    inp = _check_input(item, completion, judge)
    verdicts: list[CheckResult] = []
    if inp is not None:
        verdicts = list(await asyncio.gather(*(b.run_async(inp) for b in item.case.checks)))
    return _result(item, request, completion, attempts, cached, verdicts)


def _check_input(
    item: WorkItem, completion: Completion, judge: JudgeClient | None
) -> CheckInput | None:
    if completion.error is not None or completion.text is None:
        return None
    case = item.case
    return CheckInput(
        output=_answer(case, completion.text) or completion.text,
        model=item.model.name,
        case_id=case.id,
        vars=case.vars,
        context=case.context,
        messages=case.messages,
        latency_ms=completion.latency_ms,
        cost_usd=completion.cost_usd,
        judge=judge,
    )


def _result(
    item: WorkItem, request: Request, completion: Completion, attempts: int, cached: bool,
    verdicts: list[CheckResult],
) -> CaseResult:
    case = item.case
    answer = _answer(case, completion.text)  # step_by_step: once, for the mode and the record
    checks: list[CheckRecord] = []
    error: ErrorRecord | None = None
    if completion.error is None and completion.text is not None:
        for bound, verdict in zip(case.checks, verdicts, strict=True):
            checks.append(CheckRecord(
                check=bound.name, args=bound.args, negate=bound.negate, passed=verdict.passed,
                score=verdict.score, reason=verdict.reason, evidence=verdict.evidence,
                error=verdict.error,
            ))
        judge_errors = [f"{c.check}: {c.error}" for c in checks if c.error is not None]
        if judge_errors:
            # No verdict is neither a pass nor a fail: the case is an error, like a
            # provider failure, and the gate decides what it means.
            status = "error"
            error = ErrorRecord(kind="judge", message="; ".join(judge_errors))
        else:
            status = "passed" if all(c.passed for c in checks) else "failed"
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
        judge_cost_usd=_judge_cost(checks),
        latency_ms=completion.latency_ms,
        cached=cached,
        attempts=attempts,
        finish_reason=completion.finish_reason,
        checks=checks,
        group=case.group,
        variant=dict(case.variant),
        # what the checks read: a step_by_step reasoning that opens like a refusal is not one
        failure_mode=classify(status, checks, answer or completion.text),
        prompt=case.prompt,
        answer=answer if completion.error is None else None,
        turns=list(completion.turns),
    )


def second_turn_bound(case: CaseSpec, request: Request,
                      answer: str | None = None) -> Request | None:
    """self_check: the second turn after ``answer``, by default as large as it can be (a
    first answer of max_tokens), so a case starts only when both of its turns fit the
    budget (a first answer paid for and then left without its second turn would be money
    spent on nothing) and ``--dry-run`` counts both turns. None without self_check."""
    if case.revise is None:
        return None
    # 4096: harness.cost.DEFAULT_MAX_TOKENS (not imported: it loads the price table)
    longest = "x " * int(request.params.get("max_tokens") or 4096)
    return replace(request, messages=(*request.messages,
                                      {"role": "assistant",
                                       "content": longest if answer is None else answer},
                                      {"role": "user", "content": case.revise}))


def _answer(case: CaseSpec, text: str | None) -> str | None:
    """step_by_step: the final answer after the marker (None: no marker or no text)."""
    if case.answer_marker is None or text is None:
        return None
    from harness.patterns import extract_answer

    return extract_answer(text, case.answer_marker)


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

    def settle(self, estimate: float, actual: float | None, held: float = 0.0) -> None:
        """A call reserved at ``estimate`` ended; ``held`` (reserved for a later turn that
        reserves its own estimate when it starts) is released."""
        self.reserved -= estimate + held
        # An unknown actual cost counts as its estimate: never assume a call was free.
        self.spent += estimate if actual is None else actual


EstimateFn = Callable[[Request], float | None]


async def metered_call(
    provider: Provider, request: Request, retry: RetryPolicy,
    semaphore: asyncio.Semaphore | None = None, budget: Budget | None = None,
    estimate: EstimateFn | None = None, then: Request | None = None,
) -> tuple[Completion, int] | None:
    """One call with retries, under ``semaphore`` and within ``budget``: its worst case
    (and that of ``then``, a later turn that must fit too, held until this call ends) is
    reserved first; None when that does not fit, and nothing is sent. The models' calls
    and the judges' go through here, so ``--max-cost`` bounds them alike; an unpriced
    call reserves nothing."""
    guess = hold = 0.0
    if budget is not None:
        guess = (estimate(request) if estimate else None) or 0.0
        hold = (estimate(then) if estimate and then else None) or 0.0
        if not budget.reserve(guess + hold):
            return None
    completion: Completion | None = None
    try:
        if semaphore is None:
            completion, attempts = await call_with_retries(provider, request, retry)
        else:
            async with semaphore:
                completion, attempts = await call_with_retries(provider, request, retry)
    finally:
        if budget is not None:  # a cancelled call counts as its estimate
            budget.settle(guess, completion.cost_usd if completion else None, held=hold)
    return completion, attempts


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
    judges = _judge_clients(items, provider, settings, overall, budget, estimate)

    async def scored(item: WorkItem, request: Request, completion: Completion,
                     attempts: int, cached: bool) -> CaseResult:
        if not item.case.has_async_checks:  # the common case stays synchronous and fast
            return score(item, request, completion, attempts, cached)
        return await score_async(item, request, completion, attempts, cached,
                                 judges.get(item.suite.name))

    async def call(item: WorkItem, request: Request,
                   then: Request | None = None) -> tuple[Completion, int, bool] | None:
        """One call through the cache and the budget; None when the budget refuses it.
        ``then``: a second turn that must fit too, held until this call ends."""
        nonlocal stopped
        key = request_key(request, item.repeat, item.case.prompt)
        cached = settings.cache.get(key) if settings.cache is not None else None
        if cached is not None:
            return cached, 0, True
        got = await metered_call(provider, request, settings.retry, overall, budget,
                                 estimate, then)
        if got is None:
            stopped = stopped or "max_cost"
            return None
        completion, attempts = got
        if settings.cache is not None:
            settings.cache.put(key, request.model, completion)
        return completion, attempts, False

    async def one(item: WorkItem) -> None:
        nonlocal stopped
        request = item.request()
        first = await call(item, request, second_turn_bound(item.case, request)
                           if budget is not None else None)
        if first is None:
            return
        completion, attempts, was_cached = first
        if item.case.revise is not None and completion.error is None \
                and completion.text is not None:
            # self_check: a second turn with the first answer, through the same path
            turns = ({"role": "assistant", "content": completion.text},
                     {"role": "user", "content": item.case.revise})
            second = await call(item, replace(request, messages=(*request.messages, *turns)))
            if second is None:
                return
            completion = combine_turns(completion, second[0], turns)
            attempts += second[1]
            was_cached = was_cached and second[2]
        result = await scored(item, request, completion, attempts, cached=was_cached)
        if budget is not None and _judge_over_budget(result):
            # A judge the budget had no room for: the case is not finished, so it is not
            # recorded; a resume judges it (its answer comes from the cache).
            stopped = stopped or "max_cost"
            return
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


def _judge_cost(checks: Sequence[CheckRecord]) -> float | None:
    """What the judges of a result's checks cost (None: no judge was called, or none
    was priced); calls answered from the cache cost nothing."""
    costs = [usage["cost_usd"] for c in checks
             if isinstance(usage := c.evidence.get("judge_usage"), dict)
             and isinstance(usage.get("cost_usd"), (int, float))]
    return sum(costs) if costs else None


def _judge_over_budget(result: CaseResult) -> bool:
    from harness.checks.judge import OVER_BUDGET

    return any(c.evidence.get(OVER_BUDGET) for c in result.checks)


def _judge_clients(
    items: Sequence[WorkItem], provider: Provider, settings: RunSettings,
    semaphore: asyncio.Semaphore, budget: Budget | None = None,
    estimate: EstimateFn | None = None,
) -> dict[str, JudgeClient]:
    """Per suite, the client its judge checks call: the command line's judges when given,
    else the suite's; one provider, cache, retry policy, concurrency limit and budget for
    all."""
    from harness.judge import JudgeClient

    clients: dict[str, JudgeClient] = {}
    by_models: dict[tuple[str, ...], JudgeClient] = {}
    for item in items:
        suite = item.suite
        if suite.name in clients or not item.case.has_async_checks:
            continue
        # A client without models still serves checks that name their own judges.
        models = settings.judges or suite.judges
        key = tuple(m.model_dump_json() for m in models)
        if key not in by_models:
            by_models[key] = JudgeClient(provider, models, settings.retry, settings.cache,
                                         semaphore, timeout=suite.defaults.timeout,
                                         budget=budget, estimate=estimate)
        clients[suite.name] = by_models[key]
    return clients


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
