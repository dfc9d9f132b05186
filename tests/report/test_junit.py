"""JUnit XML: one test per case × model (× repeat), parsed back with xml.etree."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cli import main
from harness.report.junit import render_junit, write_junit
from harness.results import CheckRecord, ErrorRecord, RunLog
from tests.openai_server import OpenAIServer

EMAIL = "maria.gonzalez@northwind-legal.com"


def _parse(path: Path) -> ET.Element:
    return ET.parse(path).getroot()  # expat: raises on anything not well-formed


def _cases(root: ET.Element) -> dict[str, ET.Element]:
    return {f"{c.get('classname')}::{c.get('name')}": c for c in root.iter("testcase")}


def test_counts_names_and_failure_messages(tmp_path: Path, run_log: RunLog,
                                           evil_case: str, evil_reason: str) -> None:
    root = _parse(write_junit(run_log, tmp_path / "out" / "junit.xml"))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("12", "3", "1")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == ["marketing", "legal"]
    assert [(s.get("tests"), s.get("failures"), s.get("errors"), s.get("skipped"))
            for s in suites.values()] == [("6", "2", "0", "0"), ("6", "1", "1", "0")]
    cases = _cases(root)
    assert len(cases) == 12
    assert "marketing::tagline[gpt-mini]" in cases

    tagline = cases["marketing::tagline[smollm2]"]
    (failure,) = tagline.findall("failure")
    assert failure.get("type") == "contains"
    assert failure.get("message") == \
        "contains: expected all of [refund, 30 days]; missing: [30 days]"
    assert tagline.findtext("system-out") == "Buy stuff."
    props = {p.get("name"): p.get("value") for p in tagline.iter("property")}
    assert props["latency_ms"] == "830" and props["cost_usd"] == "0.000120"
    assert props["model_id"] == "local/smollm2" and props["prompt_tokens"] == "42"
    assert tagline.get("time") == "0.830"

    # the hostile case id and reason come back exactly as text
    evil = cases[f"marketing::{evil_case}[gpt-mini]"]
    assert evil.find("failure") is not None
    assert evil.find("failure").text == f"is_json: {evil_reason}"  # type: ignore[union-attr]

    (error,) = cases["legal::nda-summary[claude]"].findall("error")
    assert error.get("type") == "RateLimitError"
    assert error.get("message") == "429 <too many> requests"
    assert "after 3 attempts" in (error.text or "")
    passed = cases["legal::nda-summary[gpt-mini]"]
    assert passed.find("failure") is None and passed.find("error") is None
    assert passed.find("system-out") is None  # outputs only where something went wrong


def test_every_failed_check_is_listed(result_factory, run_log: RunLog) -> None:  # type: ignore[no-untyped-def]
    checks = [
        CheckRecord(check="contains", passed=False, reason="expected 'refund'; missing"),
        CheckRecord(check="max_words", passed=True, reason="12 words"),
        CheckRecord(check="regex", negate=True, passed=False, reason="negated: matched 'TODO'"),
    ]
    log = run_log.model_copy(update={"results": [
        result_factory("marketing", "multi", "gpt-mini", status="failed", checks=checks)]})
    (case,) = ET.fromstring(render_junit(log)).iter("testcase")
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("type") == "contains, not regex"
    assert (failure.text or "").splitlines() == [
        "contains: expected 'refund'; missing", "not regex: negated: matched 'TODO'"]


HOSTILE = ("<script>alert(1)</script> ]]> <![CDATA[ x ]]> & \"quotes\" 'apos' "
           "\x00\x01\x08\x0b\x0c\x1b[31mred\x7f \ud800 \ufffe end")


def test_hostile_output_stays_well_formed(tmp_path: Path, result_factory,  # type: ignore[no-untyped-def]
                                          run_log: RunLog) -> None:
    bad = result_factory("marketing", f"id-{HOSTILE}", f"m{HOSTILE}", status="failed",
                         output=HOSTILE, checks=[CheckRecord(
                             check="contains", passed=False, reason=f"found {HOSTILE}",
                             evidence={})])
    err = result_factory("legal", "e", "m", status="error",
                         error=ErrorRecord(kind=f"k{HOSTILE}", message=HOSTILE))
    log = run_log.model_copy(update={"results": [bad, err]})
    path = write_junit(log, tmp_path / "hostile.xml", show_pii=True)
    root = _parse(path)  # well-formed, or this raises
    case = next(root.iter("testcase"))
    out = case.findtext("system-out") or ""
    assert out.startswith("<script>alert(1)</script> ]]> <![CDATA[ x ]]> & \"quotes\"")
    assert "\\x00\\x01\\x08\\x0b\\x0c\\x1b[31mred" in out  # visible, not dropped silently
    assert "\\ud800" in out and "\\ufffe end" in out
    assert "]]>" in (case.find("failure").get("message") or "")  # type: ignore[union-attr]
    raw = path.read_text(encoding="utf-8")
    assert "<script>" not in raw and "\x00" not in raw and "\x1b" not in raw
    error = root.find(".//error")
    assert error is not None and (error.get("message") or "").startswith("<script>")


def test_repeats_get_their_own_test_names(repeat_log: RunLog) -> None:
    names = [c.get("name") for c in ET.fromstring(render_junit(repeat_log)).iter("testcase")]
    assert "tagline[smollm2][r1]" in names
    assert len(names) == len(set(names)) == len(repeat_log.results)


def test_personal_data_is_masked_unless_asked(result_factory, run_log: RunLog) -> None:  # type: ignore[no-untyped-def]
    leaky = result_factory("legal", "leak", "gpt-mini", status="failed",
                           output=f"Write to {EMAIL}", checks=[CheckRecord(
                               check="contains", passed=False, reason=f"found {EMAIL}")])
    log = run_log.model_copy(update={"results": [leaky]})
    assert EMAIL not in render_junit(log)
    assert "m***@northwind-legal.com" in render_junit(log)
    assert EMAIL in render_junit(log, show_pii=True)


SUITE = """
suite: ci
prompt: "Say something about {{ topic }}"
cases:
  - id: ok
    vars: {topic: apples}
    expect: [{contains: apples}]
  - id: fails
    vars: {topic: pears}
    expect: [{contains: {value: bananas}}]
"""


def test_run_and_report_write_junit(project: Path, openai_server: OpenAIServer,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    (project / "ci.suite.yaml").write_text(SUITE)
    code = main(["run", "ci.suite.yaml", "-m", "openai/mock-a", "--api-base",
                 openai_server.base_url, "-q", "--junit"])
    assert code == 1
    assert "JUnit: reports/ci.junit.xml" in capsys.readouterr().out
    root = _parse(project / "reports" / "ci.junit.xml")  # next to the RunLog
    cases = _cases(root)
    assert set(cases) == {"ci::ok[openai/mock-a]", "ci::fails[openai/mock-a]"}
    failure = cases["ci::fails[openai/mock-a]"].find("failure")
    assert failure is not None and "bananas" in (failure.get("message") or "")

    assert main(["report", "reports/ci.json", "--junit", "out/junit.xml"]) == 0
    assert len(_cases(_parse(project / "out" / "junit.xml"))) == 2
