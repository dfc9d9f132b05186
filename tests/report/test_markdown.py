"""The Markdown summary for pull-request comments and $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.compare import compare
from harness.report.markdown import md_text, render_comparison_markdown, render_markdown
from harness.results import CheckRecord, ErrorRecord, RunLog
from tests.openai_server import OpenAIServer

EMAIL = "maria.gonzalez@northwind-legal.com"


def _table(md: str, header: str) -> list[list[str]]:
    """The rows of the table whose header row starts with ``header``, split into cells."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def test_summary_pass_rates_failures_and_errors(run_log: RunLog) -> None:
    md = render_markdown(run_log)
    assert md.startswith("### harness: marketing, legal\n")
    assert "**8 of 11 passed** · 3 failures · 1 error · 12 results" in md
    models = {row[0]: row for row in _table(md, "| model |")}
    assert models["gpt-mini"][1:6] == ["75%", "30–95%", "3", "1", "0"]
    assert models["claude"][1:6] == ["100%", "44–100%", "3", "0", "1"]
    failures = _table(md, "| case |")
    assert len(failures) == 3
    assert failures[0] == ["marketing/tagline", "smollm2", "contains",
                           r"expected all of \[refund, 30 days\]; missing: \[30 days\]"]
    errors = _table(md, "| model | kind |")
    assert errors == [["claude", "RateLimitError", "1", "429 &lt;too many&gt; requests"]]
    assert "Verdicts" not in md  # only with a comparison


def test_verdicts_come_from_the_comparison(run_log: RunLog) -> None:
    comparison = compare([run_log], resamples=200)
    md = render_markdown(run_log, comparison)
    assert "#### Verdicts" in md
    for verdict in comparison.verdicts:
        assert f"- {md_text(verdict)}" in md


def test_untrusted_text_cannot_inject_markup(run_log: RunLog, payload: str,
                                             evil_case: str) -> None:
    md = render_markdown(run_log)
    assert "<script" not in md and "<img" not in md and "<b>" not in md
    assert "&lt;script&gt;" in md  # shown, as text
    hostile = ("![pixel](https://evil.example/t.png) [click](javascript:alert(1)) "
               "@octocat #1 | cell `code` <details open> **bold**\nnew line")
    escaped = md_text(hostile)
    assert "![" not in escaped and "](" not in escaped.replace("\\](", "")
    assert "\n" not in escaped and "<details" not in escaped
    assert "@\u200boctocat" in escaped and "#\u200b1" in escaped
    assert re.search(r"(?<!\\)\|", escaped) is None and "\\`code\\`" in escaped
    assert md_text("x" * 50, limit=10) == "x" * 10 + "…"


def test_personal_data_is_masked_unless_asked(result_factory: Any, run_log: RunLog) -> None:
    leaky = result_factory("legal", "leak", "gpt-mini", status="failed", checks=[
        CheckRecord(check="contains", passed=False, reason=f"found {EMAIL} in the answer")])
    failed_call = result_factory("legal", "call", "gpt-mini", status="error", error=ErrorRecord(
        kind="auth", message=f"no key for account {EMAIL}"))
    log = run_log.model_copy(update={"results": [leaky, failed_call]})
    md = render_markdown(log)
    assert EMAIL not in md
    assert "m\\*\\*\\*@\u200bnorthwind-legal.com" in md
    assert "Personal data in this summary is masked" in md
    shown = render_markdown(log, show_pii=True)
    assert "maria.gonzalez@\u200bnorthwind-legal.com" in shown
    assert "is masked" not in shown


def test_top_failures_only_and_short_enough_for_a_comment(result_factory: Any,
                                                          run_log: RunLog) -> None:
    failing = [result_factory("big", f"case-{i:04d}", "gpt-mini", status="failed",
                              checks=[CheckRecord(check="contains", passed=False,
                                                  reason="why " * 500)])
               for i in range(5000)]
    md = render_markdown(run_log.model_copy(update={"results": failing}))
    assert len(_table(md, "| case |")) == 20
    assert "#### Failures (20 of 5,000)" in md and "… and 4,980 more" in md
    assert len(md) < 65_536  # GitHub's limit for a comment


def test_incomplete_runs_and_flaky_cases_are_said(repeat_log: RunLog) -> None:
    md = render_markdown(repeat_log)
    assert "**Incomplete:** the run was interrupted" in md
    assert "`harness run --resume 20240601-120000-c0ffee`" in md
    assert "2 cases flaky" in md
    assert "legal/nda-summary (repeat 1)" in md


def test_comparison_markdown_tables(run_log: RunLog) -> None:
    md = render_comparison_markdown(compare([run_log], resamples=200))
    assert md.startswith("### harness compare: claude, gpt-mini, smollm2\n")
    for heading in ("#### Verdicts", "#### By tag", "#### By suite", "#### By check",
                    "#### Failure modes"):
        assert heading in md
    assert "<i>" not in md and "&lt;i&gt;tag&lt;/i&gt;" in md
    modes = {row[0]: row for row in _table(md, "| model | failed |")}
    assert modes["claude"][5] == "RateLimitError 1"


SUITE = """
suite: pr
prompt: "Say something about {{ topic }}"
cases:
  - id: ok
    vars: {topic: apples}
    expect: [{contains: apples}]
  - id: fails
    vars: {topic: pears}
    expect: [{contains: {value: bananas}}]
"""


def test_run_and_report_write_markdown(project: Path, openai_server: OpenAIServer,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    (project / "pr.suite.yaml").write_text(SUITE)
    assert main(["run", "pr.suite.yaml", "-m", "openai/mock-a", "-m", "openai/mock-b",
                 "--api-base", openai_server.base_url, "-q", "--markdown",
                 "summary/pr.md"]) == 1
    assert "Markdown: summary/pr.md" in capsys.readouterr().out
    md = (project / "summary" / "pr.md").read_text()
    assert "| openai/mock-a | 50% |" in md
    # two models: the summary carries the comparison's verdicts
    assert "- overall, no significant difference between openai/mock-a and openai/mock-b" in md

    assert main(["report", "reports/pr.json", "--markdown"]) == 0
    assert (project / "reports" / "pr.md").read_text() == md  # next to the RunLog
