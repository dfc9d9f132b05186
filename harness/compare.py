"""Which model does this task better, and is the difference larger than noise?

``compare(logs)`` reads RunLogs only (one multi-model run, or several runs) and answers per
suite, per tag (a domain: legal, marketing, ...) and per check:

- each model's pass rate with its 95% Wilson interval, and its mean score;
- each model's cost and latency per result (median and p95);
- each model's failure modes: error kinds, failed checks, and the failure modes checks
  name in their evidence (``CaseResult.failure_mode`` when results carry one);
- for every pair of models, paired tests on the cases both answered: the exact McNemar
  test on pass/fail and a paired bootstrap of the mean score difference, with p-values
  Holm-adjusted within each table (all suites, all tags, all checks, or the overall row);
- a one-line verdict overall and per domain, e.g. "for legal, openai/a passes 18 points
  more cases than local/b (p = 0.01) at 3.0× the cost".

Pairs are (suite, case_id, repeat). A pair in which either side has a provider error is
left out of the tests (an error says nothing about what the model writes); errors are
counted beside the pass rates. Repeats count as separate pairs, which treats them as
independent samples: with many repeats of few cases that flatters significance a little.

Models from several RunLogs are merged by name; a name that appears in more than one log
(the same model run twice, before and after a prompt change) becomes ``name@run_id``.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from harness.formats import percent_range, usd
from harness.prompt_compare import PromptComparison, compare_prompts
from harness.prompt_compare import render_text as render_prompts
from harness.results import CaseResult, CheckRecord, RunLog, counted
from harness.stats import (
    PairKey,
    holm,
    mcnemar,
    p95,
    pair_key,
    paired_bootstrap,
    wilson_interval,
)

__all__ = [
    "ALPHA",
    "Comparison",
    "FailureModes",
    "ModelCosts",
    "ModelRate",
    "PairTest",
    "Slice",
    "compare",
    "format_p",
    "render_text",
]

ALPHA = 0.05
RESAMPLES = 10_000
# Below this many pairs the bootstrap's p-value is far too optimistic (with 3 of 5 pairs
# favouring A it says p = 0.01 where McNemar says 0.25): the score difference and its
# interval are still shown, but not tested.
MIN_SCORE_PAIRS = 20
SliceKind = Literal["overall", "suite", "tag", "check"]
Status = Literal["passed", "failed", "error"]
# What one result contributes to a slice: its verdict there, and its score (higher is
# better; None for an error).
Outcome = tuple[Status, float | None]


@dataclass(frozen=True)
class ModelRate:
    """One model in one slice. ``rate`` is passed / judged; errors are not judged."""

    model: str
    passed: int
    failed: int
    errors: int
    rate: float | None
    ci95: tuple[float, float] | None
    score: float | None  # mean score of the judged results (checks' scores, higher = better)
    cost: float | None  # mean cost of a result whose cost is known, in USD

    @property
    def judged(self) -> int:
        return self.passed + self.failed


@dataclass(frozen=True)
class PairTest:
    """Model ``a`` against model ``b`` on the pairs both judged.

    ``difference`` is a's pass rate minus b's over those pairs; ``p_value`` is the exact
    McNemar test and ``p_adjusted`` its Holm adjustment within the table. The score fields
    are a seeded paired bootstrap of mean(score a - score b); its p-values are None below
    ``MIN_SCORE_PAIRS`` pairs.
    """

    a: str
    b: str
    pairs: int
    only_a: int
    only_b: int
    difference: float
    p_value: float
    p_adjusted: float
    significant: bool
    score_difference: float | None
    score_ci95: tuple[float, float] | None
    score_p_value: float | None
    score_p_adjusted: float | None
    score_significant: bool


@dataclass(frozen=True)
class Slice:
    kind: SliceKind
    name: str
    models: tuple[ModelRate, ...]
    tests: tuple[PairTest, ...]
    verdict: str

    def rate(self, model: str) -> ModelRate | None:
        return next((m for m in self.models if m.model == model), None)

    def test(self, a: str, b: str) -> PairTest | None:
        return next((t for t in self.tests if {t.a, t.b} == {a, b}), None)


@dataclass(frozen=True)
class ModelCosts:
    model: str
    results: int
    priced: int  # results with a known cost
    cost_total: float | None
    cost_median: float | None
    cost_p95: float | None
    latency_median: float | None  # ms
    latency_p95: float | None


@dataclass(frozen=True)
class FailureModes:
    model: str
    failed: int
    errors: int
    error_kinds: dict[str, int]
    failed_checks: dict[str, int]
    failure_modes: dict[str, int]


@dataclass(frozen=True)
class Comparison:
    models: tuple[str, ...]  # best overall pass rate first
    run_ids: tuple[str, ...]
    suites_compared: tuple[str, ...]
    alpha: float
    resamples: int
    seed: int
    overall: Slice
    suites: tuple[Slice, ...]
    tags: tuple[Slice, ...]
    checks: tuple[Slice, ...]
    costs: tuple[ModelCosts, ...]
    failures: tuple[FailureModes, ...]
    notes: tuple[str, ...]
    prompts: PromptComparison | None = None  # runs with prompt variants (prompt_compare.py)

    @property
    def verdicts(self) -> list[str]:
        """Overall, then per suite (when there are several), then per tag (domain), then
        which prompt variant wins."""
        lines = [self.overall.verdict]
        if len(self.suites) > 1:
            lines += [s.verdict for s in self.suites]
        prompt_lines = list(self.prompts.verdicts) if self.prompts is not None else []
        return lines + [t.verdict for t in self.tags] + prompt_lines

    def to_dict(self) -> dict[str, Any]:
        data = {"format": "harness.comparison", "version": 1, **asdict(self)}
        data["verdicts"] = self.verdicts
        return data


# -- entry point ----------------------------------------------------------------------------


def compare(
    logs: Sequence[RunLog],
    *,
    alpha: float = ALPHA,
    resamples: int = RESAMPLES,
    seed: int = 0,
    checks: bool = True,
) -> Comparison:
    """Compare every model of ``logs`` with every other on the cases they share.

    ``checks=False`` leaves out the per-check slices (the HTML report shows suites and
    tags only, and on 10,000 results the check slices cost it seconds)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    results, models, notes = _gather(logs)
    orient = _orientation(results)
    overall_rates = {m: _rate(m, [(r, _outcome(r, orient)) for r in results if r.model == m])
                     for m in models}
    # best first: tables, pairs and verdicts then read "better vs worse"
    models = sorted(models, key=lambda m: (-(overall_rates[m].rate or -1.0), models.index(m)))
    by_model: dict[str, list[CaseResult]] = {m: [] for m in models}
    for r in results:
        by_model[r.model].append(r)

    outcome = {id(r): _outcome(r, orient) for r in results}  # once, not once per slice

    def result_view(keep: Callable[[CaseResult], bool]) -> Callable[[CaseResult], Outcome | None]:
        return lambda r: outcome[id(r)] if keep(r) else None

    suites = list(dict.fromkeys(r.suite for r in results))
    tags = sorted({t for r in results for t in r.tags})
    check_labels = sorted({_label(c) for r in results for c in r.checks})
    check_cases = defaultdict(set)  # check label -> (suite, case_id) the check applies to
    for r in results:
        for c in r.checks:
            check_cases[_label(c)].add((r.suite, r.case_id))

    def check_view(label: str) -> Callable[[CaseResult], Outcome | None]:
        return lambda r: _check_outcome(r, label, orient, check_cases[label])

    def suite_keep(name: str) -> Callable[[CaseResult], bool]:
        return lambda r: r.suite == name

    def tag_keep(name: str) -> Callable[[CaseResult], bool]:
        return lambda r: name in r.tags

    stats = _Tester(resamples, seed)
    families: dict[SliceKind, list[_Draft]] = {
        "overall": [_draft("overall", "overall", by_model, result_view(lambda r: True),
                           stats)],
        "suite": [_draft("suite", s, by_model, result_view(suite_keep(s)), stats)
                  for s in suites],
        "tag": [_draft("tag", t, by_model, result_view(tag_keep(t)), stats) for t in tags],
        "check": [_draft("check", c, by_model, check_view(c), stats) for c in check_labels]
        if checks else [],
    }
    done = {kind: _finish(drafts, alpha) for kind, drafts in families.items()}
    return Comparison(
        models=tuple(models),
        run_ids=tuple(log.run_id for log in logs),
        suites_compared=tuple(suites),
        alpha=alpha,
        resamples=resamples,
        seed=seed,
        overall=done["overall"][0],
        suites=tuple(done["suite"]),
        tags=tuple(done["tag"]),
        checks=tuple(done["check"]),
        costs=tuple(_costs(m, by_model[m]) for m in models),
        failures=tuple(_failures(m, by_model[m]) for m in models),
        notes=tuple(notes),
        prompts=compare_prompts(results, alpha),
    )


# -- gathering ------------------------------------------------------------------------------


def _gather(logs: Sequence[RunLog]) -> tuple[list[CaseResult], list[str], list[str]]:
    """All results with unique model names, the model names in order, and notes."""
    if not logs:
        raise ValueError("no RunLog to compare")
    seen_runs: set[str] = set()
    for log in logs:
        if log.run_id in seen_runs:
            raise ValueError(f"run {log.run_id} is given twice (merge the shards of one run "
                             "with `harness merge` first)")
        seen_runs.add(log.run_id)

    def names(log: RunLog) -> list[str]:
        return list(dict.fromkeys(r.model for r in log.results))

    runs_of: dict[str, int] = Counter(name for log in logs for name in names(log))
    results: list[CaseResult] = []
    models: list[str] = []
    for log in logs:
        for name in names(log):
            models.append(f"{name}@{log.run_id}" if runs_of[name] > 1 else name)
        for r in counted(log.results):
            if runs_of[r.model] > 1:
                r = r.model_copy(update={"model": f"{r.model}@{log.run_id}"})
            results.append(r)
    notes = []
    fingerprints: dict[str, dict[str, str]] = defaultdict(dict)
    for log in logs:
        for suite in log.suites:
            fingerprints[suite.name][log.run_id] = suite.fingerprint
    for name, by_run in fingerprints.items():
        if len(set(by_run.values())) > 1:
            notes.append(f"suite '{name}' differs between runs "
                         f"({', '.join(f'{k}: {v[:12]}' for k, v in by_run.items())}); cases "
                         "are paired by id, so a changed case compares different prompts")
    if not models:
        notes.append("the RunLogs hold no results")
    elif len(models) < 2:
        notes.append("only one model: pass rates are shown, there is nothing to compare")
    keys: dict[str, set[PairKey]] = defaultdict(set)
    for r in results:
        keys[r.model].add(pair_key(r))
    common = set.intersection(*keys.values()) if keys else set()
    unpaired = sum(len(k - common) for k in keys.values())
    if len(models) >= 2 and unpaired:
        notes.append(f"{unpaired} result{'s' if unpaired != 1 else ''} ha"
                     f"{'ve' if unpaired != 1 else 's'} no counterpart for some model "
                     "(different selections, or an interrupted run): pairs are formed "
                     "from the cases each two models share")
    return results, models, notes


def _label(c: CheckRecord) -> str:
    return f"not {c.check}" if c.negate else c.check


def _orientation(results: Iterable[CaseResult]) -> dict[str, bool]:
    """Per check label: is a higher score better?

    Decided by the log itself where it can be (the mean score of passed verdicts against
    that of failed ones), else by the direction the check was registered with. The data
    decide first because a registered direction may describe the measured quantity (a
    latency) rather than the score, which for those checks is simply 1 for a pass.
    """
    scores: dict[str, dict[bool, list[float]]] = defaultdict(lambda: {True: [], False: []})
    for r in results:
        for c in r.checks:
            if c.score is not None and not _no_verdict(c):
                scores[_label(c)][c.passed].append(c.score)
    orient: dict[str, bool] = {}
    for label, by_verdict in scores.items():
        if by_verdict[True] and by_verdict[False]:
            orient[label] = statistics.fmean(by_verdict[True]) >= \
                statistics.fmean(by_verdict[False])
        else:
            orient[label] = _registered_direction(label.removeprefix("not "))
    return orient


def _registered_direction(name: str) -> bool:
    try:
        from harness.checks.registry import registry

        definition = registry().get(name)
    except Exception:  # a plugin that fails to load must not stop a comparison
        return True
    return True if definition is None else definition.higher_is_better


def _check_score(c: CheckRecord, orient: dict[str, bool]) -> float:
    if c.score is None:
        return 1.0 if c.passed else 0.0
    return c.score if orient.get(_label(c), True) else 1.0 - c.score


def _outcome(r: CaseResult, orient: dict[str, bool]) -> Outcome:
    if r.status == "error":
        return ("error", None)
    if not r.checks:
        return (r.status, 1.0 if r.status == "passed" else 0.0)
    return (r.status, statistics.fmean(_check_score(c, orient) for c in r.checks))


def _no_verdict(c: CheckRecord) -> bool:
    """A check that reached no verdict (a judge that failed to answer) is not judged."""
    return getattr(c, "error", None) is not None


def _check_outcome(r: CaseResult, label: str, orient: dict[str, bool],
                   applies: set[tuple[str, str]]) -> Outcome | None:
    """One check's verdict on a result; an error counts where the check applies to the
    case; a check written twice in a case passes when every instance passes."""
    records = [c for c in r.checks if _label(c) == label]
    if not records:
        return ("error", None) if r.status == "error" and (r.suite, r.case_id) in applies \
            else None
    if any(_no_verdict(c) for c in records):
        return ("error", None)
    status: Status = "passed" if all(c.passed for c in records) else "failed"
    return (status, statistics.fmean(_check_score(c, orient) for c in records))


# -- per slice ------------------------------------------------------------------------------


def _rate(model: str, rows: Sequence[tuple[CaseResult, Outcome | None]]) -> ModelRate:
    kept = [(r, o) for r, o in rows if o is not None]
    passed = sum(o[0] == "passed" for _, o in kept)
    failed = sum(o[0] == "failed" for _, o in kept)
    scores = [o[1] for _, o in kept if o[1] is not None]
    costs = [r.cost_usd for r, _ in kept if r.cost_usd is not None]
    judged = passed + failed
    return ModelRate(
        model=model, passed=passed, failed=failed, errors=len(kept) - judged,
        rate=passed / judged if judged else None,
        ci95=wilson_interval(passed, judged) if judged else None,
        score=statistics.fmean(scores) if scores else None,
        cost=statistics.fmean(costs) if costs else None,
    )


@dataclass(frozen=True)
class _RawTest:
    a: str
    b: str
    pairs: int
    only_a: int
    only_b: int
    difference: float
    p_value: float
    score_difference: float | None
    score_ci95: tuple[float, float] | None
    score_p_value: float | None


@dataclass(frozen=True)
class _Draft:
    kind: SliceKind
    name: str
    models: tuple[ModelRate, ...]
    tests: tuple[_RawTest, ...]


class _Tester:
    def __init__(self, resamples: int, seed: int) -> None:
        self.resamples = resamples
        self.seed = seed

    def test(self, a: str, b: str,
             outcomes: list[tuple[Outcome, Outcome]]) -> _RawTest:
        judged = [(x, y) for x, y in outcomes if x[0] != "error" and y[0] != "error"]
        table = mcnemar((x[0] == "passed", y[0] == "passed") for x, y in judged)
        score_a = [x[1] for x, _ in judged if x[1] is not None]
        score_b = [y[1] for _, y in judged if y[1] is not None]
        diff: float | None = None
        ci: tuple[float, float] | None = None
        p: float | None = None
        if judged:
            if all(x == y for x, y in zip(score_a, score_b, strict=True)):
                diff, ci, p = 0.0, (0.0, 0.0), 1.0  # nothing to resample
            else:
                boot = paired_bootstrap(score_a, score_b, resamples=self.resamples,
                                        seed=self.seed)
                diff, ci = boot.mean_difference, boot.ci
                p = boot.p_value if len(judged) >= MIN_SCORE_PAIRS else None
        return _RawTest(a=a, b=b, pairs=table.pairs, only_a=table.only_a, only_b=table.only_b,
                        difference=table.difference, p_value=table.p_value,
                        score_difference=diff, score_ci95=ci, score_p_value=p)


def _draft(kind: SliceKind, name: str, by_model: dict[str, list[CaseResult]],
           view: Callable[[CaseResult], Outcome | None], tester: _Tester) -> _Draft:
    outcomes: dict[str, dict[PairKey, tuple[CaseResult, Outcome]]] = {}
    for model, results in by_model.items():
        kept: dict[PairKey, tuple[CaseResult, Outcome]] = {}
        for r in results:
            o = view(r)
            if o is not None:
                kept[pair_key(r)] = (r, o)
        outcomes[model] = kept
    models = [m for m in by_model if outcomes[m]]
    rates = tuple(_rate(m, list(outcomes[m].values())) for m in models)
    tests = []
    for i, a in enumerate(models):
        for b in models[i + 1:]:
            shared = [k for k in outcomes[a] if k in outcomes[b]]
            tests.append(tester.test(a, b, [(outcomes[a][k][1], outcomes[b][k][1])
                                            for k in shared]))
    return _Draft(kind, name, rates, tuple(tests))


def _finish(drafts: list[_Draft], alpha: float) -> list[Slice]:
    """Holm-adjust every test of one table together, then write each slice's verdict."""
    raw = [t for d in drafts for t in d.tests]
    adjusted = iter(holm([t.p_value for t in raw]))
    score_raw = [t.score_p_value for t in raw if t.score_p_value is not None]
    score_adjusted = iter(holm(score_raw))
    slices = []
    for d in drafts:
        tests = []
        for t in d.tests:
            p_adj = next(adjusted)
            s_adj = next(score_adjusted) if t.score_p_value is not None else None
            tests.append(PairTest(
                a=t.a, b=t.b, pairs=t.pairs, only_a=t.only_a, only_b=t.only_b,
                difference=t.difference, p_value=t.p_value, p_adjusted=p_adj,
                significant=p_adj < alpha, score_difference=t.score_difference,
                score_ci95=t.score_ci95, score_p_value=t.score_p_value,
                score_p_adjusted=s_adj, score_significant=s_adj is not None and s_adj < alpha,
            ))
        slices.append(Slice(d.kind, d.name, d.models, tuple(tests),
                            _verdict(d.kind, d.name, d.models, tests)))
    return slices


# -- verdicts -------------------------------------------------------------------------------


def _where(kind: SliceKind, name: str) -> str:
    return {"overall": "overall", "suite": f"for suite {name}", "tag": f"for {name}",
            "check": f"on check {name}"}[kind]


def format_p(p: float) -> str:
    if p < 0.001:
        return "p < 0.001"
    if p >= 0.995:
        return "p = 1"
    return f"p = {p:.2f}" if p >= 0.1 else f"p = {p:.2g}"


def _points(difference: float) -> str:
    points = abs(difference) * 100
    return f"{points:.0f}" if points >= 1 else f"{points:.1f}"


def _verdict(kind: SliceKind, name: str, rates: Sequence[ModelRate],
             tests: Sequence[PairTest]) -> str:
    where = _where(kind, name)
    ranked = sorted((m for m in rates if m.judged),
                    key=lambda m: -(m.rate if m.rate is not None else -1.0))
    if not ranked:
        return f"{where}, no model has judged results"
    if len(ranked) < 2:
        only = "only one model" if len(rates) < 2 else f"only {ranked[0].model}"
        return f"{where}, {only} has judged results: nothing to compare"
    first, second = ranked[0], ranked[1]
    test = next(t for t in tests if {t.a, t.b} == {first.model, second.model})
    if not test.pairs:
        return f"{where}, {first.model} and {second.model} share no judged cases: " \
            "nothing to compare"
    if test.significant and test.difference != 0:
        win, lose = (test.a, test.b) if test.difference > 0 else (test.b, test.a)
        by = {m.model: m for m in rates}
        return (f"{where}, {win} passes {_points(test.difference)} points more cases than "
                f"{lose} ({format_p(test.p_adjusted)}){_cost_ratio(by[win], by[lose])}")
    line = (f"{where}, no significant difference between {first.model} and {second.model} "
            f"({_pct(first.rate)} vs {_pct(second.rate)}, {test.pairs} paired "
            f"case{'s' if test.pairs != 1 else ''}, "
            f"{format_p(test.p_adjusted)})")
    return line + _cost_note(first, second)


def _cost_ratio(win: ModelRate, lose: ModelRate) -> str:
    if win.cost is None or lose.cost is None:
        return ""
    if win.cost == lose.cost:
        return " at the same cost"
    if lose.cost == 0:
        return f" at {usd(win.cost)} per case (vs nothing)"
    if win.cost == 0:
        return f" at no cost (vs {usd(lose.cost)} per case)"
    return f" at {win.cost / lose.cost:.1f}× the cost"


def _cost_note(first: ModelRate, second: ModelRate) -> str:
    """With no difference in quality, cost decides: say which one costs more."""
    if first.cost is None or second.cost is None or first.cost == second.cost:
        return ""
    (dear, dear_cost), (cheap, cheap_cost) = sorted(
        [(first.model, first.cost), (second.model, second.cost)], key=lambda x: -x[1])
    if cheap_cost == 0:
        return f"; {cheap} costs nothing, {dear} {usd(dear_cost)} per case"
    ratio = dear_cost / cheap_cost
    return f"; {dear} costs {ratio:.1f}× as much" if ratio >= 1.1 else ""


# -- cost, latency, failure modes -----------------------------------------------------------


def _costs(model: str, results: Sequence[CaseResult]) -> ModelCosts:
    costs = [r.cost_usd for r in results if r.cost_usd is not None]
    latencies = [r.latency_ms for r in results if r.latency_ms is not None]
    return ModelCosts(
        model=model, results=len(results), priced=len(costs),
        cost_total=math.fsum(costs) if costs else None,
        cost_median=statistics.median(costs) if costs else None,
        cost_p95=p95(costs) if costs else None,
        latency_median=statistics.median(latencies) if latencies else None,
        latency_p95=p95(latencies) if latencies else None,
    )


def failure_mode(r: CaseResult) -> str | None:
    """The failure mode of a result: the result's own ``failure_mode`` when it has one,
    else the first one a failed check names in its evidence (grounding checks do)."""
    if r.failure_mode:
        return r.failure_mode
    for c in r.checks:
        mode = c.evidence.get("failure_mode") if not c.passed else None
        if isinstance(mode, str) and mode:
            return mode
    return None


def _failures(model: str, results: Sequence[CaseResult]) -> FailureModes:
    kinds: Counter[str] = Counter()
    checks: Counter[str] = Counter()
    modes: Counter[str] = Counter()
    for r in results:
        if r.error is not None:
            kinds[r.error.kind] += 1
        checks.update({_label(c) for c in r.checks if not c.passed and not _no_verdict(c)})
        mode = failure_mode(r) if r.status == "failed" else None
        if mode:
            modes[mode] += 1
    return FailureModes(
        model=model,
        failed=sum(r.status == "failed" for r in results),
        errors=sum(r.status == "error" for r in results),
        error_kinds=dict(kinds.most_common()),
        failed_checks=dict(checks.most_common()),
        failure_modes=dict(modes.most_common()),
    )


# -- text -----------------------------------------------------------------------------------


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _p_cell(t: PairTest) -> str:
    if not t.pairs:
        return "—"
    p = format_p(t.p_adjusted).replace(" ", "")
    return f"{t.difference * 100:+.0f} {p}{'*' if t.significant else ''}"


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [cell.rjust(w) if i in right else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  " + "  ".join(cells).rstrip())
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines


def _short(model: str, limit: int = 24) -> str:
    return model if len(model) <= limit else model[: limit - 1] + "…"


def render_text(c: Comparison) -> str:
    """The comparison as plain text for a terminal: tables, then the verdicts."""
    out: list[str] = []
    runs = ", ".join(c.run_ids)
    out.append(f"harness compare: {len(c.models)} model{'s' if len(c.models) != 1 else ''}, "
               f"{len(c.suites_compared)} suite{'s' if len(c.suites_compared) != 1 else ''} "
               f"(run{'s' if len(c.run_ids) != 1 else ''} {runs})")
    out.append("Δ: first minus second model in pass-rate points, over the cases both judged; "
               f"p: exact McNemar, Holm-adjusted within each table; * p < {c.alpha:g}")
    out.extend(f"note: {n}" for n in c.notes)

    out.append("\noverall")
    rows = [["model", "pass rate", "95% CI", "passed", "judged", "errors", "score"]]
    for m in c.overall.models:
        rows.append([m.model, _pct(m.rate), percent_range(m.ci95, ''), str(m.passed), str(m.judged),
                     str(m.errors), "—" if m.score is None else f"{m.score:.2f}"])
    out.extend(_table(rows, {1, 3, 4, 5, 6}))
    for t in c.overall.tests:
        out.append(f"  {t.a} vs {t.b}: {_pair_line(t)}")

    out.append("\ncost and latency per result")
    rows = [["model", "results", "total $", "median $", "p95 $", "median ms", "p95 ms"]]
    for k in c.costs:
        rows.append([k.model, str(k.results), usd(k.cost_total), usd(k.cost_median),
                     usd(k.cost_p95), _ms(k.latency_median), _ms(k.latency_p95)])
    out.extend(_table(rows, {1, 2, 3, 4, 5, 6}))

    for title, slices in (("by suite", c.suites), ("by tag", c.tags), ("by check", c.checks)):
        if not slices:
            continue
        out.append(f"\n{title}")
        out.extend(_slice_table(c.models, slices))

    out.append("\nfailure modes")
    for f in c.failures:
        parts = [f"{f.failed} failed, {f.errors} errors"]
        if f.failed_checks:
            parts.append("failed checks: " + _counts(f.failed_checks))
        if f.failure_modes:
            parts.append("modes: " + _counts(f.failure_modes))
        if f.error_kinds:
            parts.append("errors: " + _counts(f.error_kinds))
        out.append(f"  {f.model}: " + "; ".join(parts))
    if c.prompts is not None:
        out.extend(render_prompts(c.prompts))

    out.append("\nverdicts")
    out.extend(f"  {v}" for v in c.verdicts)
    return "\n".join(out) + "\n"


def _counts(counts: dict[str, int], limit: int = 6) -> str:
    items = list(counts.items())
    text = ", ".join(f"{k} {v}" for k, v in items[:limit])
    return text + (f", … {len(items) - limit} more" if len(items) > limit else "")


def _pair_line(t: PairTest) -> str:
    if not t.pairs:
        return "no judged cases in common"
    line = (f"Δ {t.difference * 100:+.0f} pts on {t.pairs} pairs ({t.only_a} vs {t.only_b} "
            f"discordant), McNemar {format_p(t.p_adjusted)}{' *' if t.significant else ''}")
    if t.score_difference is not None and t.score_ci95 is not None:
        line += (f"; score Δ {t.score_difference:+.2f} [{t.score_ci95[0]:+.2f}, "
                 f"{t.score_ci95[1]:+.2f}], ")
        line += f"fewer than {MIN_SCORE_PAIRS} pairs: not tested" \
            if t.score_p_adjusted is None else \
            f"bootstrap {format_p(t.score_p_adjusted)}{' *' if t.score_significant else ''}"
    return line


def _slice_table(models: Sequence[str], slices: Sequence[Slice]) -> list[str]:
    pairs = [(a, b) for i, a in enumerate(models) for b in models[i + 1:]]
    number = {m: str(i + 1) for i, m in enumerate(models)}
    header = ["", *(f"{number[m]} {_short(m)}" for m in models),
              *(f"Δ {number[a]}−{number[b]}" for a, b in pairs)]
    rows = [header]
    for s in slices:
        row = [s.name]
        for m in models:
            rate = s.rate(m)
            row.append("—" if rate is None or rate.rate is None
                       else f"{_pct(rate.rate)} ({percent_range(rate.ci95, '')})")
        for a, b in pairs:
            t = s.test(a, b)
            if t is None:
                row.append("—")
            else:
                row.append(_p_cell(t) if t.a == a else _p_cell(_swap(t)))
        rows.append(row)
    return _table(rows, set(range(1, len(header))))


def _swap(t: PairTest) -> PairTest:
    return PairTest(
        a=t.b, b=t.a, pairs=t.pairs, only_a=t.only_b, only_b=t.only_a,
        difference=-t.difference, p_value=t.p_value, p_adjusted=t.p_adjusted,
        significant=t.significant,
        score_difference=None if t.score_difference is None else -t.score_difference,
        score_ci95=None if t.score_ci95 is None else (-t.score_ci95[1], -t.score_ci95[0]),
        score_p_value=t.score_p_value, score_p_adjusted=t.score_p_adjusted,
        score_significant=t.score_significant,
    )
