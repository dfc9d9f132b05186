"""Budgets a suite declares (`gate:` in its file): recorded in the RunLog, applied by
`harness gate` per suite, overridden by the command line, and bad values reported at
their line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from tests.openai_server import OpenAIServer
from tests.test_gate_cli import break_topics, run

CASES = "\n".join(
    f"  - id: c{i}\n    vars: {{topic: topic{i}}}\n    expect: [{{contains: topic{i}}}]"
    for i in range(10))


def write_suite(project: Path, gate: str) -> None:
    (project / "gate.suite.yaml").write_text(
        f"suite: gate\nprompt: \"Tell me about {{{{ topic }}}}\"\n{gate}cases:\n{CASES}\n")


def test_suite_budgets_fail_the_gate_and_the_command_line_wins(
        project: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    write_suite(project, "gate:\n  min_pass_rate: 0.9\n  max_latency_p95: 60000\n")
    openai_server.script = break_topics("topic0", "topic1")  # 8 of 10 pass, in both runs
    assert run(openai_server, "base") == 1
    assert run(openai_server, "head") == 1
    info = json.loads((project / "reports" / "head.json").read_text())["suites"][0]
    assert info["gate"] == {"min_pass_rate": 0.9, "max_latency_p95": 60000}
    capsys.readouterr()
    assert main(["gate", "--baseline", "reports/base.json", "reports/head.json"]) == 1
    out = capsys.readouterr().out
    assert "gate on openai/mock-a: pass rate 80% is below the suite's minimum 90%" in out
    assert "latency" not in out  # the loopback answers well within a minute
    # the command line overrides the suite's value
    assert main(["gate", "--baseline", "reports/base.json", "reports/head.json",
                 "--min-pass-rate", "0.75"]) == 0
    # `run --baseline` gates and embeds the diff view, with the same verdict, in its report
    openai_server.script = break_topics("topic0", "topic1", "topic2")
    assert run(openai_server, "pr", "--baseline", "reports/base.json") == 1
    html = (project / "reports" / "pr.html").read_text(encoding="utf-8")
    assert "Changes since the baseline" in html
    assert "below the suite&#39;s minimum 90%" in html
    assert "New failures <span class=\"muted\">(1)</span>" in html  # topic2


def test_suite_latency_budget(project: Path, openai_server: OpenAIServer,
                           capsys: pytest.CaptureFixture[str]) -> None:
    write_suite(project, "gate:\n  max_latency_p95: 0.001\n")
    assert run(openai_server, "base") == 0
    assert run(openai_server, "head") == 0
    capsys.readouterr()
    assert main(["gate", "--baseline", "reports/base.json", "reports/head.json"]) == 1
    assert "gate on openai/mock-a: p95 latency" in capsys.readouterr().out
    assert main(["gate", "--baseline", "reports/base.json", "reports/head.json",
                 "--max-latency-p95", "60000"]) == 0


@pytest.mark.parametrize(("gate", "line", "words"), [
    ("gate:\n  min_pass_rate: 1.5\n", 4, "less than or equal to 1"),
    ("gate:\n  max_cost: -1\n", 4, "greater than or equal to 0"),
    ("gate:\n  min_pass: 0.5\n", 4, "min_pass"),
])
def test_bad_budgets_point_at_their_line(project: Path, gate: str, line: int, words: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    write_suite(project, gate)
    assert main(["validate", "gate.suite.yaml"]) == 2
    err = capsys.readouterr().err
    assert f"gate.suite.yaml:{line}:" in err
    assert words in err
    assert "Traceback" not in err


def test_suite_cost_budget_applies_to_that_suite_only() -> None:
    from harness.gate import compare
    from tests.report.conftest import build_log

    log = build_log()  # every result costs $0.00012; 6 per suite
    suites = [s.model_copy(update={"gate": {"max_cost": 0.0005}}) for s in log.suites]
    head = log.model_copy(update={"suites": suites, "run_id": "head"})
    result = compare(log, head)
    # 6 x 0.00012 = 0.00072 > 0.0005 in each suite, computed by hand
    assert [r for r in result.reasons if "budget" in r] == [
        "legal: its results cost $0.0007, more than the suite's budget $0.0005",
        "marketing: its results cost $0.0007, more than the suite's budget $0.0005",
    ]
    roomy = [s.model_copy(update={"gate": {"max_cost": 0.001}}) for s in log.suites]
    assert not [r for r in compare(log, head.model_copy(update={"suites": roomy})).reasons
                if "budget" in r]


def test_suite_cost_budget_counts_the_judges_as_the_run_budget_does() -> None:
    from harness.gate import Budgets, compare
    from tests.report.conftest import build_log

    log = build_log()  # every result costs $0.00012; 6 per suite
    judged = [r.model_copy(update={"judge_cost_usd": 0.0001}) for r in log.results]
    roomy = [s.model_copy(update={"gate": {"max_cost": 0.001}}) for s in log.suites]
    head = log.model_copy(update={"suites": roomy, "results": judged, "run_id": "head"})
    # 6 x (0.00012 + 0.0001) = 0.00132 > 0.001 per suite, computed by hand; the models'
    # calls alone (0.00072) would fit
    assert [r for r in compare(log, head).reasons if "budget" in r] == [
        "legal: its results cost $0.0013, more than the suite's budget $0.001",
        "marketing: its results cost $0.0013, more than the suite's budget $0.001",
    ]
    # the run-wide budget has always counted them: 12 x 0.00022 = 0.00264
    assert [r for r in compare(log, head, Budgets(max_cost=0.002)).reasons
            if "budget" in r] == ["the run cost $0.0026, more than the budget $0.002"]


def test_a_pass_rate_floor_does_not_count_shrink_candidates() -> None:
    from harness.gate import Budgets, compare
    from tests.report.conftest import build_log

    log = build_log()
    passing = [r.model_copy(update={"status": "passed", "error": None}) for r in log.results]
    # one failing shrink candidate per suite × model: diagnostics of a perturbed case
    firsts = {(r.suite, r.model): r for r in reversed(passing)}
    candidates = [r.model_copy(update={"case_id": f"{r.case_id}[perturb=typos-1~1]",
                                       "status": "failed",
                                       "variant": {"shrunk_from": "typos-1", "edits": "0"}})
                  for r in firsts.values()]
    base = log.model_copy(update={"results": passing})
    head = log.model_copy(update={"results": [*passing, *candidates], "run_id": "head"})
    # every planned case passed: 100% everywhere, so a floor of 100% holds
    assert [r for r in compare(base, head, Budgets(min_pass_rate=1.0)).reasons
            if "pass rate" in r] == []


def test_the_gate_reads_p95_latency_as_the_report_does() -> None:
    import numpy as np

    from harness.gate import Budgets, compare
    from tests.report.conftest import build_log

    log = build_log()
    first = log.results[0]
    latencies = [float(100 * (n + 1)) for n in range(20)]
    timed = [first.model_copy(update={"case_id": f"lat-{n}", "latency_ms": ms, "cached": False})
             for n, ms in enumerate(latencies)]
    head = log.model_copy(update={"run_id": "head", "results": timed})
    # numpy's nearest-rank 95th percentile, the one the report and compare show: 1900 ms
    expected = float(np.percentile(latencies, 95, method="nearest"))
    assert expected < max(latencies)  # so a budget between them tells the two apart
    assert not [r for r in compare(log, head, Budgets(max_latency_p95=expected)).reasons
                if "latency" in r]
    assert [r for r in compare(log, head, Budgets(max_latency_p95=expected - 1)).reasons
            if "latency" in r] == [f"{first.model}: p95 latency {expected:.0f} ms is above "
                                   f"{expected - 1:g} ms"]
