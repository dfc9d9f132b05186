"""What the loader builds from a valid suite: messages, checks, datasets, models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import SuiteError
from harness.spec.loader import find_suites, load_suite

ROOT = Path(__file__).resolve().parents[2]


def write(folder: Path, text: str, name: str = "t.suite.yaml") -> Path:
    (folder / "pyproject.toml").touch()  # marks the project root for path checks
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_prompt_system_and_context_become_messages(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, """
suite: s
defaults: {system: "You write for {{ brand }}.", temperature: 0.3}
prompt: "Summarise:\\n{{ context }}"
cases:
  - id: a
    vars: {brand: Acme}
    context: [First doc., Second doc.]
    tags: [legal]
    expect: [max_words: 50]
"""))
    (case,) = suite.cases
    assert case.messages == (
        {"role": "system", "content": "You write for Acme."},
        {"role": "user", "content": "Summarise:\nFirst doc.\n\nSecond doc."},
    )
    assert case.context == ("First doc.", "Second doc.")
    assert case.tags == ("legal",)
    assert [c.name for c in case.checks] == ["max_words"]
    assert suite.defaults.temperature == 0.3
    assert case.source.endswith("t.suite.yaml:6")


def test_messages_suite_expect_and_case_prompt_override(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, """
suite: s
messages:
  - {role: system, content: Be brief.}
  - {role: user, content: "Hi {{ who }}"}
expect: [{max_chars: 500}]
cases:
  - id: a
    vars: {who: Ann}
  - id: b
    prompt: "Own prompt for {{ who }}"
    vars: {who: Bo}
    expect: [{contains: Bo}]
"""))
    a, b = suite.cases
    assert [m["content"] for m in a.messages] == ["Be brief.", "Hi Ann"]
    assert b.messages == ({"role": "user", "content": "Own prompt for Bo"},)
    assert [c.name for c in a.checks] == ["max_chars"]
    assert [c.name for c in b.checks] == ["max_chars", "contains"]


def test_csv_dataset_rows_become_cases_with_templated_checks(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.csv").write_text(
        "q,answer\nTwo plus two?,4\nCapital of France?,Paris\n"
    )
    suite = load_suite(write(tmp_path, """
suite: s
prompt: "{{ q }}"
dataset:
  path: data/rows.csv
  id: "row-{{ answer }}"
  tags: [qa]
  expect: [{equals: "{{ answer }}"}]
"""))
    assert [c.id for c in suite.cases] == ["row-4", "row-Paris"]
    assert suite.cases[1].messages[-1]["content"] == "Capital of France?"
    assert suite.cases[1].checks[0].args == {"value": "Paris"}
    assert suite.cases[0].source.endswith("rows.csv:2")


def test_jsonl_dataset_with_context_column_and_limit(tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "doc": f"Doc {i}", "n": i} for i in range(5)]
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    suite = load_suite(write(tmp_path, """
suite: s
prompt: "Number {{ n }}: {{ context }}"
dataset: {path: rows.jsonl, id: id, context: doc, limit: 3}
"""))
    assert [c.id for c in suite.cases] == ["r0", "r1", "r2"]
    assert suite.cases[2].context == ("Doc 2",)
    assert suite.cases[2].messages[-1]["content"] == "Number 2: Doc 2"


def test_dataset_bad_column_points_at_the_suite_line(tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text("question,answer\nq,a\n")
    with pytest.raises(SuiteError) as err:
        load_suite(write(tmp_path, "suite: s\nprompt: x\ndataset:\n  path: rows.csv\n"
                                   "  id: qustion\n"))
    assert "t.suite.yaml:5: dataset 'rows.csv' has no column 'qustion'" in str(err.value)
    assert "Did you mean 'question'?" in str(err.value)


def test_paths_may_not_leave_the_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "secret.csv").write_text("a\n1\n")
    with pytest.raises(SuiteError) as err:
        load_suite(write(project, "suite: s\nprompt: x\ndataset: {path: ../secret.csv}\n"))
    assert "leads outside the project root" in str(err.value)


def test_schema_file_is_read_relative_to_the_suite(tmp_path: Path) -> None:
    (tmp_path / "person.schema.json").write_text('{"type": "object", "required": ["name"]}')
    suite = load_suite(write(tmp_path, """
suite: s
prompt: x
cases:
  - id: a
    expect: [{matches_schema: person.schema.json}]
"""))
    assert suite.cases[0].checks[0].args["schema"]["required"] == ["name"]


def test_models_with_settings(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, """
suite: s
models:
  - local/smollm2
  - {id: openai/my-model, label: mine, api_base: "http://127.0.0.1:9/v1", temperature: 0.7}
prompt: x
cases: [{id: a}]
"""))
    local, mine = suite.models
    assert local.id == "local/smollm2" and local.name == "local/smollm2"
    assert mine.name == "mine" and mine.api_base == "http://127.0.0.1:9/v1"
    assert mine.temperature == 0.7


def test_fingerprint_changes_with_the_suite(tmp_path: Path) -> None:
    first = load_suite(write(tmp_path, "suite: s\nprompt: x\ncases: [{id: a}]\n")).fingerprint
    second = load_suite(write(tmp_path, "suite: s\nprompt: y\ncases: [{id: a}]\n")).fingerprint
    assert first != second


def test_shipped_suites_load() -> None:
    suites = [load_suite(p) for p in find_suites([ROOT / "suites"])]
    assert {s.name for s in suites} >= {"quickstart", "support-triage"}
    assert all(s.cases for s in suites)


def test_context_documents_can_come_from_files(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "policy.md").write_text("Refunds within 30 days.\n")
    suite = load_suite(write(tmp_path, """
suite: s
prompt: "{{ context }}"
cases:
  - id: a
    context: [{file: docs/policy.md}, "An inline note."]
"""))
    assert suite.cases[0].context == ("Refunds within 30 days.\n", "An inline note.")
    with pytest.raises(SuiteError) as err:
        load_suite(write(tmp_path, "suite: s\nprompt: x\ncases:\n  - id: a\n"
                                   "    context: {file: ../../etc/passwd}\n"))
    assert "t.suite.yaml:5: case 'a': context: path '../../etc/passwd' leads outside" \
        in str(err.value)


def test_harness_init_scaffolds_a_project_that_validates(tmp_path: Path) -> None:
    from harness.cli import main

    assert main(["init", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / ".github" / "workflows" / "harness.yml").exists()
    (tmp_path / "pyproject.toml").touch()
    suite = load_suite(tmp_path / "suites" / "example.suite.yaml")
    assert "Trailhead 2" in suite.cases[0].context[0]
    assert main(["init", "ci", "--dir", str(tmp_path)]) == 0  # existing files are kept
