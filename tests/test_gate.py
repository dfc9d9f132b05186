"""The gate: a case × model that passed in the baseline and does not pass now."""

from __future__ import annotations

from harness.gate import compare
from harness.results import CaseResult, CheckRecord, ErrorRecord, RunLog


def result(case_id: str, status: str, model: str = "m", repeat: int = 0) -> CaseResult:
    checks, error = [], None
    if status == "error":
        error = ErrorRecord(kind="timeout", message="no answer within 10 s", attempts=4)
    else:
        checks = [CheckRecord(check="contains", passed=status == "passed",
                              reason="expected all of ['x']; found: none")]
    return CaseResult(suite="s", case_id=case_id, model=model, model_id=model,
                      repeat=repeat, status=status,  # type: ignore[arg-type]
                      source=f"s.suite.yaml:{len(case_id)}", messages=[],
                      output=None if error else "y", error=error, checks=checks)


def log(run_id: str, *results: CaseResult) -> RunLog:
    return RunLog(run_id=run_id, harness_version="0", created_at="2026-01-01T00:00:00",
                  suites=[], models=[], results=list(results))


def test_regressions_fixed_new_and_missing_pairs() -> None:
    base = log("base", result("a", "passed"), result("b", "passed"), result("c", "failed"),
               result("gone", "passed"), result("d", "passed", model="other"))
    head = log("head", result("a", "passed"), result("b", "failed"), result("c", "passed"),
               result("new", "failed"), result("d", "error", model="other"))
    gate = compare(base, head)
    assert not gate.passed
    assert [(r.case_id, r.model, r.head_status) for r in gate.regressions] == [
        ("b", "m", "failed"), ("d", "other", "error")]
    assert gate.regressions[0].reason == "contains: expected all of ['x']; found: none"
    assert gate.regressions[1].reason == "timeout: no answer within 10 s"
    assert (gate.compared, gate.fixed, gate.only_in_base, gate.only_in_head) == (4, 1, 1, 1)
    assert gate.lines()[0] == ("gate FAILED: 2 regressions in 4 case × model pairs compared "
                               "with baseline run base (1 fixed, 1 not run now, 1 new)")
    assert gate.lines()[1] == "  - 2 case × model pairs that passed in the baseline fail now"
    assert gate.lines()[2] == ("  s/b [m] (s.suite.yaml:1): passed in the baseline, failed "
                               "now: contains: expected all of ['x']; found: none")


def test_a_pair_passes_only_when_every_repeat_passes() -> None:
    base = log("base", result("a", "passed", repeat=0), result("a", "passed", repeat=1))
    flaky = log("head", result("a", "passed", repeat=0), result("a", "failed", repeat=1))
    # One failure in two repeats is within noise: reported as flaky, not a regression.
    became_flaky = compare(base, flaky)
    assert became_flaky.regressions == () and became_flaky.passed
    assert became_flaky.became_flaky == ("s/a [m]: 1/2 repeats pass",)
    # Every repeat failing is a regression.
    broken = log("head", result("a", "failed", repeat=0), result("a", "failed", repeat=1))
    assert [r.case_id for r in compare(base, broken).regressions] == ["a"]
    assert compare(base, base).passed
    # A pair that was already flaky in the baseline is not a regression when it fails.
    assert compare(flaky, log("h", result("a", "failed"))).passed
