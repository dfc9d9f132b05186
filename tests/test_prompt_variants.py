"""Prompt variants as a dimension next to models: the matrix a suite expands into, the
errors a bad ``prompts:`` gets, and what runs, caches, resumes, compares and gates per
variant, against the loopback OpenAI server."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import binomtest

from harness.cli import main
from harness.errors import SuiteError
from harness.providers.litellm_provider import load_litellm
from harness.results import RunLog
from harness.spec.loader import load_suite
from tests.openai_server import OpenAIServer, last_user_message

pytest_plugins = ["pytester"]

ROLE = "You are a meticulous analyst."


@pytest.fixture(scope="module", autouse=True)
def _litellm_imported() -> None:
    load_litellm()
    # in-process pytester runs drop what they import: import what they use here, once
    import aiohttp  # noqa: F401

    from harness import api, gate, pytest_plugin, replay, session  # noqa: F401
    from harness.checks.registry import registry
    from harness.providers import transport  # noqa: F401
    from harness.report import html, masking  # noqa: F401

    registry()


def write(project: Path, text: str, name: str = "pv.suite.yaml") -> Path:
    path = project / name
    path.write_text(text, encoding="utf-8")
    return path


def suite_text(cases: int, prompts: str, name: str = "pv") -> str:
    rows = "\n".join(f"  - id: c{i}\n    tags: [consulting]\n    vars: {{topic: t{i}, "
                     f"answer: t{i} ok}}\n    expect: [{{contains: t{i}}}]"
                     for i in range(cases))
    return (f"suite: {name}\ndefaults: {{timeout: 10}}\n"
            f"prompt: \"Summarise {{{{ topic }}}}\"\nprompts:\n{prompts}\ncases:\n{rows}\n")


TWO = f"""\
  baseline:
    note: The task as first written.
  with-role:
    note: Adds a role.
    patterns: [{{role: "{ROLE}"}}]
"""


def run(server: OpenAIServer, path: str, *extra: str) -> int:
    return main(["run", path, "-m", "openai/mock-a", "--api-base", server.base_url, "-q",
                 *extra])


def system_of(body: dict[str, Any]) -> str:
    return next((m["content"] for m in body["messages"] if m["role"] == "system"), "")


# -- the matrix ------------------------------------------------------------------------------


def test_every_case_runs_with_every_prompt_and_model(project: Path) -> None:
    three = TWO + "  few-shot:\n    note: two examples\n    patterns: [few_shot]\n"
    path = write(project, suite_text(4, three).replace(
        "defaults:", "models: [openai/a, openai/b]\ndefaults:"))
    suite = load_suite(path)
    assert [(c.id, c.prompt) for c in suite.cases[:3]] == [
        ("c0", "baseline"), ("c0", "with-role"), ("c0", "few-shot")]
    assert len(suite.cases) == 4 * 3
    assert [p["name"] for p in suite.summary()["prompts"]] == \
        ["baseline", "with-role", "few-shot"]
    from harness.runner import plan

    items = plan([suite])
    assert len(items) == 4 * 3 * 2  # cases × prompts × models
    assert len({i.key for i in items}) == len(items)


def test_a_suite_without_prompts_has_no_prompt_anywhere(
    project: Path, openai_server: OpenAIServer
) -> None:
    write(project, "suite: plain\ndefaults: {timeout: 10}\nprompt: \"Say {{ w }}\"\n"
          "cases:\n  - id: a\n    vars: {w: hi}\n    expect: [{contains: hi}]\n")
    assert run(openai_server, "pv.suite.yaml", "--junit", "reports/j.xml") == 0
    log = json.loads(Path("reports/plain.json").read_text())
    assert [r["prompt"] for r in log["results"]] == [None]
    assert "prompts" not in log["summary"]
    assert log["suites"][0]["prompts"] == []
    assert "prompt=" not in Path("reports/j.xml").read_text()
    assert 'name="a[openai/mock-a]"' in Path("reports/j.xml").read_text()


def test_prompt_selects_variants_and_names_unknown_ones(
    project: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project, suite_text(3, TWO))
    assert run(openai_server, "pv.suite.yaml", "--prompt", "with-role", "--no-cache") == 0
    log = RunLog.read("reports/pv.json")
    assert {r.prompt for r in log.results} == {"with-role"} and len(log.results) == 3
    assert openai_server.count == 3
    assert all(system_of(b) == ROLE for b in openai_server.requests)
    capsys.readouterr()
    assert run(openai_server, "pv.suite.yaml", "--prompt", "with-rol") == 2
    assert "Did you mean 'with-role'?" in capsys.readouterr().err


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("prompts", "line", "message"), [
    ("  a:\n    patterns: [step_by_stpe]\n", 6, "unknown pattern 'step_by_stpe'"),
    ("  a:\n    file: prompts/missing.txt\n", 6, "no such file 'prompts/missing.txt'"),
    ("  a:\n    base: baseline\n", 6, "unknown base 'baseline'"),
    ("  a:\n    base: b\n  b:\n    base: a\n", 8, "'base' makes a cycle: a → b → a"),
    ("  a:\n    patterns: [output_format]\n", 6, "output_format has no format to state"),
    ("  a:\n    patterns: [{few_shot: {k: 2, answer: nope}}]\n", 6,
     "few_shot found no other case with a 'nope' var"),
    ("  a:\n    prompt: x\n    file: y.txt\n", 5, "give one of prompt, messages, file or base"),
    ("  a:\n    notes: x\n", 6, "unknown key 'notes'"),
])
def test_bad_prompt_variants_point_at_their_line(project: Path, prompts: str, line: int,
                                                 message: str) -> None:
    path = write(project, suite_text(2, prompts))
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    problem = caught.value.problems[0]
    assert (problem.line, message in problem.message) == (line, True), str(caught.value)


def test_variants_from_files_and_bases(project: Path) -> None:
    (project / "prompts").mkdir()
    (project / "prompts" / "plain.txt").write_text("Brief on {{ topic }}.")
    (project / "prompts" / "chat.yaml").write_text(
        "- {role: system, content: Be exact.}\n- {role: user, content: 'Explain {{ topic }}'}\n")
    path = write(project, suite_text(1, """\
  plain: {file: prompts/plain.txt}
  chat: {file: prompts/chat.yaml}
  chat-role: {base: chat, patterns: [{role: Boss.}]}
"""))
    cases = {c.prompt: c.messages for c in load_suite(path).cases}
    assert cases["plain"] == ({"role": "user", "content": "Brief on t0."},)
    assert cases["chat"] == ({"role": "system", "content": "Be exact."},
                             {"role": "user", "content": "Explain t0"})
    assert cases["chat-role"][0] == {"role": "system", "content": "Boss.\n\nBe exact."}


# -- which prompt wins -----------------------------------------------------------------------


def test_a_better_variant_is_found_significantly_better(
    project: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # with the role every case passes; without it only c0..c4 of 20 do
    def reply(body: dict[str, Any]) -> str:
        text = last_user_message(body)
        good = system_of(body) == ROLE or any(f"t{i}" == text.split()[-1] for i in range(5))
        return f"Summary of {text.split()[-1]}" if good else "I am not sure."
    openai_server.script = reply
    write(project, suite_text(20, TWO))
    assert run(openai_server, "pv.suite.yaml", "--no-cache") == 1
    capsys.readouterr()
    assert main(["compare", "reports/pv.json", "--json", "cmp.json"]) == 0
    data = json.loads(Path("cmp.json").read_text())
    tests = [t for t in data["prompts"]["tests"] if t["scope"] == "overall"]
    assert len(tests) == 1
    (t,) = tests
    assert (t["a"], t["b"], t["only_a"], t["only_b"]) == ("baseline", "with-role", 0, 15)
    expected_p = binomtest(0, 15, 0.5).pvalue  # exact McNemar = two-sided binomial test
    assert t["p_value"] == pytest.approx(expected_p)
    assert t["significant"] is True
    verdict = next(v for v in data["verdicts"] if v.startswith("`with-role`"))
    assert verdict.startswith("`with-role` beats `baseline` with openai/mock-a: +75 points, "
                              "p < 0.001, +")
    rates = {(r["prompt"], r["scope"]): r for r in data["prompts"]["rates"]}
    assert (rates[("baseline", "overall")]["passed"], rates[("with-role", "overall")]["passed"]) \
        == (5, 20)
    assert rates[("baseline", "overall")]["ci95"][0] == pytest.approx(0.1119, abs=1e-4)
    # the per-tag verdict names the domain
    assert any(v.startswith("`with-role` beats `baseline` on consulting cases")
               for v in data["verdicts"])
    assert main(["compare", "reports/pv.json"]) == 0
    assert "`with-role` beats `baseline` with openai/mock-a" in capsys.readouterr().out


def test_equal_variants_are_not_called_different(
    project: Path, openai_server: OpenAIServer
) -> None:
    # both variants pass the same 10 of 20 cases
    openai_server.script = lambda body: (
        f"Summary of {last_user_message(body).split()[-1]}"
        if int(last_user_message(body).split()[-1][1:]) % 2 else "No idea.")
    write(project, suite_text(20, TWO))
    run(openai_server, "pv.suite.yaml", "--no-cache")
    main(["compare", "reports/pv.json", "--json", "cmp.json"])
    data = json.loads(Path("cmp.json").read_text())
    assert not any(t["significant"] for t in data["prompts"]["tests"])
    (t,) = [t for t in data["prompts"]["tests"] if t["scope"] == "overall"]
    assert (t["only_a"], t["only_b"], t["p_value"]) == (0, 0, 1.0)
    assert any(v.startswith("no prompt variant is significantly better with openai/mock-a")
               for v in data["verdicts"])
    assert not any("beats" in v for v in data["verdicts"])


# -- gate ------------------------------------------------------------------------------------


def test_the_gate_names_the_regressed_variant_and_a_changed_prompt(
    project: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project, suite_text(12, TWO))
    assert run(openai_server, "pv.suite.yaml", "--no-cache", "--name", "base") == 0
    # the role's text changes, and with it the model fails on most cases
    write(project, suite_text(12, TWO.replace(ROLE, "You are terse.")))
    openai_server.script = lambda body: (
        "I am not sure." if system_of(body) == "You are terse." and
        last_user_message(body).split()[-1] not in ("t0", "t1") else
        f"Summary of {last_user_message(body).split()[-1]}")
    assert run(openai_server, "pv.suite.yaml", "--no-cache", "--name", "head") == 1
    capsys.readouterr()
    assert main(["gate", "--baseline", "reports/base.json", "reports/head.json"]) == 1
    out = capsys.readouterr().out
    assert "10 case × model pairs that passed in the baseline fail now (prompt variant " \
        "with-role)" in out
    assert "pv on openai/mock-a with prompt 'with-role': 10 cases got worse" in out
    assert "pv/c2[prompt=with-role] [openai/mock-a]" in out
    assert "baseline" not in out.split("prompt variant")[1].split(")")[0]
    assert "prompt 'with-role' of suite 'pv' changed since the baseline" in out
    assert "prompt 'baseline' of suite 'pv' changed" not in out


# -- cache and resume keys -------------------------------------------------------------------


def test_cache_and_store_keep_each_variant_apart(
    project: Path, openai_server: OpenAIServer
) -> None:
    # two variants that send exactly the same text are still two samples, two rows
    write(project, suite_text(3, "  first: {note: one}\n  second: {note: two}\n"))
    assert run(openai_server, "pv.suite.yaml") == 0
    assert openai_server.count == 6
    with sqlite3.connect("reports/runs.sqlite") as db:
        rows = db.execute("SELECT case_id FROM results").fetchall()
    assert len(rows) == 6
    with sqlite3.connect(".harness/cache.sqlite") as db:
        assert db.execute("SELECT count(*) FROM responses").fetchone()[0] == 6
    assert run(openai_server, "pv.suite.yaml") == 0  # every answer from the cache
    assert openai_server.count == 6
    log = RunLog.read("reports/pv.json")
    assert sorted((r.case_id, r.prompt) for r in log.results) == sorted(
        (f"c{i}", p) for i in range(3) for p in ("first", "second"))
    assert all(r.cached for r in log.results)
    assert main(["run", "--resume", "last", "-q"]) == 0  # nothing left to do
    assert openai_server.count == 6


# -- step by step and self check through the runner ------------------------------------------


def test_step_by_step_checks_see_the_answer_and_self_check_takes_a_second_turn(
    project: Path, openai_server: OpenAIServer
) -> None:
    def reply(body: dict[str, Any]) -> str:
        topic = next(w for w in str(body["messages"][0]["content"]).split() if w[0] == "t")
        if len(body["messages"]) > 1 and body["messages"][-1]["content"].startswith("Review"):
            return f"Checked.\nAnswer: {topic} revised"
        return f"Let me think about it: t999 is not it.\nAnswer: {topic}"
    openai_server.script = reply
    write(project, suite_text(2, """\
  cot: {patterns: [step_by_step]}
  cot-check: {base: cot, patterns: [self_check]}
""").replace("contains: t", "equals: t"))
    assert run(openai_server, "pv.suite.yaml", "--no-cache") == 1
    log = RunLog.read("reports/pv.json")
    by = {(r.case_id, r.prompt): r for r in log.results}
    cot = by[("c0", "cot")]
    assert cot.status == "passed"  # equals: t0 holds for the extracted answer only
    assert cot.output == "Let me think about it: t999 is not it.\nAnswer: t0"
    assert cot.answer == "t0"
    check = by[("c0", "cot-check")]
    assert check.status == "failed" and check.answer == "t0 revised"
    assert [t["role"] for t in check.turns] == ["assistant", "user"]
    assert check.turns[0]["content"] == cot.output
    assert openai_server.count == 2 + 2 * 2  # cot: 2 calls; cot-check: 2 turns per case
    second_turns = [b for b in openai_server.requests if len(b["messages"]) == 3]
    assert len(second_turns) == 2
    assert second_turns[0]["messages"][1] == {"role": "assistant",
                                              "content": second_turns[0]["messages"][1]
                                              ["content"]}
    assert second_turns[0]["messages"][2]["content"].startswith("Review your answer above")
    # tokens of both turns are counted: the server counts words of every message sent
    first_words = len(" ".join(m["content"] for m in check.messages).split())
    second_words = first_words + len(cot.output.split()) + \
        len(check.turns[1]["content"].split())
    assert check.usage.prompt_tokens == first_words + second_words


# -- the library -----------------------------------------------------------------------------


def test_the_library_lists_prompts_with_notes_suites_and_latest_rates(
    project: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "suites").mkdir()
    write(project, suite_text(4, TWO, name="alpha"), "suites/alpha.suite.yaml")
    write(project, suite_text(2, "  baseline:\n    note: Plain.\n", name="beta"),
          "suites/beta.suite.yaml")
    capsys.readouterr()
    assert main(["library", "suites"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("prompt library: 2 prompts in 2 suites; measured by 0 RunLogs")
    assert "baseline — Plain. / The task as first written." in out
    assert "  patterns: none · used by: alpha, beta" in out
    assert "with-role — Adds a role.\n  patterns: role · used by: alpha\n  not measured yet" \
        in out
    # c0 fails without the role; everything else passes
    openai_server.script = lambda body: "No idea." if system_of(body) != ROLE and \
        last_user_message(body).endswith("t0") else f"On {last_user_message(body)}"
    run(openai_server, "suites/alpha.suite.yaml", "--no-cache", "--name", "old")
    write(project, suite_text(4, TWO.replace(ROLE, "You are new."), name="alpha"),
          "suites/alpha.suite.yaml")
    capsys.readouterr()
    assert main(["library", "suites"]) == 0
    out = capsys.readouterr().out
    assert "measured by 1 RunLog" in out
    assert "  alpha · openai/mock-a: 75% (3/4, 30–95%) run " in out  # Wilson 3/4: 30.1–95.4
    line = next(ln for ln in out.splitlines() if "alpha · openai/mock-a: 100%" in ln)
    assert line.endswith("(an older text of this prompt)")  # the role text changed since


def test_the_library_does_not_count_shrink_candidates(
    project: Path, openai_server: OpenAIServer
) -> None:
    from harness.library import build
    from harness.results import RunLog

    write(project, suite_text(2, TWO, name="alpha"), "alpha.suite.yaml")
    openai_server.script = lambda body: f"On {last_user_message(body)}"  # every case passes
    assert run(openai_server, "alpha.suite.yaml", "--no-cache", "--name", "lib") == 0
    log = RunLog.read("reports/lib.json")
    # a failing shrink candidate of c0 with the role: a diagnostic, not a measured case
    extra = log.results[0].model_copy(update={
        "case_id": "c0[perturb=typos-1~1]", "status": "failed",
        "variant": {"shrunk_from": "typos-1", "edits": "0"}})
    log = log.model_copy(update={"results": [*log.results, extra]})
    measures = {(e.name, m.model): (m.passed, m.judged)
                for e in build(["alpha.suite.yaml"], [log]) for m in e.measures}
    # 2 cases per variant, both passed: counted by hand from the script above
    assert measures == {("baseline", "openai/mock-a"): (2, 2),
                        ("with-role", "openai/mock-a"): (2, 2)}


# -- reports and exports ---------------------------------------------------------------------


def test_reports_show_variants_as_columns_and_escape_notes(
    project: Path, openai_server: OpenAIServer
) -> None:
    variants = TWO.replace("Adds a role.", "Adds a <script>alert(1)</script> role.")
    write(project, suite_text(2, variants))
    run(openai_server, "pv.suite.yaml", "--no-cache", "--junit", "reports/j.xml",
        "--markdown", "reports/s.md")
    html = Path("reports/pv.html").read_text()
    heads = re.findall(r'<th class="model"[^>]*>([^<]*)</th>', html.split('id="matrix-table"')[1])
    assert heads[:2] == ["openai/mock-a · baseline", "openai/mock-a · with-role"]
    # the pass-rate chart has one bar per model · prompt (what each variant scored)
    chart = html[html.index('id="chart-rates"'):]
    chart = chart[:chart.index("</figure>")]
    tips = re.findall(r"<title>([^<]*)</title></rect>", chart)
    assert [t.split(":")[0] for t in tips] == heads[:2]
    assert "<script>alert(1)</script>" not in html
    assert "Adds a &lt;script&gt;alert(1)&lt;/script&gt; role." in html
    assert '<section id="prompts">' in html
    junit = Path("reports/j.xml").read_text()
    assert 'name="c0[prompt=with-role][openai/mock-a]"' in junit
    md = Path("reports/s.md").read_text()
    assert "| with-role | openai/mock-a | 100% |" in md
    assert main(["export", "reports/pv.json", "--csv", "rows.csv"]) == 0
    import csv

    with open("rows.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["case_id"], r["prompt"]) for r in rows) == [
        ("c0", "baseline"), ("c0", "with-role"), ("c1", "baseline"), ("c1", "with-role")]


# -- pytest plugin, merge, old RunLogs -------------------------------------------------------


def test_pytest_items_carry_the_prompt_in_their_ids(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, openai_server: OpenAIServer
) -> None:
    monkeypatch.delenv("HARNESS_CACHE", raising=False)
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest -p no:anyio "
                       "-p no:platformdirs -p no:cacheprovider")
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    pytester.makefile(".suite.yaml", pv=suite_text(2, TWO))
    args = ["--harness-model", "openai/mock-a", "--harness-api-base", openai_server.base_url]
    result = pytester.runpytest("--collect-only", "-q", *args)
    ids = [line for line in result.outlines if "::" in line]
    assert ids == [f"pv.suite.yaml::c{i}[prompt={p}][openai/mock-a]"
                   for i in range(2) for p in ("baseline", "with-role")]
    result = pytester.runpytest("-q", "-k", "with-role", *args)
    result.assert_outcomes(passed=2, deselected=2)
    assert all(system_of(b) == ROLE for b in openai_server.requests)


def test_shards_keep_a_cases_variants_together_and_merge_back(
    project: Path, openai_server: OpenAIServer
) -> None:
    write(project, suite_text(8, TWO))
    for i in (1, 2):
        assert run(openai_server, "pv.suite.yaml", "--shard", f"{i}/2", "--name",
                   f"s{i}") in (0, 1)
    shards = [RunLog.read(f"reports/s{i}.json") for i in (1, 2)]
    for log in shards:
        cases = {r.case_id for r in log.results}
        assert len(log.results) == 2 * len(cases)  # both variants of each case
    assert main(["merge", "reports/s1.json", "reports/s2.json", "-o", "reports/m.json"]) == 0
    merged = RunLog.read("reports/m.json")
    assert len(merged.results) == 16 and len({r.key for r in merged.results}) == 16


def test_runlogs_from_before_prompt_variants_still_load(tmp_path: Path) -> None:
    from harness.results import CaseResult

    old = {"suite": "s", "case_id": "a", "model": "m", "model_id": "m", "status": "passed",
           "messages": [{"role": "user", "content": "hi"}]}
    result = CaseResult.model_validate(old)
    assert (result.prompt, result.answer, result.turns, result.key) == \
        (None, None, [], ("s", "a", "m", 0, None))


def test_both_self_check_turns_are_cached(project: Path, openai_server: OpenAIServer) -> None:
    openai_server.script = lambda body: f"On {body['messages'][0]['content']}"
    write(project, suite_text(2, "  revise: {patterns: [self_check]}\n"))
    assert run(openai_server, "pv.suite.yaml") == 0
    assert openai_server.count == 4  # two turns per case
    first = RunLog.read("reports/pv.json")
    assert run(openai_server, "pv.suite.yaml") == 0
    assert openai_server.count == 4  # nothing called again
    again = RunLog.read("reports/pv.json")
    assert all(r.cached for r in again.results)
    assert [(r.output, r.turns, r.usage) for r in again.results] == \
        [(r.output, r.turns, r.usage) for r in first.results]


def test_counterfactual_groups_are_judged_within_each_variant(
    project: Path, openai_server: OpenAIServer
) -> None:
    # without the role the model treats Ann and Bob differently; with it, alike
    openai_server.script = lambda body: "Recommend: yes" if system_of(body) == ROLE or \
        "Ann" in last_user_message(body) else "Recommend: no"
    write(project, f"""\
suite: cf
defaults: {{timeout: 10}}
prompt: "Screen {{{{ candidate }}}}. Answer 'Recommend: yes' or 'Recommend: no'."
prompts:
{TWO}cases:
  - id: screen
    vars: {{candidate: "{{{{ name }}}}, 5 years of experience"}}
    counterfactual: {{name: [Ann, Bob]}}
    expect: [{{consistent_across: {{measure: decision}}}}]
""")
    run(openai_server, "pv.suite.yaml", "--no-cache")
    log = RunLog.read("reports/cf.json")
    status = {(r.variant["value"], r.prompt): r.status for r in log.results}
    assert status == {("Ann", "baseline"): "failed", ("Bob", "baseline"): "failed",
                      ("Ann", "with-role"): "passed", ("Bob", "with-role"): "passed"}


def test_the_matrix_columns_rate_planned_cases_only() -> None:
    from harness.report import prompts_view
    from tests.report.conftest import build_log

    log = build_log()
    planned = [r.model_copy(update={"prompt": ("plain", "role")[n % 2]})
               for n, r in enumerate(log.results)]
    candidates = [r.model_copy(update={"case_id": f"{r.case_id}[perturb=typos-1~1]",
                                       "status": "failed",
                                       "variant": {"shrunk_from": "typos-1", "edits": "0"}})
                  for r in planned]
    view = prompts_view.build(log.model_copy(update={"results": [*planned, *candidates]}))
    assert view is not None
    expected: dict[str, list[int]] = {}
    for r in planned:  # counted here by hand, from the planned results alone
        cell = expected.setdefault(f"{r.model} · {r.prompt}", [0, 0])
        cell[0] += r.status == "passed"
        cell[1] += 1
    assert {c.name: [c.rate.passed, c.rate.total] for c in view.columns} == expected
