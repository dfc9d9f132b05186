"""Mask personal data in what a report shows, so a report shared in CI leaks nothing.

Two depths, chosen per result:

- **Structured identifiers everywhere**: e-mail addresses, phone numbers, card numbers
  (Luhn), IBANs (mod-97), US SSNs, UK NINOs, IP addresses and API keys, found by the
  harness's own recognizers (regular expressions with validation; well under a
  millisecond per text, no optional dependency).
- **Everything the PII detector finds** (names, places and street addresses too, through
  Presidio and spaCy) in the results that carry a ``no_pii`` check: the suite said
  personal data matters there. This costs about 10 ms per text, which is why it is not
  spent on every output of a large run. It needs ``pip install 'harness[pii]'``; without
  it those results fall back to the structured identifiers.

The RunLog itself is never masked: it is the data a re-check or a replay works from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.results import CaseResult, CheckRecord, RunLog
from harness.spec.templating import CANARY_RE

if TYPE_CHECKING:
    from harness.detectors.pii import Span

STRUCTURED_KINDS = ("EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "UK_NINO",
                    "IP_ADDRESS", "PHONE_NUMBER", "API_KEY")
MIN_SCORE = 0.5

Masker = Callable[[str], str]


# What each recognizer's pattern cannot match without: a necessary condition, so a text
# that fails it gets no hit of that kind and skips the recognizer. These scans start with a
# digit, a capital or a literal, which lets the regex engine jump between candidates; the
# recognizers' own patterns open with look-behinds and are tried at every position (about
# ten times slower on prose). Each is derived from the pattern in harness.detectors.patterns
# (tests/report/test_masking_prefilter.py holds them to it on generated PII).
#
# Seven digits, each gap at most two of " \t.-/()": a phone number holds at least that
# (country code, area code in parentheses, groups); cards (12+ digits, gaps of one " -"),
# SSNs (9 digits, gaps of one " -.") and NINOs (6 digits, gaps of one " ") are gated by
# the six-digit form of the same scan.
_SIX_DIGITS = re.compile(r"\d(?:[ \t.\-/()]{0,2}\d){5}")
_NEEDS: dict[str, re.Pattern[str] | None] = {
    "PHONE_NUMBER": re.compile(r"\d(?:[ \t.\-/()]{0,2}\d){6}"),
    "CREDIT_CARD": re.compile(r"\d(?:[ \-]?\d){11}"),
    "US_SSN": re.compile(r"\d{3}[ \-.]?\d{2}[ \-.]?\d{4}"),
    "UK_NINO": re.compile(r"\d{2} ?\d{2} ?\d{2} ?[A-D]"),
    "IBAN_CODE": re.compile(r"[A-Z]{2}\d{2}"),
    # dotted quad, or two colons with at most four hex digits between (IPv6)
    "IP_ADDRESS": re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d|:[0-9A-Fa-f]{0,4}:"),
    "EMAIL_ADDRESS": None,  # needs "@": a substring test
    "API_KEY": None,  # the recognizer tests its literal prefixes itself
}
_GATED_BY_SIX_DIGITS = frozenset({"PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "UK_NINO"})


def candidate_kinds(text: str) -> list[str]:
    """The structured kinds whose recognizer could find something in ``text`` (a superset
    of the kinds it does find), in ``STRUCTURED_KINDS`` order."""
    six = _SIX_DIGITS.search(text) is not None
    kinds = []
    for kind in STRUCTURED_KINDS:
        if kind in _GATED_BY_SIX_DIGITS and not six:
            continue
        if kind == "EMAIL_ADDRESS":
            if "@" not in text:
                continue
        else:
            need = _NEEDS[kind]
            if need is not None and need.search(text) is None:
                continue
        kinds.append(kind)
    return kinds


def structured_spans(text: str) -> list[Span]:
    """The structured identifiers in ``text`` scoring at least ``MIN_SCORE``: what every
    shown text of a report is masked by."""
    from harness.detectors import patterns
    from harness.detectors.pii import Span

    return [Span(h.start, h.end, h.type, h.score, text[h.start:h.end])
            for kind in candidate_kinds(text) for h in patterns.RECOGNIZERS[kind](text)
            if h.score >= MIN_SCORE]


def _structured_masker() -> Masker:
    from harness.detectors.pii import mask

    cache: dict[str, str] = {}

    def run(text: str) -> str:
        if text not in cache:
            spans = structured_spans(text)
            masked = mask(text, spans) if spans else text
            # Planted canaries are secrets too: a report must not hand them out.
            if "CANARY-" in masked:
                masked = CANARY_RE.sub(lambda m: m.group(0)[:9] + "***", masked)
            cache[text] = masked
        return cache[text]

    return run


def _full_masker(fallback: Masker) -> Masker:
    from harness.detectors.pii import missing_dependency, redact

    if missing_dependency() is not None:
        return fallback
    cache: dict[str, str] = {}

    def run(text: str) -> str:
        if text not in cache:
            cache[text] = redact(text) if text.strip() else text
        return cache[text]

    return run


def mask_log(log: RunLog) -> RunLog:
    """A copy of ``log`` whose shown texts (prompts, context, vars, outputs, errors, check
    reasons and evidence) have their personal data masked."""
    structured = _structured_masker()
    full: Masker | None = None
    results = []
    for result in log.results:
        masker = structured
        if any(c.check == "no_pii" for c in result.checks):
            if full is None:
                full = _full_masker(structured)
            masker = full
        results.append(_mask_result(result, masker))
    return log.model_copy(update={"results": results})


def _mask_result(r: CaseResult, m: Masker) -> CaseResult:
    update: dict[str, Any] = {
        "messages": [{**msg, "content": m(msg.get("content", ""))} for msg in r.messages],
        "context": [m(doc) for doc in r.context],
        "vars": _deep(r.vars, m),
        "output": None if r.output is None else m(r.output),
        "checks": [_mask_check(c, m) for c in r.checks],
    }
    if r.error is not None:
        update["error"] = r.error.model_copy(update={"message": m(r.error.message)})
    return r.model_copy(update=update)


def _mask_check(c: CheckRecord, m: Masker) -> CheckRecord:
    return c.model_copy(update={"reason": m(c.reason), "evidence": _deep(c.evidence, m),
                                "args": _deep(c.args, m)})


def _deep(value: Any, m: Masker) -> Any:
    if isinstance(value, str):
        return m(value)
    if isinstance(value, dict):
        return {k: _deep(v, m) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep(v, m) for v in value]
    return value
