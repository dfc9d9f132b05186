"""The pytest plugin, driven by ``pytester``: suites collected as items, marks and -k,
failure output (golden file), collection errors, JUnit XML, replay without a network,
xdist merging into one RunLog, the baseline gate, the Python API and ini settings.

Models are reached on loopback only (``tests/openai_server.py``), through
``--harness-model openai/mock-a --harness-api-base URL``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.results import RunLog
from tests.openai_server import OpenAIServer, last_user_message

pytest_plugins = ["pytester"]

GOLDEN = Path(__file__).parent / "golden" / "pytest_failure.txt"

SUITE = """\
suite: demo
prompt: "Say something about {{ topic }}"
cases:
  - id: ok
    tags: [fruit]
    vars: {topic: apples}
    expect: [{contains: apples}]

  # fails on purpose: the mock server echoes the prompt
  - id: fails
    tags: [fruit, pii]
    vars: {topic: pears}
    expect:
      - contains: {value: bananas}
      - max_words: 100

  - id: broken
    tags: [skip]
    vars: {topic: broken things}
    expect: [{min_words: 1}]
"""

API_TESTS = """\
from harness import Case, assert_case

POLICY = "Refunds are possible within 30 days of purchase."


def test_refund(harness_model):
    out = harness_model.complete("Summarise our refund policy: {policy}", policy=POLICY)
    assert out.result.model_id.startswith("openai/mock-")
    assert_case(out, expect=[{"contains": "30 days"}, {"max_words": 50}])


def test_refund_fails(harness_model):
    out = harness_model.complete("Say {word}", word="hello")
    assert_case(out, expect=[{"contains": "goodbye"}, "is_json", {"max_words": 50}])


def test_case_object(harness_model):
    case = Case(id="policy", prompt="Answer from this: {context}", context=POLICY,
                expect=[{"contains": "30 days"}])
    assert harness_model.run(case).context == (POLICY,)
"""


@pytest.fixture(scope="module", autouse=True)
def _imported_before_inner_runs() -> None:
    """In-process pytester runs remove the modules they imported when they end, so each
    run would import them all again (and a module holding state, like harness.api's
    recorder, would exist twice): import what inner runs use here, once."""
    import aiohttp  # noqa: F401

    from harness import api, gate, pytest_plugin, replay, session  # noqa: F401
    from harness.checks.registry import registry
    from harness.providers import transport  # noqa: F401
    from harness.report import html, masking  # noqa: F401

    registry()  # every check module


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("HARNESS_CACHE", raising=False)
    # Inner runs need none of the outer environment's other plugins; hypothesis's would
    # import its whole library again after every in-process run (about 2 s each).
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest -p no:anyio "
                       "-p no:platformdirs -p no:cacheprovider")
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    pytester.makefile(".suite.yaml", demo=SUITE)
    return pytester


def live(server: OpenAIServer, *models: str) -> list[str]:
    args = ["--harness-api-base", server.base_url]
    for model in models or ("openai/mock-a",):
        args += ["--harness-model", model]
    return args


def node_ids(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if "::" in line and not line.startswith(" ")]


def read_log(path: Path) -> RunLog:
    return RunLog.read(path)


# -- collection ------------------------------------------------------------------------


def test_collects_one_item_per_case_and_model(project: pytest.Pytester) -> None:
    sub = project.mkdir("more")
    (sub / "other.suite.yaml").write_text(
        "suite: other\nmodels: [openai/mock-a, {id: openai/mock-b, label: b}]\n"
        "prompt: hi\ncases: [{id: one}]\n")
    result = project.runpytest("--collect-only", "-q", "--harness-model", "openai/mock-a",
                               "--harness-model", "openai/mock-b")
    assert node_ids(result) == [
        "demo.suite.yaml::ok[openai/mock-a]",
        "demo.suite.yaml::fails[openai/mock-a]",
        "demo.suite.yaml::broken[openai/mock-a]",
        "demo.suite.yaml::ok[openai/mock-b]",
        "demo.suite.yaml::fails[openai/mock-b]",
        "demo.suite.yaml::broken[openai/mock-b]",
        "more/other.suite.yaml::one[openai/mock-a]",
        "more/other.suite.yaml::one[b]",  # a suite's model keeps its label
    ]
    # Without --harness-model each suite runs on its own models (labels name the items);
    # repeats are items of their own.
    result = project.runpytest("--collect-only", "-q", "more", "--harness-repeat", "2")
    assert node_ids(result) == [
        "more/other.suite.yaml::one[openai/mock-a-1-2]",
        "more/other.suite.yaml::one[openai/mock-a-2-2]",
        "more/other.suite.yaml::one[b-1-2]",
        "more/other.suite.yaml::one[b-2-2]",
    ]
    assert not (project.path / "reports").exists()  # collecting writes nothing


def test_tags_are_marks_and_k_selects_case_ids(project: pytest.Pytester) -> None:
    strict = ["--collect-only", "-q", "--strict-markers", "-W",
              "error::pytest.PytestUnknownMarkWarning", "--harness-model", "openai/mock-a"]

    def selected(*args: str) -> list[str]:
        result = project.runpytest(*strict, *args)
        assert result.ret == pytest.ExitCode.OK, result.stdout.str()
        return [nodeid.split("::")[1] for nodeid in node_ids(result)]

    assert selected("-m", "pii") == ["fails[openai/mock-a]"]
    assert selected("-m", "fruit and not pii") == ["ok[openai/mock-a]"]
    assert selected("-m", "harness and not fruit") == ["broken[openai/mock-a]"]
    assert selected("-k", "fails or broken") == ["fails[openai/mock-a]", "broken[openai/mock-a]"]
    assert selected("-k", "mock-a and not broken") == ["ok[openai/mock-a]",
                                                       "fails[openai/mock-a]"]
    # A tag that pytest gives a meaning of its own (skip) stays a keyword, not a mark.
    assert selected("-k", "skip") == ["broken[openai/mock-a]"]
    items, _ = project.inline_genitems("--harness-model", "openai/mock-a")
    assert [i.get_closest_marker("skip") for i in items] == [None, None, None]


def test_tags_pytest_cannot_take_as_marks_stay_keywords(project: pytest.Pytester) -> None:
    project.makepyprojecttoml(
        '[tool.pytest.ini_options]\nmarkers = ["slow: the project\'s own slow mark"]\n')
    project.makefile(".suite.yaml", odd="suite: odd\nprompt: hi\n"
                     "cases: [{id: a, tags: [_private, xfail, slow]}]\n")
    result = project.runpytest("--collect-only", "-q", "--strict-markers", "odd.suite.yaml",
                               "--harness-model", "openai/mock-a", "-m", "slow",
                               "-k", "_private and xfail")
    assert node_ids(result) == ["odd.suite.yaml::a[openai/mock-a]"]


def test_all_selected_items_are_executed_at_once(project: pytest.Pytester) -> None:
    with OpenAIServer(latency_ms=150) as server:
        result = project.runpytest(*live(server, "openai/mock-a", "openai/mock-b"),
                                   "-k", "not broken")
        result.assert_outcomes(passed=2, failed=2, deselected=2)
        assert server.count == 4  # deselected items call nothing
        assert server.max_in_flight == 4  # one concurrent batch, not item by item


# -- failures and errors ----------------------------------------------------------------


def failure_section(output: str) -> str:
    """The FAILURES section, normalised: separator widths and the masking note vary."""
    lines = output[output.index("= FAILURES ="):].splitlines()[1:]
    end = next(n for n, line in enumerate(lines) if line.startswith("="))
    lines = lines[:end]
    lines = [re.sub(r"^[_=]+ (.*?) [_=]+$", r"--- \1 ---", line) for line in lines]
    text = "\n".join(lines) + "\n"
    text = text.replace("output (PII masked):", "output:")
    return re.sub(r"\d+\.\d+s", "N.NNs", text)


def test_failure_output_matches_golden_file(project: pytest.Pytester) -> None:
    def faults(n: int, body: dict[str, Any]) -> str | None:
        return "401" if "broken" in last_user_message(body) else None

    with OpenAIServer(faults=faults) as server:
        result = project.runpytest(*live(server), "-rf")
    result.assert_outcomes(passed=1, failed=2)
    actual = failure_section(result.stdout.str())
    if os.environ.get("HARNESS_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(actual, encoding="utf-8")
    assert actual == GOLDEN.read_text(encoding="utf-8"), (
        "failure output changed; HARNESS_UPDATE_GOLDEN=1 rewrites the golden file")
    # The short summary names the case, its place and what failed.
    result.stdout.fnmatch_lines([
        "FAILED demo.suite.yaml::fails[[]openai/mock-a[]] - demo.suite.yaml:10: case*",
    ])


def test_failure_output_masks_personal_data_as_the_report_does(
    project: pytest.Pytester,
) -> None:
    script = {"pears": "Ask jane.doe@example.com about pears",
              "hello": "Write to jane.doe@example.com"}
    project.makepyfile(test_api=API_TESTS)
    with OpenAIServer(script=script) as server:
        result = project.runpytest(*live(server), "-k", "fails")
    result.assert_outcomes(failed=2, deselected=4)
    out = result.stdout.str()
    assert "jane.doe" not in out  # neither in a suite's failure nor in assert_case's
    # the masked form is shown instead (how often depends on pytest's summary settings:
    # with CI set, the short summary repeats full messages)
    assert "Write to j***@example.com" in out and "Ask j***@example.com about pears" in out
    log = read_log(project.path / "reports" / "pytest.json")
    assert "jane.doe@example.com" in log.results[0].output  # the RunLog keeps the data


def test_a_bad_suite_is_a_collection_error_at_path_line(project: pytest.Pytester) -> None:
    project.makefile(".suite.yaml", bad="suite: bad\nprompt: hi\ncases:\n"
                     "  - id: x\n    expect: [{contans: refund}]\n")
    result = project.runpytest("--harness-model", "openai/mock-a")
    result.assert_outcomes(errors=1)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([
        "*ERROR collecting bad.suite.yaml*",
        "bad.suite.yaml:5: case 'x': unknown check 'contans'",
        "    hint: Did you mean 'contains'?",
    ])
    out = result.stdout.str()
    assert "Traceback" not in out and "harness/spec" not in out and "raise " not in out


# -- reports ----------------------------------------------------------------------------


def test_junit_xml_has_one_testcase_per_case_and_model(project: pytest.Pytester) -> None:
    with OpenAIServer() as server:
        result = project.runpytest(*live(server, "openai/mock-a", "openai/mock-b"),
                                   "--junitxml=out/junit.xml")
    result.assert_outcomes(passed=4, failed=2)
    suite = ET.parse(project.path / "out" / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("6", "2")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert sorted(cases) == sorted(f"{case}[openai/mock-{m}]" for case in
                                   ("ok", "fails", "broken") for m in "ab")
    assert {c.get("classname") for c in cases.values()} == {"demo.suite.yaml"}
    failure = cases["fails[openai/mock-b]"].find("failure")
    assert failure is not None
    assert "contains: expected all of ['bananas']" in (failure.text or "")
    props = {p.get("name"): p.get("value")
             for p in cases["ok[openai/mock-a]"].iter("property")}
    assert props == {"suite": "demo", "case": "ok", "model": "openai/mock-a",
                     "status": "passed"}


def test_the_session_writes_one_runlog_and_report(project: pytest.Pytester) -> None:
    project.makepyfile(test_api=API_TESTS)
    with OpenAIServer() as server:
        result = project.runpytest(*live(server))
    result.assert_outcomes(passed=4, failed=2)
    log = read_log(project.path / "reports" / "pytest.json")
    assert [(r.suite, r.case_id, r.status) for r in log.results] == [
        ("demo", "ok", "passed"), ("demo", "fails", "failed"), ("demo", "broken", "passed"),
        ("test_api.py", "test_refund[openai/mock-a]", "passed"),
        ("test_api.py", "test_refund_fails[openai/mock-a]", "failed"),
        ("test_api.py", "test_case_object[openai/mock-a]::policy", "passed"),
    ]
    assert {s.name: s.cases for s in log.suites} == {"demo": 3, "test_api.py": 3}
    assert log.results[3].source == "test_api.py:6"
    assert log.results[5].context == ["Refunds are possible within 30 days of purchase."]
    assert log.results[5].messages[-1]["content"].startswith("Answer from this: Refunds")
    html = (project.path / "reports" / "pytest.html").read_text()
    assert "test_refund_fails" in html and "broken" in html
    result.stdout.fnmatch_lines([
        "*= harness =*",
        "model * pass rate * passed * failed * errors",
        "openai/mock-a * 67% * 4 * 2 * 0",
        "RunLog: reports/pytest.json",
        "report: reports/pytest.html",
    ])


# -- the Python API ---------------------------------------------------------------------


def test_python_api_checks_through_the_registry_and_the_cache(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_api=API_TESTS)
    with OpenAIServer() as server:
        result = project.runpytest(*live(server), "test_api.py")
        result.assert_outcomes(passed=2, failed=1)
        result.stdout.fnmatch_lines([
            "E * AssertionError: 2 of 3 checks failed on openai/mock-a:",
            "E *   - contains: expected all of *goodbye*; found: none; missing: *goodbye*",
            "E *   - is_json: expected JSON; *",
            "E * output*: 'echo: Say hello'",
            "test_api.py:14: AssertionError",  # the test's own line, not the API's insides
        ])
        assert server.count == 3
        project.runpytest(*live(server), "test_api.py")
        assert server.count == 3  # the second run is answered from the response cache


def test_import_harness_stays_light() -> None:
    code = ("import sys, harness; heavy = [m for m in ('pydantic', 'jinja2', 'litellm', "
            "'harness.api', 'pytest') if m in sys.modules]; "
            "from harness import Case, assert_case, Model; print(heavy, Case.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[] Case"


# -- replay, xdist, gate, ini ------------------------------------------------------------


def test_replay_rechecks_recorded_outputs_without_any_network_call(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
) -> None:
    project.makepyfile(test_api=API_TESTS)
    with OpenAIServer() as server:
        project.runpytest(*live(server, "openai/mock-a", "openai/mock-b")) \
            .assert_outcomes(passed=8, failed=4)
        calls = server.count
    # The checks change: 'ok' now fails on its recorded output, 'fails' now passes.
    suite = project.path / "demo.suite.yaml"
    suite.write_text(SUITE.replace("[{contains: apples}]", "[{contains: oranges}]")
                     .replace("{value: bananas}", "{value: pears}"))
    attempts: list[Any] = []

    def no_network(sock: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("replay must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    # The models are the recording's; the Python API's tests are replayed too (the fixture
    # answers from the recording).
    result = project.runpytest("--harness-replay", "reports/pytest.json",
                               "--harness-report", "reports/replay.json",
                               "--harness-api-base", "http://127.0.0.1:9/v1")
    result.assert_outcomes(passed=8, failed=4)
    assert attempts == [] and server.count == calls
    replayed = read_log(project.path / "reports" / "replay.json")
    recorded = read_log(project.path / "reports" / "pytest.json")
    assert sorted((r.key, r.output) for r in replayed.results) == \
        sorted((r.key, r.output) for r in recorded.results)
    assert {(r.case_id, r.model): r.status for r in replayed.results if r.suite == "demo"} \
        == {(case, f"openai/mock-{m}"): status for m in "ab"
            for case, status in (("ok", "failed"), ("fails", "passed"), ("broken", "passed"))}
    assert replayed.settings["replay"].endswith("pytest.json")


def test_xdist_workers_merge_into_one_runlog(project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    project.makepyfile(test_api=API_TESTS)
    with OpenAIServer() as server:
        result = project.runpytest(*live(server, "openai/mock-a", "openai/mock-b"),
                                   "-n", "2")
        result.assert_outcomes(passed=8, failed=4)
        assert server.count == 12  # every call made once, by one worker
    logs = list((project.path / "reports").glob("*.json"))
    assert [p.name for p in logs] == ["pytest.json"]
    log = read_log(logs[0])
    keys = [(r.suite, r.case_id, r.model) for r in log.results]
    assert len(keys) == len(set(keys)) == 12
    assert keys[:3] == [("demo", "ok", "openai/mock-a"), ("demo", "fails", "openai/mock-a"),
                        ("demo", "broken", "openai/mock-a")]  # collection order
    assert log.settings["workers"] == 2
    assert {s.name: s.cases for s in log.suites} == {"demo": 3, "test_api.py": 6}
    assert log.with_summary().summary["models"]["openai/mock-b"]["passed"] == 4


def test_the_gate_fails_the_session_when_head_regresses(project: pytest.Pytester) -> None:
    with OpenAIServer(script={"pears": "bananas and pears"}) as server:
        base = project.runpytest(*live(server), "--harness-report", "base/base.json")
        base.assert_outcomes(passed=3)
    with OpenAIServer() as server:  # the new model forgets the bananas
        head = project.runpytest(*live(server), "--harness-no-cache",
                                 "--harness-baseline", "base/base.json")
        head.assert_outcomes(passed=2, failed=1)
        assert head.ret == pytest.ExitCode.TESTS_FAILED
        head.stdout.fnmatch_lines([
            "gate FAILED: 1 regression in 3 case × model pairs compared with baseline run *",
            "  demo/fails [[]openai/mock-a[]] (demo.suite.yaml:10): passed in the baseline, "
            "failed now: contains: expected all of *bananas*",
        ])
        # Against itself nothing regressed: the gate passes (the failing item still fails).
        again = project.runpytest(*live(server), "--harness-baseline", "reports/pytest.json",
                                  "--harness-report", "reports/again.json")
    again.assert_outcomes(passed=2, failed=1)
    again.stdout.fnmatch_lines(["gate passed: 0 regressions in 3 case × model pairs*"])


def test_ini_settings(project: pytest.Pytester) -> None:
    with OpenAIServer() as server:
        project.makepyprojecttoml(
            "[tool.pytest.ini_options]\n"
            'harness_models = ["openai/mock-b"]\n'
            f'harness_api_base = "{server.base_url}"\n'
            'harness_report = "out/ini.json"\n'
            'harness_repeat = "2"\n')
        result = project.runpytest("-k", "fails")
        result.assert_outcomes(failed=2, deselected=4)
    log = read_log(project.path / "out" / "ini.json")
    assert [(r.case_id, r.model, r.repeat) for r in log.results] == [
        ("fails", "openai/mock-b", 0), ("fails", "openai/mock-b", 1)]
    assert (project.path / "out" / "ini.html").is_file()
    assert json.loads((project.path / "out" / "ini.json").read_text())["settings"][
        "filters"] == ["-k fails"]


JUDGED = """\
suite: judged
prompt: "Write one sentence about {{ topic }}"
cases:
  - id: kind
    vars: {topic: kindness}
    expect: [{judge: {rubric: "The sentence is polite.", threshold: 0.5}}]
"""


def test_harness_judge_scores_judge_checks(project: pytest.Pytester) -> None:
    project.makefile(".suite.yaml", judged=JUDGED)

    def reply(body: dict[str, Any]) -> str:
        if body.get("model") == "judge-a":
            return '{"score": 0.9, "reason": "polite and clear"}'
        return "Kindness makes every day better."

    with OpenAIServer(script=reply) as server:
        result = project.runpytest("judged.suite.yaml", *live(server),
                                   "--harness-judge", "openai/judge-a")
        judge_calls = server.count_for("judge-a")
    result.assert_outcomes(passed=1)
    assert judge_calls == 1
