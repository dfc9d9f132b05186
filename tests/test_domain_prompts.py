"""The domain suites' prompt variants: each suite offers a plain prompt and an improved one,
every case runs with each, and `harness compare` tells which one a model does better with.

The last test runs the agency suite's menu cases against the loopback OpenAI-compatible
server, scripted to write on-brief copy only when it is given the improved variant's role:
the comparison must put `improved` ahead of `baseline`.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from scipy.stats import binomtest

from harness.cli import main
from harness.spec.loader import load_suite
from tests.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "suites"
DOMAINS = ["agency", "consulting", "legal", "marketing", "product"]
SHIPPED_PATTERNS = {"role", "output_format", "few_shot", "step_by_step", "self_check"}


def _yaml(name: str) -> dict[str, Any]:
    data = yaml.safe_load((SUITES / f"{name}.suite.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _pattern_names(variant: dict[str, Any]) -> list[str]:
    return [p if isinstance(p, str) else next(iter(p)) for p in variant.get("patterns", [])]


def _cases_in_yaml(name: str) -> int:
    """How many cases the suite's YAML declares: a counterfactual case counts once per
    combination of its values, a dataset once per JSONL row."""
    data = _yaml(name)
    count = 0
    for case in data.get("cases", []):
        values = (case.get("counterfactual") or {}).values()
        assert all(isinstance(v, list) for v in values), case["id"]
        count += len(list(itertools.product(*values))) if values else 1
    if "dataset" in data:
        rows = (SUITES / data["dataset"]["path"]).read_text(encoding="utf-8").splitlines()
        count += sum(1 for row in rows if row.strip())
    return count


@pytest.mark.parametrize("name", DOMAINS)
def test_each_domain_suite_offers_a_plain_and_an_improved_prompt(name: str) -> None:
    data = _yaml(name)
    assert "prompt" not in data, "the suite's prompt lives in prompts.baseline"
    prompts = data["prompts"]
    assert len(prompts) >= 2
    for variant in prompts.values():
        assert isinstance(variant.get("note"), str) and len(variant["note"]) > 20
    # the plain one sends the task as written: no patterns
    assert "prompt" in prompts["baseline"] and not prompts["baseline"].get("patterns")
    improved = prompts["improved"]
    assert improved["base"] == "baseline"
    assert {"role", "output_format", "few_shot"} <= set(_pattern_names(improved))
    assert set(_pattern_names(improved)) <= SHIPPED_PATTERNS
    # the worked examples are a file under fixtures/prompts/<domain>/, and their answers
    # are the kind the suite wants: never a banned word, never an exclamation mark
    shots = next(p["few_shot"] for p in improved["patterns"]
                 if isinstance(p, dict) and "few_shot" in p)
    examples_file = (SUITES / shots["file"]).resolve()
    assert examples_file.parent == ROOT / "fixtures" / "prompts" / name
    examples = yaml.safe_load(examples_file.read_text(encoding="utf-8"))
    assert len(examples) >= shots.get("k", 2)
    for example in examples:
        assert set(example) == {"user", "assistant"} and "!" not in example["assistant"]
    # the header says how to compare the prompts, and no longer waits for prompts: to land
    header = (SUITES / f"{name}.suite.yaml").read_text(encoding="utf-8").split("\nsuite:")[0]
    assert "to enable when prompts: lands" not in header
    assert f"harness run suites/{name}.suite.yaml" in header
    assert f"harness compare reports/{name}.json" in header


@pytest.mark.parametrize("name", DOMAINS)
def test_every_case_runs_with_every_prompt(name: str) -> None:
    variants = list(_yaml(name)["prompts"])
    suite = load_suite(SUITES / f"{name}.suite.yaml")
    assert len(suite.cases) == _cases_in_yaml(name) * len(variants)
    by_case: dict[str, set[str | None]] = {}
    for spec in suite.cases:
        by_case.setdefault(spec.id, set()).add(spec.prompt)
    assert all(prompts == set(variants) for prompts in by_case.values()), by_case
    # the improved variant really sends more: its role first, then the suite's system
    # prompt, and its worked example before the task
    role = next(p["role"] for p in _yaml(name)["prompts"]["improved"]["patterns"]
                if isinstance(p, dict) and "role" in p)
    for spec in suite.cases:
        first = spec.messages[0]
        if spec.prompt == "improved":
            assert first["role"] == "system" and first["content"].startswith(role.strip())
            assert any(m["role"] == "assistant" for m in spec.messages)
        else:
            assert role.strip() not in first["content"]
            assert not any(m["role"] == "assistant" for m in spec.messages)


def test_compare_puts_the_prompt_the_model_answers_better_ahead(
    project: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _yaml("agency")
    role = next(p["role"] for p in data["prompts"]["improved"]["patterns"]
                if isinstance(p, dict) and "role" in p).strip()
    rows = [json.loads(r) for r in
            (SUITES / data["dataset"]["path"]).read_text(encoding="utf-8").splitlines()
            if r.strip()]

    def reply(body: dict[str, Any]) -> str:
        system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
        task = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        found = re.search(r"Item: (.+?): ", task)
        assert found, task
        if system.startswith(role):
            return f"{found.group(1)}, made this morning. Pre-order by 11am for collection."
        # the plain prompt gets a banned word and the missing delivery service
        return f"Cheap {found.group(1)}, delivered to your desk."

    openai_server.script = reply
    argv = ["run", str(SUITES / "agency.suite.yaml"), "-m", "openai/gpt-4o-mini",
            "--api-base", openai_server.base_url, "--filter", "tag:volume", "--no-cache",
            "-q", "-o", "out"]
    assert main(argv) == 1  # the baseline's answers fail
    assert openai_server.count == 2 * len(rows)
    capsys.readouterr()
    assert main(["compare", "out/agency.json", "--json", "cmp.json"]) == 0
    out = capsys.readouterr().out
    cmp = json.loads(Path("cmp.json").read_text(encoding="utf-8"))
    rates = {r["prompt"]: r["passed"] for r in cmp["prompts"]["rates"]
             if r["scope"] == "overall"}
    assert rates == {"baseline": 0, "improved": len(rows)}
    (test,) = [t for t in cmp["prompts"]["tests"] if t["scope"] == "overall"]
    assert {test["a"], test["b"]} == {"baseline", "improved"}
    assert test["p_value"] == pytest.approx(binomtest(0, len(rows), 0.5).pvalue)
    assert "`improved` beats `baseline` with openai/gpt-4o-mini: +100 points" in out, out
