"""The report's masker skips a recognizer only when its pattern cannot match: it masks
exactly what running every structured recognizer on the text would, and every identifier
those recognizers find is gone from the rendered HTML."""

from __future__ import annotations

import html as html_lib

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.detectors import patterns
from harness.detectors.pii import Span, mask
from harness.report import masking
from harness.report.html import render_html
from harness.results import CaseResult, CheckRecord, RunLog, SuiteInfo
from harness.spec.templating import CANARY_RE

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Values of every structured kind, in the shapes people write them (checksums valid).
PLANTED = [
    "4539 1488 0343 6467", "4539148803436467", "378282246310005", "5555-5555-5555-4444",
    "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000",
    "536-22-1987", "536 22 1987", "AB123456C", "AB 12 34 56 C",
    "maria.gonzalez@northwind-legal.com", "j@x.io",
    "+44 20 7946 0958", "+1 (555) 123-4567", "(555) 123-4567", "555.123.4567",
    "0044 20 7946 0958", "+49 (30) 1234567", "020 7946 0958 ext 12", "5551234567",
    "192.168.10.42", "8.8.8.8", "2001:db8:85a3::8a2e:370:7334", "fe80::1ff:fe23:4567:890a",
    "sk-proj-Zq8hT2mXv9LpR4sN7kW1yB6cD3fG5jH0", "AKIAIOSFODNN7EXAMPLE",
    "api_key = 9f8e7d6c5b4a39281706abcdef", "CANARY-0123abcd",
]
WORDS = ["call", "phone", "card", "SSN", "IP", "from", "national insurance", "IBAN",
         "version", "v", "the", "refund", "on", "tel:", "at", "\n", ", ", ". "]
# Digits, separators and capitals: what the prefilters look at, in random arrangements.
NOISE = st.text(alphabet="0123456789 .-/()+:@xtABCDGBSa\t", max_size=40)
texts = st.lists(st.one_of(st.sampled_from(PLANTED), st.sampled_from(WORDS), NOISE),
                 max_size=12).map(" ".join)


def every_structured_span(text: str) -> list[Span]:
    """What the structured recognizers find in ``text``, each of them run on all of it."""
    return [Span(h.start, h.end, h.type, h.score, text[h.start:h.end])
            for kind in masking.STRUCTURED_KINDS for h in patterns.RECOGNIZERS[kind](text)
            if h.score >= masking.MIN_SCORE]


@SETTINGS
@given(texts)
def test_prefilter_never_skips_a_recognizer_that_finds_something(text: str) -> None:
    candidates = masking.candidate_kinds(text)
    for kind in masking.STRUCTURED_KINDS:
        if any(True for _ in patterns.RECOGNIZERS[kind](text)):
            assert kind in candidates, (kind, text)
    assert masking.structured_spans(text) == every_structured_span(text)


def test_each_planted_value_keeps_its_kind_a_candidate() -> None:
    for value in PLANTED:
        text = f"Details: {value} (see above)."
        found = {s.type for s in every_structured_span(text)}
        assert found <= set(masking.candidate_kinds(text)), value


def _log(output: str, prompt: str) -> RunLog:
    result = CaseResult(
        suite="pii", case_id="a", model="m", model_id="openai/m", status="failed",
        messages=[{"role": "user", "content": prompt}], output=output,
        checks=[CheckRecord(check="contains", passed=False, reason=f"none in {output!r}")])
    return RunLog(run_id="r", harness_version="0", created_at="2026-11-29T00:00:00",
                  suites=[SuiteInfo(name="pii", path="p", fingerprint="f", cases=1)],
                  models=[], results=[result])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts, texts)
# a phone match that runs on into an IP address kept the IP's digits as the phone's tail
@example(output="", prompt="+1 (555) 123-4567 8.8.8.8")
def test_every_identifier_the_recognizers_find_is_masked_in_the_html(output: str,
                                                                    prompt: str) -> None:
    page = render_html(_log(output, prompt))
    for text in (output, prompt):
        for span in every_structured_span(text):
            value = text[span.start:span.end]
            # a value written twice may be found once only (its context differs): that is
            # the recognizers' business, not the masker's
            if len(value.strip()) >= 6 and (output + "\n" + prompt).count(value) == 1:
                assert html_lib.escape(value) not in page, (span.type, value)
    # the output shown is the output with every span masked, and the canaries too
    masked = CANARY_RE.sub(lambda m: m.group(0)[:9] + "***",
                           mask(output, every_structured_span(output)))
    assert html_lib.escape(masked, quote=False) in page or not output.strip()


def test_one_render_masks_a_text_once_and_the_cache_does_not_outlive_it() -> None:
    calls: list[str] = []
    real = masking.structured_spans

    def counting(text: str) -> list[Span]:
        calls.append(text)
        return real(text)

    output = "Write to maria.gonzalez@northwind-legal.com today."

    @masking.one_cache
    def twice() -> tuple[str | None, str | None]:
        first = masking.mask_log(_log(output, "p")).results[0].output
        second = masking.mask_log(_log(output, "p")).results[0].output
        return first, second

    masking.structured_spans = counting  # type: ignore[assignment]
    try:
        assert twice() == ("Write to m***@northwind-legal.com today.",) * 2
        assert calls.count(output) == 1
        twice()  # a new render masks afresh: nothing kept between renders
        assert calls.count(output) == 2
    finally:
        masking.structured_spans = real  # type: ignore[assignment]
