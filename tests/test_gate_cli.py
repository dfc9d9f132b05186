"""`harness gate` on pairs of RunLogs made by real runs against the loopback server."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from tests.openai_server import OpenAIServer, last_user_message

CASES = 12


def write_suite(project: Path, extra: str = "") -> None:
    cases = "\n".join(
        f"  - id: c{i}\n    vars: {{topic: topic{i}}}\n    expect: [{{contains: topic{i}}}]"
        for i in range(CASES))
    (project / "gate.suite.yaml").write_text(
        f"suite: gate\nprompt: \"Tell me about {{{{ topic }}}}{extra}\"\ncases:\n{cases}\n")


def run(server: OpenAIServer, name: str, *extra: str) -> int:
    return main(["run", "gate.suite.yaml", "-m", "openai/mock-a", "--api-base",
                 server.base_url, "-q", "--no-cache", "--name", name, *extra])


def break_topics(*broken: str) -> Any:
    """A model that answers well except on the given topics."""
    def reply(body: dict[str, Any]) -> str:
        text = last_user_message(body)
        return "I cannot say." if any(t in text.split() for t in broken) else f"echo: {text}"
    return reply


@pytest.fixture
def base(project: Path, openai_server: OpenAIServer) -> Path:
    write_suite(project)
    assert run(openai_server, "base") == 0
    return project / "reports" / "base.json"


def test_identical_runs_pass(base: Path, openai_server: OpenAIServer,
                             capsys: pytest.CaptureFixture[str]) -> None:
    run(openai_server, "head")
    capsys.readouterr()
    assert main(["gate", "--baseline", str(base), "reports/head.json"]) == 0
    assert "gate passed: 0 regressions in 12 case × model pairs" in capsys.readouterr().out


def test_a_real_regression_fails_and_says_which_case(
    base: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_server.script = break_topics("topic3")
    run(openai_server, "head")
    capsys.readouterr()
    assert main(["gate", "--baseline", str(base), "reports/head.json"]) == 1
    out = capsys.readouterr().out
    assert "gate FAILED: 1 regression" in out
    assert "gate/c3 [openai/mock-a] (gate.suite.yaml:" in out
    assert "passed in the baseline, failed now: contains:" in out


def test_a_broad_drop_is_called_beyond_noise(base: Path, openai_server: OpenAIServer,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    openai_server.script = break_topics(*(f"topic{i}" for i in range(10)))
    run(openai_server, "head")
    capsys.readouterr()
    assert main(["gate", "--baseline", str(base), "reports/head.json"]) == 1
    out = capsys.readouterr().out
    assert "10 cases got worse and 0 got better" in out
    assert "McNemar p = 0.00195" in out  # 2 × 0.5**10, computed by hand


def test_noise_within_repeat_variance_passes(project: Path, openai_server: OpenAIServer,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    write_suite(project)
    assert run(openai_server, "base3", "--repeat", "3") == 0
    calls: Counter[str] = Counter()

    def sometimes(body: dict[str, Any]) -> str:
        text = last_user_message(body)
        calls[text] += 1
        if "topic5" in text.split() and calls[text] == 2:
            return "I cannot say."  # one bad sample in three
        return f"echo: {text}"

    openai_server.script = sometimes
    run(openai_server, "head3", "--repeat", "3")
    capsys.readouterr()
    assert main(["gate", "--baseline", "reports/base3.json", "reports/head3.json"]) == 0
    out = capsys.readouterr().out
    assert "flaky now: gate/c5 [openai/mock-a]: 2/3 repeats pass" in out


def test_a_changed_suite_is_reported(base: Path, project: Path, openai_server: OpenAIServer,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    write_suite(project, extra=", briefly")
    run(openai_server, "head")
    capsys.readouterr()
    main(["gate", "--baseline", str(base), "reports/head.json"])
    assert "suite 'gate' changed since the baseline" in capsys.readouterr().out


def test_too_many_provider_errors_exit_3(base: Path, openai_server: OpenAIServer,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    openai_server.faults = lambda n, body: "401"
    run(openai_server, "head")
    capsys.readouterr()
    assert main(["gate", "--baseline", str(base), "reports/head.json"]) == 3
    assert "too many to judge" in capsys.readouterr().out


def test_budgets_and_run_with_baseline(base: Path, openai_server: OpenAIServer,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    openai_server.script = break_topics("topic0", "topic1")  # 10 of 12 pass
    capsys.readouterr()
    code = run(openai_server, "head", "--baseline", str(base), "--min-pass-rate", "0.9")
    assert code == 1
    out = capsys.readouterr().out
    assert "gate on openai/mock-a: pass rate 83% is below the minimum 90%" in out
    assert main(["gate", "--baseline", "missing.json", "reports/head.json"]) == 2
