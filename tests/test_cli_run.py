"""`harness run` end to end against the loopback OpenAI-compatible server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.results import RunLog
from tests.openai_server import OpenAIServer

SUITE = """
suite: cli-demo
prompt: "Say something about {{ topic }}"
cases:
  - id: ok
    vars: {topic: apples}
    expect: [{contains: apples}]
  - id: fails
    vars: {topic: pears}
    expect: [{contains: {value: bananas}}]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").touch()
    (tmp_path / "demo.suite.yaml").write_text(SUITE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_run_two_models_writes_runlog_and_report(project: Path,
                                                 openai_server: OpenAIServer) -> None:
    code = main(["run", "demo.suite.yaml", "-m", "openai/mock-a", "-m", "openai/mock-b",
                 "--api-base", openai_server.base_url, "-q"])
    assert code == 1  # one case fails its check on purpose
    log = RunLog.read(project / "reports" / "cli-demo.json")
    assert {(r.case_id, r.model, r.status) for r in log.results} == {
        ("ok", "openai/mock-a", "passed"), ("fails", "openai/mock-a", "failed"),
        ("ok", "openai/mock-b", "passed"), ("fails", "openai/mock-b", "failed"),
    }
    assert openai_server.count_for("mock-a") == 2 and openai_server.count_for("mock-b") == 2
    assert log.summary["models"]["openai/mock-a"]["pass_rate"] == 0.5
    html = (project / "reports" / "cli-demo.html").read_text()
    assert "mock-a" in html and "mock-b" in html

    # The same command again is answered from the cache: no new request reaches the server.
    assert main(["run", "demo.suite.yaml", "-m", "openai/mock-a", "--api-base",
                 openai_server.base_url, "-q", "--name", "again"]) == 1
    assert openai_server.count == 4
    again = RunLog.read(project / "reports" / "again.json")
    assert all(r.cached for r in again.results)

    # --no-cache calls the model again.
    main(["run", "demo.suite.yaml", "-m", "openai/mock-a", "--api-base",
          openai_server.base_url, "-q", "--no-cache", "--name", "fresh"])
    assert openai_server.count == 6


def test_all_passing_run_exits_zero(project: Path, openai_server: OpenAIServer) -> None:
    (project / "pass.suite.yaml").write_text(
        "suite: p\nprompt: hello\ncases: [{id: a, expect: [{min_words: 1}]}]\n")
    code = main(["run", "pass.suite.yaml", "-m", "openai/mock-a", "--api-base",
                 openai_server.base_url, "-q", "--no-cache"])
    assert code == 0


def test_provider_errors_are_recorded_not_raised(project: Path,
                                                 openai_server: OpenAIServer,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    openai_server.faults = lambda n, body: "401"
    code = main(["run", "demo.suite.yaml", "-m", "openai/mock-a", "--api-base",
                 openai_server.base_url, "-q", "--no-cache"])
    assert code == 1
    log = RunLog.read(project / "reports" / "cli-demo.json")
    assert [r.status for r in log.results] == ["error", "error"]
    assert {r.error.kind for r in log.results if r.error} == {"auth"}
    out = capsys.readouterr().out
    assert "error auth" in out


def test_report_command_rerenders_a_runlog(project: Path, openai_server: OpenAIServer) -> None:
    main(["run", "demo.suite.yaml", "-m", "openai/mock-a", "--api-base",
          openai_server.base_url, "-q"])
    target = project / "out" / "again.html"
    assert main(["report", "reports/cli-demo.json", "-o", str(target)]) == 0
    assert "cli-demo" in target.read_text()


def test_report_of_a_non_runlog_is_a_clear_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "x.json").write_text(json.dumps({"hello": 1}))
    assert main(["report", "x.json"]) == 2
    assert "not a harness RunLog" in capsys.readouterr().err
