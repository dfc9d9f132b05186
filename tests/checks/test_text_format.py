"""What each built-in check decides, and that its reason says expected vs found."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.checks.registry import CheckArgsError, CheckInput, build


def run(name: str, args: object, output: str) -> tuple[bool, str]:
    result = build(name, args)(CheckInput(output=output))
    return result.passed, result.reason


def test_contains_any_all_and_case() -> None:
    assert run("contains", {"any": ["bottle", "flask"]}, "A steel flask.")[0]
    ok, reason = run("contains", {"all": ["refund", "30 days"]}, "Refund within 14 days")
    assert not ok
    assert "missing: ['refund', '30 days']" in reason  # case-sensitive by default
    assert run("contains", {"all": ["refund"], "ignore_case": True}, "Refund now")[0]
    assert run("contains", "x", "xyz")[0]


def test_contains_needs_exactly_one_form() -> None:
    with pytest.raises(CheckArgsError, match="exactly one of"):
        build("contains", {"any": ["a"], "all": ["b"]})


def test_equals_starts_with_one_of() -> None:
    assert run("equals", {"value": "negative", "ignore_case": True}, " Negative \n")[0]
    ok, reason = run("equals", "yes", "no")
    assert not ok and reason == "expected 'yes'; found 'no'"
    assert run("starts_with", {"value": "dear team", "ignore_case": True}, "\nDear Team,")[0]
    assert run("one_of", ["positive", "negative"], "Negative.")[0]
    assert not run("one_of", ["positive", "negative"], "It is negative.")[0]


def test_regex_and_bad_pattern() -> None:
    assert run("regex", r"\b\d{4}\b", "in 2024 we")[0]
    with pytest.raises(CheckArgsError, match="invalid regular expression"):
        build("regex", "(")
    with pytest.raises(CheckArgsError, match="unknown regex flags"):
        build("regex", {"pattern": "a", "flags": "q"})


def test_length_bounds() -> None:
    assert run("max_words", 3, "one two three")[0]
    ok, reason = run("max_words", 2, "one two three")
    assert not ok and reason == "expected at most 2 words; found 3"
    assert run("min_sentences", 2, "First one. Second one!")[0]
    assert not run("max_chars", 3, "abcd")[0]


def test_is_json_finds_fenced_and_embedded_json() -> None:
    assert run("is_json", {}, '{"a": 1}')[0]
    ok, reason = run("is_json", {}, 'Sure!\n```json\n{"a": 1}\n```\nDone.')
    assert ok and "```json block" in reason
    assert run("is_json", {}, 'Here you go: {"a": [1, 2]} hope it helps')[0]
    ok, reason = run("is_json", {}, "no json here")
    assert not ok and "no JSON object or array found" in reason
    assert not run("is_json", {"type": "array"}, '{"a": 1}')[0]


def test_matches_schema_reports_each_error() -> None:
    schema = {"type": "object", "required": ["name", "age"],
              "properties": {"age": {"type": "integer"}}}
    assert run("matches_schema", {"schema": schema}, '{"name": "Ann", "age": 31}')[0]
    ok, reason = run("matches_schema", {"schema": schema}, '{"age": "31"}')
    assert not ok
    assert "'name' is a required property" in reason
    assert "age: '31' is not of type 'integer'" in reason
    with pytest.raises(CheckArgsError, match="invalid JSON Schema"):
        build("matches_schema", {"schema": {"type": "no-such-type"}})


def test_markdown_headings_in_order_and_bullets() -> None:
    text = "# Agenda\n\n- a\n- b\n* c\n\n## Next steps\n1. x\n"
    assert run("markdown", {"headings": ["agenda", "Next steps"], "min_bullets": 4}, text)[0]
    ok, reason = run("markdown", {"headings": ["Next steps", "Agenda"]}, text)
    assert not ok and "missing headings (in order) ['Agenda']" in reason
    ok, reason = run("markdown", {"max_bullets": 2}, text)
    assert not ok and "found 4" in reason


def test_budget_checks() -> None:
    fast = CheckInput(output="x", latency_ms=90.0, cost_usd=0.002)
    assert build("latency_ms", 100)(fast).passed
    assert not build("cost_usd", 0.001)(fast).passed
    assert not build("cost_usd", 1)(CheckInput(output="x")).passed  # unknown cost never passes


def test_unknown_check_and_argument_suggest_a_fix() -> None:
    with pytest.raises(CheckArgsError) as err:
        build("contans", "x")
    assert err.value.hint == "Did you mean 'contains'?"
    with pytest.raises(CheckArgsError) as err:
        build("contains", {"anyy": ["x"]})
    assert "unknown argument 'anyy'" in str(err.value)
    assert err.value.hint == "Did you mean 'any'?"


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers() | st.text(max_size=8),
                       max_size=4))
def test_json_embedded_in_prose_is_found(obj: dict[str, object]) -> None:
    text = f"Here is the data you asked for:\n{json.dumps(obj)}\nAnything else?"
    assert run("is_json", {"type": "object"}, text)[0]
