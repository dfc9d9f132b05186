"""Judge calls spend from the run's --max-cost like the model's calls, and the RunLog keeps
judge cost apart from model cost.

The loopback server stands in for OpenAI: ``openai/gpt-4o-mini`` answers the cases and
``openai/gpt-4o`` judges them, both priced from LiteLLM's offline table. The server's
usage counts the words of the messages (prompt) and of the reply (completion), so what
each call is billed is computed here from the requests the server received.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.providers.litellm_provider import load_litellm
from harness.results import RunLog
from tests.openai_server import OpenAIServer, _text, words

MODEL, JUDGE = "openai/gpt-4o-mini", "openai/gpt-4o"
ANSWER = "Refunds are accepted within 30 days with a receipt."
VERDICT = json.dumps({"score": 0.9, "reason": "states the refund period"})
CASES = 12


@pytest.fixture(scope="module", autouse=True)
def _litellm_imported() -> None:
    load_litellm()


def prices(model: str) -> tuple[float, float]:
    entry = load_litellm().model_cost[model.split("/", 1)[1]]
    return entry["input_cost_per_token"], entry["output_cost_per_token"]


def reply(body: dict[str, Any]) -> str:
    return VERDICT if body["model"] == JUDGE.split("/", 1)[1] else ANSWER


def billed(server: OpenAIServer, model: str) -> float:
    """What the server billed for ``model``'s calls, from its own usage rule."""
    price_in, price_out = prices(model)
    name = model.split("/", 1)[1]
    total = 0.0
    for body in server.requests:
        if body["model"] != name:
            continue
        prompt = sum(words(_text(m.get("content"))) for m in body["messages"])
        total += prompt * price_in + words(reply(body)) * price_out
    return total


def write_suite(path: Path) -> None:
    doc = {"suite": "judged", "defaults": {"timeout": 10, "max_tokens": 20},
           "prompt": "Case {{ n }}: summarise our refund policy in one sentence.",
           "cases": [{"id": f"c{n:02d}", "vars": {"n": n},
                      "expect": [{"judge": {"rubric": "States the refund period."}}]}
                     for n in range(CASES)]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def run(server: OpenAIServer, *extra: str) -> int:
    return main(["run", "judged.suite.yaml", "-m", MODEL, "--judge", JUDGE, "--api-base",
                 server.base_url, "-q", "--concurrency", "1", *extra])


def test_judge_cost_is_recorded_apart_from_model_cost(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_suite(project / "judged.suite.yaml")
    with OpenAIServer(script=reply) as server:
        assert run(server, "--no-cache") == 0
        model_bill, judge_bill = billed(server, MODEL), billed(server, JUDGE)
    out = capsys.readouterr().out
    log = RunLog.read(project / "reports" / "judged.json")
    assert len(log.results) == CASES
    assert sum(r.cost_usd or 0.0 for r in log.results) == pytest.approx(model_bill)
    assert sum(r.judge_cost_usd or 0.0 for r in log.results) == pytest.approx(judge_bill)
    assert all(r.judge_cost_usd and r.judge_cost_usd > 10 * (r.cost_usd or 0.0)
               for r in log.results)  # gpt-4o reading the answer costs more than writing it
    costs = log.summary["costs"]
    assert costs["model_usd"] == pytest.approx(model_bill)
    assert costs["judge_usd"] == pytest.approx(judge_bill)
    assert costs["total_usd"] == pytest.approx(model_bill + judge_bill)
    assert costs["models"][MODEL]["judge_usd"] == pytest.approx(judge_bill)
    assert re.search(r"judge calls cost \$[\d.]+; models and judges together \$[\d.]+", out)


def test_max_cost_bounds_model_and_judge_spend_together(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_suite(project / "judged.suite.yaml")
    # A case costs about $0.0003 in all (the judge reads ~100 words at gpt-4o's price), but
    # a judge call may cost ~$0.0107 (1,024 completion tokens at most); the model's own
    # worst case is tiny. Counting only the model's worst case, all 12 cases would start.
    budget = 0.012
    with OpenAIServer(script=reply) as server:
        code = run(server, "--max-cost", f"{budget}", "--out", "out")
        err = capsys.readouterr().err
        assert code == 1 and "stopped before exceeding --max-cost $0.012" in err
        spent = billed(server, MODEL) + billed(server, JUDGE)
        log = RunLog.read(project / "out" / "judged.json")
        assert log.settings["status"] == "max_cost"
        assert 1 <= len(log.results) < CASES
        # everything the provider billed, judges included, stayed within the budget
        assert spent <= budget
        recorded = sum((r.cost_usd or 0.0) + (r.judge_cost_usd or 0.0) for r in log.results)
        assert recorded <= spent + 1e-12
        # each recorded case was judged; a case whose judge did not fit is not recorded
        judge_calls = sum(b["model"] == "gpt-4o" for b in server.requests)
        assert judge_calls == len(log.results)
        assert all(r.status == "passed" for r in log.results)
        # one more judge call would not have fitted: the run did not stop early for nothing
        one_judge = billed(server, JUDGE) / judge_calls
        assert spent + one_judge <= budget  # an average call would fit; its worst case not
        model_calls = sum(b["model"] == "gpt-4o-mini" for b in server.requests)
        assert model_calls in (len(log.results), len(log.results) + 1)

        match = re.search(r"resume with: harness run --resume (\S+)", err)
        assert match, err
        assert main(["run", "--resume", match.group(1), "--out", "out", "-q",
                     "--max-cost", "1"]) == 0
        log = RunLog.read(project / "out" / "judged.json")
        assert len(log.results) == CASES and log.settings["status"] == "finished"
        assert all(r.status == "passed" for r in log.results)
        # no case was answered twice: the one left unjudged took its answer from the cache
        assert sum(b["model"] == "gpt-4o-mini" for b in server.requests) == CASES
        assert sum(b["model"] == "gpt-4o" for b in server.requests) == CASES


def test_an_unpriced_judge_is_named_when_a_budget_is_set(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_suite(project / "judged.suite.yaml")
    with OpenAIServer(script=lambda body: VERDICT if body["model"] == "house-judge"
                      else ANSWER) as server:
        assert main(["run", "judged.suite.yaml", "-m", MODEL, "--judge", "openai/house-judge",
                     "--api-base", server.base_url, "-q", "--max-cost", "1"]) == 0
    err = capsys.readouterr().err
    assert "does not know the judge(s) openai/house-judge; --max-cost cannot limit" in err
    log = RunLog.read(project / "reports" / "judged.json")
    assert log.summary["costs"]["judge_usd"] is None  # unpriced: not counted as free
    assert log.summary["costs"]["model_usd"] > 0


def test_a_judged_group_check_spends_from_the_same_budget(project: Path) -> None:
    # consistent_across measured by a judge asks its judge once per group, after the run:
    # those calls must fit --max-cost too. Both variants' answers cost ~$0.00002; the
    # judge's worst case (~$0.0107, see above) does not fit in $0.005.
    doc = {"suite": "grouped", "defaults": {"timeout": 10, "max_tokens": 20},
           "prompt": "Summarise the candidate {{ name }} in one sentence.",
           "cases": [{"id": "cv", "counterfactual": {"name": ["Emily", "Greg"]},
                      "expect": [{"consistent_across": {"measure": "judge",
                                                        "threshold": 0.7}}]}]}
    (project / "grouped.suite.yaml").write_text(yaml.safe_dump(doc, sort_keys=False),
                                                encoding="utf-8")
    verdict = json.dumps({"consistent": True, "score": 0.9, "reason": "same"})
    with OpenAIServer(script=lambda b: verdict if b["model"] == "gpt-4o" else ANSWER) as s:
        main(["run", "grouped.suite.yaml", "-m", MODEL, "--judge", JUDGE, "--api-base",
              s.base_url, "-q", "--no-cache", "--max-cost", "0.005", "--out", "out"])
        assert sum(b["model"] == "gpt-4o" for b in s.requests) == 0  # never sent
        assert sum(b["model"] == "gpt-4o-mini" for b in s.requests) == 2
    log = RunLog.read(project / "out" / "grouped.json")
    assert len(log.results) == 2
    for r in log.results:  # not judged is an error, never a verdict
        assert r.status == "error"
        (c,) = r.checks
        assert c.error is not None and "not asked" in c.reason and "--max-cost" in c.reason
