"""Budget checks: how long a call took and what it cost."""

from __future__ import annotations

from harness.checks.registry import CheckFn, CheckInput, CheckResult, check


@check("latency_ms", shorthand="max", higher_is_better=False, failure_mode="budget",
       examples=({"max": 1000},))
def latency_ms(max: float) -> CheckFn:
    """The call took at most ``max`` milliseconds (cached answers keep their first latency)."""
    if max <= 0:
        raise ValueError("'max' must be a positive number of milliseconds")

    def run(inp: CheckInput) -> CheckResult:
        if inp.latency_ms is None:
            return CheckResult("latency_ms", False, 0.0, "no latency was recorded for this call")
        passed = inp.latency_ms <= max
        return CheckResult(
            "latency_ms", passed, float(passed),
            f"expected at most {max:g} ms; took {inp.latency_ms:.0f} ms",
            {"latency_ms": inp.latency_ms},
        )

    return run


@check("cost_usd", shorthand="max", higher_is_better=False, failure_mode="budget",
       examples=({"max": 0.01},))
def cost_usd(max: float) -> CheckFn:
    """The call cost at most ``max`` US dollars (LiteLLM's offline price table)."""
    if max < 0:
        raise ValueError("'max' must be ≥ 0")

    def run(inp: CheckInput) -> CheckResult:
        if inp.cost_usd is None:
            return CheckResult(
                "cost_usd", False, 0.0,
                "no price is known for this model; set one or drop the cost_usd check",
            )
        passed = inp.cost_usd <= max
        return CheckResult(
            "cost_usd", passed, float(passed),
            f"expected at most ${max:g}; cost ${inp.cost_usd:.6f}", {"cost_usd": inp.cost_usd},
        )

    return run
