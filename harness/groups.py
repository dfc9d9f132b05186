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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.failures import classify
from harness.results import CaseResult, CheckRecord, ErrorRecord, ResultKey

if TYPE_CHECKING:
    from harness.checks.registry import BoundCheck
    from harness.judge import JudgeClient
    from harness.runner import WorkItem

GroupKey = tuple[str, str, str, int, str | None]  # suite, group, model, repeat, prompt


def apply_group_checks(items: Sequence[WorkItem], results: list[CaseResult],
                       judges: Mapping[str, JudgeClient] | None = None) -> list[CaseResult]:
    """``results`` with every group check's verdict attached to each variant (same order).

    A group with a variant that has no output (a provider error, or not run yet) cannot be
    judged: its group checks record an error, and the variants' status becomes ``error``
    with kind ``group``, never a pass or a fail. Checks that ask judge models
    (``consistent_across: {measure: judge}``) use ``judges[suite name]``; all of them are
    asked at once, and without a client they record an error.
    """
    from harness.checks.bias import GroupCheck, Variant

    pending: list[tuple[list[CheckRecord], int, BoundCheck, Any, Sequence[Any], str]] = []

    planned: dict[GroupKey, list[WorkItem]] = defaultdict(list)
    for item in items:
        if item.case.group is not None and item.case.group_checks:
            planned[(item.suite.name, item.case.group, item.model.name, item.repeat,
                     item.case.prompt)].append(item)
    if not planned:
        return results
    by_key = {r.key: r for r in results}
    updated: dict[ResultKey, CaseResult] = {}
    groups: list[tuple[list[CaseResult], list[CheckRecord]]] = []
    for gkey, members in planned.items():
        found = [by_key.get(m.key) for m in members]
        present = [r for r in found if r is not None]
        if not present:
            continue
        missing = [m.case.variant.get("value", m.case.id)
                   for m, r in zip(members, found, strict=True)
                   if r is None or r.output is None or r.error is not None]
        # step_by_step: variants are compared on the answers their checks read
        variants = [Variant(m.case.variant.get("value", ""), m.case.variant.get("group", ""),
                            r.answer or r.output or "")
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
            if bound.fn.needs_judge:  # asked below, with every other judged group
                records.append(_placeholder(bound))
                pending.append((records, len(records) - 1, bound,
                                (judges or {}).get(gkey[0]), variants, gkey[1]))
                continue
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
        groups.append((present, records))
    if pending:
        _ask_judges(pending)
    for present, records in groups:
        for result in present:
            updated[result.key] = _with_records(result, records)
    return [updated.get(r.key, r) for r in results]


def has_judged_groups(items: Sequence[WorkItem]) -> bool:
    """Whether any item has a group check that asks judge models."""
    return any(getattr(b.fn, "needs_judge", False) for item in items
               for b in item.case.group_checks)


def group_judges(items: Sequence[WorkItem], cli_judges: Sequence[Any], provider: Any,
                 cache: Any = None, retry: Any = None, budget: Any = None,
                 ) -> dict[str, JudgeClient]:
    """Per suite with a judged group check, the client that asks its judges: the command
    line's judges when given, else the suite's (a client without models still serves a
    check that names its own ``judges:``). With the run's ``retry`` policy and ``budget``
    (``--max-cost``) these calls retry and spend like every other call of the run."""
    from harness.cost import max_cost
    from harness.judge import JudgeClient

    estimate = max_cost if budget is not None else None

    clients: dict[str, JudgeClient] = {}
    for item in items:
        suite = item.suite
        if suite.name in clients or not has_judged_groups([item]):
            continue
        clients[suite.name] = JudgeClient(provider, list(cli_judges) or suite.judges,
                                          retry, cache=cache, timeout=suite.defaults.timeout,
                                          budget=budget, estimate=estimate)
    return clients


def _placeholder(bound: BoundCheck) -> CheckRecord:
    return CheckRecord(check=bound.name, args=bound.args, negate=bound.negate, passed=False,
                       reason="not judged", error="not judged")


def _ask_judges(
    pending: list[tuple[list[CheckRecord], int, BoundCheck, Any, Sequence[Any], str]],
) -> None:
    """Fill the judged checks' records: one event loop, every judge call concurrent."""
    import asyncio

    from harness.checks.bias import GroupCheck

    async def one(bound: BoundCheck, client: Any, variants: Sequence[Any]) -> Any:
        assert isinstance(bound.fn, GroupCheck)
        try:
            return bound.finish(await bound.fn.run_group_async(variants, client))
        except Exception as exc:  # a check bug must not sink the run
            return exc

    async def everything() -> list[Any]:
        try:
            return list(await asyncio.gather(*(one(b, c, v)
                                               for _, _, b, c, v, _ in pending)))
        finally:  # a provider's connections belong to this loop: close them in it
            providers = {id(c.provider): c.provider for _, _, _, c, _, _ in pending
                         if c is not None}
            for provider in providers.values():
                closer = getattr(provider, "aclose", None)
                if closer is not None:
                    await closer()

    for (records, index, bound, _, _, group), verdict in zip(
            pending, asyncio.run(everything()), strict=True):
        if isinstance(verdict, Exception):
            records[index] = CheckRecord(
                check=bound.name, args=bound.args, negate=bound.negate, passed=False,
                score=0.0, reason=f"check raised {type(verdict).__name__}: {verdict}",
                evidence={"internal_error": True})
            continue
        records[index] = CheckRecord(
            check=bound.name, args=bound.args, negate=bound.negate, passed=verdict.passed,
            score=verdict.score, reason=verdict.reason,
            evidence={**verdict.evidence, "group": group}, error=verdict.error)


def _with_records(result: CaseResult, records: list[CheckRecord]) -> CaseResult:
    checks = [*result.checks, *records]
    if result.status == "error":
        return result.model_copy(update={"checks": checks})
    errors = [f"{c.check}: {c.error}" for c in records if c.error is not None]
    if errors:
        return result.model_copy(update={
            "checks": checks, "status": "error", "failure_mode": "error",
            "error": ErrorRecord(kind="group", message="; ".join(errors))})
    status = "passed" if all(c.passed for c in checks) else "failed"
    return result.model_copy(update={"checks": checks, "status": status,
                                     "failure_mode": classify(status, checks,
                                                              result.answer or result.output)})
