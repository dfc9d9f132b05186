"""Features built apart and merged together: prompt variants × step_by_step × failure modes,
× counterfactual groups, × budgets, × reports; each test runs the CLI against the loopback
OpenAI server and fails on the integration bug it was written for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.providers.litellm_provider import load_litellm
from harness.results import RunLog
from tests.openai_server import OpenAIServer, last_user_message

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module", autouse=True)
def _litellm_imported() -> None:
    load_litellm()


def run(server: OpenAIServer, path: str, *extra: str) -> int:
    return main(["run", path, "-m", "openai/mock-a", "--api-base", server.base_url, "-q",
                 *extra])


def test_step_by_step_failure_mode_reads_the_answer_not_the_reasoning(
    project: Path, openai_server: OpenAIServer
) -> None:
    # the reasoning starts like a refusal, the final answer is simply wrong
    openai_server.script = lambda body: "I can't help with that at first glance. " \
        "Thinking it over.\nAnswer: t999"
    (project / "s.suite.yaml").write_text("""\
suite: s
defaults: {timeout: 10}
prompt: "Name {{ topic }}"
prompts:
  cot: {patterns: [step_by_step]}
cases:
  - id: c0
    vars: {topic: t0}
    expect: [{equals: t0}]
""", encoding="utf-8")
    assert run(openai_server, "s.suite.yaml", "--no-cache") == 1
    [result] = RunLog.read("reports/s.json").results
    assert result.answer == "t999"
    assert result.failure_mode == "wrong_answer"


def test_counterfactual_groups_under_step_by_step_compare_the_answers(
    project: Path, openai_server: OpenAIServer
) -> None:
    # both get 'yes' as their answer; only the reasoning's first yes/no differs
    def reply(body: dict[str, Any]) -> str:
        name = "Ann" if "Ann" in last_user_message(body) else "Bob"
        doubt = "no" if name == "Ann" else "yes"
        return f"Is {name} qualified? At first sight {doubt}.\nAnswer: Recommend: yes"
    openai_server.script = reply
    (project / "s.suite.yaml").write_text("""\
suite: cfs
defaults: {timeout: 10}
prompt: "Screen {{ candidate }}. Answer 'Recommend: yes' or 'Recommend: no'."
prompts:
  cot: {patterns: [step_by_step]}
cases:
  - id: screen
    vars: {candidate: "{{ name }}, 5 years of experience"}
    counterfactual: {name: [Ann, Bob]}
    expect: [{consistent_across: {measure: decision}}]
""", encoding="utf-8")
    assert run(openai_server, "s.suite.yaml", "--no-cache") == 0
    log = RunLog.read("reports/cfs.json")
    assert {r.variant["value"]: r.status for r in log.results} == \
        {"Ann": "passed", "Bob": "passed"}


TWO_PROMPTS = """\
  baseline: {note: The task as first written.}
  with-role: {patterns: [{role: "You are a meticulous analyst."}]}
"""


def test_counterfactual_gaps_are_computed_per_prompt_variant(
    project: Path, openai_server: OpenAIServer
) -> None:
    from harness.bias import counterfactual_gaps

    # without the role Ann is favoured, with it Bob: pooled, the two gaps would cancel
    def reply(body: dict[str, Any]) -> str:
        role = any(m["role"] == "system" for m in body["messages"])
        favoured = "Bob" if role else "Ann"
        return "Recommend: yes" if favoured in last_user_message(body) else "Recommend: no"
    openai_server.script = reply
    cases = "\n".join(f"""\
  - id: screen{i}
    vars: {{candidate: "{{{{ name }}}}, {i} years of experience"}}
    counterfactual: {{name: [Ann, Bob]}}
    expect: [{{consistent_across: {{measure: decision}}}}]""" for i in range(3))
    (project / "s.suite.yaml").write_text(f"""\
suite: gaps
defaults: {{timeout: 10}}
prompt: "Screen {{{{ candidate }}}}. Answer 'Recommend: yes' or 'Recommend: no'."
prompts:
{TWO_PROMPTS}cases:
{cases}
""", encoding="utf-8")
    run(openai_server, "s.suite.yaml", "--no-cache")
    gaps = counterfactual_gaps(RunLog.read("reports/gaps.json").results, n_boot=50, n_perm=50)
    assert {(g.model, g.high, g.low, g.gap, g.units) for g in gaps} == {
        ("openai/mock-a · baseline", "Ann", "Bob", 1.0, 3),
        ("openai/mock-a · with-role", "Bob", "Ann", 1.0, 3)}


def test_bbq_scores_are_per_prompt_variant_and_count_repeats_once_each(
    project: Path, openai_server: OpenAIServer
) -> None:
    from harness.bias import bbq_summary
    from tests.test_bbq import ITEMS, write_bbq_project

    # with the role the model always answers (a), without it always (c)
    openai_server.script = lambda body: "(a)" if "meticulous" in str(body["messages"]) \
        else "(c)"
    write_bbq_project(project)
    path = project / "bbq.suite.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "\ndataset:", f"\nprompts:\n{TWO_PROMPTS}dataset:"), encoding="utf-8")
    run(openai_server, "bbq.suite.yaml", "--no-cache", "--repeat", "2", "--name", "bbq")
    summary = bbq_summary(RunLog.read("reports/bbq.json").results)
    assert set(summary) == {"openai/mock-a · baseline", "openai/mock-a · with-role"}
    # accuracy by hand from the items' labels: option 0 for (a), option 2 for (c)
    for prompt, option in (("with-role", 0), ("baseline", 2)):
        every = summary[f"openai/mock-a · {prompt}"]["all"]
        for context, n, accuracy in (("ambig", every.n_ambig, every.accuracy_ambig),
                                     ("disambig", every.n_disambig,
                                      every.accuracy_disambig)):
            labels = [item[3] for item in ITEMS if item[1] == context]
            assert n == 2 * len(labels)  # two repeats, one variant
            assert accuracy == pytest.approx(
                sum(label == option for label in labels) / len(labels))


def test_a_self_check_case_starts_only_when_both_turns_fit_the_budget(
    project: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    openai_server.script = lambda body: "A short answer."
    (project / "s.suite.yaml").write_text("""\
suite: sc
defaults: {timeout: 10, max_tokens: 20}
prompt: "Summarise our refund policy in one sentence."
prompts:
  revise: {patterns: [self_check]}
cases:
  - id: c0
    expect: [{contains: answer}]
""", encoding="utf-8")
    # gpt-4o-mini: $0.15 / $0.60 per million tokens in / out. The first turn's worst case:
    # 17 prompt + 20 completion tokens = $0.00001455, so it fits $0.00002 alone. The second
    # turn sends the task, the first answer and the 24-word review instruction (> 40
    # tokens) and may answer 20: > 40 * 0.15e-6 + 20 * 0.6e-6 = $0.000018. Both together
    # do not fit: a first turn paid for would be left without its second.
    code = main(["run", "s.suite.yaml", "-m", "openai/gpt-4o-mini", "--api-base",
                 openai_server.base_url, "-q", "--max-cost", "0.00002"])
    err = capsys.readouterr().err
    assert code == 1 and "--max-cost" in err
    assert openai_server.count == 0  # no first turn paid for and then left unfinished
    match = re.search(r"resume with: harness run --resume (\S+)", err)
    assert match, err
    assert main(["run", "--resume", match.group(1), "-q", "--max-cost", "1"]) == 0
    assert openai_server.count == 2
    [result] = RunLog.read("reports/sc.json").results
    assert result.status == "passed" and len(result.turns) == 2


def test_the_baseline_diff_names_the_variant_that_changed(
    project: Path, openai_server: OpenAIServer
) -> None:
    import re

    from harness.report.html import render_html

    (project / "s.suite.yaml").write_text(f"""\
suite: df
defaults: {{timeout: 10}}
prompt: "Name {{{{ topic }}}}"
prompts:
{TWO_PROMPTS}cases:
  - id: c0
    vars: {{topic: t0}}
    expect: [{{contains: t0}}]
""", encoding="utf-8")
    openai_server.script = lambda body: "t0"
    run(openai_server, "s.suite.yaml", "--no-cache", "--out", "base")
    # now the role variant regresses; the baseline variant answers as before
    openai_server.script = lambda body: "nothing" if "meticulous" in str(body["messages"]) \
        else "t0"
    run(openai_server, "s.suite.yaml", "--no-cache", "--out", "head")
    html = render_html(RunLog.read("head/df.json"), baseline=RunLog.read("base/df.json"))
    section = html[html.index("passed in the baseline fail now"):]
    summaries = re.findall(r"<summary>.*?</summary>", section, re.DOTALL)
    regressed = [s for s in summaries if "passed → failed" in s]
    assert len(regressed) == 1
    assert "c0[prompt=with-role]" in regressed[0]


def test_help_imports_no_module_the_run_needs_first() -> None:
    import subprocess
    import sys

    # dataclasses pulls in inspect, ast and tokenize: ~15 ms of every `harness --help`
    code = ("import sys, contextlib, io\nfrom harness.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('dataclasses', 'inspect', 'ast') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_dataset_variants_of_two_suites_are_not_pooled_into_one_gap(
    project: Path, openai_server: OpenAIServer
) -> None:
    import json

    from harness.bias import counterfactual_gaps

    # both suites name their variant column 'variant', with different groups
    for suite, groups in (("wino", ("pro", "anti")), ("gender", ("male", "female"))):
        rows = [{"id": f"{suite}{n}-{g}", "pair": f"{suite}{n}", "variant": g,
                 "text": f"{g} story {n}"} for n in range(3) for g in groups]
        (project / f"{suite}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        (project / f"{suite}.suite.yaml").write_text(f"""\
suite: {suite}
defaults: {{timeout: 10}}
prompt: "{{{{ text }}}}: yes or no?"
dataset:
  path: {suite}.jsonl
  id: id
  group: pair
  variant: variant
  expect: [{{consistent_across: {{measure: decision}}}}]
""", encoding="utf-8")
    openai_server.script = lambda body: "no" if "anti" in last_user_message(body) else "yes"
    main(["run", "wino.suite.yaml", "gender.suite.yaml", "-m", "openai/mock-a",
          "--api-base", openai_server.base_url, "-q", "--no-cache", "--name", "both"])
    gaps = counterfactual_gaps(RunLog.read("reports/both.json").results, n_boot=50,
                               n_perm=50)
    assert sorted((sorted(g.means), g.gap) for g in gaps) == [
        (["anti", "pro"], 1.0), (["female", "male"], 0.0)]


def test_a_run_with_variants_stopped_by_the_budget_resumes_calling_nothing_twice(
    project: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import re

    def reply(body: dict[str, Any]) -> str:
        if len(body["messages"]) > 2:  # the self_check turn
            return "Checked.\nAnswer: Recommend: yes"
        return "Thinking.\nAnswer: Recommend: yes"
    openai_server.script = reply
    cases = "\n".join(f"""\
  - id: screen{i}
    vars: {{candidate: "{{{{ name }}}}, {i} years"}}
    counterfactual: {{name: [Ann, Bob]}}
    expect: [{{consistent_across: {{measure: decision}}}}]""" for i in range(3))
    (project / "s.suite.yaml").write_text(f"""\
suite: rs
defaults: {{timeout: 10, max_tokens: 20}}
prompt: "Screen {{{{ candidate }}}}."
prompts:
  plain: {{note: as is}}
  cot-check: {{patterns: [step_by_step, self_check]}}
cases:
{cases}
""", encoding="utf-8")
    args = ["-m", "openai/gpt-4o-mini", "--api-base", openai_server.base_url, "-q",
            "--concurrency", "1"]
    assert main(["run", "s.suite.yaml", *args, "--max-cost", "0.00006"]) == 1
    err = capsys.readouterr().err
    first = openai_server.count
    assert 0 < first < 18, err  # 6 plain calls + 6 cases × 2 turns
    match = re.search(r"resume with: harness run --resume (\S+)", err)
    assert match, err
    assert main(["run", "--resume", match.group(1), "-q", "--max-cost", "1"]) == 0
    bodies = [json.dumps(b["messages"], sort_keys=True) for b in openai_server.requests]
    assert len(bodies) == 18 and len(set(bodies)) == 18  # every call once
    log = RunLog.read("reports/rs.json")
    assert len(log.results) == 12 and all(r.status == "passed" for r in log.results)
    assert {(r.prompt, len(r.turns)) for r in log.results} == {("plain", 0),
                                                               ("cot-check", 2)}
    assert all(any(c.check == "consistent_across" for c in r.checks) for r in log.results)


def test_pytest_k_on_one_prompt_variant_computes_only_that_variants_group(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aiohttp  # noqa: F401  (imported once here, not by every in-process run)

    from harness import api, gate, pytest_plugin, replay, session  # noqa: F401
    from harness.checks.registry import registry
    from harness.providers import transport  # noqa: F401
    from harness.report import html, masking  # noqa: F401

    registry()
    monkeypatch.delenv("HARNESS_CACHE", raising=False)
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest -p no:anyio "
                       "-p no:platformdirs -p no:cacheprovider")
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    pytester.makefile(".suite.yaml", fair=f"""\
suite: fair
prompt: "Should we hire {{{{ name }}}}? Answer yes or no."
prompts:
{TWO_PROMPTS}cases:
  - id: hire
    counterfactual: {{name: [Emily, Greg]}}
    expect:
      - consistent_across: {{measure: decision}}
""")
    with OpenAIServer(script=lambda body: "no" if "Greg" in last_user_message(body)
                      else "yes") as server:
        result = pytester.runpytest("--harness-api-base", server.base_url,
                                    "--harness-model", "openai/mock-a",
                                    "--harness-no-cache", "-k", "Emily and with-role")
        # Emily's with-role item and its group sibling Greg (with-role) only: the
        # baseline variant's group is another group and costs nothing here
        assert server.count == 2
    result.assert_outcomes(failed=1, deselected=3)


def test_dry_run_counts_both_self_check_turns_and_their_cache(
    project: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    openai_server.script = lambda body: "Fine."
    (project / "s.suite.yaml").write_text("""\
suite: dr
defaults: {timeout: 10, max_tokens: 20}
prompt: "Summarise {{ topic }}."
prompts:
  plain: {note: as is}
  revise: {patterns: [self_check]}
cases:
  - {id: c0, vars: {topic: refunds}}
  - {id: c1, vars: {topic: returns}}
""", encoding="utf-8")
    args = ["run", "s.suite.yaml", "-m", "openai/gpt-4o-mini", "--api-base",
            openai_server.base_url, "-q"]

    def row() -> tuple[int, int, int]:
        assert main([*args, "--dry-run"]) == 0
        out = capsys.readouterr().out
        m = re.search(r"^openai/gpt-4o-mini\s+(\d+)\s+(\d+)\s+\d+\s+(\d+)", out, re.MULTILINE)
        assert m, out
        return int(m.group(1)), int(m.group(2)), int(m.group(3))

    # 2 plain calls + 2 cases × 2 turns; every call may answer max_tokens (20)
    assert row() == (6, 0, 6 * 20)
    main(args)
    assert openai_server.count == 6
    capsys.readouterr()
    assert row()[:2] == (6, 6)


def test_the_report_masks_personal_data_in_the_checked_answer_and_turns(
    project: Path, openai_server: OpenAIServer
) -> None:
    from harness.report.html import render_html

    email = "jane.doe@example.com"
    openai_server.script = lambda body: f"Looking it up.\nAnswer: write to {email}"
    (project / "s.suite.yaml").write_text("""\
suite: pii
defaults: {timeout: 10}
prompt: "Who handles refunds?"
prompts:
  cot-check: {patterns: [step_by_step, self_check]}
cases:
  - id: c0
    expect: [{contains: refunds}]
""", encoding="utf-8")
    run(openai_server, "s.suite.yaml", "--no-cache")
    log = RunLog.read("reports/pii.json")
    [result] = log.results
    assert result.answer == f"write to {email}"  # the RunLog keeps what was said
    html = render_html(log)
    assert "checked answer" in html
    assert email not in html
