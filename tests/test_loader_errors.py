"""A bad suite file never produces a traceback: only SuiteError, pointing at path:line.

A table of hand-written broken suites pins the line and the wording of each problem;
hypothesis then throws arbitrary text and suite-shaped garbage at the loader.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from harness.checks.registry import registry
from harness.errors import SuiteError
from harness.spec.loader import load_suite

HEAD = "suite: s\nprompt: 'Answer: {{ q }}'\n"  # lines 1-2 of most table entries
ONE_CASE = HEAD + "cases:\n  - id: a\n    vars: {q: x}\n"  # the case is at line 4
EXPECT = ONE_CASE + "    expect:\n"  # expect items start at line 7

# (name, file content, expected line of the first problem, phrase in its message)
MALFORMED: list[tuple[str, str | bytes, int, str]] = [
    ("bad-indentation", "suite: s\nprompt: hi\ncases:\n  - id: a\n   vars: {}\n", 5,
     "invalid YAML"),
    ("tab-indent", "suite: s\nprompt: hi\ncases:\n\t- id: a\n", 4, "'\\t'"),
    ("unclosed-quote", "suite: s\nprompt: 'hi\ncases: []\n", 2, "quoted scalar"),
    ("unclosed-bracket", "suite: s\nprompt: hi\ncases: [\n  {id: a}\n", 3, "flow sequence"),
    ("duplicate-key", "suite: s\nprompt: hi\nprompt: ho\ncases:\n  - id: a\n", 3,
     "duplicate key 'prompt'"),
    ("undefined-alias", "suite: s\nprompt: *nope\n", 2, "undefined alias"),
    ("two-documents", "suite: s\n---\nsuite: t\n", 2, "another document"),
    ("nul-character", "suite: s\nprompt: hi\x00\n", 2, "control character"),
    ("unknown-top-key", "suite: s\npromt: hi\ncases:\n  - id: a\n", 2,
     "unknown key 'promt'"),
    ("unknown-check", EXPECT + "      - contain: x\n", 7, "unknown check 'contain'"),
    ("unknown-check-arg", EXPECT + "      - contains: {valu: x}\n", 7,
     "unknown argument 'valu'"),
    ("bad-check-arg-type", EXPECT + "      - max_words: lots\n", 7, "valid integer"),
    ("bad-check-arg-value", EXPECT + "      - regex: '[unclosed'\n", 7,
     "invalid regular expression"),
    ("negate-not-bool", EXPECT + "      - contains: {value: x, negate: maybe}\n", 7,
     "'negate' must be true or false"),
    ("bare-value-for-named-args", EXPECT + "      - is_json: 3\n", 7,
     "takes named arguments"),
    ("expect-item-two-keys", EXPECT + "      - contains: x\n        max_words: 3\n", 7,
     "each item under 'expect' must be one check"),
    ("wrong-type-temperature", "suite: s\nprompt: hi\ndefaults:\n  temperature: hot\n"
     "cases:\n  - id: a\n", 4, "defaults.temperature"),
    ("wrong-type-models", "suite: s\nprompt: hi\nmodels: 3\ncases:\n  - id: a\n", 3,
     "valid list"),
    ("case-is-a-string", HEAD + "cases:\n  - a\n", 4, "cases[0]"),
    ("missing-case-id", HEAD + "cases:\n  - vars: {q: x}\n", 4, "missing required key 'id'"),
    ("case-id-with-space", HEAD + "cases:\n  - id: a b\n    vars: {q: x}\n", 4,
     "cases[0].id"),
    ("duplicate-case-id", ONE_CASE + "  - id: a\n    vars: {q: y}\n", 6,
     "duplicate case id 'a'"),
    ("undefined-template-var", HEAD + "cases:\n  - id: a\n    vars: {qq: x}\n", 4,
     "undefined variable 'q'"),
    ("template-syntax", "suite: s\nprompt: 'hi {{ q'\ncases:\n  - id: a\n    vars: {q: x}\n",
     4, "template syntax error"),
    ("bad-role", "suite: s\nmessages:\n  - role: bot\n    content: hi\ncases:\n  - id: a\n",
     3, "messages[0].role"),
    ("prompt-and-messages", "suite: s\nprompt: hi\nmessages:\n  - role: user\n"
     "    content: hi\ncases:\n  - id: a\n", 3, "either 'prompt' or 'messages'"),
    ("no-prompt", "suite: s\ncases:\n  - id: a\n", 1, "no 'prompt' or 'messages'"),
    ("no-cases", "suite: s\nprompt: hi\n", 1, "the suite has no cases"),
    ("list-at-top", "- suite: s\n- prompt: hi\n", 1, "found a list"),
    ("scalar-at-top", "just some words\n", 1, "found a str"),
    ("empty-file", "", 1, "found empty"),
    ("comments-only", "# nothing here\n", 1, "found empty"),
    ("not-utf8", b"suite: s\nprompt: caf\xe9\n", 2, "not valid UTF-8"),
    ("binary-junk", b"\x89PNG\r\n\x1a\n\x00\x00\xff", 1, "not valid UTF-8"),
    ("unsupported-version", "suite: s\nversion: 2\nprompt: hi\ncases:\n  - id: a\n", 2,
     "version"),
    ("dataset-escapes-root", HEAD + "dataset:\n  path: ../../outside.csv\n", 4,
     "outside the project root"),
    ("dataset-missing", HEAD + "dataset:\n  path: data/nope.csv\n", 4,
     "no such file 'data/nope.csv'"),
    ("dataset-unknown-format", HEAD + "dataset:\n  path: data/notes.txt\n", 4,
     "cannot tell the format"),
    ("dataset-missing-column", HEAD + "dataset:\n  path: data/rows.csv\n  id: idd\n", 5,
     "no column 'idd'"),
    ("schema-file-missing", EXPECT + "      - matches_schema: {schema: nope.json}\n", 7,
     "no such file 'nope.json'"),
    ("schema-file-not-json", EXPECT + "      - matches_schema: {schema: data/broken.json}\n",
     7, "cannot parse 'data/broken.json'"),
    ("schema-file-invalid-schema",
     EXPECT + "      - matches_schema: {schema: data/not_a_schema.json}\n", 7,
     "invalid JSON Schema"),
    ("schema-file-not-utf8", EXPECT + "      - matches_schema: {schema: data/binary.json}\n",
     7, "cannot read 'data/binary.json'"),
    ("schema-path-escapes-root",
     EXPECT + "      - matches_schema: {schema: ../../../etc/passwd}\n", 7,
     "outside the project root"),
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project root with the data files the table's suites refer to."""
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    data = tmp_path / "suites" / "data"
    data.mkdir(parents=True)
    (data / "rows.csv").write_text("id,q\nr1,hello\nr2,world\n", encoding="utf-8")
    (data / "notes.txt").write_text("not a dataset\n", encoding="utf-8")
    (data / "broken.json").write_text('{"type": ', encoding="utf-8")
    (data / "not_a_schema.json").write_text('{"type": 12}', encoding="utf-8")
    (data / "binary.json").write_bytes(b"\xff\xfe{}")
    (tmp_path.parent / "outside.csv").write_text("id\nx\n", encoding="utf-8")
    return tmp_path


def write(project: Path, name: str, content: str | bytes) -> Path:
    path = project / "suites" / f"{name}.suite.yaml"
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


@pytest.mark.parametrize(("name", "content", "line", "phrase"), MALFORMED,
                         ids=[row[0] for row in MALFORMED])
def test_malformed_suite_points_at_the_line(project, name, content, line, phrase):
    path = write(project, name, content)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    error = info.value
    first = error.problems[0]
    assert first.path.endswith(path.name)
    assert str(error).startswith(f"{first.path}:{line}: "), str(error)
    assert phrase in first.message, str(error)


@pytest.mark.parametrize(("content", "hint"), [
    ("suite: s\npromt: hi\ncases:\n  - id: a\n", "Did you mean 'prompt'?"),
    ("suite: s\nprompt: hi\ncases:\n  - id: a\n    expect:\n      - contain: x\n",
     "Did you mean 'contains'?"),
    ("suite: s\nprompt: hi\ncases:\n  - id: a\n    expect:\n      - contains: {valu: x}\n",
     "Did you mean 'value'?"),
    ("suite: s\nprompt: hi\nmodels:\n  - id: openai/x\n    api_key: k\ncases:\n  - id: a\n",
     "name the variable with 'api_key_env: MY_KEY'"),
    ("suite: s\nprompt: '{{ qq }}'\ncases:\n  - id: a\n    vars: {q: x}\n",
     "Did you mean 'q'?"),
])
def test_misspellings_get_did_you_mean(project, content, hint):
    with pytest.raises(SuiteError) as info:
        load_suite(write(project, "typo", content))
    assert hint in str(info.value)


def test_every_problem_is_reported_at_once(project):
    content = EXPECT + "      - contain: x\n  - id: b\n    vars: {q: y}\n    expect:\n" \
        "      - max_words: lots\n"
    with pytest.raises(SuiteError) as info:
        load_suite(write(project, "many", content))
    assert [p.line for p in info.value.problems] == [7, 11]


def test_dataset_row_problems_point_into_the_dataset(project):
    content = HEAD + "dataset:\n  path: data/rows.csv\n  id: '{{ nope }}'\n"
    with pytest.raises(SuiteError) as info:
        load_suite(write(project, "rows", content))
    lines = [(Path(p.path).name, p.line) for p in info.value.problems]
    assert lines == [("rows.csv", 2), ("rows.csv", 3)]


def test_a_missing_file_is_a_suite_error(project):
    with pytest.raises(SuiteError, match="no such file"):
        load_suite(project / "suites" / "absent.suite.yaml")


def test_a_good_suite_still_loads(project):
    (project / "suites" / "data" / "person.json").write_text('{"type": "object"}')
    path = write(project, "good", EXPECT + "      - contains: x\n"
                 "      - matches_schema: {schema: data/person.json}\n")
    suite = load_suite(path)
    assert [c.id for c in suite.cases] == ["a"]
    assert suite.cases[0].messages[-1]["content"] == "Answer: x"
    assert [c.name for c in suite.cases[0].checks] == ["contains", "matches_schema"]
    assert suite.cases[0].checks[1].args == {"schema": {"type": "object"}}


def test_schema_file_as_shorthand_value(project):
    # Once a bug: the file's parsed dict was read as the check's named arguments.
    (project / "suites" / "data" / "person.json").write_text('{"type": "object"}')
    path = write(project, "short", EXPECT + "      - matches_schema: data/person.json\n")
    suite = load_suite(path)
    assert suite.cases[0].checks[0].name == "matches_schema"
    assert suite.cases[0].checks[0].args == {"schema": {"type": "object"}}


# -- fuzzing ------------------------------------------------------------------------------

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def lines_in(content: bytes) -> int:
    return max(1, len(content.decode("utf-8", errors="replace").splitlines()))


def load_or_suite_error(path: Path) -> None:
    """Load ``path``; only SuiteError may escape, and its lines must be inside the file."""
    content = path.read_bytes()
    try:
        load_suite(path)
        event("loaded")
    except SuiteError as error:
        event("SuiteError")
        assert error.problems, "a SuiteError without problems"
        for problem in error.problems:
            if problem.line is not None and problem.path.endswith(path.name):
                assert 1 <= problem.line <= lines_in(content), (problem, content)
            assert re.match(r"^\S.*?: ", str(problem)), problem


@FUZZ
@given(st.text())
def test_arbitrary_text_loads_or_raises_suite_error(project, text):
    path = project / "suites" / "fuzz.suite.yaml"
    path.write_text(text, encoding="utf-8")
    load_or_suite_error(path)


@FUZZ
@given(st.binary())
def test_arbitrary_bytes_load_or_raise_suite_error(project, data):
    path = project / "suites" / "fuzz.suite.yaml"
    path.write_bytes(data)
    load_or_suite_error(path)


# Suite-shaped data: real keys and near misses, real checks with arguments of any type.
SUITE_KEYS = ["suite", "description", "version", "models", "defaults", "prompt", "messages",
              "expect", "cases", "dataset", "sute", "case", "promt", "model", "dataset "]
CASE_KEYS = ["id", "description", "vars", "context", "tags", "expect", "prompt", "messages",
             "ids", "var", "expects"]
DEFAULT_KEYS = ["system", "temperature", "max_tokens", "seed", "top_p", "timeout", "temp"]
MODEL_KEYS = ["id", "label", "api_base", "api_key_env", "temperature", "max_tokens",
              "concurrency", "timeout", "extra", "api_key"]
DATASET_KEYS = ["path", "format", "id", "context", "tags", "expect", "limit", "file"]
ARG_NAMES = ["value", "any", "all", "ignore_case", "negate", "n", "max", "pattern", "flags",
             "values", "schema", "type", "headings", "min_bullets", "strip", "bogus"]
PATHS = ["data/rows.csv", "data/notes.txt", "data/broken.json", "data/not_a_schema.json",
         "data/binary.json", "../../outside.csv", "nope.json", "data", "", "/etc/passwd"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**20), st.floats(allow_nan=True),
    st.text(max_size=12), st.sampled_from(PATHS),
    st.sampled_from(["{{ q }}", "{{ nope }}", "{% if %}", "{{ q | upper }}", "a b", "[x]"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
)


def mapping(keys: list[str], value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys), value, max_size=len(keys))


def _mutate(args: dict[str, Any], key: str, value: Any, how: int) -> dict[str, Any]:
    if how == 0:
        return args  # the registered example, as is
    if how == 1 and args:
        return {**args, sorted(args)[len(key) % len(args)]: value}  # one argument changed
    return {**args, key: value}  # one argument added (maybe unknown)


example_checks = st.builds(
    lambda pair, key, value, how: {pair[0]: _mutate(dict(pair[1]), key, value, how)},
    st.sampled_from([(name, example) for name, definition in sorted(registry().items())
                     for example in definition.examples]),
    st.sampled_from(ARG_NAMES), values, st.integers(0, 2),
)
check_items = st.one_of(
    example_checks,
    st.builds(lambda name, args: {name: args},
              st.sampled_from(sorted(registry())),
              st.one_of(values, mapping(ARG_NAMES, values))),
    st.sampled_from(sorted(registry())),  # '- is_json' without arguments
    values,
)
expect_lists = st.one_of(st.lists(check_items, max_size=3), values)
messages = st.lists(mapping(["role", "content", "name"],
                            st.one_of(st.sampled_from(["user", "system", "bot"]), values)),
                    max_size=2)
cases = mapping(CASE_KEYS, st.one_of(values, expect_lists, messages)).map(
    lambda c: {"id": "c", **c} if "ids" in c else c
)
suites = st.one_of(
    mapping(SUITE_KEYS, st.one_of(
        values,
        st.lists(cases, max_size=3),
        expect_lists,
        messages,
        mapping(DEFAULT_KEYS, values),
        st.lists(st.one_of(st.text(max_size=10), mapping(MODEL_KEYS, values)), max_size=2),
        mapping(DATASET_KEYS, st.one_of(values, expect_lists)),
    )),
    values,
)


@FUZZ
@given(suites)
def test_suite_shaped_data_loads_or_raises_suite_error(project, data):
    path = project / "suites" / "shaped.suite.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    load_or_suite_error(path)


# Nearly valid suites get past validation into templating, check building and datasets.
near_valid_cases = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b", "a b", "c-1"])},
    optional={
        "vars": st.dictionaries(st.sampled_from(["q", "qq", "context"]), values, max_size=2),
        "expect": st.lists(check_items, max_size=3),
        "context": st.one_of(st.text(max_size=10), st.lists(st.text(max_size=5), max_size=2)),
        "tags": st.lists(st.sampled_from(["x", "y z", ""]), max_size=2),
        "prompt": st.sampled_from(["{{ q }}", "{{ nope }}", "{{ q", "{{ context }}", "plain"]),
    },
)
near_valid_suites = st.fixed_dictionaries(
    {"suite": st.just("s"), "prompt": st.sampled_from(["{{ q }}", "{{ q }} {{ context }}"])},
    optional={
        "cases": st.lists(near_valid_cases, max_size=3),
        "expect": st.lists(check_items, max_size=2),
        "dataset": st.fixed_dictionaries(
            {"path": st.sampled_from(PATHS)},
            optional={"id": st.sampled_from(["id", "idd", "{{ q }}", "{{ nope }}"]),
                      "context": st.sampled_from(["q", "nope"]),
                      "expect": st.lists(check_items, max_size=2),
                      "limit": st.integers(-1, 3)},
        ),
        "defaults": mapping(DEFAULT_KEYS, scalars),
    },
)


@FUZZ
@given(near_valid_suites)
def test_nearly_valid_suites_load_or_raise_suite_error(project, data):
    path = project / "suites" / "near.suite.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    load_or_suite_error(path)


@FUZZ
@given(st.lists(check_items, min_size=1, max_size=4), st.booleans())
def test_random_checks_in_a_valid_suite(project, expect, on_suite):
    doc: dict[str, Any] = {"suite": "s", "prompt": "{{ q }}",
                           "cases": [{"id": "a", "vars": {"q": "x"}}]}
    if on_suite:
        doc["expect"] = expect
    else:
        doc["cases"][0]["expect"] = expect
    path = project / "suites" / "checks.suite.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    load_or_suite_error(path)
