"""One contract over every registered check: built-ins and plugins alike."""

from __future__ import annotations

import pytest

from harness.checks.registry import CheckInput, CheckResult, build, registry

OUTPUTS = [
    "",
    "Yes.",
    '{"name": "Ann", "age": 31}',
    "# Agenda\n- one\n- two\n- three\n",
    "Dear team, the meeting moves to Thursday. Thanks!",
    "<script>alert(1)</script> ünïcödé ✓ " * 20,
]

CASES = [
    (name, example)
    for name, definition in sorted(registry().items())
    for example in definition.examples
]


def test_every_check_has_examples_and_a_description() -> None:
    for name, definition in registry().items():
        assert definition.examples, f"{name} has no examples for the contract test"
        assert definition.description, f"{name} has no docstring"


@pytest.mark.parametrize(
    ("name", "args"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)]
)
def test_check_contract(name: str, args: dict[str, object]) -> None:
    check = build(name, dict(args))
    negated = build(name, {**args, "negate": True})
    for output in OUTPUTS:
        inp = CheckInput(output=output, latency_ms=120.0, cost_usd=0.001)
        result = check(inp)
        assert isinstance(result, CheckResult)
        assert result.check == name
        assert isinstance(result.passed, bool)
        assert result.score is None or 0.0 <= result.score <= 1.0
        assert result.reason.strip(), "every verdict explains itself"
        assert check(inp) == result, "a check is deterministic"
        flipped = negated(inp)
        if result.error is not None:  # no verdict (no judge here): negation leaves it be
            assert flipped == result
            continue
        assert flipped.passed is (not result.passed), "negate flips the verdict"
        if result.score is not None:
            assert flipped.score == pytest.approx(1.0 - result.score)


def test_check_records_only_the_arguments_the_suite_gave() -> None:
    check = build("contains", {"any": ["a"]})
    assert check.spec() == {"contains": {"any": ["a"]}}
    assert build("max_words", 5).spec() == {"max_words": {"n": 5}}
    assert build("equals", {"value": "x", "negate": True}).spec() == {
        "equals": {"value": "x", "negate": True}
    }
