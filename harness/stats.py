"""Statistics for pass rates and for paired comparisons between models or runs.

- ``wilson_interval``: a pass rate's 95% interval that stays honest at small n;
- ``pair_results`` / ``pair_models`` / ``judged_pairs``: results of two models (or two runs)
  on the same (suite, case_id, repeat);
- ``mcnemar`` / ``mcnemar_exact``: is one side's pass rate on the same cases different?
- ``paired_bootstrap``: is one side's mean score different (difference, interval, p)?
- ``holm``: Holm–Bonferroni adjustment when many comparisons are read at once.

Pure Python except the bootstrap, which imports numpy when it is called.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.results import CaseResult

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson_interval(passed: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a pass rate of ``passed`` out of ``total``.

    Unlike the normal approximation it never leaves [0, 1] and is sensible at 0/n and
    n/n, which is where small eval runs live. (0.0, 1.0) when nothing was judged.
    """
    if total <= 0:
        return (0.0, 1.0)
    if not 0 <= passed <= total:
        raise ValueError(f"passed must be within 0..{total}, got {passed}")
    p = passed / total
    z2 = z * z
    denom = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denom
    # Clamp away float dust so 0/n starts at exactly 0 and n/n ends at exactly 1.
    low = 0.0 if passed == 0 else max(0.0, centre - half)
    high = 1.0 if passed == total else min(1.0, centre + half)
    return (low, high)


# -- paired comparisons ---------------------------------------------------------------------
#
# Two models (or two runs) answered the same cases, so their results are compared pair by
# pair: a case both pass or both fail says nothing about which is better, and only the
# discordant pairs carry the evidence. That makes paired tests far more sensitive than
# comparing two pass rates as if they came from different cases.

PairKey = tuple[str, str, int, str | None]  # (suite, case_id, repeat, prompt variant)


def pair_key(result: CaseResult) -> PairKey:
    return (result.suite, result.case_id, result.repeat, result.prompt)


def pair_results(
    a: Iterable[CaseResult], b: Iterable[CaseResult]
) -> list[tuple[CaseResult, CaseResult]]:
    """The results of ``a`` and ``b`` on the same (suite, case_id, repeat), in ``a``'s order.

    ``a`` and ``b`` are the results of one model each (of one run, or of two runs of one
    model). Results without a counterpart are left out. ValueError when one side holds two
    results for the same key, which means two models were mixed into it.
    """
    index: dict[PairKey, CaseResult] = {}
    for r in b:
        if index.setdefault(pair_key(r), r) is not r:
            raise ValueError(f"two results for {_key_text(pair_key(r))} on one side of a "
                             "pairing: pair the results of one model at a time")
    seen: set[PairKey] = set()
    pairs = []
    for r in a:
        key = pair_key(r)
        if key in seen:
            raise ValueError(f"two results for {_key_text(key)} on one side of a pairing: "
                             "pair the results of one model at a time")
        seen.add(key)
        if key in index:
            pairs.append((r, index[key]))
    return pairs


def pair_models(
    results: Iterable[CaseResult], model_a: str, model_b: str
) -> list[tuple[CaseResult, CaseResult]]:
    """The results of two models of one run (or of a merged run), paired case by case."""
    rows = list(results)
    return pair_results([r for r in rows if r.model == model_a],
                        [r for r in rows if r.model == model_b])


def p95(values: Sequence[float]) -> float:
    """The 95th percentile by nearest rank (numpy's ``method="nearest"``): a value that was
    observed. The report, compare and the gate all use this one, so they agree."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def judged_pairs(pairs: Iterable[tuple[CaseResult, CaseResult]]) -> list[tuple[bool, bool]]:
    """(a passed, b passed) for the pairs both sides judged: a provider error says nothing
    about what the model can do, so a pair with an error on either side is left out."""
    return [(a.status == "passed", b.status == "passed") for a, b in pairs
            if a.status != "error" and b.status != "error"]


def _key_text(key: PairKey) -> str:
    from harness.results import case_label

    suite, case_id, repeat, prompt = key
    return f"{suite}/{case_label(case_id, prompt)}" + (f" repeat {repeat}" if repeat else "")


@dataclass(frozen=True)
class McNemar:
    """The exact McNemar test on paired pass/fail verdicts of A and B."""

    pairs: int
    both_passed: int
    only_a: int  # A passed, B failed
    only_b: int  # B passed, A failed
    both_failed: int
    p_value: float

    @property
    def discordant(self) -> int:
        return self.only_a + self.only_b

    @property
    def difference(self) -> float:
        """A's pass rate minus B's, over the pairs (0.0 when there are none)."""
        return (self.only_a - self.only_b) / self.pairs if self.pairs else 0.0


def mcnemar(pairs: Iterable[tuple[bool, bool]], *, mid_p: bool = False) -> McNemar:
    """McNemar's exact test over (A passed, B passed) pairs; see ``mcnemar_exact``."""
    counts = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    for a, b in pairs:
        counts[(bool(a), bool(b))] += 1
    only_a, only_b = counts[(True, False)], counts[(False, True)]
    return McNemar(
        pairs=sum(counts.values()), both_passed=counts[(True, True)], only_a=only_a,
        only_b=only_b, both_failed=counts[(False, False)],
        p_value=mcnemar_exact(only_a, only_b, mid_p=mid_p),
    )


def mcnemar_exact(only_a: int, only_b: int, *, mid_p: bool = False) -> float:
    """Two-sided exact McNemar p-value from the discordant counts.

    Under "no difference" each of the n = only_a + only_b discordant pairs is equally
    likely to favour either side, so min(only_a, only_b) ~ Binomial(n, 1/2) and
    p = 2 * P(X <= min), capped at 1 (the same number as ``scipy.stats.binomtest``). The
    mid-p variant counts the observed outcome half (2 * P(X < min) + P(X = min)); it is less
    conservative at small n and is what Fagerland et al. (2013) recommend.
    """
    if only_a < 0 or only_b < 0:
        raise ValueError(f"counts must be ≥ 0, got {only_a} and {only_b}")
    n = only_a + only_b
    if n == 0 or only_a == only_b:
        return 1.0
    k = min(only_a, only_b)
    cdf, pmf = _binom_half(k, n)
    p = 2 * cdf - pmf if mid_p else 2 * cdf
    return min(1.0, p)


_EXACT_LIMIT = 5000  # big-integer sums below this n (milliseconds); log space above


def _binom_half(k: int, n: int) -> tuple[float, float]:
    """P(X <= k) and P(X = k) for X ~ Binomial(n, 1/2), with k <= n / 2."""
    if n <= _EXACT_LIMIT:
        # Exact integers, one division at the end: Python rounds int / int correctly, so
        # the smallest p-values keep their full precision.
        total = sum(math.comb(n, i) for i in range(k + 1))
        return total / 2**n, math.comb(n, k) / 2**n
    log_half = n * math.log(2)
    log_pmf = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - log_half
               for i in range(k + 1)]
    return math.fsum(math.exp(x) for x in log_pmf), math.exp(log_pmf[-1])


_FEW_VALUES = 32  # distinct differences up to which the bootstrap draws counts, not indices


@dataclass(frozen=True)
class Bootstrap:
    """A paired bootstrap of the mean difference of scores, A minus B."""

    pairs: int
    mean_difference: float
    ci: tuple[float, float]
    p_value: float
    resamples: int
    confidence: float
    seed: int


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    *,
    resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Bootstrap:
    """Paired bootstrap of mean(a - b): the pairs are resampled with replacement.

    The interval is the percentile interval of the resampled means. The two-sided p-value
    asks how often a resampled mean lies at least as far from the observed mean as the
    observed mean lies from zero (the bootstrap distribution shifted to the null), with the
    usual +1 so it is never 0: (1 + count) / (resamples + 1). Seeded, so a report shows the
    same numbers every time it is rendered.

    Like any bootstrap it behaves like a large-sample test: with few pairs, or few nonzero
    differences, the p-value is too small (3 of 5 pairs favouring A give p ≈ 0.01, where
    the exact McNemar test gives 0.25). Test pass/fail with ``mcnemar``; trust this one
    from a few dozen pairs on.
    """
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
    if not a:
        raise ValueError("no pairs to bootstrap")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    import numpy as np  # imported here: pandas brings it, but `harness --help` must not

    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = len(diff)
    rng = np.random.default_rng(seed)
    values, counts = np.unique(diff, return_counts=True)
    if len(values) <= _FEW_VALUES:
        # Pass/fail scores give differences of -1, 0 and 1 only. A resample's mean then
        # depends only on how often each value is drawn, a multinomial count: the same
        # distribution as drawing n indices, at a cost that does not grow with n.
        drawn = rng.multinomial(n, counts / n, size=resamples)
        means = drawn @ values / n
    else:
        means = np.empty(resamples)
        # resample in blocks so that memory stays at a few MB whatever n and resamples are
        block = max(1, 1_000_000 // n)
        for start in range(0, resamples, block):
            size = min(block, resamples - start)
            picks = rng.integers(0, n, size=(size, n), dtype=np.int32)
            means[start:start + size] = diff[picks].mean(axis=1)
    observed = float(diff.mean())
    tail = (1 - confidence) / 2
    low, high = (float(q) for q in np.quantile(means, [tail, 1 - tail]))
    # a hair of tolerance so that float dust in the means cannot decide a tie
    far = int(np.count_nonzero(np.abs(means - observed) >= abs(observed) - 1e-12))
    return Bootstrap(
        pairs=n, mean_difference=observed, ci=(low, high),
        p_value=min(1.0, (1 + far) / (resamples + 1)), resamples=resamples,
        confidence=confidence, seed=seed,
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the order given.

    The k-th smallest of m p-values is multiplied by (m - k + 1), and the adjusted values
    are made monotone (never smaller than the one before in sorted order) and capped at 1.
    Rejecting where adjusted p < alpha controls the chance of any false positive among the m
    comparisons at alpha, and is never less powerful than plain Bonferroni.
    """
    m = len(p_values)
    for p in p_values:
        if not 0 <= p <= 1:
            raise ValueError(f"p-values must lie in [0, 1], got {p}")
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda j: p_values[j])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
