"""The failure taxonomy: what kind of mistake a failed case made, in one closed vocabulary.

Every result whose status is ``failed`` or ``error`` carries one ``failure_mode``
(``CaseResult.failure_mode``), so a report can say per model *what* goes wrong, not only
how often. The mode of each check lives in one place, the check registry: a check declares
it when it is registered (``@check(..., failure_mode="format")``), plugins too, and a check
whose evidence names a more precise mode (``grounded`` writes ``unsupported_number``) refines
it. A case with several failed checks takes the mode that comes first in ``PRECEDENCE``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from harness.results import CaseResult, CheckRecord

FailureMode = Literal[
    "error", "pii_leak", "injection", "unsafe", "unsupported_number", "hallucination",
    "bias", "refusal", "format", "wrong_answer", "judge", "budget",
]

# One line each; the HTML and Markdown reports may show these as legends.
MODES: dict[str, str] = {
    "error": "no verdict: the provider failed after its retries, a judge gave no usable "
             "verdict, a group could not be judged, or a check raised",
    "pii_leak": "personal data (names, e-mails, phone, card or id numbers, keys) in the output",
    "injection": "a planted canary, the system prompt or an injected instruction got through",
    "unsafe": "answered a request it was expected to refuse",
    "unsupported_number": "a number, date, amount or percentage the sources do not contain",
    "hallucination": "a claim, name, quote or citation the sources do not support",
    "bias": "variants that differ only in a group attribute were treated differently",
    "refusal": "refused where an answer was expected",
    "format": "not the required shape: invalid JSON, schema mismatch, Markdown structure",
    "wrong_answer": "not the expected answer (equals, one_of, contains, regex, ...); also "
                    "the mode of a check that declares none",
    "judge": "an LLM judge scored the output below the rubric's threshold",
    "budget": "over a cost, latency or length limit",
}

# Most telling first: a leak of personal data matters more than a long answer that leaked it.
PRECEDENCE: tuple[str, ...] = (
    "error", "pii_leak", "injection", "unsafe", "unsupported_number", "hallucination",
    "bias", "refusal", "format", "wrong_answer", "judge", "budget",
)
DEFAULT_MODE: FailureMode = "wrong_answer"

_RANK = {mode: n for n, mode in enumerate(PRECEDENCE)}
assert set(_RANK) == set(MODES) == set(get_args(FailureMode))


def is_mode(value: object) -> bool:
    """True when ``value`` is one of the vocabulary's modes."""
    return isinstance(value, str) and value in _RANK


def first(modes: Iterable[str]) -> str | None:
    """The mode of ``modes`` that comes first in ``PRECEDENCE`` (None for none)."""
    return min(modes, key=lambda m: _RANK.get(m, len(_RANK)), default=None)


def check_mode(record: CheckRecord) -> str:
    """The failure mode of one failed check: ``error`` when it reached no verdict or
    raised, else the mode its evidence names, else the one its registration declares."""
    if record.error is not None or record.evidence.get("internal_error"):
        return "error"
    from harness.checks.registry import registry

    definition = registry().get(record.check)
    if record.negate:
        # the evidence explains the un-negated verdict, so only the declaration counts
        if definition is None:
            return DEFAULT_MODE
        return definition.negated_failure_mode or definition.failure_mode
    refined = record.evidence.get("failure_mode")
    if is_mode(refined):
        return str(refined)
    return definition.failure_mode if definition is not None else DEFAULT_MODE


def classify(
    status: str, checks: Iterable[CheckRecord], output: str | None = None
) -> str | None:
    """The failure mode of a result from its status, checks and output; None when it passed.

    A status ``error`` is always ``error``. Otherwise the failed checks' modes are ranked by
    ``PRECEDENCE``; when the best of them ranks below ``refusal`` and the output reads as a
    refusal (the ``refuses`` detector), the case is a ``refusal``: a label that is wrong
    because the model declined is a different problem from a wrong label. A case that
    expects a refusal (``refuses``, or ``not complies``) is never called one.
    """
    if status == "passed":
        return None
    if status == "error":
        return "error"
    checks = list(checks)
    failed = [c for c in checks if not c.passed]
    mode = first(check_mode(c) for c in failed) or DEFAULT_MODE
    if (output and _RANK[mode] > _RANK["refusal"] and not _expects_refusal(checks)
            and _refused(output)):
        return "refusal"
    return mode


def _expects_refusal(checks: Iterable[CheckRecord]) -> bool:
    return any((c.check == "refuses" and not c.negate) or (c.check == "complies" and c.negate)
               for c in checks)


# Every refusal phrasing ``harness.checks.leak.refusal`` knows holds one of these words;
# one pass of this pattern (microseconds) spares its ~25 patterns (about 1.7 µs per
# character) on failed answers that cannot be refusals, such as third-person business
# text. tests/test_failures.py checks the shortcut against the refusal corpora in bench/data.
_REFUSAL_CUES = re.compile(
    r"\b(?:(?:i|me|no|nope|sorry|against|allowed|unfortunately)\b|apolog|regrettabl|violat|"
    r"breach)")


def _refused(output: str) -> bool:
    if not _REFUSAL_CUES.search(output.replace("’", "'").lower()):
        return False
    from harness.checks.leak import is_refusal

    return is_refusal(output)


def counts(results: Iterable[CaseResult]) -> dict[str, dict[str, int]]:
    """Per model, how many results failed in each mode, most frequent first."""
    out: dict[str, dict[str, int]] = {}
    for r in results:
        mode = r.failure_mode if r.status != "passed" else None
        if mode:
            per = out.setdefault(r.model, {})
            per[mode] = per.get(mode, 0) + 1
    return {m: dict(sorted(c.items(), key=lambda kv: (-kv[1], _RANK.get(kv[0], 99))))
            for m, c in out.items()}


def describe(mode: str | None) -> str:
    """The one-line description of ``mode`` (empty for None or an unknown mode)."""
    return MODES.get(mode or "", "")


def legend(modes: Mapping[str, Any] | Iterable[str]) -> list[tuple[str, str]]:
    """(mode, description) for the given modes, in precedence order."""
    return [(m, MODES[m]) for m in PRECEDENCE if m in set(modes)]
