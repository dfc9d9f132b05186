"""Which prompt variant wins: prompts compared the way models are.

For every model, each prompt variant's pass rate with its 95% Wilson interval, its tokens,
cost and latency per result; for every two variants, the exact McNemar test on the cases
both answered with the same model (pairs are suite, case, repeat), Holm-adjusted within
each table (overall, then all tags together); and a one-line verdict such as

    `few-shot` beats `baseline` on consulting cases with gpt-4o-mini: +22 points,
    p = 0.003, +40% tokens

It reads results only (from RunLogs), like ``harness.compare``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.formats import percent_range, usd
from harness.results import CaseResult, SuiteInfo, counted
from harness.stats import holm, mcnemar, wilson_interval

ALPHA = 0.05


@dataclass(frozen=True)
class PromptRate:
    """One prompt variant with one model, in one scope (overall or a tag)."""

    scope: str  # "overall" or a tag
    model: str
    prompt: str
    passed: int
    failed: int
    errors: int
    rate: float | None
    ci95: tuple[float, float] | None
    tokens: float | None  # mean prompt + completion tokens per result
    cost: float | None  # mean cost per result whose cost is known (USD)
    latency_ms: float | None  # median

    @property
    def judged(self) -> int:
        return self.passed + self.failed


@dataclass(frozen=True)
class PromptTest:
    """Variant ``a`` against ``b`` with one model, on the cases both judged."""

    scope: str
    model: str
    a: str
    b: str
    pairs: int
    only_a: int
    only_b: int
    difference: float  # a's pass rate minus b's over the pairs, in [-1, 1]
    p_value: float
    p_adjusted: float
    significant: bool
    tokens_change: float | None  # a's mean tokens / b's - 1


@dataclass(frozen=True)
class PromptComparison:
    prompts: tuple[str, ...]
    models: tuple[str, ...]
    alpha: float
    rates: tuple[PromptRate, ...]
    tests: tuple[PromptTest, ...]
    verdicts: tuple[str, ...]

    def rate(self, model: str, prompt: str, scope: str = "overall") -> PromptRate | None:
        return next((r for r in self.rates if (r.model, r.prompt, r.scope)
                     == (model, prompt, scope)), None)


def compare_prompts(results: Sequence[CaseResult],
                    alpha: float = ALPHA) -> PromptComparison | None:
    """The prompt comparison of ``results``; None when no result has a prompt variant."""
    rows = [r for r in counted(results) if r.prompt is not None]
    if not rows:
        return None
    prompts = list(dict.fromkeys(r.prompt for r in rows if r.prompt is not None))
    models = list(dict.fromkeys(r.model for r in rows))
    tags = sorted({t for r in rows for t in r.tags})
    scopes: list[tuple[str, Callable[[CaseResult], bool]]] = [("overall", lambda r: True)]
    scopes += [(t, _has_tag(t)) for t in tags]
    rates: list[PromptRate] = []
    tests: list[PromptTest] = []
    families: dict[bool, list[PromptTest]] = {True: [], False: []}  # overall; all tags
    for scope, keep in scopes:
        kept = [r for r in rows if keep(r)]
        family = families[scope == "overall"]
        for model in models:
            mine = [r for r in kept if r.model == model]
            by_prompt = {p: [r for r in mine if r.prompt == p] for p in prompts}
            for p in prompts:
                if by_prompt[p]:
                    rates.append(_rate(scope, model, p, by_prompt[p]))
            for i, a in enumerate(prompts):
                for b in prompts[i + 1:]:
                    test = _test(scope, model, a, b, by_prompt[a], by_prompt[b])
                    if test is not None:
                        family.append(test)
    for family in families.values():
        adjusted = holm([t.p_value for t in family])
        tests += [_adjust(t, p, alpha) for t, p in zip(family, adjusted, strict=True)]
    return PromptComparison(tuple(prompts), tuple(models), alpha, tuple(rates), tuple(tests),
                            tuple(_verdicts(models, rates, tests, len(prompts))))


def _has_tag(tag: str) -> Callable[[CaseResult], bool]:
    return lambda r: tag in r.tags


def _tokens(r: CaseResult) -> int | None:
    if r.usage.prompt_tokens is None or r.usage.completion_tokens is None:
        return None
    return r.usage.prompt_tokens + r.usage.completion_tokens


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rate(scope: str, model: str, prompt: str, rows: Sequence[CaseResult]) -> PromptRate:
    passed = sum(r.status == "passed" for r in rows)
    failed = sum(r.status == "failed" for r in rows)
    judged = passed + failed
    tokens = [float(t) for r in rows if (t := _tokens(r)) is not None]
    costs = [r.cost_usd for r in rows if r.cost_usd is not None]
    latencies = [r.latency_ms for r in rows if r.latency_ms is not None]
    return PromptRate(
        scope=scope, model=model, prompt=prompt, passed=passed, failed=failed,
        errors=len(rows) - judged, rate=passed / judged if judged else None,
        ci95=wilson_interval(passed, judged) if judged else None,
        tokens=_mean(tokens), cost=_mean(costs),
        latency_ms=statistics.median(latencies) if latencies else None)


def _test(scope: str, model: str, a: str, b: str, rows_a: Sequence[CaseResult],
          rows_b: Sequence[CaseResult]) -> PromptTest | None:
    index = {(r.suite, r.case_id, r.repeat): r for r in rows_b}
    pairs = [(r, index[k]) for r in rows_a
             if (k := (r.suite, r.case_id, r.repeat)) in index]
    # a provider error says nothing about the prompt: such pairs are left out
    judged = [(x.status == "passed", y.status == "passed") for x, y in pairs
              if x.status != "error" and y.status != "error"]
    if not pairs:
        return None
    result = mcnemar(judged)
    tokens_a = _mean([float(t) for x, _ in pairs if (t := _tokens(x)) is not None])
    tokens_b = _mean([float(t) for _, y in pairs if (t := _tokens(y)) is not None])
    change = tokens_a / tokens_b - 1 if tokens_a is not None and tokens_b else None
    difference = (result.only_a - result.only_b) / result.pairs if result.pairs else 0.0
    return PromptTest(scope, model, a, b, result.pairs, result.only_a, result.only_b,
                      difference, result.p_value, result.p_value, False, change)


def _adjust(t: PromptTest, p: float, alpha: float) -> PromptTest:
    return PromptTest(t.scope, t.model, t.a, t.b, t.pairs, t.only_a, t.only_b, t.difference,
                      t.p_value, p, p < alpha and t.only_a != t.only_b, t.tokens_change)


def format_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def _winner(t: PromptTest) -> tuple[str, str, float, float | None]:
    """(winner, loser, points, tokens change of the winner) of a test."""
    if t.difference >= 0:
        return t.a, t.b, t.difference, t.tokens_change
    back = None if t.tokens_change is None else 1 / (1 + t.tokens_change) - 1
    return t.b, t.a, -t.difference, back


def _line(t: PromptTest) -> str:
    win, lose, points, tokens = _winner(t)
    where = "" if t.scope == "overall" else f" on {t.scope} cases"
    extra = "" if tokens is None else f", {tokens * 100:+.0f}% tokens"
    return (f"`{win}` beats `{lose}`{where} with {t.model}: +{points * 100:.0f} points, "
            f"{format_p(t.p_adjusted)}{extra}")


def _verdicts(models: Sequence[str], rates: Sequence[PromptRate],
              tests: Sequence[PromptTest], prompts: int) -> list[str]:
    if prompts < 2:
        return []
    out: list[str] = []
    for model in models:
        mine = [t for t in tests if t.model == model and t.pairs]
        wins = sorted((t for t in mine if t.significant),
                      key=lambda t: (t.scope != "overall", -abs(t.difference)))
        if wins:
            out += [_line(t) for t in wins]
            continue
        overall = [r for r in rates if r.model == model and r.scope == "overall"
                   and r.rate is not None]
        if len(overall) < 2:
            continue
        best, worst = max(overall, key=lambda r: r.rate or 0.0), \
            min(overall, key=lambda r: r.rate or 0.0)
        test = next((t for t in mine if t.scope == "overall"
                     and {t.a, t.b} == {best.prompt, worst.prompt}), None)
        p = "" if test is None else f", {format_p(test.p_adjusted)}"
        out.append(f"no prompt variant is significantly better with {model} (best "
                   f"`{best.prompt}` {_pct(best.rate)}, worst `{worst.prompt}` "
                   f"{_pct(worst.rate)}{p})")
    return out


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def render_text(c: PromptComparison) -> list[str]:
    """Terminal lines: pass rate, tokens, cost and latency per prompt × model, the tests
    between variants, then the verdicts."""
    out = ["", "prompt variants (pass rate per prompt × model; McNemar between variants on "
           "the same cases and model, Holm-adjusted)"]
    rows = [["model", "prompt", "pass rate", "95% CI", "passed", "judged", "errors",
             "tokens", "mean $", "median ms"]]
    for r in c.rates:
        if r.scope != "overall":
            continue
        rows.append([r.model, r.prompt, _pct(r.rate), percent_range(r.ci95, ""),
                     str(r.passed), str(r.judged), str(r.errors),
                     "—" if r.tokens is None else f"{r.tokens:.0f}", usd(r.cost),
                     "—" if r.latency_ms is None else f"{r.latency_ms:.0f}"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.append("  " + "  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                                    for i, (cell, w) in enumerate(zip(row, widths,
                                                                      strict=True))))
    for t in c.tests:
        if t.scope == "overall" and t.pairs:
            out.append(f"  {t.model}: {t.a} vs {t.b}: Δ {t.difference * 100:+.0f} pts on "
                       f"{t.pairs} pairs ({t.only_a} vs {t.only_b} discordant), McNemar "
                       f"{format_p(t.p_adjusted)}{' *' if t.significant else ''}")
    if c.verdicts:
        out += ["", "prompt verdicts"] + [f"  {v}" for v in c.verdicts]
    return out


def prompt_changes(base_suites: Sequence[SuiteInfo], head_suites: Sequence[SuiteInfo]) -> list[str]:
    """Notes for the gate: prompt variants whose text changed since the baseline (their
    fingerprint differs), and variants the baseline did not have."""
    before = {(s.name, p.name): p.fingerprint for s in base_suites for p in s.prompts}
    notes = []
    for suite in head_suites:
        for p in suite.prompts:
            old = before.get((suite.name, p.name))
            if old is None:
                notes.append(f"prompt '{p.name}' of suite '{suite.name}' is new since the "
                             "baseline")
            elif old != p.fingerprint:
                notes.append(f"prompt '{p.name}' of suite '{suite.name}' changed since the "
                             f"baseline (fingerprint {old} → {p.fingerprint}): its "
                             "differences come from the new prompt text")
    return notes
