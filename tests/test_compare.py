"""`harness compare` on scripted models served by the loopback OpenAI server, and
``harness.compare`` on hand-built RunLogs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.compare import compare, render_text
from harness.results import CaseResult, CheckRecord, ErrorRecord, ModelInfo, RunLog, SuiteInfo
from tests.openai_server import OpenAIServer, last_user_message

CASES = 30
# Two models LiteLLM's bundled price table knows, so the verdict can state a cost ratio;
# the loopback server answers for any model name.
STRONG, WEAK = "openai/gpt-4o", "openai/gpt-4o-mini"


def _suite() -> str:
    lines = ["suite: quiz", "prompt: 'Answer question {{ n }}'", "cases:"]
    for n in range(1, CASES + 1):
        tag = "legal" if n <= 15 else "marketing"
        lines += [f"  - id: q{n:02d}", f"    vars: {{n: {n}}}", f"    tags: [{tag}]",
                  f"    expect: [{{contains: 'correct-{n}'}}]"]
    return "\n".join(lines) + "\n"


def _scripted(correct: dict[str, int]) -> Any:
    """Each model answers questions 1..correct[model] right and the rest wrong."""

    def reply(body: dict[str, Any]) -> str:
        n = int(re.findall(r"\d+", last_user_message(body))[-1])
        right = n <= correct[str(body["model"])]
        return f"The answer is correct-{n}." if right else "I am not sure."

    return reply


@pytest.fixture
def quiz(project: Path) -> Path:
    (project / "quiz.suite.yaml").write_text(_suite())
    return project


def _run(server: OpenAIServer, *models: str, name: str) -> Path:
    args = ["run", "quiz.suite.yaml", "--api-base", server.base_url, "-q", "--no-cache",
            "--name", name]
    for m in models:
        args += ["-m", m]
    main(args)
    return Path("reports") / f"{name}.json"


def test_a_real_difference_is_significant(quiz: Path, openai_server: OpenAIServer,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    # B (the strong model) is right on 25 of 30 questions, A on 10 of 30
    openai_server.script = _scripted({"gpt-4o": 25, "gpt-4o-mini": 10})
    log = _run(openai_server, WEAK, STRONG, name="both")
    capsys.readouterr()
    assert main(["compare", str(log), "--json", "cmp.json", "--markdown", "cmp.md"]) == 0
    out = capsys.readouterr().out

    data = json.loads(Path("cmp.json").read_text())
    assert data["models"] == [STRONG, WEAK]  # best first
    (test,) = data["overall"]["tests"]
    assert (test["a"], test["b"], test["pairs"], test["only_a"], test["only_b"]) == \
        (STRONG, WEAK, 30, 15, 0)
    assert test["p_value"] == pytest.approx(2 / 2**15)  # exact McNemar: 15 of 15 one way
    assert test["significant"] and test["difference"] == pytest.approx(0.5)
    rates = {m["model"]: m for m in data["overall"]["models"]}
    assert (rates[STRONG]["passed"], rates[WEAK]["passed"]) == (25, 10)

    verdict = re.search(r"overall, .*", out)
    assert verdict is not None
    assert re.fullmatch(rf"overall, {STRONG} passes 50 points more cases than {WEAK} "
                        r"\(p < 0\.001\) at \d+\.\d× the cost", verdict.group()), verdict.group()
    # per domain: marketing (10 vs 0 discordant) is significant after Holm over 2 tags,
    # legal (5 vs 0: p = 0.0625 before any correction) is not
    tags = {t["name"]: t for t in data["tags"]}
    assert tags["marketing"]["tests"][0]["significant"]
    assert tags["marketing"]["tests"][0]["p_adjusted"] == pytest.approx(2 * 2 / 2**10)
    assert not tags["legal"]["tests"][0]["significant"]
    assert f"for marketing, {STRONG} passes 67 points more cases than {WEAK}" in out
    assert f"for legal, no significant difference between {STRONG} and {WEAK} " \
        "(100% vs 67%, 15 paired cases, p = 0.062)" in out
    assert "for legal" in Path("cmp.md").read_text()
    assert data["verdicts"][0] == verdict.group()
    # cost and latency were recorded for both and are reported
    costs = {c["model"]: c for c in data["costs"]}
    assert costs[STRONG]["cost_total"] > costs[WEAK]["cost_total"] > 0
    assert costs[WEAK]["latency_median"] is not None
    failures = {f["model"]: f for f in data["failures"]}
    assert failures[WEAK]["failed_checks"] == {"contains": 20}


def test_identical_behaviour_is_no_significant_difference(
    quiz: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_server.script = _scripted({"gpt-4o": 18, "gpt-4o-mini": 18})
    log = _run(openai_server, WEAK, STRONG, name="same")
    capsys.readouterr()
    assert main(["compare", str(log), "--json", "same.json"]) == 0
    out = capsys.readouterr().out
    (test,) = json.loads(Path("same.json").read_text())["overall"]["tests"]
    assert (test["only_a"], test["only_b"], test["p_value"], test["significant"]) == \
        (0, 0, 1.0, False)
    assert re.search(r"overall, no significant difference between openai/gpt-4o(-mini)? and "
                     r"openai/gpt-4o(-mini)? \(60% vs 60%, 30 paired cases, p = 1\); "
                     r"openai/gpt-4o costs \d+\.\d× as much", out), out


def test_models_from_separate_runlogs_compare_like_one_run(
    quiz: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_server.script = _scripted({"gpt-4o": 25, "gpt-4o-mini": 10})
    both = RunLog.read(_run(openai_server, WEAK, STRONG, name="both"))
    weak = RunLog.read(_run(openai_server, WEAK, name="weak"))
    strong = RunLog.read(_run(openai_server, STRONG, name="strong"))
    merged, apart = compare([both]), compare([weak, strong], resamples=2000)
    assert apart.models == merged.models
    assert apart.overall.tests[0].p_value == merged.overall.tests[0].p_value
    assert apart.verdicts[0].split(" at ")[0] == merged.verdicts[0].split(" at ")[0]

    # the same model in two runs (a prompt change, say) is told apart by run id
    openai_server.script = _scripted({"gpt-4o": 10, "gpt-4o-mini": 10})
    later = RunLog.read(_run(openai_server, STRONG, name="later"))
    capsys.readouterr()
    assert main(["compare", "reports/strong.json", "reports/later.json"]) == 0
    out = capsys.readouterr().out
    first, second = f"{STRONG}@{strong.run_id}", f"{STRONG}@{later.run_id}"
    # the answers right and wrong have the same number of tokens here
    assert f"overall, {first} passes 50 points more cases than {second} (p < 0.001) " \
        "at the same cost" in out


def test_compare_usage_errors(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "x.json").write_text(json.dumps({"hello": 1}))
    assert main(["compare", "x.json"]) == 2
    assert "not a harness RunLog" in capsys.readouterr().err
    log = _log([_r("a", "c1", "passed")])
    log.write(project / "one.json")
    assert main(["compare", "one.json", "one.json"]) == 2
    assert "given twice" in capsys.readouterr().err


# -- hand-built logs ------------------------------------------------------------------------


def _r(model: str, case_id: str, status: str, *, suite: str = "s", tags: list[str] | None = None,
       checks: list[CheckRecord] | None = None, cost: float | None = None,
       latency: float | None = None, error: str | None = None, repeat: int = 0) -> CaseResult:
    if checks is None and status != "error":
        checks = [CheckRecord(check="contains", passed=status == "passed",
                              score=1.0 if status == "passed" else 0.0, reason="r")]
    return CaseResult(
        suite=suite, case_id=case_id, model=model, model_id=f"openai/{model}", repeat=repeat,
        status=status,  # type: ignore[arg-type]
        tags=tags or [], messages=[], cost_usd=cost, latency_ms=latency, checks=checks or [],
        error=ErrorRecord(kind=error, message="boom") if error else None,
    )


def _log(results: list[CaseResult], run_id: str = "run-1",
         fingerprint: str = "f" * 64) -> RunLog:
    suites = sorted({r.suite for r in results})
    models = list(dict.fromkeys(r.model for r in results))
    return RunLog(run_id=run_id, harness_version="0.1.0", created_at="2024-06-01T12:00:00",
                  suites=[SuiteInfo(name=s, path=f"{s}.suite.yaml", fingerprint=fingerprint,
                                    cases=1) for s in suites],
                  models=[ModelInfo(name=m, id=f"openai/{m}") for m in models],
                  results=results)


def test_cost_ratio_and_latency_percentiles() -> None:
    results = []
    for i in range(40):
        results.append(_r("dear", f"c{i}", "passed", cost=0.003, latency=100.0 + i))
        results.append(_r("cheap", f"c{i}", "passed" if i < 10 else "failed", cost=0.001,
                          latency=50.0))
    c = compare([_log(results)], resamples=1000)
    assert c.verdicts[0] == "overall, dear passes 75 points more cases than cheap " \
        "(p < 0.001) at 3.0× the cost"
    dear = next(k for k in c.costs if k.model == "dear")
    assert dear.cost_total == pytest.approx(0.12)
    assert (dear.cost_median, dear.latency_median, dear.latency_p95) == \
        (0.003, 119.5, 137.0)


def test_errors_are_counted_but_not_paired() -> None:
    results = [_r("a", "c1", "passed"), _r("b", "c1", "error", error="timeout"),
               _r("a", "c2", "failed"), _r("b", "c2", "passed"),
               _r("a", "c3", "passed"), _r("b", "c3", "passed")]
    c = compare([_log(results)], resamples=500)
    (test,) = c.overall.tests
    # b leads (2 of 2 judged against 2 of 3); the pair with b's error is left out
    assert (test.a, test.pairs, test.only_a, test.only_b) == ("b", 2, 1, 0)
    b = c.overall.rate("b")
    assert b is not None and (b.passed, b.failed, b.errors) == (2, 0, 1)
    failures = {f.model: f for f in c.failures}
    assert failures["b"].error_kinds == {"timeout": 1}


def test_per_check_slices_and_failure_modes() -> None:
    def checks(grounded: bool, short: bool, mode: str | None = None) -> list[CheckRecord]:
        evidence = {"failure_mode": mode} if mode else {}
        return [CheckRecord(check="grounded", passed=grounded, score=0.9 if grounded else 0.2,
                            reason="g", evidence=evidence),
                CheckRecord(check="max_words", passed=short, score=None, reason="w")]

    results = [
        _r("a", "c1", "failed", checks=checks(False, True, "invented_number")),
        _r("a", "c2", "failed", checks=checks(False, True, "invented_number")),
        _r("a", "c3", "failed", checks=checks(True, False)),
        _r("b", "c1", "passed", checks=checks(True, True)),
        _r("b", "c2", "passed", checks=checks(True, True)),
        _r("b", "c3", "failed", checks=checks(True, False)),
    ]
    c = compare([_log(results)], resamples=500)
    by_check = {s.name: s for s in c.checks}
    grounded = by_check["grounded"].rate("a")
    assert grounded is not None and (grounded.passed, grounded.failed) == (1, 2)
    assert by_check["max_words"].tests[0].only_a == by_check["max_words"].tests[0].only_b == 0
    failures = {f.model: f for f in c.failures}
    assert failures["a"].failure_modes == {"invented_number": 2}
    assert failures["a"].failed_checks == {"grounded": 2, "max_words": 1}
    # b leads: its mean score is higher and the bootstrap agrees in sign
    test = c.overall.tests[0]
    assert test.a == "b" and test.score_difference is not None and test.score_difference > 0
    assert test.score_p_value is None  # three pairs are too few to test scores


def test_scores_are_oriented_higher_is_better() -> None:
    # `complies` registers higher_is_better=False (its score is a refusal confidence):
    # the model with the lower raw scores is the better one
    def complies(score: float) -> list[CheckRecord]:
        return [CheckRecord(check="complies", passed=True, score=score, reason="r")]

    results = []
    for i in range(25):
        results.append(_r("a", f"c{i}", "passed", checks=complies(0.05)))
        results.append(_r("b", f"c{i}", "passed", checks=complies(0.30 + i / 100)))
    c = compare([_log(results)], resamples=1000)
    test = c.overall.tests[0]
    assert test.score_difference is not None and test.score_difference > 0
    assert test.a == "a" and test.score_significant


def test_holm_applies_across_the_tags() -> None:
    # ten tags with the same modest difference: each alone p = 0.0625, after Holm 0.625
    results = []
    for t in range(10):
        for i in range(5):
            results.append(_r("a", f"t{t}-{i}", "passed", tags=[f"tag{t}"]))
            results.append(_r("b", f"t{t}-{i}", "failed", tags=[f"tag{t}"]))
    c = compare([_log(results)], resamples=500)
    for s in c.tags:
        (test,) = s.tests
        assert test.p_value == pytest.approx(0.0625)
        assert test.p_adjusted == pytest.approx(0.625)
        assert s.verdict.startswith(f"for {s.name}, no significant difference")
    assert c.overall.tests[0].significant  # 50 vs 0 discordant overall


def test_notes_single_model_and_changed_suite() -> None:
    single = compare([_log([_r("a", "c1", "passed")])])
    assert single.verdicts == ["overall, only one model has judged results: nothing to "
                               "compare"]
    assert any("only one model" in n for n in single.notes)
    old = _log([_r("a", "c1", "passed")], run_id="r1", fingerprint="1" * 64)
    new = _log([_r("b", "c1", "failed"), _r("b", "c2", "failed")], run_id="r2",
               fingerprint="2" * 64)
    c = compare([old, new])
    assert any("differs between runs" in n for n in c.notes)
    assert any("no counterpart" in n for n in c.notes)
    text = render_text(c)
    assert "note: suite 's' differs between runs" in text
    json.dumps(c.to_dict())  # serialisable as it is


def test_render_text_sections() -> None:
    results = [_r(m, f"c{i}", "passed" if (i + (m == "b")) % 3 else "failed",
                  tags=["legal" if i % 2 else "hr"], suite="s1" if i < 6 else "s2")
               for i in range(12) for m in ("a", "b", "c")]
    text = render_text(compare([_log(results)], resamples=300))
    for heading in ("overall", "cost and latency per result", "by suite", "by tag",
                    "by check", "failure modes", "verdicts"):
        assert f"\n{heading}\n" in text
    assert "Δ 1−2" in text and "Δ 2−3" in text
    assert "for suite s1," in text and "for legal," in text and "for hr," in text


@pytest.mark.skipif("error" not in CheckRecord.model_fields,
                    reason="CheckRecord has no 'error' (checks without a verdict)")
def test_a_check_without_a_verdict_is_not_judged() -> None:
    # a judge that failed to answer makes the result an error, but the other checks of
    # that result still reached their verdicts
    def judged(ok: bool) -> list[CheckRecord]:
        return [CheckRecord(check="contains", passed=ok, score=float(ok), reason="r"),
                CheckRecord(check="rubric", passed=ok, score=float(ok), reason="r")]

    lost = [CheckRecord(check="contains", passed=True, score=1.0, reason="r"),
            CheckRecord.model_validate({"check": "rubric", "passed": False, "reason": "r",
                                        "error": "judge answered no JSON"})]
    results = [_r("a", "c1", "passed", checks=judged(True)),
               _r("b", "c1", "error", checks=lost, error="judge"),
               _r("a", "c2", "failed", checks=judged(False)),
               _r("b", "c2", "failed", checks=judged(False))]
    c = compare([_log(results)], resamples=200)
    by_check = {s.name: s for s in c.checks}
    contains, rubric = by_check["contains"].rate("b"), by_check["rubric"].rate("b")
    assert contains is not None and (contains.passed, contains.failed, contains.errors) == \
        (1, 1, 0)
    assert rubric is not None and (rubric.passed, rubric.failed, rubric.errors) == (0, 1, 1)
    failures = {f.model: f for f in c.failures}
    assert failures["b"].failed_checks == {"contains": 1, "rubric": 1}
    assert failures["b"].error_kinds == {"judge": 1}
