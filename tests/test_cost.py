"""Cost: what ``--dry-run`` promises before anything is sent, and ``--max-cost`` keeping
a run inside its budget.

The loopback server stands in for OpenAI's ``gpt-4o-mini``: it reports
``usage.prompt_tokens`` counted exactly the way OpenAI documents it (tiktoken's o200k_base
encoding, 3 tokens per message plus its role and content, 3 to prime the reply), so the
harness's offline estimate is compared with what the provider would bill. LiteLLM prices
the calls from its offline table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.providers.litellm_provider import load_litellm
from harness.results import RunLog
from tests.openai_server import OpenAIServer

MODEL = "openai/gpt-4o-mini"
# The dry run counts prompts with LiteLLM's tokenizer for the model; the provider counts
# them with its own. Within 2 % of the total, a budget computed from the estimate holds
# (the completion bound, not the prompt, dominates a call's worst case).
PROMPT_TOLERANCE = 0.02

PROMPTS = [
    "Summarise our refund policy: 30 days, receipt required, no questions asked.",
    "Write a two-line product blurb for a stainless-steel water bottle (750 ml).",
    "List three risks of launching in Q3 2025; be brief.",
    "Translate 'Good morning, how are you?' into French, German and Japanese.",
    "Café owners in Zürich ask: ¿qué es un 'flat white'? Answer in one sentence.",
    "Explain what `SELECT * FROM users WHERE id = 42;` does.",
    "日本語で「ありがとう」と言ってください。",
    "Rewrite: 'We was going to the store yesterday, and buyed apples.'",
    "What is 17 × 23? Show the steps.",
    "Draft a subject line for a GDPR data-access request reply.",
]


@pytest.fixture(scope="module", autouse=True)
def _litellm_imported() -> None:
    load_litellm()


@pytest.fixture
def openai_tokens(monkeypatch: pytest.MonkeyPatch) -> Any:
    """prompt_tokens as OpenAI counts them for gpt-4o-mini ("How to count tokens with
    tiktoken", OpenAI cookbook): tiktoken's files ship inside LiteLLM, so nothing is
    downloaded."""
    import litellm

    bundled = Path(litellm.__file__).parent / "litellm_core_utils" / "tokenizers"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(bundled))
    import tiktoken

    encoding = tiktoken.get_encoding("o200k_base")

    def count(messages: list[dict[str, Any]]) -> int:
        tokens = 3  # every reply is primed with <|start|>assistant<|message|>
        for message in messages:
            tokens += 3  # <|start|>{role}<|message|>{content}<|end|>
            tokens += len(encoding.encode(str(message["role"])))
            tokens += len(encoding.encode(str(message["content"])))
        return tokens

    return count


def write_suite(path: Path, prompts: list[str], max_tokens: int) -> Path:
    doc = {
        "suite": "costs",
        "defaults": {"timeout": 10, "max_tokens": max_tokens,
                     "system": "You are a careful assistant for a small online shop."},
        "prompt": "{{ q }}",
        "cases": [{"id": f"c{n:02d}", "vars": {"q": q}, "expect": [{"min_words": 1}]}
                  for n, q in enumerate(prompts)],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def dry_run_row(out: str, model: str) -> dict[str, Any]:
    """The dry run's table row for ``model``."""
    line = next(line for line in out.splitlines() if line.startswith(model))
    fields = line.split()
    cost = re.search(r"\$?([\d.]+) – \$?([\d.]+)\s*$", line)
    assert cost, line
    return {"calls": int(fields[1]), "cached": int(fields[2]), "prompt": int(fields[3]),
            "completion": int(fields[4]), "low": float(cost.group(1)),
            "high": float(cost.group(2))}


def test_dry_run_estimate_matches_what_the_provider_bills(
    project: Path, openai_tokens: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    write_suite(project / "costs.suite.yaml", PROMPTS, max_tokens=64)
    with OpenAIServer(tokenizer=openai_tokens) as server:
        args = ["run", "costs.suite.yaml", "-m", MODEL, "--api-base", server.base_url]
        assert main([*args, "--dry-run"]) == 0
        captured = capsys.readouterr()
        assert server.count == 0  # a dry run sends nothing
        assert "nothing sent" in captured.out
        row = dry_run_row(captured.out, MODEL)
        assert (row["calls"], row["cached"]) == (len(PROMPTS), 0)
        assert row["completion"] == 64 * len(PROMPTS)
        assert 0 < row["low"] < row["high"]

        assert main([*args, "-q", "--no-cache"]) == 0
        assert server.count == len(PROMPTS)
        log = RunLog.read(project / "reports" / "costs.json")

    billed_prompt = sum(r.usage.prompt_tokens or 0 for r in log.results)
    billed_completion = sum(r.usage.completion_tokens or 0 for r in log.results)
    assert billed_prompt == sum(openai_tokens(r.messages) for r in log.results)
    assert abs(row["prompt"] - billed_prompt) <= PROMPT_TOLERANCE * billed_prompt, \
        (row["prompt"], billed_prompt)
    assert billed_completion <= row["completion"]

    # The bill falls inside the range the dry run printed (3 significant digits).
    costs = [r.cost_usd for r in log.results]
    assert all(c is not None and c > 0 for c in costs), costs
    total = sum(c for c in costs if c is not None)
    assert row["low"] < total <= row["high"] * 1.005, (row, total)
    price_in = load_litellm().model_cost["gpt-4o-mini"]["input_cost_per_token"]
    assert row["low"] == pytest.approx(billed_prompt * price_in, rel=PROMPT_TOLERANCE + 0.005)


def test_max_cost_stops_before_the_budget_is_exceeded(
    project: Path, openai_tokens: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = 20
    prompts = [f"Write fifty words about product number {n}." for n in range(cases)]
    write_suite(project / "costs.suite.yaml", prompts, max_tokens=50)
    fifty_words = " ".join(["word"] * 50)  # every answer uses all of max_tokens
    budget = 0.0001  # a call costs about $0.000033 at most: a few calls fit
    with OpenAIServer(tokenizer=openai_tokens, script=lambda body: fifty_words) as server:
        code = main(["run", "costs.suite.yaml", "-m", MODEL, "--api-base", server.base_url,
                     "-q", "--no-cache", "--max-cost", f"{budget}", "--out", "out"])
        err = capsys.readouterr().err
        assert code == 1
        assert "stopped before exceeding --max-cost $0.0001" in err
        match = re.search(r"resume with: harness run --resume (\S+) --out out "
                          r"--max-cost <more than 0.0001>", err)
        assert match, err
        assert 1 <= server.count <= 4 < cases
        log = RunLog.read(project / "out" / "costs.json")
        assert log.settings["status"] == "max_cost"
        assert len(log.results) == server.count
        spent = sum(r.cost_usd or 0.0 for r in log.results)
        assert all(r.cost_usd for r in log.results)
        assert spent <= budget

        # Resuming with a larger budget (the total for the whole run) finishes the rest.
        before = server.count
        assert main(["run", "--resume", match.group(1), "--out", "out", "-q",
                     "--max-cost", "0.01"]) == 0
        assert server.count - before == cases - before
        log = RunLog.read(project / "out" / "costs.json")
        assert log.settings["status"] == "finished" and len(log.results) == cases
        assert sum(r.cost_usd or 0.0 for r in log.results) <= 0.01
