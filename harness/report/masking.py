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

from collections.abc import Callable
from typing import Any

from harness.results import CaseResult, CheckRecord, RunLog
from harness.spec.templating import CANARY_RE

STRUCTURED_KINDS = ("EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "UK_NINO",
                    "IP_ADDRESS", "PHONE_NUMBER", "API_KEY")
MIN_SCORE = 0.5

Masker = Callable[[str], str]


def _structured_masker() -> Masker:
    from harness.detectors import patterns
    from harness.detectors.pii import Span, mask

    cache: dict[str, str] = {}

    def run(text: str) -> str:
        if text not in cache:
            spans = [Span(h.start, h.end, h.type, h.score, text[h.start:h.end])
                     for kind in STRUCTURED_KINDS for h in patterns.RECOGNIZERS[kind](text)
                     if h.score >= MIN_SCORE]
            masked = mask(text, spans) if spans else text
            # Planted canaries are secrets too: a report must not hand them out.
            cache[text] = CANARY_RE.sub(lambda m: m.group(0)[:9] + "***", masked)
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
        # step_by_step's answer and self_check's first turn are outputs too
        "answer": None if r.answer is None else m(r.answer),
        "turns": [{**t, "content": m(t.get("content", ""))} for t in r.turns],
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
