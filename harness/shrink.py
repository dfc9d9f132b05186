"""Shrinking: a failing perturbation reduced to a 1-minimal one by delta debugging.

After a run's main calls, each perturbed case × model × repeat (× prompt variant) whose
original passed but whose variants failed has its smallest failing variant shrunk: ddmin
(Zeller and Hildebrandt, 2002) over that variant's edits tries halves, then complements,
then single-edit removals, keeping any candidate that still fails (its per-case checks
fail on the model's answer to it). Candidates are ordinary work items: they go through
the runner (cache, retries, concurrency, cost budget) and into the run store, so a rerun
with the cache and a resume make no new calls. At most ``perturb.shrink`` candidates are
run per case × model; ddmin is deterministic, so the same answers give the same
candidates and the same result.

Candidates are recorded as results with ids ``case[perturb=typos#2~1]`` and a variant
that names the variant they were shrunk from. The last candidate of a shrink also names
the minimal failing perturbation found (``minimal``) and whether it is 1-minimal
(``one_minimal``: removing any single edit makes it pass), which ``harness.perturb.
robustness`` reports.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.perturb import Edit
from harness.results import CaseResult, ResultKey, is_shrunk

if TYPE_CHECKING:
    from harness.runner import WorkItem
    from harness.spec.loader import CaseSpec

Subset = tuple[int, ...]  # indices into the shrunk variant's edits, ascending
BuildFn = Callable[[tuple[Edit, ...], str, dict[str, str]], "CaseSpec | None"]
RunFn = Callable[[list["WorkItem"]], Awaitable[list[CaseResult]]]


@dataclass(frozen=True)
class Shrinker:
    """How to shrink one perturbed variant: its edits, the call budget, and a builder of
    the variant with only some of its edits (None when they change nothing)."""

    label: str  # "typos#2"
    edits: tuple[Edit, ...]
    budget: int
    build: BuildFn


def ddmin(n: int) -> Generator[Subset, bool, Subset]:
    """Delta debugging over ``n`` edits: yields candidate subsets, is sent whether each
    still fails, and returns a 1-minimal failing subset (the whole set is known to fail;
    the empty set is known to pass)."""
    current: Subset = tuple(range(n))
    parts = 2
    while len(current) >= 2:
        size = len(current)
        chunks = [current[size * i // parts:size * (i + 1) // parts] for i in range(parts)]
        chunks = [c for c in chunks if c]
        reduced = False
        for chunk in chunks:  # a half (a part) alone still fails?
            if (yield chunk):
                current, parts, reduced = chunk, 2, True
                break
        if not reduced and len(chunks) > 2:  # with two parts, complements are the halves
            for chunk in chunks:
                rest = tuple(i for i in current if i not in chunk)
                if (yield rest):
                    current, parts, reduced = rest, max(parts - 1, 2), True
                    break
        if not reduced:
            if parts >= len(current):  # every single-edit removal passes: 1-minimal
                break
            parts = min(len(current), 2 * parts)
    return current


class _Target:
    """One shrink in progress: a ddmin walk with a memo, a call count and a budget."""

    def __init__(self, parent: WorkItem, shrinker: Shrinker) -> None:
        self.parent = parent
        self.shrinker = shrinker
        self.walk = ddmin(len(shrinker.edits))
        self.memo: dict[Subset, bool] = {}
        self.calls = 0
        self.pending: Subset | None = None
        self.minimal_id = parent.case.id  # the smallest failing variant so far
        self.one_minimal = False
        self.last: CaseResult | None = None
        self.started = False
        self.errored = False  # a candidate without a verdict: minimality unproven

    def advance(self, answer: bool) -> WorkItem | None:
        """The next candidate to run, given the last one's answer; None when done."""
        from harness.runner import WorkItem

        while True:
            try:
                if not self.started:
                    self.started = True
                    cand = next(self.walk)
                else:
                    cand = self.walk.send(answer)
            except StopIteration:
                self.one_minimal = not self.errored
                return None
            if cand in self.memo:
                answer = self.memo[cand]
                continue
            if self.calls >= self.shrinker.budget:
                return None
            label = f"{self.shrinker.label}~{self.calls + 1}"
            spec = self.shrinker.build(
                tuple(self.shrinker.edits[i] for i in cand), label,
                {"shrunk_from": self.shrinker.label, "edits": " ".join(map(str, cand))})
            if spec is None:  # no change from the original, which passed
                self.memo[cand] = answer = False
                continue
            self.calls += 1
            self.pending = cand
            return WorkItem(self.parent.suite, spec, self.parent.model, self.parent.repeat)

    def feed(self, result: CaseResult) -> bool:
        """Record a candidate's result; whether it still fails."""
        assert self.pending is not None
        fails = result.status == "failed"  # an error is no evidence either way
        self.errored = self.errored or result.status == "error"
        self.memo[self.pending] = fails
        if fails:
            self.minimal_id = result.case_id
        self.last = result
        return fails


def targets(items: Sequence[WorkItem], results: Mapping[ResultKey, CaseResult],
            ) -> list[tuple[WorkItem, Shrinker]]:
    """The variants to shrink: per perturbed case × model × repeat × prompt whose original
    passed, its smallest failing variant (fewest edits, then shortest description, then
    id), when it has more than one edit to remove."""
    groups: dict[tuple[str, str, str, int, str | None], list[WorkItem]] = {}
    for item in items:
        if item.case.group is not None and item.case.variant.get("attribute") == "perturb":
            groups.setdefault((item.suite.name, item.case.group, item.model.name,
                               item.repeat, item.case.prompt), []).append(item)
    out = []
    for members in groups.values():
        original = next((m for m in members if m.case.variant.get("value") == "original"),
                        None)
        if original is None or getattr(results.get(original.key), "status", "") != "passed":
            continue
        failed = [m for m in members if m is not original
                  and getattr(results.get(m.key), "status", "") == "failed"]
        if not failed:
            continue
        smallest = min(failed, key=lambda m: (int(m.case.variant.get("size", "99")),
                                              len(m.case.variant.get("description", "")),
                                              m.case.id))
        # one effective edit is minimal already, whatever else was drawn
        if smallest.case.shrinker is not None and smallest.case.variant.get("size") != "1":
            out.append((smallest, smallest.case.shrinker))
    return out


async def shrink(items: Sequence[WorkItem], results: Mapping[ResultKey, CaseResult],
                 run: RunFn, store: Callable[[list[CaseResult]], None]) -> list[CaseResult]:
    """Shrink every failing perturbation of a run (see the module docstring).

    ``results``: every result the run holds so far, earlier shrink candidates included (a
    resumed run reuses them instead of calling again). ``run`` executes candidates
    through the runner and returns the results it finished (fewer when stopped);
    ``store`` records results. Returns every candidate's result, the last of each shrink
    annotated with the minimal failing perturbation found."""
    active = [_Target(parent, s) for parent, s in targets(items, results)]
    answers = {id(t): False for t in active}
    done: list[_Target] = []
    out: list[CaseResult] = []
    while active:
        wanted: dict[ResultKey, tuple[_Target, WorkItem]] = {}
        for target in active:
            item = target.advance(answers[id(target)])
            if item is None:
                done.append(target)
            else:
                wanted[item.key] = (target, item)
        active = [t for t, _ in wanted.values()]
        if not wanted:
            break
        to_run = [item for key, (_, item) in wanted.items() if key not in results]
        fresh = {r.key: r for r in await run(to_run)} if to_run else {}
        store(list(fresh.values()))
        for key, (target, _) in wanted.items():
            result = fresh.get(key) or results.get(key)
            if result is None:  # stopped (interrupted or over budget): no answer
                active.remove(target)
                done.append(target)
                continue
            out.append(result)
            answers[id(target)] = target.feed(result)
    annotated = []
    for target in done:
        if target.last is None:
            continue
        final = target.last.model_copy(update={"variant": {
            **target.last.variant, "minimal": target.minimal_id,
            "one_minimal": "yes" if target.one_minimal else "no"}})
        annotated.append(final)
        out = [final if r.key == final.key else r for r in out]
    if annotated:
        store(annotated)
    return out


def parent_key(result: CaseResult) -> ResultKey:
    """The key of the variant a shrink candidate was shrunk from."""
    return (result.suite, f"{result.group}[perturb={result.variant['shrunk_from']}]",
            result.model, result.repeat, result.prompt)


def with_candidates(results: list[CaseResult], source: Sequence[CaseResult],
                    ) -> list[CaseResult]:
    """``results`` (planned, in plan order) with the shrink candidates of ``source`` placed
    after the variant each was shrunk from, in the order they were tried."""
    planned = {r.key for r in results}
    extra: dict[ResultKey, list[CaseResult]] = {}
    for r in source:
        if is_shrunk(r) and parent_key(r) in planned:
            extra.setdefault(parent_key(r), []).append(r)
    if not extra:
        return results
    out: list[CaseResult] = []
    for r in results:
        out.append(r)
        out.extend(sorted(extra.get(r.key, []), key=_number))
    return out


def _number(result: CaseResult) -> int:
    return int(result.variant.get("value", "~0").rpartition("~")[2] or 0)
