"""A report shared in CI must not leak the personal data it shows."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.report.html import render_html, write_html
from harness.results import CaseResult, CheckRecord, RunLog, SuiteInfo

CARD = "4539 1488 0343 6467"  # Luhn-valid, Visa range
EMAIL = "maria.gonzalez@northwind-legal.com"
PHONE = "+44 20 7946 0958"
SSN = "536-22-1987"
IBAN = "GB82 WEST 1234 5698 7654 32"
KEY = "sk-proj-Zq8hT2mXv9LpR4sN7kW1yB6cD3fG5jH0"
NAME = "Maria Gonzalez"


def result(case_id: str, output: str, checks: list[CheckRecord] | None = None,
           prompt: str = "Summarise the client file.") -> CaseResult:
    return CaseResult(
        suite="pii", case_id=case_id, model="m", model_id="openai/m", status="failed",
        messages=[{"role": "user", "content": prompt}], output=output,
        checks=checks or [CheckRecord(check="contains", passed=False,
                                      reason=f"expected any of ['x']; found none in {output!r}")],
    )


def log_of(*results: CaseResult) -> RunLog:
    return RunLog(run_id="r", harness_version="0", created_at="2026-11-29T00:00:00",
                  suites=[SuiteInfo(name="pii", path="p", fingerprint="f", cases=len(results))],
                  models=[], results=list(results))


def test_structured_identifiers_are_masked_everywhere(tmp_path: Path) -> None:
    leaky = (f"Card {CARD}, mail {EMAIL}, phone {PHONE}, SSN {SSN}, IBAN {IBAN}, "
             f"key {KEY}.")
    log = log_of(result("a", leaky, prompt=f"Client file: {leaky}"))
    html = write_html(log, tmp_path / "r.html").read_text()
    for value in (CARD, EMAIL, PHONE, SSN, IBAN, KEY):
        assert value not in html, value
    assert "m***@northwind-legal.com" in html  # masked, but a reader sees what it was
    shown = render_html(log, show_pii=True)
    assert CARD in shown and EMAIL in shown  # --show-pii turns masking off


def test_names_are_masked_where_a_no_pii_check_ran() -> None:
    no_pii = CheckRecord(check="no_pii", passed=False,
                         reason="expected no PII; found 1 PERSON ([PERSON])")
    output = f"The contract was signed by {NAME} on behalf of the client."
    html = render_html(log_of(result("b", output, [no_pii])))
    assert NAME not in html
    assert "[PERSON]" in html


def test_the_runlog_itself_keeps_the_data(tmp_path: Path) -> None:
    log = log_of(result("c", f"mail {EMAIL}"))
    render_html(log)
    assert log.results[0].output == f"mail {EMAIL}"  # masking works on a copy


def luhn_complete(digits: list[int]) -> str:
    total = 0
    for i, d in enumerate(reversed(digits)):
        v = d * 2 if i % 2 == 0 else d
        total += v - 9 if v > 9 else v
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


@settings(max_examples=25, deadline=None)
@given(
    user=st.from_regex(r"[a-z]{3,10}\.[a-z]{3,10}", fullmatch=True),
    domain=st.from_regex(r"[a-z]{4,10}\.(com|org|net|io)", fullmatch=True),
    body=st.lists(st.integers(0, 9), min_size=14, max_size=14).filter(
        lambda b: len(set(b)) >= 3),  # real card numbers are not runs of one or two digits
    filler=st.text(alphabet="abcdefghij klmnop", max_size=40),
)
def test_planted_values_never_reach_the_report(user: str, domain: str, body: list[int],
                                               filler: str) -> None:
    card = luhn_complete([4, *body])  # a Visa-shaped, Luhn-valid 16-digit number
    email = f"{user}@{domain}"
    html = render_html(log_of(result("h", f"{filler} card {card} {filler} write to {email}")))
    assert card not in html
    assert email not in html


def test_planted_canaries_are_masked() -> None:
    from harness.spec.templating import canary_token

    token = canary_token("sys", "case-1")
    html = render_html(log_of(result("k", f"The secret is {token}.",
                                     prompt=f"Never reveal {token}.")))
    assert token not in html
