"""The shipped domain suites: they load, they are the size and shape their headers claim,
and their checks tell a good answer from a bad one.

The last part runs each domain suite (and risk-hallucination) through `harness run`
against the loopback OpenAI-compatible server, with one case per suite and three scripted
"models": one gives a good answer, the others a bad one (an invented figure, a leaked
client e-mail, a banned word, a citation to a clause that does not exist). The bad answers
must fail the check written for that fault, and only that one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.results import RunLog
from harness.spec.loader import load_suite
from tests.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "suites"

# What each domain suite claims, in its header, to test.
DOMAINS: dict[str, set[str]] = {
    "marketing": {"contains", "grounded", "max_words", "max_chars", "consistent_across"},
    "consulting": {"cites_sources", "grounded", "markdown", "matches_schema", "regex"},
    "product": {"grounded", "no_pii", "max_chars", "max_words", "matches_schema", "markdown"},
    "legal": {"cites_sources", "no_pii", "no_canary", "grounded", "regex", "markdown"},
    "agency": {"cost_usd", "latency_ms", "markdown", "grounded", "contains", "max_chars"},
    "risk-hallucination": {"grounded", "contains", "regex"},
}


def _shipped() -> list[Path]:
    return sorted(SUITES.glob("*.suite.yaml"))


def test_every_shipped_suite_validates(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(_shipped()) >= len(DOMAINS) + 1
    assert main(["validate", str(SUITES)]) == 0
    out = capsys.readouterr().out
    for path in _shipped():
        assert f"ok  suites/{path.name}" in out or f"ok  {path}" in out, out


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_domain_suite_has_the_size_and_checks_it_claims(name: str) -> None:
    path = SUITES / f"{name}.suite.yaml"
    suite = load_suite(path)
    # a counterfactual case expands into variants that share a group: count it once
    cases = {spec.group or spec.id for spec in suite.cases}
    assert 10 <= len(cases) <= 30, sorted(cases)
    assert suite.description and len(suite.description) > 20
    used = {check.name for spec in suite.cases
            for check in (*spec.checks, *spec.group_checks)}
    assert DOMAINS[name] <= used, DOMAINS[name] - used
    # the header documents what it tests, how to adapt it, and the prompt variants
    header = path.read_text(encoding="utf-8").split("\nsuite:", 1)[0]
    assert header.startswith("# yaml-language-server: $schema=../harness/spec/suite.schema.json")
    for needle in ("What it tests" if name != "risk-hallucination" else "RISK", "Adapt it",
                   "PROMPT VARIANTS", "improved = role + output_format + few_shot"):
        assert needle in header, needle
    # deterministic checks only: every suite runs offline without a judge model
    assert not used & {"judge", "faithful"}


# --- scripted answers ------------------------------------------------------------------
# model (as the server sees it) → answer. "gpt-4o-mini" answers well; the others do not.

MARKETING = {
    "gpt-4o-mini": "Halo is a cordless LED desk lamp with five colour temperatures. It runs "
                   "up to 18 hours on the warm setting and folds flat to 4 centimetres. See "
                   "it at brightloom.example/halo.",
    # an invented figure: the sheet says 18 hours
    "gpt-4o": "Halo is a cordless LED desk lamp. It runs for 25 hours on the warm setting "
              "and folds flat to 4 centimetres. See it at brightloom.example/halo.",
    # a banned word
    "gpt-3.5-turbo": "Halo is a revolutionary cordless LED desk lamp. It runs up to 18 hours "
                     "on the warm setting. See it at brightloom.example/halo.",
}
CONSULTING = {
    "gpt-4o-mini": "The UK plant-based snack market was worth £412 million in 2025 [1]. "
                   "Analysts expect growth of 6 to 8 percent a year until 2028 [1].",
    # an invented forecast, cited to a source that does not hold it
    "gpt-4o": "The UK plant-based snack market was worth £412 million in 2025 [1]. It will "
              "reach £900 million by 2030 [2].",
    # a citation to a source that does not exist
    "gpt-3.5-turbo": "The UK plant-based snack market was worth £412 million in 2025 [1]. "
                     "Analysts expect growth of 6 to 8 percent a year until 2028 [7].",
}
PRODUCT = {
    "gpt-4o-mini": "- All four participants named late payment or forgotten details as the "
                   "main pain.\n- Three of four (P1, P2, P3) would use automatic payment "
                   "reminders.\n- Approval workflows mattered only for P3.\n- P2 exports "
                   "everything to his accountant at the end of the quarter.",
    # a leaked interviewee e-mail
    "gpt-4o": "- All four participants named late payment as the main pain.\n- Three of "
              "four would use automatic payment reminders.\n- Approval workflows mattered "
              "only for P3.\n- Follow up with marguerite.okafor@crumbandcrust.example.",
    "gpt-3.5-turbo": "- All four participants named late payment as the main pain.\n- "
                     "Three of four would use automatic payment reminders.\n- Approval "
                     "workflows mattered only for P3.",
}
LEGAL = {
    "gpt-4o-mini": "Each party's liability is capped at the fees paid in the 12 months "
                   "before the claim [8]. The cap does not apply to breaches of Clause 6 "
                   "or Clause 7 [8].",
    # a clause that does not exist
    "gpt-4o": "Each party's liability is capped at the fees paid in the 12 months before "
              "the claim [8]. Clause 14 excludes all indirect losses [14].",
    "gpt-3.5-turbo": "Each party's liability is capped at the fees paid in the 12 months "
                     "before the claim [8].",
}
LEGAL_CLIENT = {
    "gpt-4o-mini": "A textile manufacturer is negotiating a master services agreement with "
                   "a software supplier. It wants a longer acceptance period and a higher "
                   "liability cap.",
    # the client's e-mail address
    "gpt-4o": "A textile manufacturer is negotiating a master services agreement with a "
              "software supplier. Questions go to priya.venkataraman@harrowgate-textiles"
              ".example.",
    "gpt-3.5-turbo": "A textile manufacturer is negotiating a master services agreement.",
}
AGENCY = {
    "gpt-4o-mini": "Cloudy lemonade: pressed lemons and a little fizz. Pre-order by 11am.",
    # a banned word and a no-go topic
    "gpt-4o": "Cheap cloudy lemonade, delivered to your desk by noon.",
    # over the 120-character limit
    "gpt-3.5-turbo": "Cloudy lemonade made from pressed lemons, cane sugar and sparkling "
                     "water, the perfect partner for every sandwich and soup on our menu.",
}
HALLUCINATION = {
    "gpt-4o-mini": "Sinbad starred in Good Burger.",
    # a film and a year the passage does not hold
    "gpt-4o": "Sinbad starred in Houseguest, released in 1995.",
    "gpt-3.5-turbo": "He starred in Good Burger, a 1997 comedy.",
}


def _run(project: Path, server: OpenAIServer, suite: str, case: str,
         answers: dict[str, str]) -> dict[str, dict[str, bool]]:
    """Run one case of a shipped suite on the three scripted models; the pass/fail of
    each check, per model (as the server names it)."""

    def reply(body: dict[str, Any]) -> str:
        return answers[body["model"]]

    server.script = reply
    models = [f"openai/{m}" for m in answers]
    argv = ["run", str(SUITES / f"{suite}.suite.yaml"), "--api-base", server.base_url,
            "--filter", case, "-q", "--no-cache", "-o", str(project / "out"), "--name", case]
    for model in models:
        argv += ["-m", model]
    main(argv)
    log = RunLog.read(project / "out" / f"{case}.json")
    verdicts: dict[str, dict[str, bool]] = {}
    for result in log.results:
        assert result.case_id == case and result.error is None, result
        checks = verdicts.setdefault(result.model.removeprefix("openai/"), {})
        for record in result.checks:
            # a check that appears twice (two 'contains') fails when either fails
            checks[record.check] = checks.get(record.check, True) and record.passed
    assert set(verdicts) == set(answers)
    return verdicts


def _failed(verdict: dict[str, bool]) -> set[str]:
    return {name for name, passed in verdict.items() if not passed}


Scenario = tuple[str, str, dict[str, str], dict[str, set[str]]]
SCENARIOS: list[Scenario] = [
    ("marketing", "product-blurb", MARKETING,
     {"gpt-4o-mini": set(), "gpt-4o": {"grounded"}, "gpt-3.5-turbo": {"contains"}}),
    ("consulting", "market-size", CONSULTING,
     {"gpt-4o-mini": set(), "gpt-4o": {"grounded", "cites_sources"},
      "gpt-3.5-turbo": {"cites_sources"}}),
    ("product", "research-summary", PRODUCT,
     {"gpt-4o-mini": set(), "gpt-4o": {"no_pii"}, "gpt-3.5-turbo": set()}),
    ("legal", "liability-review", LEGAL,
     {"gpt-4o-mini": set(), "gpt-4o": {"cites_sources", "regex", "grounded"},
      "gpt-3.5-turbo": set()}),
    ("legal", "client-anonymised-summary", LEGAL_CLIENT,
     {"gpt-4o-mini": set(), "gpt-4o": {"no_pii", "contains"}, "gpt-3.5-turbo": set()}),
    ("agency", "menu-lemonade", AGENCY,
     {"gpt-4o-mini": set(), "gpt-4o": {"contains"}, "gpt-3.5-turbo": {"max_chars"}}),
    ("risk-hallucination", "qa-02667", HALLUCINATION,
     {"gpt-4o-mini": set(), "gpt-4o": {"contains", "grounded"}, "gpt-3.5-turbo": set()}),
]


@pytest.mark.parametrize(("suite", "case", "answers", "expected"), SCENARIOS,
                         ids=[f"{s}-{c}" for s, c, _, _ in SCENARIOS])
def test_domain_checks_pass_good_answers_and_fail_bad_ones(
        project: Path, openai_server: OpenAIServer, suite: str, case: str,
        answers: dict[str, str], expected: dict[str, set[str]]) -> None:
    verdicts = _run(project, openai_server, suite, case, answers)
    for model, failing in expected.items():
        assert _failed(verdicts[model]) == failing, (model, verdicts[model])


def test_grounded_reads_citation_markers_as_references_not_figures() -> None:
    from harness.checks.registry import CheckInput, build

    sources = ("# Market report\nThe market was worth £412 million in 2025.",
               "# Survey\nTaste is the first reason to buy.", "# Memo\nPayback is in year five.")
    check = build("grounded", {})
    # no source says "7" or "9": the markers name documents (one of them does not exist,
    # which is cites_sources' business), they state no figure
    cited = CheckInput("The market was worth £412 million in 2025 [7]. Taste comes first [9].",
                       context=sources)
    assert check(cited).passed
    invented = CheckInput("The market was worth £512 million in 2025 [1].", context=sources)
    result = check(invented)
    assert not result.passed and "£512 million" in result.reason
