"""The shipped WinoBias, Winogender and CrowS-Pairs suites, run against scripted loopback
models whose bias is known: the pro/anti gap and the stereotype preference must show it,
and a model without it must not be flagged."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import binomtest

from harness.bias import counterfactual_gaps, preferences
from harness.cli import main
from harness.providers.litellm_provider import load_litellm
from harness.results import RunLog
from harness.spec.loader import load_suite
from tests.openai_server import OpenAIServer, last_user_message

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _litellm_imported() -> None:
    load_litellm()


def rows(name: str) -> list[dict[str, Any]]:
    path = ROOT / "fixtures" / name.replace("-", "_") / f"{name}-sample.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def copy_suite(project: Path, name: str) -> None:
    folder = name.replace("-", "_")
    shutil.copytree(ROOT / "fixtures" / folder, project / "fixtures" / folder)
    (project / "suites").mkdir()
    shutil.copy(ROOT / "suites" / f"bias-{name}.suite.yaml", project / "suites")


def run(project: Path, server: OpenAIServer, name: str) -> RunLog:
    main(["run", f"suites/bias-{name}.suite.yaml", "-m", "openai/mock-a", "--api-base",
          server.base_url, "--no-cache", "-q", "--name", name])
    return RunLog.read(project / "reports" / f"{name}.json")


def by_sentence(name: str) -> dict[str, dict[str, Any]]:
    return {r["text"]: r for r in rows(name)}


def test_dataset_rows_join_into_counterfactual_sets() -> None:
    suite = load_suite(ROOT / "suites" / "bias-winobias.suite.yaml")
    data = rows("winobias")
    assert [c.id for c in suite.cases] == [r["id"] for r in data]
    for case, row in zip(suite.cases, data, strict=True):
        assert case.group == row["pair"]
        assert case.variant == {"attribute": "variant", "value": row["variant"],
                                "group": row["variant"]}
        assert [b.name for b in case.group_checks] == ["consistent_across"]
    pairs: dict[str, list[str]] = {}
    for row in data:
        pairs.setdefault(row["pair"], []).append(row["variant"])
    assert len(pairs) == 24
    assert all(v == ["pro_stereotyped", "anti_stereotyped"] for v in pairs.values())


@pytest.mark.parametrize("name", ["winobias", "winogender"])
def test_a_model_that_resolves_by_stereotype_shows_a_gap(
        project: Path, openai_server: OpenAIServer, name: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Right for one pronoun group, wrong for every other: accuracy 1 vs 0."""
    sentences = by_sentence(name)
    favoured = "pro_stereotyped" if name == "winobias" else "male"

    def stereotyped(body: dict[str, Any]) -> str:
        prompt = last_user_message(body)
        row = next(r for t, r in sentences.items() if t in prompt)
        right = row["label"] if row["variant"] == favoured else 1 - row["label"]
        return f"({'ab'[right]})"

    openai_server.script = stereotyped
    copy_suite(project, name)
    log = run(project, openai_server, name)
    for r in log.results:
        (choice,) = [c for c in r.checks if c.check == "chosen_option"]
        assert choice.passed is (r.variant["group"] == favoured)
        (group,) = [c for c in r.checks if c.check == "consistent_across"]
        assert not group.passed
    (gap,) = counterfactual_gaps(log.results)
    groups = {r["variant"] for r in rows(name)}
    assert gap.measure == "choice" and gap.high == favoured
    assert gap.means == {g: (1.0 if g == favoured else 0.0) for g in sorted(groups)}
    assert gap.gap == 1.0 and gap.p_value < 0.05 and gap.biased
    capsys.readouterr()
    main(["bias", f"reports/{name}.json"])
    assert re.search(rf"bias: {favoured} > \w+", capsys.readouterr().out)


def test_a_model_that_reads_the_sentence_is_not_flagged(
        project: Path, openai_server: OpenAIServer) -> None:
    sentences = by_sentence("winobias")

    def right(body: dict[str, Any]) -> str:
        prompt = last_user_message(body)
        row = next(r for t, r in sentences.items() if t in prompt)
        return f"The answer is ({'ab'[row['label']]})."

    openai_server.script = right
    copy_suite(project, "winobias")
    log = run(project, openai_server, "winobias")
    assert {r.status for r in log.results} == {"passed"}
    (gap,) = counterfactual_gaps(log.results)
    assert gap.gap == 0 and not gap.biased


@pytest.mark.parametrize("always_stereotyped", [True, False])
def test_crows_pairs_preference_rate_and_binomial_test(
        project: Path, openai_server: OpenAIServer, always_stereotyped: bool) -> None:
    data = rows("crows-pairs")

    def answer(body: dict[str, Any]) -> str:
        if not always_stereotyped:
            return "(a)"
        prompt = last_user_message(body)
        row = next(r for r in data if r["ans0"] in prompt and r["ans1"] in prompt)
        return f"({'ab'[row['stereotyped']]})"

    openai_server.script = answer
    copy_suite(project, "crows-pairs")
    log = run(project, openai_server, "crows-pairs")
    every = next(p for p in preferences(log.results) if p.category == "all")
    # "(a)" every time: the stereotyped sentence is first in the even rows
    k = len(data) if always_stereotyped else sum(r["stereotyped"] == 0 for r in data)
    assert (every.chosen, every.stereotyped) == (len(data), k)
    assert every.rate == pytest.approx(k / len(data))
    assert every.p_value == pytest.approx(binomtest(k, len(data), 0.5).pvalue)
    if not always_stereotyped:
        assert every.rate == 0.5 and every.p_value == pytest.approx(1.0)
    race = next(p for p in preferences(log.results) if p.category == "race-color")
    assert race.chosen == sum(r["category"] == "race-color" for r in data)
    html = (project / "reports" / "crows-pairs.html").read_text(encoding="utf-8")
    assert 'id="bias-preference-table"' in html


def test_every_bias_suite_says_what_it_measures_and_credits_its_source() -> None:
    for name in ("bbq", "winobias", "winogender", "crows-pairs"):
        text = (ROOT / "suites" / f"bias-{name}.suite.yaml").read_text(encoding="utf-8")
        head = text.split("\nsuite:")[0]
        assert "How to read it" in head and "SOURCE.md" in head, name
        load_suite(ROOT / "suites" / f"bias-{name}.suite.yaml")
    for folder in ("bbq", "winobias", "winogender", "crows_pairs"):
        source = (ROOT / "fixtures" / folder / "SOURCE.md").read_text(encoding="utf-8")
        assert "License" in source and "commit" in source, folder
