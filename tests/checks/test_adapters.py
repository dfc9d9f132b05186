"""ragas and deepeval metrics as checks: run end to end with the judge on the loopback
server, with no other connection allowed; and the install hint when an extra is missing."""

from __future__ import annotations

import importlib.abc
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from harness.checks.registry import CheckInput, build
from harness.cli import main
from harness.judge import JudgeClient
from harness.providers.litellm_provider import LiteLLMProvider
from harness.results import RunLog
from harness.spec.models import ModelConfig
from tests.openai_server import OpenAIServer, default_reply

ANSWER = "Revenue was 1.2 million dollars in 2023. Profit doubled."
CONTEXT = ["Revenue was 1.2 million dollars in 2023.", "Profit fell by 10 percent in 2023."]

SUITE = f"""
suite: adapted
prompt: "Answer from the context: {{{{ context }}}}"
cases:
  - id: memo
    context: {json.dumps(CONTEXT)}
    expect:
      - ragas:faithfulness: {{threshold: 0.6}}
      - deepeval:hallucination: {{threshold: 0.5}}
      - deepeval:g_eval: {{criteria: "The answer only states figures found in the context.",
                          threshold: 0.6}}
"""

# What each library's prompts ask for, answered the way a judge would. Scores by hand:
# ragas faithfulness: 1 of 2 statements inferred from the context -> 0.5 (< 0.6: fails);
# deepeval hallucination: agrees with 1 of 2 documents -> 0.5 (>= 0.5: passes);
# G-Eval: 7 on its 0..10 scale -> 0.7 (>= 0.6: passes).
REPLIES = {
    "fully understandable statements": {
        "statements": ["Revenue was 1.2 million dollars in 2023.", "Profit doubled."]},
    "judge the faithfulness of a series of statements": {"statements": [
        {"statement": "Revenue was 1.2 million dollars in 2023.", "reason": "stated",
         "verdict": 1},
        {"statement": "Profit doubled.", "reason": "the context says profit fell",
         "verdict": 0}]},
    "Decompose and break down each of the input sentences": {
        "claims": ["Revenue was 1.2 million dollars in 2023.", "Profit doubled."]},
    "agrees with EACH context": {"verdicts": [
        {"verdict": "yes", "reason": "the revenue figure matches"},
        {"verdict": "no", "reason": "profit fell by 10 percent; it did not double"}]},
    "reason for the hallucination score": {
        "reason": "The output contradicts the context on profit."},
    "concise evaluation steps": {"steps": ["List the figures.", "Find each in the context."]},
    "assess the response below": {"score": 7, "reason": "One figure is not in the context."},
}


def needs(library: str) -> None:
    """Skip unless the extra is installed, without importing it: the adapter must be the
    first to import the library (it switches telemetry off before)."""
    if find_spec(library) is None:
        reason = f"needs harness[{library}] (tox's tests env installs it)"
        if os.environ.get("CI"):  # tox installs the extras: missing there is a broken setup
            pytest.fail(f"adapter tests cannot run in CI: {reason}", pytrace=False)
        pytest.skip(reason)


def judge_script(body: dict[str, Any]) -> str:
    if body["model"] == "mock-a":
        return ANSWER
    prompt = body["messages"][-1]["content"]
    for needle, reply in REPLIES.items():
        if needle in prompt:
            return json.dumps(reply)
    return default_reply(body)  # an unexpected prompt: not JSON, so the check errors


@pytest.fixture
def loopback_only(openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Any connection or name lookup other than the loopback server fails the test."""
    refused: list[Any] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and \
                tuple(address[:2]) != ("127.0.0.1", openai_server.port):
            refused.append(address)
            raise ConnectionRefusedError(f"test: no network but the judge: {address}")
        return real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", None):
            refused.append(host)
            raise socket.gaierror(f"test: no name lookups: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return refused


def test_ragas_and_deepeval_metrics_run_with_our_judge(
        project: Path, openai_server: OpenAIServer, loopback_only: list[Any]) -> None:
    needs("ragas")
    needs("deepeval")
    (project / "adapted.suite.yaml").write_text(SUITE)
    openai_server.script = judge_script
    code = main(["run", "adapted.suite.yaml", "-m", "openai/mock-a", "--api-base",
                 openai_server.base_url, "--judge", "openai/judge-a", "-q", "--no-cache"])
    log = RunLog.read(project / "reports" / "adapted.json")
    assert loopback_only == [], f"something reached for the network: {loopback_only}"
    assert not (project / ".deepeval").exists()  # no state left in the user's project
    # Telemetry that would be sent later (at exit, from a thread) is off, not just unsent.
    from deepeval.telemetry import NoopBackend, get_backend
    from ragas._analytics import do_not_track

    assert isinstance(get_backend(), NoopBackend) and do_not_track()
    assert code == 1
    (result,) = log.results
    assert result.status == "failed"
    checks = {c.check: c for c in result.checks}

    faithfulness = checks["ragas:faithfulness"]
    assert faithfulness.error is None
    assert faithfulness.score == pytest.approx(0.5) and not faithfulness.passed
    assert "expected ragas:faithfulness score ≥ 0.6; found 0.50" in faithfulness.reason
    assert faithfulness.evidence["judge_usage"]["calls"] == 2  # statements, then verdicts

    hallucination = checks["deepeval:hallucination"]
    assert hallucination.error is None
    assert hallucination.score == pytest.approx(0.5) and hallucination.passed
    assert "contradicts the context on profit" in hallucination.reason
    assert hallucination.evidence["verdicts"][0]["model"] == "openai/judge-a"
    assert hallucination.evidence["judge_usage"]["calls"] == 2  # verdicts, then reason
    assert hallucination.evidence["judge_usage"]["prompt_tokens"] > 0

    g_eval = checks["deepeval:g_eval"]
    assert g_eval.error is None
    assert g_eval.score == pytest.approx(0.7) and g_eval.passed
    assert "One figure is not in the context." in g_eval.reason

    # Every judge call went through our client: temperature 0, to the judge model only.
    judge_calls = [b for b in openai_server.requests if b["model"] == "judge-a"]
    assert len(judge_calls) == 2 + 2 + 2
    assert all(b["temperature"] == 0 for b in judge_calls)
    assert openai_server.count == len(judge_calls) + 1  # plus the case's own call


def test_factual_correctness_against_the_case_reference(
        project: Path, openai_server: OpenAIServer, loopback_only: list[Any]) -> None:
    needs("ragas")
    (project / "fact.suite.yaml").write_text(
        "suite: fact\nprompt: hi\ncases:\n  - id: a\n"
        "    vars: {reference: 'Revenue was 1.2 million dollars in 2023.'}\n    expect:\n"
        "      - ragas:factual_correctness: {mode: precision, threshold: 0.4}\n"
        "      - ragas:factual_correctness: {mode: precision, threshold: 0.6, "
        "reference: 'Profit fell.'}\n")
    openai_server.script = judge_script
    code = main(["run", "fact.suite.yaml", "-m", "openai/mock-a", "--api-base",
                 openai_server.base_url, "--judge", "openai/judge-a", "-q", "--no-cache"])
    assert loopback_only == []
    assert code == 1
    first, second = RunLog.read(project / "reports" / "fact.json").results[0].checks
    # precision: 1 of the output's 2 claims is inferred from the reference -> 0.5
    assert first.score == pytest.approx(0.5) and first.passed
    assert second.score == pytest.approx(0.5) and not second.passed
    assert first.evidence["metric"] == {"library": "ragas", "name": "factual_correctness",
                                        "mode": "precision"}
    nli = [b["messages"][-1]["content"] for b in openai_server.requests
           if "judge the faithfulness" in b["messages"][-1]["content"]]
    assert len(nli) == 2  # precision: only the output's claims are verified
    # one check verified against the case's reference var, the other against its own
    assert sum("Profit fell." in p for p in nli) == 1


def test_adapter_judge_calls_are_cached(project: Path, openai_server: OpenAIServer,
                                        loopback_only: list[Any]) -> None:
    needs("ragas")
    only_ragas = SUITE.split("      - deepeval:hallucination")[0]
    (project / "adapted.suite.yaml").write_text(only_ragas)
    openai_server.script = judge_script
    args = ["run", "adapted.suite.yaml", "-m", "openai/mock-a", "--api-base",
            openai_server.base_url, "--judge", "openai/judge-a", "-q"]
    main(args)
    assert openai_server.count == 3
    openai_server.reset()
    main(args)
    assert openai_server.count == 0
    usage = RunLog.read(project / "reports" / "adapted.json").results[0].checks[0] \
        .evidence["judge_usage"]
    assert usage["calls"] == 0 and usage["cached_calls"] == 2


def test_any_metric_by_name_and_a_misspelled_one(project: Path, openai_server: OpenAIServer,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    needs("deepeval")
    (project / "named.suite.yaml").write_text(
        "suite: named\njudge: openai/judge-a\nprompt: hi\ncases:\n  - id: a\n    expect:\n"
        "      - deepeval:HallucinationMetric: {}\n      - deepeval:halucination: {}\n")
    code = main(["validate", "named.suite.yaml"])
    assert code == 2
    err = capsys.readouterr().err
    assert "named.suite.yaml:8: case 'a': unknown check 'deepeval:halucination'" in err
    assert "Did you mean 'deepeval:hallucination'?" in err
    assert ":7:" not in err  # the class name resolves


def test_a_metric_that_needs_embeddings_says_so(openai_server: OpenAIServer) -> None:
    needs("ragas")
    result = build("ragas:answer_relevancy", {})(CheckInput(
        output="Paris.", messages=({"role": "user", "content": "Capital of France?"},),
        judge=_judge(openai_server)))
    assert result.error is not None and result.score is None and not result.passed
    assert "needs an embedding model, which harness does not provide" in result.error
    assert openai_server.count == 0


def _judge(server: OpenAIServer) -> JudgeClient:
    return JudgeClient(LiteLLMProvider(), [ModelConfig(id="openai/judge-a",
                                                       api_base=server.base_url)])


class _Block(importlib.abc.MetaPathFinder):
    """Makes ``import NAME`` (and its submodules) fail as if NAME were not installed."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname == self.name or fullname.startswith(self.name + "."):
            raise ModuleNotFoundError(f"No module named '{fullname}'", name=fullname)
        return None


@pytest.fixture(params=["ragas", "deepeval"])
def missing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """One of the two libraries made uninstalled for this test, whichever venv runs it."""
    name: str = request.param
    for module in list(sys.modules):
        if module == name or module.startswith(name + ".") or module.startswith(
                f"harness.adapters.{name}"):
            monkeypatch.delitem(sys.modules, module)
    monkeypatch.setattr(sys, "meta_path", [_Block(name), *sys.meta_path])
    yield name


def test_missing_extra_points_at_the_line_with_the_install_command(
        project: Path, missing: str, capsys: pytest.CaptureFixture[str]) -> None:
    check = "ragas:faithfulness" if missing == "ragas" else "deepeval:hallucination"
    other = "ragas:answer_accuracy" if missing == "ragas" else "deepeval:bias"
    (project / "needs.suite.yaml").write_text(
        "suite: needs\njudge: openai/judge-a\nprompt: hi\ncases:\n  - id: a\n"
        "    context: doc\n    expect:\n"
        f"      - contains: hi\n      - {check}: {{}}\n      - {other}: {{}}\n")
    code = main(["validate", "needs.suite.yaml"])
    assert code == 2
    err = capsys.readouterr().err
    assert (f"needs.suite.yaml:9: case 'a': check '{check}' needs the optional package "
            f"'{missing}', which is not installed") in err
    assert f"needs.suite.yaml:10: case 'a': check '{other}' needs the optional package" in err
    assert f"pip install 'harness[{missing}]'" in err
    assert "Traceback" not in err


def test_a_missing_extra_at_run_time_is_a_check_error_never_a_verdict(
        missing: str, openai_server: OpenAIServer) -> None:
    name = "ragas:faithfulness" if missing == "ragas" else "deepeval:hallucination"
    result = build(name, {})(CheckInput(output="x", context=("doc",),
                                        judge=_judge(openai_server)))
    assert result.error is not None and not result.passed and result.score is None
    assert f"pip install 'harness[{missing}]'" in result.error
    assert openai_server.count == 0


def test_loading_other_checks_never_imports_the_libraries(project: Path) -> None:
    (project / "plain.suite.yaml").write_text(
        "suite: plain\nprompt: hi\ncases:\n  - id: a\n    expect:\n      - contains: hi\n")
    code = ("import sys\nfrom harness.cli import main\n"
            "assert main(['validate', 'plain.suite.yaml']) == 0\n"
            "main(['checks'])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('ragas', 'deepeval', 'langchain_core', 'instructor') "
            "or m.startswith('harness.adapters.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=project)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert "ragas:faithfulness" in out.stdout and "deepeval:<metric>" in out.stdout
