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

import functools
import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from pydantic import BaseModel

from harness.results import CaseResult, CheckRecord, RunLog

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


# Within one render (``one_cache``) every masking pass shares what it has masked: the
# diff view masks the entries it lists, most of them texts the report masked already.
_SHARED: ContextVar[dict[str, str] | None] = ContextVar("harness_mask_cache", default=None)

P = ParamSpec("P")
R = TypeVar("R")


def one_cache(func: Callable[P, R]) -> Callable[P, R]:
    """``func`` with one structured-masking cache for every ``mask_log`` call it makes."""
    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _SHARED.set(_SHARED.get() if _SHARED.get() is not None else {})
        try:
            return func(*args, **kwargs)
        finally:
            _SHARED.reset(token)

    return run


def _structured_masker() -> Masker:
    from harness.detectors.pii import mask
    from harness.spec.templating import CANARY_RE  # jinja2: only once a report masks

    shared = _SHARED.get()
    cache: dict[str, str] = {} if shared is None else shared

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
    # Most texts hold nothing to mask: the result is then returned as it is, and a changed
    # one is copied without pydantic's model_copy (which copies every dict it holds).
    update: dict[str, Any] = {}
    messages = [msg if "content" in msg and m(msg["content"]) == msg["content"]
                else {**msg, "content": m(msg.get("content", ""))} for msg in r.messages]
    if any(a is not b for a, b in zip(messages, r.messages, strict=True)):
        update["messages"] = messages
    for name, value in (("context", r.context), ("vars", r.vars)):
        masked = _deep(value, m)
        if masked is not value:
            update[name] = masked
    if r.output is not None and (output := m(r.output)) != r.output:
        update["output"] = output
    # step_by_step's answer and self_check's turns are outputs too
    if r.answer is not None and (answer := m(r.answer)) != r.answer:
        update["answer"] = answer
    turns = [t if "content" in t and m(t["content"]) == t["content"]
             else {**t, "content": m(t.get("content", ""))} for t in r.turns]
    if any(a is not b for a, b in zip(turns, r.turns, strict=True)):
        update["turns"] = turns
    checks = [_mask_check(c, m) for c in r.checks]
    if any(a is not b for a, b in zip(checks, r.checks, strict=True)):
        update["checks"] = checks
    if r.error is not None and (message := m(r.error.message)) != r.error.message:
        update["error"] = replaced(r.error, {"message": message})
    return replaced(r, update)


def _mask_check(c: CheckRecord, m: Masker) -> CheckRecord:
    update: dict[str, Any] = {}
    if (reason := m(c.reason)) != c.reason:
        update["reason"] = reason
    for name, value in (("evidence", c.evidence), ("args", c.args)):
        masked = _deep(value, m)
        if masked is not value:
            update[name] = masked
    return replaced(c, update)


def _deep(value: Any, m: Masker) -> Any:
    """``value`` with its strings masked; the same object when nothing changed."""
    if isinstance(value, str):
        masked = m(value)
        return value if masked == value else masked
    if isinstance(value, dict):
        items = {k: _deep(v, m) for k, v in value.items()}
        return value if all(items[k] is v for k, v in value.items()) else items
    if isinstance(value, list):
        out = [_deep(v, m) for v in value]
        return value if all(a is b for a, b in zip(out, value, strict=True)) else out
    return value


M = TypeVar("M", bound=BaseModel)


def replaced(model: M, update: dict[str, Any]) -> M:
    """``model.model_copy(update=update)`` for the report's records (``extra="forbid"``,
    no private attributes), without copying the dicts of the fields left alone: a large
    render makes tens of thousands of these copies. ``model`` itself when ``update`` is
    empty (records are never mutated after they are read)."""
    if not update:
        return model
    if model.__pydantic_extra__ or model.__pydantic_private__:
        return model.model_copy(update=update)
    cls = type(model)
    copied = cls.__new__(cls)
    object.__setattr__(copied, "__dict__", {**model.__dict__, **update})
    object.__setattr__(copied, "__pydantic_extra__", None)
    object.__setattr__(copied, "__pydantic_fields_set__",
                       model.__pydantic_fields_set__ | update.keys())
    object.__setattr__(copied, "__pydantic_private__", None)
    return copied
