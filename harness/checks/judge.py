"""Checks scored by LLM judges: a rubric (``judge``) and claim-by-claim support (``faithful``).

The judges come from the suite (``judge:``) or the command line (``--judge``); a check
may name its own (``judges:``). With several judges each verdict is recorded, the score
is their mean, and a case where they disagree on pass/fail is flagged. A judge that gives
no usable verdict makes the check an error, never a pass or a fail.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from harness.checks.registry import AsyncCheckFn, CheckInput, CheckResult, check
from harness.judge import JudgeClient, Verdict, VerdictShape, total_usage

OUTPUT_CHARS = 12_000  # what a judge is shown of an output, and of each source document
OVER_BUDGET = "over_budget"  # evidence key: a judge was not asked, --max-cost had no room


def _score(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"'score' must be a number from 0 to 1, got {value!r}")
    score = float(value)
    if math.isnan(score) or not 0.0 <= score <= 1.0:
        raise ValueError(f"'score' must be between 0 and 1, got {value!r}")
    return score


def _rubric_verdict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object with 'score' and 'reason'")
    if "score" not in value:
        raise ValueError("the object has no 'score'")
    reason = value.get("reason", "")
    return {"score": _score(value["score"]), "reason": str(reason)}


def _claims_verdict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("claims"), list):
        raise ValueError("expected a JSON object with a 'claims' list")
    claims = []
    for n, item in enumerate(value["claims"], 1):
        if not isinstance(item, dict) or not isinstance(item.get("claim"), str):
            raise ValueError(f"claim {n} must be an object with a 'claim' string")
        if not isinstance(item.get("supported"), bool):
            raise ValueError(f"claim {n}: 'supported' must be true or false")
        claims.append({"claim": item["claim"], "supported": item["supported"],
                       "evidence": str(item.get("evidence") or "")})
    supported = sum(c["supported"] for c in claims)
    # No claims at all: nothing was asserted, so nothing is unsupported.
    score = supported / len(claims) if claims else 1.0
    return {"score": score, "claims": claims}


RUBRIC = VerdictShape(
    hint='{"score": <number from 0 to 1>, "reason": "<one or two sentences>"}',
    validate=_rubric_verdict,
)
CLAIMS = VerdictShape(
    hint=('{"claims": [{"claim": "<one factual claim of the output>", '
          '"supported": <true|false>, "evidence": "<the passage of the context that '
          'supports it, or why none does>"}]}'),
    validate=_claims_verdict,
)


def _cut(text: str) -> str:
    return text if len(text) <= OUTPUT_CHARS else text[:OUTPUT_CHARS] + " […]"


def _conversation(inp: CheckInput) -> str:
    return "\n".join(f"[{m.get('role', '?')}] {_cut(m.get('content', ''))}"
                     for m in inp.messages) or "(not recorded)"


def _context(inp: CheckInput) -> str:
    return "\n\n".join(f"[document {n}]\n{_cut(doc)}" for n, doc in enumerate(inp.context, 1))


def rubric_messages(rubric: str, inp: CheckInput) -> list[dict[str, str]]:
    context = f"\n\n## Context given to the model\n{_context(inp)}" if inp.context else ""
    return [
        {"role": "system", "content": (
            "You are a strict, impartial evaluator. Grade the output against the rubric "
            "only. Reply with only a JSON object of this shape, and nothing else:\n"
            + RUBRIC.hint + "\n1 means the rubric is fully met, 0 not at all.")},
        {"role": "user", "content": (
            f"## Rubric\n{rubric}\n\n## Conversation given to the model\n"
            f"{_conversation(inp)}{context}\n\n## Output to grade\n<<<\n{_cut(inp.output)}\n>>>")},
    ]


def claims_messages(inp: CheckInput) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": (
            "You verify outputs against source documents. Split the output into its "
            "individual factual claims and decide, for each, whether the context supports "
            "it. A claim is supported only if the context states it or it follows directly; "
            "general knowledge does not count. Reply with only a JSON object of this "
            "shape, and nothing else:\n" + CLAIMS.hint)},
        {"role": "user", "content": (
            f"## Context\n{_context(inp)}\n\n## Question or task\n{_conversation(inp)}\n\n"
            f"## Output to verify\n<<<\n{_cut(inp.output)}\n>>>")},
    ]


def _client(inp: CheckInput, judges: list[str] | None) -> JudgeClient | str:
    if inp.judge is not None and judges:
        return inp.judge.with_models(judges)
    if inp.judge is None or not inp.judge.models:
        return ("no judge model is configured: add 'judge: MODEL' to the suite or pass "
                "--judge MODEL")
    return inp.judge


def _combine(name: str, verdicts: Sequence[Verdict], threshold: float,
             what: str) -> CheckResult:
    """One result from the judges' verdicts: their mean score against ``threshold``."""
    usage = total_usage(verdicts)
    failed = [v for v in verdicts if v.error is not None]
    if failed:
        message = "; ".join(v.error or "" for v in failed)
        evidence: dict[str, Any] = {"verdicts": [_record(v, threshold) for v in verdicts],
                                    "judge_usage": usage}
        if any(v.over_budget for v in failed):
            evidence[OVER_BUDGET] = True  # the runner leaves such a case for a resume
        return CheckResult(name, False, None, f"no verdict: {message}", evidence,
                           error=message)
    scores = [float(v.data["score"]) for v in verdicts]
    mean = sum(scores) / len(scores)
    passed = mean >= threshold
    records = [_record(v, threshold) for v in verdicts]
    evidence = {"threshold": threshold, "verdicts": records, "judge_usage": usage}
    reason = f"expected {what} ≥ {threshold:g}; found {mean:.2f}"
    if len(verdicts) > 1:
        spread = max(scores) - min(scores)
        disagreement = len({r["passed"] for r in records}) > 1
        evidence["agreement"] = {"spread": round(spread, 4), "same_verdict": not disagreement}
        evidence["disagreement"] = disagreement
        each = ", ".join(f"{v.model}: {s:.2f}" for v, s in zip(verdicts, scores, strict=True))
        reason += f" (mean of {len(verdicts)} judges: {each})"
        if disagreement:
            reason += "; judges disagree on pass/fail"
    else:
        first = verdicts[0].data.get("reason")
        if first:
            reason += f": {first}"
    return CheckResult(name, passed, round(mean, 6), reason, evidence)


def _record(v: Verdict, threshold: float) -> dict[str, Any]:
    if v.error is not None:
        return {"model": v.model, "error": v.error, "usage": v.usage()}
    return {"model": v.model, **v.data, "passed": float(v.data["score"]) >= threshold,
            "usage": v.usage()}


def _claims_mode(claims: Sequence[str], context: Sequence[str]) -> str:
    """``unsupported_number`` when a claim the judges rejected holds a number or date the
    sources lack (found by the deterministic detector, in milliseconds), else
    ``hallucination``: the same split ``grounded`` makes."""
    from harness.detectors.grounding import ground

    figures = ("number", "date")
    if any(span.kind in figures for claim in claims
           for span in ground(claim, context).unsupported_spans()):
        return "unsupported_number"
    return "hallucination"


def _check_threshold(threshold: float) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise ValueError("'threshold' must be between 0 and 1")


@check("judge", shorthand="rubric", needs_judge=True, failure_mode="judge",
       examples=({"rubric": "The answer is polite."},))
def judge(rubric: str, threshold: float = 0.5, judges: list[str] | None = None) -> AsyncCheckFn:
    """An LLM judge scores the output from 0 to 1 against a rubric in plain language;
    passes when the judges' mean score is at least ``threshold``."""
    if not rubric.strip():
        raise ValueError("'rubric' must say what a good output does")
    _check_threshold(threshold)

    async def run(inp: CheckInput) -> CheckResult:
        client = _client(inp, judges)
        if isinstance(client, str):
            return CheckResult("judge", False, None, f"no verdict: {client}", error=client)
        verdicts = await client.verdicts(rubric_messages(rubric, inp), RUBRIC)
        return _combine("judge", verdicts, threshold, "rubric score")

    return run


# Default 1.0: one invented figure in a client memo is the failure this check exists
# for, so a single unsupported claim fails it. Lower it (0.9) to tolerate judge noise on
# long outputs with many claims.
@check("faithful", needs_judge=True, failure_mode="hallucination",
       examples=({}, {"threshold": 0.9}))
def faithful(threshold: float = 1.0, judges: list[str] | None = None) -> AsyncCheckFn:
    """An LLM judge splits the output into claims and verifies each against the case's
    context; the score is the share of supported claims (mean over judges)."""
    _check_threshold(threshold)

    async def run(inp: CheckInput) -> CheckResult:
        if not inp.context:
            return CheckResult("faithful", False, 0.0,
                               "expected a case 'context' to verify the output against; "
                               "found none")
        client = _client(inp, judges)
        if isinstance(client, str):
            return CheckResult("faithful", False, None, f"no verdict: {client}", error=client)
        verdicts = await client.verdicts(claims_messages(inp), CLAIMS)
        result = _combine("faithful", verdicts, threshold, "share of supported claims")
        if result.error is None:
            unsupported = sorted({c["claim"] for v in verdicts for c in v.data["claims"]
                                  if not c["supported"]})
            result.evidence["unsupported"] = unsupported
            if unsupported and not result.passed:
                result.evidence["failure_mode"] = _claims_mode(unsupported, inp.context)
                shown = "; ".join(unsupported[:3])
                return CheckResult("faithful", False, result.score,
                                   f"{result.reason}; unsupported: {shown}", result.evidence)
        return result

    return run
