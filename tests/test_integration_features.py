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
