"""Baseline vs head: did the change make things worse, and should CI fail?

Rules, in plain words (each failing rule adds a reason):

1. **New failures.** A case × model whose every repeat passed in the baseline and whose
   every judged repeat fails now is a regression. One that now passes only sometimes
   "became flaky": reported, but only rule 2 can fail the gate for it, because a handful
   of repeats cannot tell a real change from sampling noise.
2. **Pass rates that fell beyond noise.** Per suite × model, the cases that pass (every
   repeat) in one run and not in the other are compared with an exact McNemar test; a drop
   with p < ``alpha`` fails the gate.
3. **Budgets.** ``min_pass_rate`` (per suite × model), ``max_cost`` (whole head run, USD)
   and ``max_latency_p95`` (per model, ms), when given on the command line; otherwise the
   ones a suite declares under ``gate:`` in its file, applied to that suite's results
   (``max_cost`` over the suite, ``max_latency_p95`` per suite × model).
4. **Too many provider errors to judge.** When more than ``max_error_rate`` of the head
   run's results are errors, nothing above can be trusted: exit code 3.

Suites are fingerprinted: when a suite changed between the runs the gate says so, since
a regression may then come from the suite rather than the model or the prompt.

Exit codes: 0 pass, 1 regression or budget, 2 usage error (the CLI's), 3 too many errors.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from harness.results import CaseResult, RunLog, case_label, counted, spent
from harness.stats import p95

Pair = tuple[str, str, str, str | None]  # suite, case id, model, prompt variant

EXIT_PASS, EXIT_REGRESSION, EXIT_ERRORS = 0, 1, 3


@dataclass(frozen=True)
class Regression:
    """A case × model that passed in the baseline and does not pass in the head run."""

    suite: str
    case_id: str
    model: str
    head_status: str  # "failed" or "error"
    reason: str  # the first failed check's reason, or the call's error
    source: str = ""  # path:line of the case
    prompt: str | None = None  # the suite's prompt variant, when it declares some

    def __str__(self) -> str:
        where = f" ({self.source})" if self.source else ""
        return (f"{self.suite}/{case_label(self.case_id, self.prompt)} [{self.model}]{where}: "
                "passed in the baseline, "
                f"{self.head_status} now: {self.reason}")


@dataclass(frozen=True)
class Budgets:
    """Limits the head run must respect (None: not checked)."""

    min_pass_rate: float | None = None
    max_cost: float | None = None
    max_latency_p95: float | None = None
    max_error_rate: float = 0.2
    alpha: float = 0.05


@dataclass(frozen=True)
class GateResult:
    """What the gate decided and why."""

    passed: bool
    regressions: tuple[Regression, ...]
    compared: int  # case × model pairs present in both runs
    fixed: int  # pairs that did not pass in the baseline and pass now
    only_in_base: int  # pairs of the baseline that the head run did not run
    only_in_head: int  # pairs new in the head run (nothing to compare them with)
    base_run: str
    head_run: str
    exit_code: int = EXIT_PASS
    reasons: tuple[str, ...] = ()  # every rule that failed, in plain words
    notes: tuple[str, ...] = ()  # what a reader should know but does not fail the gate
    became_flaky: tuple[str, ...] = field(default=())

    def lines(self) -> list[str]:
        """A plain-text account: the verdict, the reasons, then one line per regression."""
        verdict = "passed" if self.passed else "FAILED"
        head = (f"gate {verdict}: {len(self.regressions)} regression"
                f"{'' if len(self.regressions) == 1 else 's'} in {self.compared} case × model "
                f"pair{'' if self.compared == 1 else 's'} compared with baseline run "
                f"{self.base_run}")
        extra = [f"{n} {what}" for n, what in (
            (self.fixed, "fixed"), (len(self.became_flaky), "became flaky"),
            (self.only_in_base, "not run now"), (self.only_in_head, "new")) if n]
        if extra:
            head += f" ({', '.join(extra)})"
        return [head, *(f"  - {r}" for r in self.reasons), *(f"  note: {n}" for n in self.notes),
                *(f"  {r}" for r in self.regressions),
                *(f"  flaky now: {f}" for f in self.became_flaky)]


def _judged(group: list[CaseResult]) -> list[CaseResult]:
    return [r for r in group if r.status != "error"]


def _status(group: list[CaseResult]) -> str:
    if all(r.status == "passed" for r in group):
        return "passed"
    return "error" if any(r.status == "error" for r in group) else "failed"


def _why(group: list[CaseResult]) -> str:
    for result in group:
        if result.error is not None:
            return f"{result.error.kind}: {result.error.message}"
        for check in result.checks:
            if not check.passed:
                label = f"not {check.check}" if check.negate else check.check
                return f"{label}: {check.reason}"
    return "no result passed"


def _groups(log: RunLog) -> dict[Pair, list[CaseResult]]:
    groups: dict[Pair, list[CaseResult]] = defaultdict(list)
    for result in counted(log.results):  # shrink candidates are diagnostics, not cases
        groups[(result.suite, result.case_id, result.model, result.prompt)].append(result)
    return groups


def compare(base: RunLog, head: RunLog, budgets: Budgets | None = None) -> GateResult:
    """Decide whether ``head`` is worse than the baseline ``base``."""
    from harness.stats import mcnemar_exact

    limits = budgets or Budgets()
    before, after = _groups(base), _groups(head)
    reasons: list[str] = []
    notes: list[str] = []
    regressions: list[Regression] = []
    flaky: list[str] = []
    fixed = 0
    common = [pair for pair in after if pair in before]
    # pass/fail per pair for McNemar, per suite × model
    discordant: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for pair in common:
        was, now = _status(before[pair]), _status(after[pair])
        judged_now = _judged(after[pair])
        suite, case_id, model, prompt = pair
        if was == "passed" and now != "passed":
            if judged_now and any(r.status == "passed" for r in judged_now):
                flaky.append(f"{suite}/{case_label(case_id, prompt)} [{model}]: "
                             f"{sum(r.status == 'passed' for r in judged_now)}/"
                             f"{len(judged_now)} repeats pass")
            else:
                regressions.append(Regression(suite, case_id, model, now, _why(after[pair]),
                                              after[pair][0].source, prompt))
        elif was != "passed" and now == "passed":
            fixed += 1
        if was != "error" and now != "error":
            # per prompt variant too ("" when the suite has none), so a regressed
            # variant is named and not averaged away by the others
            cell = discordant[(suite, model, prompt or "")]
            if was == "passed" and now != "passed":
                cell[0] += 1
            elif was != "passed" and now == "passed":
                cell[1] += 1
    if regressions:
        variants = sorted({r.prompt for r in regressions if r.prompt is not None})
        named = f" (prompt variant{'s' if len(variants) > 1 else ''} " \
            f"{', '.join(variants)})" if variants else ""
        reasons.append(f"{len(regressions)} case × model pair"
                       f"{'s' if len(regressions) != 1 else ''} that passed in the baseline "
                       f"fail now{named}")
    for (suite, model, variant), (worse, better) in sorted(discordant.items()):
        if worse > better:
            p = mcnemar_exact(worse, better)
            if p < limits.alpha:
                with_prompt = f" with prompt '{variant}'" if variant else ""
                reasons.append(f"{suite} on {model}{with_prompt}: {worse} cases got worse and "
                               f"{better} got "
                               f"better; a drop this large is unlikely to be noise "
                               f"(McNemar p = {p:.3g})")
    _budgets(head, limits, reasons)
    errors = sum(r.status == "error" for r in head.results)
    exit_code = EXIT_REGRESSION if reasons else EXIT_PASS
    if head.results and errors / len(head.results) > limits.max_error_rate:
        reasons.insert(0, f"{errors} of {len(head.results)} results are provider or judge "
                       f"errors (more than {limits.max_error_rate:.0%}): too many to judge")
        exit_code = EXIT_ERRORS
    base_prints = {s.name: s.fingerprint for s in base.suites}
    for info in head.suites:
        print_before = base_prints.get(info.name)
        if print_before is not None and print_before != info.fingerprint:
            notes.append(f"suite '{info.name}' changed since the baseline (fingerprint "
                         f"{print_before} → {info.fingerprint}): differences may come from "
                         "the suite itself")
        elif print_before is None:
            notes.append(f"suite '{info.name}' is not in the baseline")
    from harness.prompt_compare import prompt_changes

    notes += prompt_changes(base.suites, head.suites)
    return GateResult(
        passed=exit_code == EXIT_PASS,
        regressions=tuple(regressions),
        compared=len(common),
        fixed=fixed,
        only_in_base=sum(1 for pair in before if pair not in after),
        only_in_head=sum(1 for pair in after if pair not in before),
        base_run=base.run_id,
        head_run=head.run_id,
        exit_code=exit_code,
        reasons=tuple(reasons),
        notes=tuple(notes),
        became_flaky=tuple(flaky),
    )


def _budgets(head: RunLog, limits: Budgets, reasons: list[str]) -> None:
    # budgets a suite declares (`gate:` in its file) apply where the command line set none
    declared = {s.name: s.gate for s in head.suites if s.gate}
    if limits.min_pass_rate is not None or any("min_pass_rate" in g for g in declared.values()):
        counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for r in counted(head.results):  # shrink candidates are diagnostics, not cases
            if r.status != "error":
                counts[(r.suite, r.model)][0] += r.status == "passed"
                counts[(r.suite, r.model)][1] += 1
        for (suite, model), (passed, judged) in sorted(counts.items()):
            floor = limits.min_pass_rate
            whose = "the minimum"
            if floor is None:
                floor = declared.get(suite, {}).get("min_pass_rate")
                whose = "the suite's minimum"
            if floor is not None and judged and passed / judged < floor:
                reasons.append(f"{suite} on {model}: pass rate {passed / judged:.0%} is below "
                               f"{whose} {floor:.0%}")
    if limits.max_cost is None:
        for suite, gate in sorted(declared.items()):
            if "max_cost" in gate:
                cost = spent(r for r in head.results if r.suite == suite)
                if cost > gate["max_cost"]:
                    reasons.append(f"{suite}: its results cost ${cost:.4f}, more than the "
                                   f"suite's budget ${gate['max_cost']:g}")
    if limits.max_latency_p95 is None:
        for suite, gate in sorted(declared.items()):
            if "max_latency_p95" in gate:
                per_model: dict[str, list[float]] = defaultdict(list)
                for r in head.results:
                    if r.suite == suite and r.latency_ms is not None and not r.cached:
                        per_model[r.model].append(r.latency_ms)
                for model, values in sorted(per_model.items()):
                    latency = p95(values)
                    if latency > gate["max_latency_p95"]:
                        reasons.append(f"{suite} on {model}: p95 latency {latency:.0f} ms is above "
                                       f"the suite's {gate['max_latency_p95']:g} ms")
    if limits.max_cost is not None:
        cost = spent(head.results)
        if cost > limits.max_cost:
            reasons.append(f"the run cost ${cost:.4f}, more than the budget ${limits.max_cost:g}")
    if limits.max_latency_p95 is not None:
        by_model: dict[str, list[float]] = defaultdict(list)
        for r in head.results:
            if r.latency_ms is not None and not r.cached:
                by_model[r.model].append(r.latency_ms)
        for model, values in sorted(by_model.items()):
            latency = p95(values)
            if latency > limits.max_latency_p95:
                reasons.append(f"{model}: p95 latency {latency:.0f} ms is above "
                               f"{limits.max_latency_p95:g} ms")
