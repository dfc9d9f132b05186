"""``consistent_across: {measure: similarity, max_similarity: X}``: variants that must stay
distinct (one message per channel) fail as soon as one pair is a near-duplicate."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks.bias import GroupCheck, Variant
from harness.checks.registry import CheckArgsError, CheckResult, build

# ten channel messages, each worded for its channel; only the last repeats the first
DISTINCT = {
    "email": "Meet Halo, our cordless desk lamp. Launch price £79 until 31 March.",
    "LinkedIn": "Good light helps good work. Brightloom Halo launches today at £79.",
    "Instagram": "Golden hour, any hour. Halo is here ✨ £79 for launch month.",
    "SMS": "Halo lamp launch: £79 till 31 Mar. brightloom.example/halo",
    "push": "Your new desk light is here - Halo, £79 this month only.",
    "banner": "HALO. Cordless. Dimmable. £79 launch price.",
    "podcast": "This episode is brought to you by Brightloom, whose Halo lamp costs £79.",
    "poster": "Pick one up in store: the Halo desk lamp, now £79.",
    "newsletter": "Partners, the Halo lands in your stores this week at a launch price.",
}


def verdict(args: dict[str, Any], outputs: dict[str, str]) -> CheckResult:
    bound = build("consistent_across", args)
    assert isinstance(bound.fn, GroupCheck)
    return bound.finish(bound.fn.run_group([Variant(k, k, o) for k, o in outputs.items()]))


def test_one_copied_pair_among_ten_fails_distinct_variants() -> None:
    outputs = {**DISTINCT, "Facebook": DISTINCT["email"]}  # copy-paste: similarity 1.0
    result = verdict({"measure": "similarity", "max_similarity": 0.9}, outputs)
    assert not result.passed
    assert "found 1 of 45 pairs above it: email / Facebook 1.00" in result.reason, result.reason
    assert result.evidence["too_similar"] == [{"a": "email", "b": "Facebook",
                                               "similarity": 1.0}]
    # the negated min_similarity the marketing suite used lets it through: not every pair
    # is 0.9 similar, so the negated check passes
    negated = verdict({"measure": "similarity", "min_similarity": 0.9, "negate": True},
                      outputs)
    assert negated.passed


def test_distinct_variants_pass_and_all_copies_fail() -> None:
    outputs = {**DISTINCT, "Facebook": "Like it? Share it. Halo by Brightloom, £79 at launch."}
    result = verdict({"measure": "similarity", "max_similarity": 0.9}, outputs)
    assert result.passed, result.reason
    assert "(every pair at most 0.9 similar)" in result.reason
    copies = verdict({"measure": "similarity", "max_similarity": 0.9},
                     {k: "Halo, £79." for k in ("a", "b", "c")})
    assert not copies.passed
    assert "found 3 of 3 pairs above it" in copies.reason


@pytest.mark.parametrize(("args", "message"), [
    ({"measure": "sentiment", "max_similarity": 0.9}, "'max_similarity' is for measure"),
    ({"measure": "similarity", "max_similarity": 1.5}, "must be between 0 and 1"),
])
def test_bad_max_similarity_is_an_argument_error(args: dict[str, Any], message: str) -> None:
    with pytest.raises(CheckArgsError, match=message):
        build("consistent_across", args)
