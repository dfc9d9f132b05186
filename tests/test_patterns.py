"""Prompt patterns: what each one sends (golden files), answer extraction, and the pure
transformations' properties.

Golden files under tests/golden/patterns/ show, for one case of a small suite, exactly the
messages each pattern produces; regenerate with HARNESS_UPDATE_GOLDEN=1 and read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.patterns import (
    Example,
    PatternContext,
    PatternError,
    Prompt,
    apply,
    extract_answer,
    normalize,
)
from harness.spec.loader import CaseSpec, load_suite

GOLDEN = Path(__file__).parent / "golden" / "patterns"

SUITE = """\
suite: patterns
defaults: {system: "Be brief."}
prompt: "Classify the sentiment of: {{ text }}"
prompts:
  baseline: {note: as written}
  role:
    patterns: [{role: "You are a customer-insight analyst."}]
  output_format:
    patterns: [output_format]
  few_shot:
    patterns: [{few_shot: {k: 2, answer: label}}]
  few_shot_file:
    patterns: [{few_shot: {file: shots.yaml, k: 1}}]
  step_by_step:
    patterns: [step_by_step]
  self_check:
    patterns: [self_check]
  combined:
    base: role
    patterns: [step_by_step, self_check]
cases:
  - id: late-box
    vars: {text: "The box came late and damaged.", label: negative}
    expect:
      - matches_schema: {schema: {type: object, required: [label]}}
  - id: great-fit
    vars: {text: "Fits perfectly, love it.", label: positive}
    expect:
      - matches_schema: {schema: {type: object, required: [label]}}
  - id: okay
    vars: {text: "It is fine.", label: neutral}
    expect:
      - matches_schema: {schema: {type: object, required: [label]}}
"""

SHOTS = """\
- user: "Classify the sentiment of: Arrived broken."
  assistant: negative
"""


def show(case: CaseSpec) -> str:
    """What is sent, as a person reads it."""
    out = []
    for m in case.messages:
        out.append(f"--- {m['role']}\n{m['content']}")
    if case.answer_marker:
        out.append(f"=== checks see the text after: {case.answer_marker}")
    if case.revise:
        out.append(f"=== second turn (after the first answer as assistant):\n--- user\n"
                   f"{case.revise}")
    return "\n".join(out) + "\n"


@pytest.fixture
def suite(project: Path) -> list[CaseSpec]:
    (project / "p.suite.yaml").write_text(SUITE, encoding="utf-8")
    (project / "shots.yaml").write_text(SHOTS, encoding="utf-8")
    return load_suite(project / "p.suite.yaml").cases


@pytest.mark.parametrize("variant", ["baseline", "role", "output_format", "few_shot",
                                     "few_shot_file", "step_by_step", "self_check",
                                     "combined"])
def test_each_pattern_sends_what_its_golden_file_shows(suite: list[CaseSpec],
                                                       variant: str) -> None:
    case = next(c for c in suite if c.id == "late-box" and c.prompt == variant)
    actual = show(case)
    golden = GOLDEN / f"{variant}.txt"
    if os.environ.get("HARNESS_UPDATE_GOLDEN"):
        golden.write_text(actual, encoding="utf-8")
    assert actual == golden.read_text(encoding="utf-8")


def test_few_shot_never_shows_a_case_its_own_answer(suite: list[CaseSpec]) -> None:
    for case in (c for c in suite if c.prompt == "few_shot"):
        answers = [m["content"] for m in case.messages if m["role"] == "assistant"]
        own = {"late-box": "negative", "great-fit": "positive", "okay": "neutral"}[case.id]
        assert len(answers) == 2 and own not in answers
        assert case.messages[-1]["role"] == "user"  # the task itself comes last


def test_patterns_are_pure_and_keep_order() -> None:
    start = Prompt(({"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Q"}))
    context = PatternContext(case_id="c", schema={"type": "object"},
                             examples_file=(Example(({"role": "user", "content": "E"},), "A"),))
    out = apply(start, [normalize({"role": "R"}), normalize("output_format"),
                        normalize({"few_shot": {"file": "x", "k": 1}})], context)
    assert start.messages[1]["content"] == "Q"  # the input is untouched
    assert [m["role"] for m in out.messages] == ["system", "user", "assistant", "user"]
    assert out.messages[0]["content"] == "R\n\nBe brief."
    assert out.messages[1:3] == ({"role": "user", "content": "E"},
                                 {"role": "assistant", "content": "A"})
    assert out.messages[3]["content"].startswith("Q\n\nReply with a single JSON value")
    assert '"type": "object"' in out.messages[3]["content"]


@pytest.mark.parametrize(("spec", "message"), [
    ("step_by_stepp", "unknown pattern 'step_by_stepp'"),
    ({"few_shot": {"kk": 2}}, "pattern 'few_shot' has no argument 'kk'"),
    ({"few_shot": {"k": "two"}}, "'k' should be int"),
    ({"role": None}, "pattern 'role' needs 'text'"),
    (["role", "x"], "each pattern is a name or a one-key mapping"),
])
def test_bad_patterns_are_explained(spec: object, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        normalize(spec)


@pytest.mark.parametrize(("text", "answer"), [
    ("First, the box was late.\nSo the tone is bad.\nAnswer: negative", "negative"),
    ("Reasoning...\n**Answer:** positive", "positive"),
    ("answer: maybe\nOn reflection...\nAnswer: neutral\n", "neutral"),
    ("Step 1: look.\nFinal Answer:  {\"label\": \"negative\"}", '{"label": "negative"}'),
    ("no marker here, just text", None),
    ("Answer:", None),
])
def test_the_final_answer_is_what_follows_the_last_marker(text: str,
                                                          answer: str | None) -> None:
    assert extract_answer(text, "Answer:") == answer


def test_the_schema_lists_every_registered_pattern() -> None:
    from harness.patterns import PATTERNS
    from harness.spec.models import PATTERN_NAMES

    assert set(PATTERN_NAMES) == set(PATTERNS)
