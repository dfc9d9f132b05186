"""The group pass: run group checks (``consistent_across``) over counterfactual variants.

Per-case checks run as each call finishes; group checks need every variant of a group,
so they run here, over the finished results of a run, grouped by (suite, group, model,
repeat). The verdict is attached to each variant's result.

It is a pure function of the stored outputs and is applied when the RunLog is built, not
when results are stored: the run store only ever holds per-case results, so a resumed run
(whose groups may have finished half in an earlier process) gets the same verdicts as an
uninterrupted one, and nothing stored needs updating afterwards.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.results import CaseResult, CheckRecord, ErrorRecord, ResultKey

if TYPE_CHECKING:
    from harness.runner import WorkItem

GroupKey = tuple[str, str, str, int, str | None]  # suite, group, model, repeat, prompt


def apply_group_checks(items: Sequence[WorkItem], results: list[CaseResult]) -> list[CaseResult]:
    """``results`` with every group check's verdict attached to each variant (same order).

    A group with a variant that has no output (a provider error, or not run yet) cannot be
    judged: its group checks record an error, and the variants' status becomes ``error``
    with kind ``group``, never a pass or a fail.
    """
    from harness.checks.bias import GroupCheck, Variant

    planned: dict[GroupKey, list[WorkItem]] = defaultdict(list)
    for item in items:
        if item.case.group is not None and item.case.group_checks:
            planned[(item.suite.name, item.case.group, item.model.name, item.repeat,
                     item.case.prompt)].append(item)
    if not planned:
        return results
    by_key = {r.key: r for r in results}
    updated: dict[ResultKey, CaseResult] = {}
    for gkey, members in planned.items():
        found = [by_key.get(m.key) for m in members]
        present = [r for r in found if r is not None]
        if not present:
            continue
        missing = [m.case.variant.get("value", m.case.id)
                   for m, r in zip(members, found, strict=True)
                   if r is None or r.output is None or r.error is not None]
        variants = [Variant(m.case.variant.get("value", ""), m.case.variant.get("group", ""),
                            r.output or "")
                    for m, r in zip(members, found, strict=True) if r is not None]
        records: list[CheckRecord] = []
        for bound in members[0].case.group_checks:
            if missing:
                records.append(CheckRecord(
                    check=bound.name, args=bound.args, negate=bound.negate, passed=False,
                    score=None, reason=f"expected an output from every variant of group "
                    f"'{gkey[1]}'; none from {missing}",
                    error=f"{len(missing)} of {len(members)} variants have no output"))
                continue
            assert isinstance(bound.fn, GroupCheck)
            try:
                verdict = bound.finish(bound.fn.run_group(variants))
            except Exception as exc:  # a check bug must not sink the run
                records.append(CheckRecord(
                    check=bound.name, args=bound.args, negate=bound.negate, passed=False,
                    score=0.0, reason=f"check raised {type(exc).__name__}: {exc}",
                    evidence={"internal_error": True}))
                continue
            records.append(CheckRecord(
                check=bound.name, args=bound.args, negate=bound.negate, passed=verdict.passed,
                score=verdict.score, reason=verdict.reason,
                evidence={**verdict.evidence, "group": gkey[1]}, error=verdict.error))
        for result in present:
            updated[result.key] = _with_records(result, records)
    return [updated.get(r.key, r) for r in results]


def _with_records(result: CaseResult, records: list[CheckRecord]) -> CaseResult:
    checks = [*result.checks, *records]
    if result.status == "error":
        return result.model_copy(update={"checks": checks})
    errors = [f"{c.check}: {c.error}" for c in records if c.error is not None]
    if errors:
        return result.model_copy(update={
            "checks": checks, "status": "error",
            "error": ErrorRecord(kind="group", message="; ".join(errors))})
    status = "passed" if all(c.passed for c in checks) else "failed"
    return result.model_copy(update={"checks": checks, "status": status})
