"""What a run does beyond calling models: repeats and flakiness, selecting cases, sharding
and merging, per-model concurrency, and the end-of-run summary of errors.

Every test drives ``harness run`` (in-process) against the loopback OpenAI server and
asserts what the user sees: the RunLog, the server's traffic, the printed summary.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.providers.litellm_provider import load_litellm
from harness.results import RunLog
from tests.openai_server import OpenAIServer, default_reply, last_user_message

Key = tuple[str, str, str, int, str | None]


@pytest.fixture(scope="module", autouse=True)
def _litellm_imported() -> None:
    load_litellm()


def write_suite(path: Path, name: str, cases: list[dict[str, Any]],
                **extra: Any) -> Path:
    doc = {"suite": name, **extra, "defaults": {"timeout": 10}, "prompt": "{{ q }}",
           "cases": cases}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def case(case_id: str, q: str, *tags: str, expect: str | None = None) -> dict[str, Any]:
    return {"id": case_id, "vars": {"q": q}, "tags": list(tags),
            "expect": [{"contains": expect or q}]}


def keys(log: RunLog) -> list[Key]:
    return [r.key for r in log.results]


def wilson(passed: int, n: int) -> tuple[float, float]:
    """The Wilson score interval at 95 %, written out from its textbook formula."""
    z = 1.959963984540054
    p = passed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


# -- repeats -----------------------------------------------------------------------------


class SecondCallDiffers:
    """Answers like the default server, except the 2nd call of a prompt containing
    ``marker`` gets a wrong answer: a model whose answer to that case varies."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> str:
        prompt = last_user_message(body)
        with self.lock:
            self.calls[prompt] += 1
            n = self.calls[prompt]
        if self.marker in prompt and n == 2:
            return "something unrelated"
        return default_reply(body)


def test_repeat_marks_the_flaky_case_and_caches_each_repeat(
    project: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_server.script = SecondCallDiffers("wobbly")
    write_suite(project / "rep.suite.yaml", "rep", [
        case("steady", "steady answer"),
        case("flaky", "wobbly answer"),
        case("wrong", "any answer", expect="banana"),
    ])
    args = ["run", "rep.suite.yaml", "-m", "openai/mock-a", "--api-base",
            openai_server.base_url, "--repeat", "3", "--cache", "cache.sqlite", "-q"]
    assert main([*args, "--name", "first"]) == 1
    assert openai_server.count == 9
    log = RunLog.read(project / "reports" / "first.json")
    by_case: dict[str, list[int]] = {}
    for r in log.results:
        by_case.setdefault(r.case_id, []).append(r.repeat)
    assert by_case == {"steady": [0, 1, 2], "flaky": [0, 1, 2], "wrong": [0, 1, 2]}
    flaky_statuses = sorted(r.status for r in log.results if r.case_id == "flaky")
    assert flaky_statuses == ["failed", "passed", "passed"]

    rows = {row["case_id"]: row for row in log.summary["repeats"]}
    assert [c for c, row in rows.items() if row["flaky"]] == ["flaky"]
    assert (rows["flaky"]["passed"], rows["flaky"]["judged"]) == (2, 3)
    assert (rows["steady"]["passed"], rows["wrong"]["passed"]) == (3, 0)
    low, high = wilson(2, 3)
    assert rows["flaky"]["ci95"] == pytest.approx([low, high], abs=1e-4)
    assert rows["flaky"]["ci95"] == pytest.approx([0.2077, 0.9385], abs=1e-4)  # by hand
    assert rows["steady"]["ci95"] == pytest.approx([wilson(3, 3)[0], 1.0], abs=1e-4)
    assert rows["wrong"]["ci95"] == pytest.approx([0.0, wilson(0, 3)[1]], abs=1e-4)

    # Each repeat is its own cache entry: the same run again sends nothing, and every
    # repeat gets back its own answer (so the flaky case is still flaky).
    con = sqlite3.connect(project / "cache.sqlite")
    assert con.execute("SELECT count(*) FROM responses").fetchone() == (9,)
    con.close()
    capsys.readouterr()
    assert main([*args, "--name", "second"]) == 1
    assert openai_server.count == 9
    again = RunLog.read(project / "reports" / "second.json")
    assert all(r.cached for r in again.results)
    assert [(r.key, r.output, r.status) for r in again.results] == \
        [(r.key, r.output, r.status) for r in log.results]
    assert again.summary["repeats"] == log.summary["repeats"]


# -- selection ---------------------------------------------------------------------------


@pytest.fixture
def two_suites(project: Path) -> Path:
    write_suite(project / "suites" / "alpha.suite.yaml", "alpha", [
        case("refund-policy", "refunds within 30 days", "billing"),
        case("refund-window", "refund window", "billing", "slow"),
        case("shipping-time", "ships in 2 days", "logistics"),
        case("privacy-note", "we keep no data"),
    ])
    write_suite(project / "suites" / "beta.suite.yaml", "beta", [
        case("refund-faq", "refund questions", "billing"),
        case("greeting", "hello there"),
        case("farewell", "goodbye now", "logistics"),
    ])
    return project / "suites"


def run_selected(server: OpenAIServer, name: str, *extra: str, models: tuple[str, ...]
                 = ("openai/mock-a",)) -> RunLog:
    model_args = [a for m in models for a in ("-m", m)]
    code = main(["run", "suites", *model_args, "--api-base", server.base_url, "-q",
                 "--no-cache", "--name", name, *extra])
    assert code == 0
    return RunLog.read(Path("reports") / f"{name}.json")


def selected(log: RunLog) -> list[tuple[str, str]]:
    return [(r.suite, r.case_id) for r in log.results]


def test_filters_select_by_glob_tag_and_suite(
    two_suites: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    log = run_selected(openai_server, "glob", "--filter", "refund-*")
    assert selected(log) == [("alpha", "refund-policy"), ("alpha", "refund-window"),
                             ("beta", "refund-faq")]
    assert openai_server.count == 3  # nothing else was sent

    log = run_selected(openai_server, "tag", "--filter", "tag:logistics")
    assert selected(log) == [("alpha", "shipping-time"), ("beta", "farewell")]

    log = run_selected(openai_server, "suite", "--filter", "suite:beta")
    assert selected(log) == [("beta", "refund-faq"), ("beta", "greeting"), ("beta", "farewell")]

    # Alternatives of one kind widen, different kinds narrow.
    log = run_selected(openai_server, "or", "--filter", "greeting", "--filter", "*-time")
    assert selected(log) == [("alpha", "shipping-time"), ("beta", "greeting")]
    log = run_selected(openai_server, "and", "--filter", "tag:billing",
                       "--filter", "suite:alpha")
    assert selected(log) == [("alpha", "refund-policy"), ("alpha", "refund-window")]

    log = run_selected(openai_server, "limit", "--limit", "2")
    assert selected(log) == [("alpha", "refund-policy"), ("alpha", "refund-window"),
                             ("beta", "refund-faq"), ("beta", "greeting")]
    assert openai_server.count == 3 + 2 + 3 + 2 + 2 + 4

    capsys.readouterr()
    assert main(["run", "suites", "-m", "openai/mock-a", "--api-base",
                 openai_server.base_url, "-q", "--filter", "tag:nope"]) == 2
    assert "nothing to run: no case matches" in capsys.readouterr().err
    assert openai_server.count == 16


def test_shards_split_the_plan_and_merge_back(
    two_suites: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    models = ("openai/mock-a", "openai/mock-b")
    full = run_selected(openai_server, "full", "--repeat", "2", models=models)
    assert len(full.results) == 7 * 2 * 2

    shards = [run_selected(openai_server, f"shard{i}", "--repeat", "2", "--shard", f"{i}/3",
                           models=models) for i in (1, 2, 3)]
    sets = [set(keys(s)) for s in shards]
    assert all(sets), "every shard has work"
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert sets[0] | sets[1] | sets[2] == set(keys(full))
    for keyset in sets:  # every repeat of a case × model lands in one shard, together
        pairs = {(s, c, m) for s, c, m, _, _ in keyset}
        assert keyset == {(s, c, m, r, None) for s, c, m in pairs for r in (0, 1)}

    again = run_selected(openai_server, "shard2-again", "--repeat", "2", "--shard", "2/3",
                         models=models)
    assert keys(again) == keys(shards[1])  # the same split every time

    capsys.readouterr()
    paths = [f"reports/shard{i}.json" for i in (1, 2, 3)]
    assert main(["merge", *paths, "-o", "merged/all.json"]) == 0
    merged = RunLog.read("merged/all.json")
    assert sorted(keys(merged)) == sorted(keys(full))
    assert len(keys(merged)) == len(set(keys(merged)))
    assert {s.name for s in merged.suites} == {"alpha", "beta"}
    assert merged.summary["total"] == full.summary["total"]
    assert merged.summary["passed"] == full.summary["passed"]
    assert Path("merged/all.html").exists()

    capsys.readouterr()
    assert main(["merge", "reports/shard2.json", "reports/shard2-again.json",
                 "-o", "merged/twice.json"]) == 2
    err = capsys.readouterr().err
    assert "is in both run" in err and shards[1].run_id in err and again.run_id in err
    assert not Path("merged/twice.json").exists()


# -- concurrency -------------------------------------------------------------------------


def test_per_model_concurrency_is_kept_under_the_global_limit(project: Path) -> None:
    with OpenAIServer(latency_ms=120) as server:
        write_suite(project / "conc.suite.yaml", "conc",
                    [case(f"c{n}", f"question {n}") for n in range(8)],
                    models=[{"id": "openai/mock-a", "api_base": server.base_url,
                             "concurrency": 1},
                            {"id": "openai/mock-b", "api_base": server.base_url}])
        assert main(["run", "conc.suite.yaml", "--concurrency", "4", "-q", "--no-cache"]) == 0
        assert server.count_for("mock-a") == 8 and server.count_for("mock-b") == 8
        assert server.max_in_flight_for["mock-a"] == 1
        assert 2 <= server.max_in_flight_for["mock-b"] <= 4  # mock-b's calls overlapped
        assert server.errors == []


# -- end-of-run summary ------------------------------------------------------------------


def test_summary_lists_errors_per_model_and_kind(
    project: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    def faults(n: int, body: dict[str, Any]) -> str | None:
        if body.get("model") != "mock-b":
            return None
        return "401" if "question 2" in last_user_message(body) else "500"

    openai_server.faults = faults
    write_suite(project / "err.suite.yaml", "err",
                [case(f"c{n}", f"question {n}") for n in range(4)])
    code = main(["run", "err.suite.yaml", "-m", "openai/mock-a", "-m", "openai/mock-b",
                 "--api-base", openai_server.base_url, "--retries", "1", "-q", "--no-cache"])
    assert code == 1
    out = capsys.readouterr().out
    assert "errors by model and kind" in out
    table = out.split("errors by model and kind", 1)[1]
    rows = [line.split() for line in table.splitlines() if line.startswith("openai/")]
    assert [row[:3] for row in rows] == [["openai/mock-b", "server_error", "3"],
                                         ["openai/mock-b", "auth", "1"]]
    server_error_line = next(line for line in table.splitlines() if "server_error" in line)
    auth_line = next(line for line in table.splitlines() if " auth " in line)
    assert "mock failure 500" in server_error_line
    assert "mock failure 401" in auth_line
    log = RunLog.read(project / "reports" / "err.json")
    assert log.summary["error_kinds"] == {"openai/mock-b": {"server_error": 3, "auth": 1}}


def test_a_shard_with_no_cases_succeeds_with_an_empty_runlog(
    two_suites: Path, openai_server: OpenAIServer
) -> None:
    """A parallel CI job whose slice of a small suite is empty must not fail."""
    log = run_selected(openai_server, "tiny-shard", "--filter", "greeting", "--shard", "5/5")
    other = [run_selected(openai_server, f"tiny-{i}", "--filter", "greeting", "--shard",
                          f"{i}/5") for i in range(1, 5)]
    sizes = sorted([len(log.results), *(len(o.results) for o in other)])
    assert sizes == [0, 0, 0, 0, 1]  # one case: exactly one shard has it, the rest are empty
    assert openai_server.count == 1


def test_dry_run_of_a_resume_counts_only_what_is_left(
    two_suites: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run_selected(openai_server, "first")
    store = sqlite3.connect("reports/runs.sqlite")
    run_id = store.execute("SELECT run_id FROM runs").fetchone()[0]
    store.execute("DELETE FROM results WHERE case_id IN ('greeting', 'farewell')")
    store.commit()
    store.close()
    capsys.readouterr()
    assert main(["run", "--resume", run_id, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: 2 calls, nothing sent" in out
    assert openai_server.count == 7  # the first run only


def test_a_budget_given_on_resume_is_kept_for_the_next_resume(
    two_suites: Path, openai_server: OpenAIServer
) -> None:
    run_selected(openai_server, "budget")
    store = sqlite3.connect("reports/runs.sqlite")
    run_id = store.execute("SELECT run_id FROM runs").fetchone()[0]
    store.close()
    main(["run", "--resume", run_id, "--max-cost", "0.5", "-q"])
    store = sqlite3.connect("reports/runs.sqlite")
    config = json.loads(store.execute("SELECT config FROM runs").fetchone()[0])
    store.close()
    assert config["options"]["max_cost"] == 0.5
