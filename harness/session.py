"""A run from start to RunLog: load, plan, select, resume, execute into the run store.

The CLI and the pytest plugin both drive runs through this module; it prints nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import os
import secrets
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from harness import __version__
from harness.errors import Problem, SuiteError, UsageError
from harness.groups import apply_group_checks
from harness.results import CaseResult, ModelInfo, RunLog, SuiteInfo, is_shrunk, spent
from harness.runner import (
    Budget,
    Outcome,
    RetryPolicy,
    RunSettings,
    WorkItem,
    execute,
    plan,
    resolve_models,
)
from harness.spec.loader import LoadedSuite, find_suites, load_suite
from harness.spec.models import ModelConfig
from harness.store import ResponseCache, RunStore


@dataclass
class RunOptions:
    """Everything that decides what a run does; stored with the run so it can resume."""

    paths: list[str]
    models: list[str] = field(default_factory=list)
    api_base: str | None = None
    concurrency: int = 8
    retries: int = 4
    repeat: int = 1
    filters: list[str] = field(default_factory=list)
    limit: int | None = None
    shard: str | None = None
    max_cost: float | None = None
    cache: bool = True
    cache_path: str = ".harness/cache.sqlite"
    out: str = "reports"
    name: str | None = None
    judges: list[str] = field(default_factory=list)  # --judge: override the suites' judges
    prompts: list[str] = field(default_factory=list)  # --prompt: run only these variants

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunOptions:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def load_suites(paths: Sequence[str]) -> list[LoadedSuite]:
    """Load every suite under ``paths``; one SuiteError holds the problems of all files."""
    files = find_suites(paths)
    if not files:
        raise SuiteError([Problem(", ".join(paths), None, "no *.suite.yaml files found")])
    suites, problems = [], []
    for file in files:
        try:
            suites.append(load_suite(file))
        except SuiteError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SuiteError(problems)
    names: dict[str, str] = {}
    for suite in suites:
        if suite.name in names:
            raise SuiteError([Problem(suite.path, None, f"suite name '{suite.name}' is also "
                                      f"used by {names[suite.name]}; names must be unique")])
        names[suite.name] = suite.path
    return suites


def require_judges(suites: Sequence[LoadedSuite], judges: Sequence[str]) -> None:
    """A suite whose checks need a judge model must name one, unless --judge gives it."""
    if judges:
        return
    problems = [p for s in suites if not s.judges for p in s.judge_problems]
    if problems:
        raise SuiteError(problems)


def judge_models(judges: Sequence[str], api_base: str | None) -> list[ModelConfig]:
    """The command line's judges; like its models, they take --api-base."""
    return [ModelConfig(id=j, api_base=None if j.startswith("local/") else api_base)
            for j in judges]


def parse_shard(text: str) -> tuple[int, int]:
    """'2/4' → (2, 4); UsageError for anything else."""
    try:
        index, count = (int(p) for p in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard expects I/N such as 2/4, got {text!r}") from None
    if not 1 <= index <= count:
        raise UsageError(f"--shard {text}: I must be between 1 and N")
    return index, count


def select(
    items: Sequence[WorkItem],
    filters: Sequence[str] = (),
    limit: int | None = None,
    shard: str | None = None,
    prompts: Sequence[str] = (),
) -> list[WorkItem]:
    """The items a run keeps: ``filters`` are case-id globs, ``tag:NAME`` or ``suite:NAME``
    (alternatives of one kind are OR-ed, kinds are AND-ed); ``limit`` keeps the first N
    cases of each suite; ``shard`` I/N keeps a deterministic 1/N of the case × model pairs,
    all repeats of a pair together (and a case's prompt variants); ``prompts`` keeps the
    named prompt variants (a UsageError names one no suite declares)."""
    if prompts:
        _check_prompts(items, prompts)
    ids = [f for f in filters if not f.startswith(("tag:", "suite:"))]
    tags = {f[4:] for f in filters if f.startswith("tag:")}
    suites = {f[6:] for f in filters if f.startswith("suite:")}
    kept: list[WorkItem] = []
    allowed: dict[str, list[str]] = {}
    for item in items:
        if ids and not any(fnmatch.fnmatchcase(item.case.id, p) for p in ids):
            continue
        if tags and not tags.intersection(item.case.tags):
            continue
        if suites and item.suite.name not in suites:
            continue
        if prompts and item.case.prompt not in prompts:
            continue
        if limit is not None:
            first = allowed.setdefault(item.suite.name, [])
            if item.case.id not in first:
                if len(first) >= limit:
                    continue
                first.append(item.case.id)
        kept.append(item)
    if shard is not None:
        index, count = parse_shard(shard)
        kept = [i for i in kept if _shard_of(i, count) == index - 1]
    return kept


def _check_prompts(items: Sequence[WorkItem], prompts: Sequence[str]) -> None:
    from harness.errors import did_you_mean

    known = {i.case.prompt for i in items if i.case.prompt is not None}
    for name in prompts:
        if name not in known:
            guess = did_you_mean(name, known)
            raise UsageError(
                f"--prompt {name}: no suite declares a prompt variant '{name}'"
                + (f". Did you mean '{guess}'?" if guess else
                   f" (variants: {', '.join(sorted(known)) or 'none'})"))


def _shard_of(item: WorkItem, count: int) -> int:
    key = f"{item.suite.name}\x00{item.case.id}\x00{item.model.name}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % count


@dataclass
class Prepared:
    """A run ready to execute: its id, suites, every planned item and what is left."""

    run_id: str
    created_at: str
    options: RunOptions
    suites: list[LoadedSuite]
    items: list[WorkItem]
    remaining: list[WorkItem]
    resumed: bool = False

    def model_infos(self) -> list[ModelInfo]:
        models: dict[str, ModelInfo] = {}
        for suite in self.suites:
            for m in resolve_models(suite, self.options.models, self.options.api_base):
                models.setdefault(m.name, ModelInfo(name=m.name, id=m.id, api_base=m.api_base))
        return list(models.values())


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def prepare(
    options: RunOptions,
    store: RunStore,
    resume: str | None = None,
    overrides: dict[str, Any] | None = None,
    record: bool = True,
) -> Prepared:
    """Load and plan a run. With ``resume`` (a run id or 'last'), the stored options are
    used (``overrides`` may change those that do not alter the plan, such as max_cost;
    the change is stored), the suites must be unchanged, and finished results are not
    run again. ``record=False`` plans without writing anything (a dry run)."""
    if resume is not None:
        try:
            run_id = store.resolve(resume)
        except LookupError as exc:
            raise UsageError(str(exc)) from None
        info = store.run_info(run_id)
        options = RunOptions.from_json(info["config"]["options"])
        if overrides:
            options = replace(options, **overrides)
            if record:
                store.update_config(run_id, {**info["config"], "options": options.to_json()})
        suites = load_suites(options.paths)
        before = info["config"]["fingerprints"]
        now = {s.name: s.fingerprint for s in suites}
        if before != now:
            changed = sorted(n for n in set(before) | set(now) if before.get(n) != now.get(n))
            raise UsageError(
                f"cannot resume run {run_id}: suite(s) {', '.join(changed)} changed since it "
                "started; start a new run instead")
        created_at = info["created_at"]
    else:
        suites = load_suites(options.paths)
        run_id = new_run_id()
        created_at = datetime.now(UTC).isoformat(timespec="seconds")
    require_judges(suites, options.judges)
    items = select(plan(suites, options.models, options.api_base, options.repeat),
                   options.filters, options.limit, options.shard, options.prompts)
    if resume is not None:
        done = store.finished(run_id)
        remaining = [i for i in items if i.key not in done]
    else:
        remaining = list(items)
    if resume is None and record:
        store.create_run(run_id, created_at, {
            "options": options.to_json(),
            "fingerprints": {s.name: s.fingerprint for s in suites},
            "harness_version": __version__,
        })
    return Prepared(run_id, created_at, options, suites, items, remaining, resume is not None)


def start(
    options: RunOptions,
    suites: list[LoadedSuite],
    items: list[WorkItem],
    store: RunStore | None = None,
) -> Prepared:
    """A new run of items chosen by the caller (the pytest plugin selects with -k and -m,
    not with ``options.filters``), recorded in ``store`` when one is given."""
    require_judges(suites, options.judges)
    prepared = Prepared(new_run_id(), datetime.now(UTC).isoformat(timespec="seconds"),
                        options, suites, list(items), list(items))
    if store is not None:
        store.create_run(prepared.run_id, prepared.created_at, {
            "options": options.to_json(),
            "fingerprints": {s.name: s.fingerprint for s in suites},
            "harness_version": __version__,
        })
    return prepared


async def _execute_with_signals(
    prepared: Prepared, provider: Any, settings: RunSettings,
    on_result: Callable[[CaseResult], None], budget: Budget | None,
    after: Callable[[Outcome, Callable[[list[WorkItem]], Any]], Any] | None = None,
) -> Outcome:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        # Ctrl-C: stop cleanly. A second Ctrl-C falls back to Python's default.
        loop.add_signal_handler(signal.SIGINT, _first_interrupt, loop, stop)
        installed = True
    estimate = None
    if budget is not None:
        from harness.cost import max_cost

        estimate = max_cost
    try:
        outcome = await execute(prepared.remaining, provider, settings, on_result,
                                stop=stop, budget=budget, estimate=estimate)
        if after is not None and outcome.stopped is None:
            # more calls after the main ones (shrinking), through the same runner path
            async def more(items: list[WorkItem]) -> list[CaseResult]:
                done = await execute(items, provider, settings, stop=stop, budget=budget,
                                     estimate=estimate)
                outcome.stopped = outcome.stopped or done.stopped
                return done.results

            await after(outcome, more)
        return outcome
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)
        closer = getattr(provider, "aclose", None)
        if closer is not None:
            await closer()


def _first_interrupt(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    stop.set()
    loop.remove_signal_handler(signal.SIGINT)


@dataclass
class Finished:
    log: RunLog
    outcome: Outcome
    elapsed_s: float


def run(
    prepared: Prepared,
    store: RunStore,
    provider: Any = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> Finished:
    """Execute what is left of a prepared run, storing each result as it finishes, and
    build the RunLog from everything the store holds for the run."""
    from harness.providers.transport import LeanProvider

    options = prepared.options
    cache = None
    if options.cache:
        cache = ResponseCache(os.environ.get("HARNESS_CACHE") or options.cache_path)
    settings = RunSettings(concurrency=options.concurrency, cache=cache,
                           retry=RetryPolicy(max_attempts=options.retries),
                           judges=judge_models(options.judges, options.api_base))
    budget = None
    if options.max_cost is not None:
        budget = Budget(limit=options.max_cost, spent=spent(store.results(prepared.run_id)))

    pending: list[CaseResult] = []

    def flush() -> None:
        batch = pending[:]
        pending.clear()
        store.add_many(prepared.run_id, batch)
        if on_result is not None:
            for result in batch:
                on_result(result)

    def record(result: CaseResult) -> None:
        # Group commit: every result finished in this turn of the event loop is written in
        # one transaction at the start of the next turn, before anyone hears of it.
        if not pending:
            asyncio.get_running_loop().call_soon(flush)
        pending.append(result)

    shrunk: list[CaseResult] = []

    async def shrink_phase(outcome: Outcome, more: Callable[[list[WorkItem]], Any]) -> None:
        from harness.shrink import shrink

        known = {r.key: r for r in store.results(prepared.run_id)} if prepared.resumed \
            else {}
        known.update((r.key, r) for r in outcome.results)
        shrunk.extend(await shrink(prepared.items, known, more,
                                   lambda batch: store.add_many(prepared.run_id, batch)))

    wants_shrink = any(i.case.shrinker is not None for i in prepared.items)
    clock = time.monotonic()
    try:
        outcome = asyncio.run(_execute_with_signals(
            prepared, provider or LeanProvider(), settings, record, budget,
            shrink_phase if wants_shrink else None))
    finally:
        if pending:  # finished in the loop's last turn
            flush()
        if cache is not None:
            cache.close()
    elapsed = time.monotonic() - clock
    status = outcome.stopped or "finished"
    finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    store.set_status(prepared.run_id, status, finished_at)
    fresh = [*outcome.results, *shrunk] if not prepared.resumed else None
    # judged group checks (consistent_across: {measure: judge}) ask their judges now
    from harness.groups import group_judges, has_judged_groups

    judges, group_cache = None, None
    if has_judged_groups(prepared.items):
        if options.cache:
            group_cache = ResponseCache(os.environ.get("HARNESS_CACHE") or options.cache_path)
        judges = group_judges(prepared.items, settings.judges, provider or LeanProvider(),
                              group_cache, settings.retry, budget)
    try:
        log = build_log(prepared, store, status, finished_at, elapsed, fresh, judges)
    finally:
        if group_cache is not None:
            group_cache.close()
    return Finished(log, outcome, elapsed)


def build_log(prepared: Prepared, store: RunStore, status: str, finished_at: str | None,
              elapsed: float | None, fresh: list[CaseResult] | None = None,
              judges: Mapping[str, Any] | None = None) -> RunLog:
    """The RunLog of a run: every stored result of its planned items, in plan order.

    ``fresh`` (the results a new run just produced, all of them stored) saves reading
    them back; a resumed run reads the store, which also holds the earlier results.
    """
    order = {item.key: n for n, item in enumerate(prepared.items)}
    source = fresh if fresh is not None else list(store.results(prepared.run_id))
    results = sorted((r for r in source if r.key in order), key=lambda r: order[r.key])
    # group checks need every variant: derived here from what is stored, so a resumed run
    # gets the same verdicts as an uninterrupted one (see harness/groups.py)
    results = apply_group_checks(prepared.items, results, judges)
    if any(is_shrunk(r) for r in source):  # perturb shrink candidates
        from harness.shrink import with_candidates

        results = with_candidates(results, source)
    options = prepared.options
    return RunLog(
        run_id=prepared.run_id,
        harness_version=__version__,
        created_at=prepared.created_at,
        finished_at=finished_at,
        duration_s=None if elapsed is None else round(elapsed, 3),
        suites=[SuiteInfo(**s.summary()) for s in prepared.suites],
        models=prepared.model_infos(),
        settings={
            "status": status,
            "planned": len(prepared.items),
            "concurrency": options.concurrency,
            "max_attempts": options.retries,
            "repeat": options.repeat,
            "cache": options.cache,
            "filters": options.filters,
            "limit": options.limit,
            "shard": options.shard,
            "max_cost": options.max_cost,
            "resumed": prepared.resumed,
            "judges": options.judges,
            **({"prompts": options.prompts} if options.prompts else {}),
        },
        results=results,
    )
