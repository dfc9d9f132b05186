"""perturb: metamorphic variants of a case, repeatable by seed, run like any case; the
smallest failing one is shrunk to a 1-minimal perturbation by extra calls (harness/shrink.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.errors import SuiteError
from harness.perturb import robustness
from harness.providers.litellm_provider import load_litellm
from harness.results import RunLog
from harness.spec.loader import load_suite
from tests.openai_server import OpenAIServer

TEXT = "The customer wants a refund for the order. She said the product arrived broken."


@pytest.fixture(scope="module", autouse=True)
def _litellm_imported() -> None:
    load_litellm()


def write(path: Path, cases: list[dict[str, Any]]) -> Path:
    doc = {"suite": "robust", "defaults": {"timeout": 10},
           "prompt": "Summarize for the support team: {{ text }}", "cases": cases}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def refund_case(**perturb: Any) -> dict[str, Any]:
    return {"id": "refund", "vars": {"text": TEXT},
            "perturb": {"kinds": ["typos", "casing"], "n": 4, **perturb},
            "expect": [{"contains": "customer"}]}


LOAD = ("import json, sys\nfrom harness.spec.loader import load_suite\n"
        "s = load_suite(sys.argv[1])\n"
        "print(json.dumps([[c.id, c.messages, c.variant] for c in s.cases]))\n")


def load_in_fresh_process(path: Path) -> Any:
    # a new interpreter: nothing hypothesis or the loader remembers can carry over
    done = subprocess.run([sys.executable, "-c", LOAD, str(path)], capture_output=True,
                          text=True, check=True, cwd=path.parent)
    return json.loads(done.stdout)


def test_the_same_seed_gives_the_same_variants_and_another_seed_others(
        project: Path) -> None:
    write(project / "a.suite.yaml", [refund_case(seed=3)])
    write(project / "b.suite.yaml", [refund_case(seed=4)])
    first = load_in_fresh_process(project / "a.suite.yaml")
    again = load_in_fresh_process(project / "a.suite.yaml")
    in_process = [[c.id, list(c.messages), c.variant]
                  for c in load_suite(project / "a.suite.yaml").cases]
    assert first == again == json.loads(json.dumps(in_process))
    other = load_in_fresh_process(project / "b.suite.yaml")
    assert [c[1] for c in other] != [c[1] for c in first]


def test_the_variants_do_not_depend_on_what_else_is_imported(project: Path) -> None:
    """Hypothesis mixes constants from imported local modules into its draws; a suite
    loaded next to a module full of numbers must still get the same variants."""
    write(project / "a.suite.yaml", [refund_case(seed=2, n=6)])
    (project / "noise.py").write_text(
        "".join(f"N{i} = {i * 37}\nS{i} = 'word{i}'\n" for i in range(300)), "utf-8")
    plain = load_in_fresh_process(project / "a.suite.yaml")
    done = subprocess.run([sys.executable, "-c", "import noise\n" + LOAD,
                           str(project / "a.suite.yaml")], capture_output=True, text=True,
                          check=True, cwd=project)
    assert json.loads(done.stdout) == plain


def test_expansion_is_the_case_and_n_distinct_variants_per_kind(project: Path) -> None:
    write(project / "s.suite.yaml", [refund_case(), {"id": "plain", "vars": {"text": "x"}}])
    cases = load_suite(project / "s.suite.yaml").cases
    assert [c.id for c in cases] == ["refund"] + [
        f"refund[perturb={kind}#{i}]" for kind in ("typos", "casing") for i in range(4)
    ] + ["plain"]
    original, *variants, plain = cases
    assert original.messages[-1]["content"].endswith(TEXT)
    assert original.variant["value"] == "original" and original.group == "refund"
    prompts = [c.messages[-1]["content"] for c in variants]
    assert len(set(prompts)) == len(prompts) and original.messages[-1]["content"] not in prompts
    for case in variants:
        assert case.group == "refund" and [b.name for b in case.checks] == ["contains"]
        text = case.vars["text"]
        assert text != TEXT and case.messages[-1]["content"].endswith(text)
        assert case.variant["description"].startswith(case.variant["group"] + ": ")
        if case.variant["group"] == "casing":  # casing changes case and nothing else
            assert text.lower() == TEXT.lower()
        else:  # a typo keeps the words' count and changes at most 3 of them
            changed = [a for a, b in zip(text.split(), TEXT.split(), strict=True) if a != b]
            assert 1 <= len(changed) <= 3
    assert plain.group is None and plain.variant == {}


def test_documents_are_reordered_and_irrelevant_sentences_added(project: Path) -> None:
    docs = ["Refunds take 30 days.", "Shipping is free.", "Returns need a receipt."]
    write(project / "s.suite.yaml", [{
        "id": "policy", "context": docs, "prompt": "Using {{ context }}, answer: refunds?",
        "perturb": {"kinds": ["reorder", "irrelevant"], "n": 2}}])
    cases = load_suite(project / "s.suite.yaml").cases
    reordered = [c for c in cases if c.variant.get("group") == "reorder"]
    assert len(reordered) == 2
    for case in reordered:
        assert sorted(case.context) == sorted(docs) and list(case.context) != docs
        assert case.messages[-1]["content"].startswith("Using " + case.context[0])
    shipped = yaml.safe_load(
        (Path(__file__).parents[1] / "harness" / "data" / "perturb.yaml").read_text())
    for case in (c for c in cases if c.variant.get("group") == "irrelevant"):
        added = [s for s in shipped["irrelevant"] if s in "\n".join(case.context)]
        assert len(added) >= 1
        assert all(d in " ".join(case.context) for d in docs)


@pytest.mark.parametrize(("perturb", "message"), [
    ({"kinds": ["reorder"]}, "needs a case with at least two context documents"),
    ({"kinds": ["typoz"]}, "typoz"),
    ({"kinds": ["typos"], "vars": ["txt"]}, "Did you mean 'text'?"),
    ({"kinds": ["typos"], "n": 0}, "perturb.n"),
])
def test_perturb_errors_point_into_the_suite(project: Path, perturb: dict[str, Any],
                                             message: str) -> None:
    path = project / "s.suite.yaml"
    path.write_text(
        "suite: robust\nprompt: 'Summarize: {{ text }}'\ncases:\n"
        "  - id: ok\n    vars: {text: fine}\n"
        "  - id: refund\n    vars: {text: a refund please}\n"
        f"    perturb: {json.dumps(perturb)}\n", encoding="utf-8")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    text = str(info.value)
    assert message in text
    assert re.search(r"s\.suite\.yaml:(6|7|8):", text), text


def test_a_failing_variant_is_reported_with_the_minimal_perturbation(
        project: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The loopback model echoes the prompt, so `contains: customer` fails exactly for
    the variants whose edits hit the word 'customer'."""
    write(project / "s.suite.yaml", [refund_case(seed=0, n=6)])
    suite = load_suite(project / "s.suite.yaml")
    expected_failing = {c.id for c in suite.cases if "customer" not in c.vars["text"]}
    assert expected_failing, "the seed must produce at least one variant hitting the word"
    main(["run", "s.suite.yaml", "-m", "openai/mock-a", "--api-base",
          openai_server.base_url, "--no-cache", "-q", "--name", "robust"])
    log = RunLog.read(project / "reports" / "robust.json")
    assert {r.case_id for r in log.results if r.status == "failed"} == expected_failing
    sizes = {c.id: c.variant["description"].count(";") + 1 for c in suite.cases
             if c.id in expected_failing}
    fewest = min(sizes.values())
    (row,) = robustness(log.results)
    assert row.original_passed is True and row.variants == 12
    assert row.failed == len(expected_failing)
    typos = sum(i.startswith("refund[perturb=typos") for i in expected_failing)
    assert row.by_kind == {"typos": (typos, 6), "casing": (len(expected_failing) - typos, 6)}
    assert row.minimal in {i for i, n in sizes.items() if n == fewest}
    assert "customer" in (row.minimal_description or "")
    out = capsys.readouterr().out
    assert f"minimal failing: {row.minimal}" in out
    main(["bias", "reports/robust.json"])
    assert f"{len(expected_failing)}/12 perturbed variants fail" in capsys.readouterr().out


def test_the_report_shows_the_minimal_perturbation(
        project: Path, openai_server: OpenAIServer) -> None:
    write(project / "s.suite.yaml", [refund_case(seed=0, n=6)])
    main(["run", "s.suite.yaml", "-m", "openai/mock-a", "--api-base",
          openai_server.base_url, "--no-cache", "-q", "--name", "robust"])
    (row,) = robustness(RunLog.read(project / "reports" / "robust.json").results)
    html = (project / "reports" / "robust.html").read_text(encoding="utf-8")
    table = html[html.index('id="bias-robustness-table"'):]
    table = table[:table.index("</table>")]
    assert f"<code>{row.minimal}</code>" in table
    assert f"{row.failed} of 12" in table
    # the description quotes words: escaped, never raw quotes from model-facing text
    assert "&#39;customer&#39;" in table or "&#x27;customer&#x27;" in table


# --- shrinking: the smallest failing variant reduced to a 1-minimal perturbation ------

def changed_words(text: str) -> list[str]:
    """The words of a typo'd TEXT that differ from TEXT (typos keep the word count)."""
    return [b for a, b in zip(TEXT.split(), text.split(), strict=True) if a != b]


def three_typo_variant(path: Path) -> tuple[str, str]:
    """A variant with three typo'd words, and one of them no other variant has."""
    cases = load_suite(path).cases[1:]
    words = {c.id: changed_words(c.vars["text"]) for c in cases}
    for case_id, changed in words.items():
        others = {w for k, v in words.items() if k != case_id for w in v}
        unique = [w for w in changed if w not in others and w.lower() not in TEXT.lower()]
        if len(changed) == 3 and unique:
            return case_id, unique[len(unique) // 2]
    raise AssertionError("seed 2 should give a three-typo variant")


def shrink_case(**perturb: Any) -> dict[str, Any]:
    return {"id": "refund", "vars": {"text": TEXT},
            "perturb": {"kinds": ["typos"], "n": 6, "seed": 2, **perturb},
            "expect": [{"contains": "customer"}]}


def scripted(server: OpenAIServer, trigger: str) -> None:
    """The model loses the plot exactly when the prompt holds the typo'd word."""
    from tests.openai_server import last_user_message

    pattern = re.compile(rf"(?<!\w){re.escape(trigger)}(?!\w)")
    server.script = lambda body: ("no idea" if pattern.search(last_user_message(body))
                                  else "the customer is upset")


def run_robust(server: OpenAIServer, *extra: str) -> RunLog:
    main(["run", "s.suite.yaml", "-m", "openai/mock-a", "--api-base", server.base_url,
          "-q", "--name", "robust", *extra])
    return RunLog.read(Path("reports") / "robust.json")


def test_shrinking_finds_the_single_edit_that_fails_within_the_bound_and_repeats_free(
        project: Path, openai_server: OpenAIServer) -> None:
    write(project / "s.suite.yaml", [shrink_case()])
    variant, trigger = three_typo_variant(project / "s.suite.yaml")
    scripted(openai_server, trigger)
    log = run_robust(openai_server)
    planned = 7  # the original and six variants
    extra = openai_server.count - planned
    assert 1 <= extra <= 8  # the default bound
    failed = [r for r in log.results if r.status == "failed" and "~" not in r.case_id]
    assert [r.case_id for r in failed] == [variant]
    (row,) = robustness(log.results)
    assert row.variants == 6 and row.failed == 1 and row.shrink_calls == extra
    minimal = next(r for r in log.results if r.case_id == row.minimal)
    assert minimal.case_id.startswith(variant[:-1] + "~")  # a shrink candidate
    assert changed_words(minimal.vars["text"]) == [trigger]
    assert minimal.status == "failed" and row.one_minimal is True
    assert minimal.variant["shrunk_from"] == variant.split("=")[1][:-1]
    assert minimal.variant["size"] == "1"
    # every candidate is in the RunLog, after the variant it was shrunk from
    ids = [r.case_id for r in log.results]
    candidates = [i for i in ids if "~" in i]
    assert len(candidates) == extra
    assert ids.index(variant) < min(ids.index(c) for c in candidates)
    # the same seed again: the same minimal perturbation, every answer from the cache
    before = openai_server.count
    again = run_robust(openai_server)
    assert openai_server.count == before
    (row2,) = robustness(again.results)
    assert (row2.minimal, row2.minimal_description, row2.one_minimal) == (
        row.minimal, row.minimal_description, True)
    assert [r.case_id for r in again.results] == ids
    html = (project / "reports" / "robust.html").read_text(encoding="utf-8")
    table = html[html.index('id="bias-robustness-table"'):]
    table = table[:table.index("</table>")]
    assert f"<code>{row.minimal}</code>" in table
    assert f"1-minimal: removing any one edit makes it pass (shrunk with {extra} call" in table


def test_shrink_zero_runs_only_the_planned_cases(
        project: Path, openai_server: OpenAIServer) -> None:
    write(project / "s.suite.yaml", [shrink_case(shrink=0)])
    variant, trigger = three_typo_variant(project / "s.suite.yaml")
    scripted(openai_server, trigger)
    log = run_robust(openai_server, "--no-cache")
    assert openai_server.count == 7 and len(log.results) == 7
    (row,) = robustness(log.results)
    assert row.minimal == variant and row.shrink_calls == 0 and row.one_minimal is None


def test_a_budget_of_one_call_does_not_claim_minimality(
        project: Path, openai_server: OpenAIServer) -> None:
    write(project / "s.suite.yaml", [shrink_case(shrink=1)])
    _, trigger = three_typo_variant(project / "s.suite.yaml")
    scripted(openai_server, trigger)
    log = run_robust(openai_server, "--no-cache")
    assert openai_server.count == 8
    (row,) = robustness(log.results)
    assert row.shrink_calls == 1 and row.one_minimal is False


def test_ddmin_finds_a_two_edit_interaction() -> None:
    from harness.shrink import ddmin

    walk = ddmin(6)
    tried = []
    candidate = next(walk)
    try:
        while True:
            tried.append(candidate)
            candidate = walk.send({1, 3} <= set(candidate))  # fails only with both edits
    except StopIteration as stop:
        assert stop.value == (1, 3)
    # 1-minimal was shown: each of (1,) and (3,) alone was tried and passed
    assert (1,) in tried and (3,) in tried


def test_a_resume_reuses_stored_candidates_and_runs_only_the_missing_one(
        project: Path, openai_server: OpenAIServer) -> None:
    import sqlite3

    from harness.session import RunOptions, prepare, run
    from harness.store import RunStore

    write(project / "s.suite.yaml", [shrink_case()])
    _, trigger = three_typo_variant(project / "s.suite.yaml")
    scripted(openai_server, trigger)
    options = RunOptions(paths=["s.suite.yaml"], models=["openai/mock-a"],
                         api_base=openai_server.base_url, cache=False)
    db = project / ".harness" / "runs.sqlite"
    store = RunStore(db)
    try:
        prepared = prepare(options, store)
        first = run(prepared, store).log
        calls = openai_server.count
        candidates = [r.case_id for r in first.results if "~" in r.case_id]
        assert len(candidates) >= 2
        # as if the process died before the last candidate was stored
        with sqlite3.connect(db) as con:
            con.execute("DELETE FROM results WHERE case_id = ?", (candidates[-1],))
        resumed = prepare(options, store, resume=prepared.run_id)
        assert resumed.remaining == []
        log = run(resumed, store).log
        assert openai_server.count == calls + 1  # no cache: only the lost call again
        assert [r.case_id for r in log.results] == [r.case_id for r in first.results]
        assert robustness(log.results) == robustness(first.results)
    finally:
        store.close()


def test_shrink_candidates_are_shown_but_not_counted_in_rates_comparisons_or_the_gate(
        project: Path, openai_server: OpenAIServer) -> None:
    from harness.gate import compare as gate

    write(project / "s.suite.yaml", [shrink_case()])
    _, trigger = three_typo_variant(project / "s.suite.yaml")
    scripted(openai_server, trigger)
    base = run_robust(openai_server)
    extra = [r for r in base.results if "~" in r.case_id]
    assert extra and all(r.status == "failed" for r in extra[-1:])
    # seven planned cases (the original and six variants), one of them failed
    row = base.summary["models"]["openai/mock-a"]
    assert (row["total"], row["passed"], row["failed"]) == (7, 6, 1)
    from harness.report.junit import render_junit
    from harness.report.markdown import render_markdown

    junit = render_junit(base)
    assert 'tests="7" failures="1"' in junit and "~" not in junit
    assert "~" not in render_markdown(base)
    # a head whose shrinking tried fewer candidates is the same run for the gate
    head = base.model_copy(update={"results": [r for r in base.results if r not in extra[1:]]})
    result = gate(base, head)
    assert result.exit_code == 0, result.reasons
    assert not any("new" in n and "~" in n for n in result.notes)
