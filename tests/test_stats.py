"""harness.stats against values computed independently (scipy), on fixed data."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy import stats as sp

from harness.results import CaseResult
from harness.stats import (
    holm,
    judged_pairs,
    mcnemar,
    mcnemar_exact,
    pair_models,
    pair_results,
    paired_bootstrap,
    wilson_interval,
)

# (A passed only, B passed only): small, lopsided, balanced, tied, and large enough for the
# log-space branch
DISCORDANT = [(0, 15), (15, 0), (3, 10), (1, 2), (7, 7), (0, 1), (40, 60), (2600, 2450),
              (30_000, 30_500), (0, 0)]


@pytest.mark.parametrize(("only_a", "only_b"), DISCORDANT)
def test_mcnemar_exact_matches_scipy_binomtest(only_a: int, only_b: int) -> None:
    n = only_a + only_b
    expected = 1.0 if n == 0 else sp.binomtest(only_a, n, 0.5).pvalue
    assert mcnemar_exact(only_a, only_b) == pytest.approx(expected, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("only_a", "only_b"), DISCORDANT)
def test_mcnemar_mid_p_matches_scipy_binomial(only_a: int, only_b: int) -> None:
    n = only_a + only_b
    k = min(only_a, only_b)
    # mid-p = 2 P(X <= k) - P(X = k): the observed outcome counted half
    expected = 1.0 if n == 0 else min(
        1.0, 2 * sp.binom.cdf(k, n, 0.5) - sp.binom.pmf(k, n, 0.5))
    assert mcnemar_exact(only_a, only_b, mid_p=True) == pytest.approx(
        expected, rel=1e-9, abs=1e-15)


def test_mcnemar_known_values() -> None:
    # 15 discordant pairs all one way: p = 2 / 2**15
    assert mcnemar_exact(0, 15) == 2 / 2**15
    assert mcnemar_exact(5, 5) == 1.0
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def test_mcnemar_counts_the_table() -> None:
    pairs = [(True, True)] * 8 + [(True, False)] * 2 + [(False, True)] * 9 + \
        [(False, False)] * 4
    result = mcnemar(pairs)
    assert (result.pairs, result.both_passed, result.only_a, result.only_b,
            result.both_failed) == (23, 8, 2, 9, 4)
    assert result.discordant == 11
    assert result.difference == pytest.approx((2 - 9) / 23)
    assert result.p_value == pytest.approx(sp.binomtest(2, 11, 0.5).pvalue, rel=1e-12)
    assert mcnemar([]).p_value == 1.0 and mcnemar([]).difference == 0.0


@pytest.mark.parametrize(("passed", "total"), [(0, 10), (10, 10), (3, 10), (18, 30),
                                               (1, 1), (412, 1000)])
def test_wilson_interval_matches_scipy(passed: int, total: int) -> None:
    ci = sp.binomtest(passed, total).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(passed, total) == pytest.approx((ci.low, ci.high), abs=1e-9)


# -- paired bootstrap -----------------------------------------------------------------------

def _scores(seed: int, n: int, shift: float) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    a = rng.normal(0.6, 0.25, n)
    b = a - shift + rng.normal(0.0, 0.3, n)
    return a.tolist(), b.tolist()


def test_bootstrap_interval_matches_scipy_percentile_bootstrap() -> None:
    a, b = _scores(1, 120, 0.05)
    ours = paired_bootstrap(a, b, resamples=20_000, seed=7)
    diff = np.asarray(a) - np.asarray(b)
    theirs = sp.bootstrap((diff,), np.mean, n_resamples=20_000, method="percentile",
                          confidence_level=0.95, rng=np.random.default_rng(3))
    assert ours.mean_difference == pytest.approx(float(diff.mean()), abs=1e-12)
    # two Monte Carlo estimates of the same quantiles: close, not equal
    assert ours.ci[0] == pytest.approx(theirs.confidence_interval.low, abs=0.005)
    assert ours.ci[1] == pytest.approx(theirs.confidence_interval.high, abs=0.005)
    assert ours.ci[0] < ours.mean_difference < ours.ci[1]


def test_bootstrap_of_pass_fail_scores_matches_scipy() -> None:
    # few distinct differences take the multinomial path: it must agree with resampling
    rng = np.random.default_rng(8)
    a = (rng.random(400) < 0.7).astype(float)
    b = (rng.random(400) < 0.62).astype(float)
    ours = paired_bootstrap(a.tolist(), b.tolist(), resamples=20_000, seed=9)
    theirs = sp.bootstrap((a - b,), np.mean, n_resamples=20_000, method="percentile",
                          rng=np.random.default_rng(4)).confidence_interval
    assert ours.ci == pytest.approx((theirs.low, theirs.high), abs=0.006)
    assert ours.p_value == pytest.approx(sp.ttest_rel(a, b).pvalue, abs=0.015)


@pytest.mark.parametrize(("seed", "shift"), [(2, 0.0), (3, 0.04), (4, 0.06), (5, 0.12)])
def test_bootstrap_p_value_agrees_with_paired_t_test(seed: int, shift: float) -> None:
    # for a few hundred roughly normal differences the bootstrap and the paired t-test
    # answer the same question about the mean and should nearly agree
    a, b = _scores(seed, 300, shift)
    ours = paired_bootstrap(a, b, resamples=20_000, seed=seed)
    t = sp.ttest_rel(a, b)
    assert ours.p_value == pytest.approx(t.pvalue, abs=0.015)


def test_bootstrap_is_seeded_and_handles_no_difference() -> None:
    a, b = _scores(6, 50, 0.1)
    assert paired_bootstrap(a, b, seed=1) == paired_bootstrap(a, b, seed=1)
    assert paired_bootstrap(a, b, seed=1).ci != paired_bootstrap(a, b, seed=2).ci
    same = paired_bootstrap([0.5, 1.0, 0.0], [0.5, 1.0, 0.0], resamples=500)
    assert (same.mean_difference, same.ci, same.p_value) == (0.0, (0.0, 0.0), 1.0)
    # every pair favours A: the smallest p the resamples can show
    sure = paired_bootstrap([1.0] * 40, [0.0] * 40, resamples=999)
    assert sure.p_value == pytest.approx(1 / 1000) and sure.ci == (1.0, 1.0)


def test_bootstrap_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="length"):
        paired_bootstrap([1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="no pairs"):
        paired_bootstrap([], [])


# -- Holm–Bonferroni ------------------------------------------------------------------------

def test_holm_known_example() -> None:
    # sorted: .005*4 = .02, .01*3 = .03, .03*2 = .06, .04*1 = .04 -> monotone .06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([]) == []
    assert holm([0.2]) == [0.2]
    assert holm([0.5, 0.6]) == [1.0, 1.0]
    with pytest.raises(ValueError):
        holm([1.5])


def _holm_step_down(p_values: list[float], alpha: float) -> set[int]:
    """Holm's procedure as the textbook states it: reject the k-th smallest p while
    p_(k) <= alpha / (m - k + 1), stop at the first that is not."""
    m = len(p_values)
    rejected: set[int] = set()
    for k, i in enumerate(sorted(range(m), key=lambda j: p_values[j])):
        if p_values[i] > alpha / (m - k):
            break
        rejected.add(i)
    return rejected


def test_holm_rejects_what_the_step_down_procedure_rejects() -> None:
    rng = random.Random(11)
    for _ in range(300):
        p = [rng.random() ** 3 for _ in range(rng.randint(1, 12))]
        adjusted = holm(p)
        for alpha in (0.01, 0.05, 0.1):
            assert {i for i, q in enumerate(adjusted) if q <= alpha} == \
                _holm_step_down(p, alpha)
        assert all(q >= raw for q, raw in zip(adjusted, p, strict=True))


# -- pairing --------------------------------------------------------------------------------

def _result(model: str, case_id: str, status: str, repeat: int = 0) -> CaseResult:
    return CaseResult(suite="s", case_id=case_id, model=model, model_id=model, repeat=repeat,
                      status=status, messages=[])  # type: ignore[arg-type]


def test_pairing_by_suite_case_and_repeat() -> None:
    results = [
        _result("a", "c1", "passed"), _result("b", "c1", "failed"),
        _result("a", "c2", "passed"), _result("b", "c2", "error"),
        _result("a", "c3", "failed", 0), _result("a", "c3", "passed", 1),
        _result("b", "c3", "failed", 1), _result("b", "c3", "failed", 0),
        _result("a", "only-a", "passed"),
    ]
    pairs = pair_models(results, "a", "b")
    assert [(x.case_id, x.repeat, y.repeat) for x, y in pairs] == [
        ("c1", 0, 0), ("c2", 0, 0), ("c3", 0, 0), ("c3", 1, 1)]
    # the pair with a provider error is not judged
    assert judged_pairs(pairs) == [(True, False), (False, False), (True, False)]
    with pytest.raises(ValueError, match="one model at a time"):
        pair_results(results, results)
