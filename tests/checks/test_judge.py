"""LLM-judge checks end to end: `harness run` with scripted judges on the loopback server."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.checks.registry import CheckInput, build
from harness.cli import main
from harness.results import RunLog
from tests.openai_server import OpenAIServer, default_reply

SUITE = """
suite: judged
prompt: "Summarise: {{ text }}"
cases:
  - id: lenient
    vars: {text: the refund takes 30 days}
    expect:
      - judge: {rubric: "Mentions the refund period.", threshold: 0.5}
  - id: strict
    vars: {text: the refund takes 30 days}
    expect:
      - judge: {rubric: "Mentions the refund period.", threshold: 0.9}
"""

FAITHFUL = """
suite: faithful
prompt: "Answer from the context: {{ context }}"
cases:
  - id: memo
    context: "Revenue was 1.2 million dollars in 2023."
    expect:
      - faithful: {}
"""

Reply = Callable[[dict[str, Any], int], str]


def scripted(judges: dict[str, Reply]) -> Callable[[dict[str, Any]], str]:
    """Judge replies by model name and by that model's call number (1-based)."""
    calls: Counter[str] = Counter()

    def script(body: dict[str, Any]) -> str:
        model = body["model"]
        if model not in judges:
            return default_reply(body)
        calls[model] += 1
        return judges[model](body, calls[model])

    return script


def verdict(score: float, reason: str = "ok") -> str:
    return json.dumps({"score": score, "reason": reason})


def run(project: Path, server: OpenAIServer, *judges: str, suite: str = "judged.suite.yaml",
        extra: tuple[str, ...] = ("--no-cache",)) -> tuple[int, RunLog]:
    args = ["run", suite, "-m", "openai/mock-a", "--api-base", server.base_url, "-q", *extra]
    for judge in judges:
        args += ["--judge", judge]
    code = main(args)
    name = suite.removesuffix(".suite.yaml")
    return code, RunLog.read(project / "reports" / f"{name}.json")


@pytest.fixture
def suite(project: Path) -> Path:
    (project / "judged.suite.yaml").write_text(SUITE)
    (project / "faithful.suite.yaml").write_text(FAITHFUL)
    return project


def by_id(log: RunLog) -> dict[str, Any]:
    return {r.case_id: r for r in log.results}


def test_valid_verdict_passes_or_fails_by_threshold(suite: Path,
                                                    openai_server: OpenAIServer) -> None:
    openai_server.script = scripted({"judge-a": lambda body, n: verdict(0.8, "states 30 days")})
    code, log = run(suite, openai_server, "openai/judge-a")
    assert code == 1
    results = by_id(log)
    assert results["lenient"].status == "passed"
    assert results["strict"].status == "failed"
    check = results["strict"].checks[0]
    assert check.score == pytest.approx(0.8) and check.error is None
    assert "expected rubric score ≥ 0.9; found 0.80" in check.reason
    assert check.evidence["verdicts"][0]["model"] == "openai/judge-a"
    assert check.evidence["judge_usage"]["calls"] == 1
    assert check.evidence["judge_usage"]["prompt_tokens"] > 0
    # The judge saw the rubric and the output, at temperature 0, asked for JSON.
    judge_body = next(b for b in openai_server.requests if b["model"] == "judge-a")
    assert judge_body["temperature"] == 0
    prompt = " ".join(m["content"] for m in judge_body["messages"])
    assert "Mentions the refund period." in prompt and '"score"' in prompt
    assert "echo: Summarise: the refund takes 30 days" in prompt


def test_malformed_then_valid_verdict_is_corrected(suite: Path,
                                                   openai_server: OpenAIServer) -> None:
    openai_server.script = scripted({
        "judge-a": lambda body, n: "I think it is fine!" if n == 1 else verdict(0.9)})
    code, log = run(suite, openai_server, "openai/judge-a", extra=("--no-cache",
                                                                   "--filter", "lenient"))
    assert code == 0
    assert log.results[0].status == "passed"
    assert openai_server.count_for("judge-a") == 2
    second = [b for b in openai_server.requests if b["model"] == "judge-a"][1]
    correction = second["messages"][-1]["content"]
    assert "could not be used" in correction and "I think it is fine!" in correction


def test_unparseable_verdict_is_an_error_never_a_verdict(suite: Path,
                                                         openai_server: OpenAIServer) -> None:
    openai_server.script = scripted({"judge-a": lambda body, n: '{"score": "high"}'})
    code, log = run(suite, openai_server, "openai/judge-a")
    assert code == 1
    for result in log.results:
        assert result.status == "error"
        assert result.error is not None and result.error.kind == "judge"
        assert "no usable verdict after 3 tries" in result.error.message
        check = result.checks[0]
        assert check.error and check.score is None
    assert openai_server.count_for("judge-a") == 3 * 2  # three tries for each case
    assert log.summary["models"]["openai/mock-a"]["errors"] == 2
    assert log.summary["models"]["openai/mock-a"]["pass_rate"] is None


def test_disagreeing_judges_are_flagged(suite: Path, openai_server: OpenAIServer) -> None:
    openai_server.script = scripted({"judge-a": lambda body, n: verdict(0.8),
                                     "judge-b": lambda body, n: verdict(0.2)})
    _, log = run(suite, openai_server, "openai/judge-a", "openai/judge-b")
    check = by_id(log)["lenient"].checks[0]
    assert check.score == pytest.approx(0.5) and check.passed
    assert check.evidence["disagreement"] is True
    assert check.evidence["agreement"] == {"spread": 0.6, "same_verdict": False}
    assert [v["score"] for v in check.evidence["verdicts"]] == [0.8, 0.2]
    assert "judges disagree" in check.reason
    assert check.evidence["judge_usage"]["calls"] == 2
    strict = by_id(log)["strict"].checks[0]  # both below 0.9: they agree it fails
    assert strict.evidence["disagreement"] is False and not strict.passed


def test_judge_calls_are_cached(suite: Path, openai_server: OpenAIServer) -> None:
    openai_server.script = scripted({"judge-a": lambda body, n: verdict(0.7)})
    run(suite, openai_server, "openai/judge-a", extra=())
    assert openai_server.count_for("judge-a") == 2
    openai_server.reset()
    _, log = run(suite, openai_server, "openai/judge-a", extra=())
    assert openai_server.count == 0
    usage = by_id(log)["lenient"].checks[0].evidence["judge_usage"]
    assert usage["calls"] == 0 and usage["cached_calls"] == 1


def test_faithful_scores_the_share_of_supported_claims(suite: Path,
                                                       openai_server: OpenAIServer) -> None:
    claims = {"claims": [
        {"claim": "Revenue was 1.2 million", "supported": True, "evidence": "1.2 million"},
        {"claim": "Profit doubled", "supported": False, "evidence": "not in the context"},
    ]}
    openai_server.script = scripted({"judge-a": lambda body, n: json.dumps(claims)})
    code, log = run(suite, openai_server, "openai/judge-a", suite="faithful.suite.yaml")
    assert code == 1
    check = log.results[0].checks[0]
    assert check.score == pytest.approx(0.5) and not check.passed
    assert check.evidence["unsupported"] == ["Profit doubled"]
    assert "unsupported: Profit doubled" in check.reason


def test_suite_judge_key_is_used(suite: Path, openai_server: OpenAIServer) -> None:
    (suite / "own.suite.yaml").write_text(SUITE.replace(
        "suite: judged", f"suite: own\njudge: {{id: openai/judge-b, "
        f"api_base: '{openai_server.base_url}'}}"))
    openai_server.script = scripted({"judge-b": lambda body, n: verdict(1.0)})
    code, _ = run(suite, openai_server, suite="own.suite.yaml")
    assert code == 0 and openai_server.count_for("judge-b") == 2


def test_a_judge_check_without_a_judge_points_at_its_line(
        suite: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "judged.suite.yaml", "-m", "openai/mock-a", "--api-base",
                 openai_server.base_url, "-q"])
    assert code == 2
    err = capsys.readouterr().err
    assert "judged.suite.yaml:8: case 'lenient': check 'judge' needs a judge model" in err
    assert "--judge" in err
    assert openai_server.count == 0


def test_negation_never_turns_a_judge_error_into_a_pass() -> None:
    negated = build("judge", {"rubric": "polite", "negate": True})
    result = negated(CheckInput(output="hi"))  # no judge client: no verdict
    assert result.error is not None and not result.passed and result.score is None


def test_a_check_may_name_its_own_judges(suite: Path, openai_server: OpenAIServer) -> None:
    (suite / "own.suite.yaml").write_text(
        "suite: own\nprompt: hi\ncases:\n  - id: a\n    expect:\n"
        "      - judge: {rubric: polite, judges: [openai/judge-c]}\n")
    openai_server.script = scripted({"judge-c": lambda body, n: verdict(0.6)})
    code, log = run(suite, openai_server, "openai/judge-a", suite="own.suite.yaml")
    assert log.results[0].checks[0].evidence["verdicts"][0]["model"] == "openai/judge-c"
    assert code == 0 and openai_server.count_for("judge-c") == 1
    assert openai_server.count_for("judge-a") == 0


def test_an_unreachable_judge_is_a_judge_error(suite: Path, openai_server: OpenAIServer) -> None:
    openai_server.faults = lambda n, body: "401" if body["model"] == "judge-a" else None
    code, log = run(suite, openai_server, "openai/judge-a", extra=("--no-cache",
                                                                   "--filter", "lenient"))
    assert code == 1
    result = log.results[0]
    assert result.status == "error" and result.error is not None
    assert result.error.kind == "judge" and "auth" in result.error.message
    assert result.output is not None  # the model's answer is kept
