"""Baseline vs head: which case × model got worse, and whether that fails the build.

For now the rule is the simplest useful one: a case × model that passed in the baseline
(every repeat passed) and does not pass now (some repeat failed its checks or its call
errored) is a regression, and one regression fails the gate. Cases only in one of the two
runs are counted, never judged. Score deltas, pass-rate thresholds and paired tests
between runs belong here too when they arrive.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from harness.results import CaseResult, RunLog

Pair = tuple[str, str, str]  # suite, case id, model


@dataclass(frozen=True)
class Regression:
    """A case × model that passed in the baseline and does not pass in the head run."""

    suite: str
    case_id: str
    model: str
    head_status: str  # "failed" or "error"
    reason: str  # the first failed check's reason, or the call's error
    source: str = ""  # path:line of the case

    def __str__(self) -> str:
        where = f" ({self.source})" if self.source else ""
        return (f"{self.suite}/{self.case_id} [{self.model}]{where}: passed in the baseline, "
                f"{self.head_status} now: {self.reason}")


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

    def lines(self) -> list[str]:
        """A plain-text account: the verdict, then one line per regression."""
        verdict = "passed" if self.passed else "FAILED"
        head = (f"gate {verdict}: {len(self.regressions)} regression"
                f"{'' if len(self.regressions) == 1 else 's'} in {self.compared} case × model "
                f"pair{'' if self.compared == 1 else 's'} compared with baseline run "
                f"{self.base_run}")
        extra = [f"{n} {what}" for n, what in (
            (self.fixed, "fixed"), (self.only_in_base, "not run now"),
            (self.only_in_head, "new")) if n]
        if extra:
            head += f" ({', '.join(extra)})"
        return [head, *(f"  {r}" for r in self.regressions)]


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
    for result in log.results:
        groups[(result.suite, result.case_id, result.model)].append(result)
    return groups


def compare(base: RunLog, head: RunLog) -> GateResult:
    """Compare ``head`` with the baseline ``base``, pair by pair (case × model)."""
    before, after = _groups(base), _groups(head)
    regressions: list[Regression] = []
    fixed = 0
    common = [pair for pair in after if pair in before]
    for pair in common:
        was, now = _status(before[pair]), _status(after[pair])
        if was == "passed" and now != "passed":
            suite, case_id, model = pair
            regressions.append(Regression(suite, case_id, model, now, _why(after[pair]),
                                          after[pair][0].source))
        elif was != "passed" and now == "passed":
            fixed += 1
    return GateResult(
        passed=not regressions,
        regressions=tuple(regressions),
        compared=len(common),
        fixed=fixed,
        only_in_base=sum(1 for pair in before if pair not in after),
        only_in_head=sum(1 for pair in after if pair not in before),
        base_run=base.run_id,
        head_run=head.run_id,
    )
