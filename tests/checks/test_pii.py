"""The PII detector and the ``no_pii`` check.

Planted values of every kind (generated with valid checksums) are found with the right
type; text without personal data yields nothing above the threshold; an output that only
repeats the prompt's PII passes with ``allow_from_input``; evidence and masked text never
hold a planted value; and nothing reaches for the network.
"""

from __future__ import annotations

import json
import socket
import string
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checks.registry import CheckArgsError, CheckInput, build
from harness.detectors import patterns, pii
from harness.errors import SuiteError
from harness.spec.loader import load_suite

pytestmark = pytest.mark.skipif(pii.missing_dependency() is not None,
                                reason="needs the pii extra: pip install 'harness[pii]'")

SETTINGS = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
ALNUM = string.ascii_letters + string.digits


# ---------------------------------------------------------------------------------------
# generators of valid values


def luhn_complete(body: str) -> str:
    """``body`` plus the check digit that makes it Luhn-valid."""
    for d in "0123456789":
        if patterns.luhn_ok(body + d):
            return body + d
    raise AssertionError("unreachable")


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    prefix, length = draw(st.sampled_from([("4", 16), ("51", 16), ("55", 16), ("37", 15),
                                           ("6011", 16), ("3530", 16), ("4", 13)]))
    body = prefix + draw(st.text("0123456789", min_size=length - len(prefix) - 1,
                                 max_size=length - len(prefix) - 1))
    number = luhn_complete(body)
    if length == 16 and draw(st.booleans()):
        return " ".join(number[i:i + 4] for i in range(0, 16, 4))
    return number


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country, bban_shape = draw(st.sampled_from([
        ("GB", "AAAA" + "9" * 14), ("DE", "9" * 18), ("FR", "9" * 10 + "X" * 11 + "99"),
        ("NL", "AAAA" + "9" * 10), ("ES", "9" * 20), ("CH", "9" * 5 + "X" * 12),
    ]))
    chars = {"A": string.ascii_uppercase, "9": string.digits,
             "X": string.ascii_uppercase + string.digits}
    bban = "".join(draw(st.sampled_from(chars[c])) for c in bban_shape)
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    iban = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    assert patterns.iban_ok(iban)
    if draw(st.booleans()):
        return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
    return iban


@st.composite
def ssns(draw: st.DrawFn) -> str:
    area = draw(st.integers(1, 899).filter(lambda a: a != 666))
    group = draw(st.integers(1, 99))
    serial = draw(st.integers(1, 9999))
    value = f"{area:03d}-{group:02d}-{serial:04d}"
    return value if patterns.ssn_ok(value) else "123-45-6780"


@st.composite
def emails(draw: st.DrawFn) -> str:
    local = draw(st.text(string.ascii_lowercase, min_size=1, max_size=8))
    if draw(st.booleans()):
        local += "." + draw(st.text(string.ascii_lowercase + string.digits, min_size=1,
                                    max_size=6))
    domain = draw(st.text(string.ascii_lowercase, min_size=2, max_size=10))
    tld = draw(st.sampled_from(["com", "org", "net", "io", "de", "co.uk", "fr"]))
    return f"{local}@{domain}.{tld}"


@st.composite
def phones(draw: st.DrawFn) -> str:
    shape = draw(st.sampled_from(["+44 {2} {4} {4}", "+1 ({3}) {3}-{4}", "+49 {3} {7}",
                                  "+33 {1} {2} {2} {2} {2}", "({3}) {3}-{4}",
                                  "+61 {1} {4} {4}", "+81 {2}-{4}-{4}"]))
    out = ""
    i = 0
    while i < len(shape):
        if shape[i] == "{":
            j = shape.index("}", i)
            n = int(shape[i + 1:j])
            digits = draw(st.text("0123456789", min_size=n, max_size=n))
            out += str(draw(st.integers(2, 9))) + digits[1:] if n > 1 else digits
            i = j + 1
        else:
            out += shape[i]
            i += 1
    return out


@st.composite
def ips(draw: st.DrawFn) -> str:
    first = draw(st.integers(1, 223).filter(lambda o: o != 127))
    rest = [draw(st.integers(0, 255)) for _ in range(3)]
    return ".".join(str(o) for o in [first, *rest])


@st.composite
def api_keys(draw: st.DrawFn) -> str:
    def rand(n: int, alphabet: str = ALNUM) -> str:
        # a shuffled alphabet: as varied as a generated token, with a digit and a letter
        shuffled = draw(st.permutations(list(alphabet)))
        body = "".join((shuffled * (n // len(shuffled) + 1))[:n])
        return "7Q" + body[2:]

    return draw(st.sampled_from([
        "sk-proj-" + rand(40), "sk-" + rand(48), "AKIA" + rand(16, string.ascii_uppercase
                                                        + string.digits),
        "ghp_" + rand(36), "xoxb-" + rand(12, string.digits) + "-" + rand(24),
        "AIza" + rand(35), "sk_live_" + rand(24), "hf_" + rand(34),
    ]))


@st.composite
def ninos(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from("ABCEHJKLMPRSTWXY"))
    second = draw(st.sampled_from("ABCEHJKLMPRSTWXY"))
    digits = draw(st.text("0123456789", min_size=6, max_size=6))
    return f"{first}{second}{digits}{draw(st.sampled_from('ABCD'))}"


KINDS: list[tuple[str, Any]] = [
    ("CREDIT_CARD", card_numbers()),
    ("IBAN_CODE", ibans()),
    ("US_SSN", ssns()),
    ("EMAIL_ADDRESS", emails()),
    ("PHONE_NUMBER", phones()),
    ("IP_ADDRESS", ips()),
    ("API_KEY", api_keys()),
    ("UK_NINO", ninos()),
]
# Sentences that name the kind the way people do, plus one that does not.
FRAMES = {
    "CREDIT_CARD": ["Please charge my card {}.", "The number on file is {} for billing."],
    "IBAN_CODE": ["Wire the refund to {} today.", "Account: {}"],
    "US_SSN": ["My SSN is {}.", "Applicant's social security number: {}"],
    "EMAIL_ADDRESS": ["Write to {} for details.", "cc: {}"],
    "PHONE_NUMBER": ["Call me on {} after six.", "Tel. {}"],
    "IP_ADDRESS": ["The login came from {} last night.", "Server IP: {}"],
    "API_KEY": ["export OPENAI_API_KEY={}", "Use the key {} in the header."],
    "UK_NINO": ["National Insurance number {} on the payslip.", "NINO: {}"],
}


@pytest.mark.parametrize(("kind", "values"), KINDS, ids=[k for k, _ in KINDS])
def test_planted_pii_is_found_with_its_type(kind: str, values: Any) -> None:
    @SETTINGS
    @given(value=values, frame=st.sampled_from(FRAMES[kind]))
    def check(value: str, frame: str) -> None:
        text = frame.format(value)
        start = text.index(value)
        spans = pii.detect(text)
        covering = [s for s in spans if s.start <= start and start + len(value) <= s.end]
        assert covering, f"{kind} {value!r} not found in {text!r}: {spans}"
        assert covering[0].type == kind, f"{value!r} found as {covering[0].type}"
        assert value not in pii.mask(text, spans), "masked text still shows the value"

    check()


@SETTINGS
@given(name=st.sampled_from(["Maria Garcia", "John Smith", "Ingrid Johansson",
                             "Dr. Wei Zhang", "Ms. Aisha Khan"]),
       street=st.sampled_from(["221 Baker Street", "1600 Pennsylvania Avenue",
                               "12 Rue de Rivoli", "Hauptstraße 5", "350 Fifth Avenue"]))
def test_planted_names_and_addresses_are_found(name: str, street: str) -> None:
    text = f"Please send the contract to {name}, {street}, before Friday."
    spans = pii.detect(text)
    name_at, street_at = text.index(name.split()[-1]), text.index(street)
    assert any(s.type == "PERSON" and s.start <= name_at < s.end for s in spans), spans
    assert any(s.type in ("STREET_ADDRESS", "LOCATION") and s.start <= street_at < s.end
               for s in spans), spans


SAFE = "bcdfghjklmnpqrstvwxz      .,;!?"  # no vowels or digits: no names, no numbers


@SETTINGS
@given(st.text(SAFE, max_size=200))
def test_random_text_without_pii_has_no_finding(text: str) -> None:
    assert pii.detect(text) == []


BENIGN = [
    "Our Q3 revenue grew 12% to $4.5 million compared with $4.0 million a year ago.",
    "Order #48213-77 shipped on 2024-03-15 and should arrive within 3-5 business days.",
    "The meeting moves to Thursday at 10:30; the agenda has 4 items.",
    "Version 3.2.1 fixes the login bug; see ticket 10293 for details.",
    "Price: 19.99 EUR per month, or 199 EUR per year (save 17%).",
    "The contract runs for 24 months starting 1 January 2025, with a 90-day notice period.",
    "Invoice 2024-0042 totals 1 234,56 € including VAT of 20%.",
    "Step 1: open the settings. Step 2: click security. Step 3: enable two-factor login.",
    "The product weighs 2.5 kg and measures 30 x 20 x 10 cm.",
    "Please reference case number 4567-8910-1112 in your reply.",
    "The patient should take 500 mg twice a day for 7 days.",
    "Build 20240315.1 passed 1532 of 1540 tests in 12.4 seconds.",
    "Transaction 9f8e7d6c-5b4a-3210-fedc-ba9876543210 completed at 14:02:11.",
    "Our NPS rose from 32 to 41 between March and May.",
    "Room 1204 is booked from 9:00 to 11:00 on 12/05/2024.",
    "Use Python 3.11 and pin requests==2.31.0 in requirements.txt.",
    "The score was 3-1 after 90 minutes, with 45,000 fans in the stadium.",
    "Shipping costs $12.50 for orders under $100; delivery takes 2-4 days.",
    "Table 3 shows a 0.87 correlation across 1,024 samples (p < 0.001).",
    "The SKU 4006381333930 is out of stock until week 32.",
]


@pytest.mark.parametrize("text", BENIGN)
def test_tricky_benign_text_has_no_finding(text: str) -> None:
    assert pii.detect(text) == []


# ---------------------------------------------------------------------------------------
# the check


def run(args: Any, output: str, **inp: Any) -> Any:
    return build("no_pii", args)(CheckInput(output=output, **inp))


PROMPT = ({"role": "user", "content": "Draft a reply to Jane Doe (jane.doe@acme.com, "
                                      "+44 20 7946 0958) about her refund."},)
REPLY = "Dear Jane Doe, we will call you on +44 (0)20 7946-0958 or write to jane.doe@acme.com."


def test_repeating_the_prompts_pii_passes_only_with_allow_from_input() -> None:
    strict = run({}, REPLY, messages=PROMPT)
    assert not strict.passed
    lenient = run({"allow_from_input": True}, REPLY, messages=PROMPT)
    assert lenient.passed, lenient.reason
    assert {a["why"] for a in lenient.evidence["allowed"]} == {"in the input"}
    assert "allowed" in lenient.reason


def test_new_pii_still_fails_with_allow_from_input() -> None:
    result = run({"allow_from_input": True}, REPLY + " Or ask john.roe@acme.com.",
                 messages=PROMPT)
    assert not result.passed
    assert [f["masked"] for f in result.evidence["findings"]] == ["j***@acme.com"]


def test_context_and_vars_count_as_input() -> None:
    out = "Contact: jane.doe@acme.com"
    assert run({"allow_from_input": True}, out, context=("Jane: jane.doe@acme.com",)).passed
    assert run({"allow_from_input": True}, out, vars={"who": "jane.doe@acme.com"}).passed


@SETTINGS
@given(email=emails(), phone=phones(), card=card_numbers())
def test_reason_and_evidence_hold_masked_values_only(email: str, phone: str, card: str
                                                     ) -> None:
    result = run({}, f"Reach me at {email} or {phone}; card {card}.")
    assert not result.passed
    shown = result.reason + json.dumps(result.evidence)
    for value in (email, phone, card):
        assert value not in shown
    kinds = {f["type"] for f in result.evidence["findings"]}
    assert {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD"} <= kinds


def test_reason_says_what_was_expected_and_found() -> None:
    result = run({}, "Mail j.smith@acme.com or call +44 20 7946 1234.")
    assert result.reason == ("expected no PII; found 1 EMAIL_ADDRESS (j***@acme.com), "
                             "1 PHONE_NUMBER (+44 ** **** 1234)")
    assert result.score == 0.0
    clean = run({}, "The refund was approved and will arrive within 5 days.")
    assert clean.passed and clean.score == 1.0
    assert clean.reason == "expected no PII; found none"


def test_kinds_limit_the_search_and_accept_friendly_names() -> None:
    text = "Mail j.smith@acme.com or call +44 20 7946 1234."
    result = run(["phone"], text)
    assert [f["type"] for f in result.evidence["findings"]] == ["PHONE_NUMBER"]
    assert result.reason.startswith("expected no PHONE_NUMBER;")
    assert run({"kinds": ["IBAN_CODE", "US_SSN"]}, text).passed


def test_allow_list_takes_literals_and_regexes() -> None:
    text = "Ask Acme Support at help@acme.com or sales@acme.com."
    result = run({"kinds": ["email"], "allow": ["HELP@acme.com"]}, text)
    assert [f["masked"] for f in result.evidence["findings"]] == ["s***@acme.com"]
    assert run({"kinds": ["email"], "allow": [r"/.*@acme\.com/"]}, text).passed


def test_min_score_filters_weak_findings() -> None:
    text = "Ref 5403926876 is on the desk phone list."
    assert not run({"kinds": ["phone"]}, text).passed
    assert run({"kinds": ["phone"], "min_score": 0.95}, text).passed


def test_bad_arguments_are_load_errors() -> None:
    with pytest.raises(CheckArgsError, match="unknown PII kind 'emial'; did you mean 'email'"):
        build("no_pii", {"kinds": ["emial"]})
    with pytest.raises(CheckArgsError, match="between 0 and 1"):
        build("no_pii", {"min_score": 2})
    with pytest.raises(CheckArgsError, match="not a valid regular expression"):
        build("no_pii", {"allow": ["/([/"]})


def test_without_the_extra_the_suite_error_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pii, "missing_dependency",
                        lambda: "PII detection needs presidio_analyzer, which is not "
                                f"installed; install it with: {pii.INSTALL}")
    suite = tmp_path / "s.suite.yaml"
    suite.write_text("suite: s\nprompt: hi\ncases:\n  - id: a\n    expect:\n"
                     "      - no_pii: {}\n", encoding="utf-8")
    with pytest.raises(SuiteError) as err:
        load_suite(suite)
    text = str(err.value)
    assert f"{suite}:6:" in text
    assert "pip install 'harness[pii]'" in text


# ---------------------------------------------------------------------------------------
# masking


@pytest.mark.parametrize(("value", "kind", "masked"), [
    ("j.smith@acme.com", "EMAIL_ADDRESS", "j***@acme.com"),
    ("+44 20 7946 1234", "PHONE_NUMBER", "+44 ** **** 1234"),
    ("4111 1111 1111 1111", "CREDIT_CARD", "**** **** **** 1111"),
    ("GB82WEST12345698765432", "IBAN_CODE", "GB****************5432"),
    ("123-45-6789", "US_SSN", "***-**-****"),
    ("192.168.10.4", "IP_ADDRESS", "192.*.*.*"),
    ("sk-proj-abc123def456ghi789jkl012", "API_KEY", "sk-proj-***"),
    ("AKIAIOSFODNN7EXAMPLE", "API_KEY", "AKIA***"),
    ("Jane Doe", "PERSON", "[PERSON]"),
])
def test_mask_value_keeps_the_shape_not_the_value(value: str, kind: str, masked: str) -> None:
    assert pii.mask_value(value, kind) == masked


def test_mask_replaces_every_span() -> None:
    text = "Jane Doe (jane@acme.com) lives at 12 Baker Street, London."
    masked = pii.redact(text)
    for secret in ("Jane Doe", "jane@acme.com", "12 Baker Street"):
        assert secret not in masked
    assert "j***@acme.com" in masked


def test_one_analyzer_per_process_shared_by_threads() -> None:
    texts = [f"Ticket {i}: call +1 (415) 555-01{i:02d} or mail user{i}@example.org."
             for i in range(16)]
    expected = [pii.detect(t) for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(pii.detect, texts)) == expected
    assert pii.analyzer() is pii.analyzer()


# ---------------------------------------------------------------------------------------
# offline


def test_detect_opens_no_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    text = ("Email bob@example.co.uk or visit https://www.example.com; server 10.1.2.3; "
            "call +33 1 42 68 53 00.")
    kinds = {s.type for s in pii.detect(text)}
    assert {"EMAIL_ADDRESS", "IP_ADDRESS", "PHONE_NUMBER"} <= kinds


def test_building_the_analyzer_opens_no_connection(tmp_path: Path) -> None:
    """In a fresh process, with an empty home (no caches) and sockets that refuse."""
    script = textwrap.dedent("""
        import socket
        def refuse(*a, **k):
            raise OSError("network access")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.getaddrinfo = refuse
        from harness.detectors import pii
        spans = pii.detect("Write to bob@example.co.uk, from 10.1.2.3, Jane Doe.")
        print(sorted({s.type for s in spans}))
    """)
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "EMAIL_ADDRESS" in done.stdout and "IP_ADDRESS" in done.stdout
    assert not (tmp_path / "cache").exists(), "nothing may be cached or downloaded"


@pytest.mark.parametrize("debris", ["j;wm", "a:b", "x|y", "{q}"])
def test_tokenizer_debris_is_not_a_name(debris: str) -> None:
    # found by hypothesis: the small NER model once called "j;wm" a PERSON
    assert pii.detect(debris) == []
