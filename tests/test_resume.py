"""Resume: a run killed, interrupted or left unfinished is finished later without calling
any model again for a result the run store already holds.

The kill and Ctrl-C tests run ``python -m harness`` as a real subprocess against the
loopback server and watch the run store (``OUT/runs.sqlite``) from outside, read-only,
the way a user's second terminal would.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.providers.litellm_provider import load_litellm
from harness.results import CaseResult, RunLog
from tests.openai_server import OpenAIServer

SUITE = "resume-demo"
CASES = 30
TIMING = {"latency_ms", "cached", "attempts"}  # differ between runs by nature


@pytest.fixture(scope="module", autouse=True)
def _litellm_imported() -> None:
    load_litellm()  # once, so the in-process runs below do not pay for the import


def suite_doc(cases: int = CASES, name: str = SUITE) -> dict[str, Any]:
    """Cases whose answers (the server echoes the prompt) pass, except c03, c10, c17, c24."""
    return {
        "suite": name,
        "defaults": {"timeout": 10},
        "prompt": "Question {{ n }}: {{ q }}",
        "cases": [
            {"id": f"c{n:02d}", "vars": {"n": n, "q": f"topic {n}"},
             "expect": [{"contains": "banana" if n % 7 == 3 else f"topic {n}"}]}
            for n in range(cases)
        ],
    }


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").touch()
    write_suite(tmp_path / f"{SUITE}.suite.yaml", suite_doc())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HARNESS_CACHE", raising=False)
    return tmp_path


def write_suite(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def start(project: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False"}
    env.pop("HARNESS_CACHE", None)
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def stored(db: Path) -> set[tuple[str, str, str, int, str | None]]:
    """The result keys the run store holds, read through a read-only connection."""
    if not db.exists():
        return set()
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            rows = con.execute("SELECT suite, case_id, model, repeat FROM results").fetchall()
        finally:
            con.close()
    except sqlite3.OperationalError:  # not created yet
        return set()
    # (suite, case, model, repeat, prompt): these suites declare no prompt variants
    return {(str(s), str(c), str(m), int(r), None) for s, c, m, r in rows}


def wait_until_stored(proc: subprocess.Popen[str], db: Path, at_least: int,
                      timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while len(stored(db)) < at_least:
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the run ended (exit {proc.returncode}) before storing "
                        f"{at_least} results:\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"fewer than {at_least} results stored after {timeout} s")
        time.sleep(0.02)


def settle(server: OpenAIServer, timeout: float = 5) -> int:
    """The server's request count once nothing is in flight any more."""
    deadline = time.monotonic() + timeout
    while server.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # a request already on the wire when the client died still arrives
    assert server.in_flight == 0
    return server.count


def comparable(results: list[CaseResult]) -> list[dict[str, Any]]:
    return [r.model_dump(exclude=TIMING) for r in results]


def reference_run(project: Path, server: OpenAIServer) -> RunLog:
    """The same suite, uninterrupted, into another folder."""
    code = main(["run", f"{SUITE}.suite.yaml", "-m", "openai/mock-a", "--api-base",
                 server.base_url, "--out", "ref", "-q", "--no-cache"])
    assert code == 1  # four cases fail their check on purpose
    return RunLog.read(project / "ref" / f"{SUITE}.json")


def run_ids(db: Path) -> list[str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r for r, in con.execute("SELECT run_id FROM runs ORDER BY created_at, rowid")]
    finally:
        con.close()


# -- killed and resumed --------------------------------------------------------------------


def test_killed_run_resumes_without_calling_finished_cases_again(project: Path) -> None:
    with OpenAIServer(latency_ms=150) as server:
        db = project / "out" / "runs.sqlite"
        proc = start(project, "run", f"{SUITE}.suite.yaml", "-m", "openai/mock-a",
                     "--api-base", server.base_url, "--out", "out", "-q", "--no-cache",
                     "-c", "3")
        wait_until_stored(proc, db, at_least=6)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        requests_before = settle(server)
        before = stored(db)
        assert 0 < len(before) < CASES, "kill the run while it is half done"
        assert requests_before >= len(before)  # the rest were in flight: sent, not stored
        assert not (project / "out" / f"{SUITE}.json").exists()  # SIGKILL: no RunLog

        code, out, err = finish(start(project, "run", "--resume", "last", "--out", "out", "-q"))
        assert code == 1, err  # the four failing cases fail again
        assert f"{len(before)} of {CASES} calls already finished" in err
        # Only what was not stored is asked again: the cases in flight at the kill, and
        # the ones never started. Not one finished case is sent twice.
        assert server.count - requests_before == CASES - len(before)
        assert f"out/{SUITE}.json" in out

        log = RunLog.read(project / "out" / f"{SUITE}.json")
        ids = [r.case_id for r in log.results]
        assert sorted(ids) == [f"c{n:02d}" for n in range(CASES)]  # each exactly once
        assert log.settings["status"] == "finished" and log.settings["resumed"] is True
        assert stored(db) == {r.key for r in log.results}

        ref = reference_run(project, server)
        assert comparable(log.results) == comparable(ref.results)
        assert log.summary["models"] == ref.summary["models"]
        assert server.errors == []


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(project: Path) -> None:
    with OpenAIServer(latency_ms=150) as server:
        db = project / "out" / "runs.sqlite"
        proc = start(project, "run", f"{SUITE}.suite.yaml", "-m", "openai/mock-a",
                     "--api-base", server.base_url, "--out", "out", "-q", "--no-cache",
                     "-c", "2")
        wait_until_stored(proc, db, at_least=5)
        proc.send_signal(signal.SIGINT)  # once, like a user's Ctrl-C
        code, out, err = finish(proc, timeout=30)
        assert code == 130, err
        match = re.search(r"resume with: harness run --resume (\S+)", err)
        assert match, err
        run_id = match.group(1)
        assert run_ids(db) == [run_id]
        assert "Traceback" not in err
        assert f"RunLog: out/{SUITE}.json" in out

        partial = RunLog.read(project / "out" / f"{SUITE}.json")
        assert partial.run_id == run_id
        assert partial.settings["status"] == "interrupted"
        assert 0 < len(partial.results) < CASES
        assert {r.key for r in partial.results} == stored(db)
        requests_before = settle(server)

        # The printed command, run as printed (by id), finishes the rest.
        assert main(["run", "--resume", run_id, "--out", "out", "-q"]) == 1
        assert server.count - requests_before == CASES - len(partial.results)
        log = RunLog.read(project / "out" / f"{SUITE}.json")
        assert log.run_id == run_id and log.settings["status"] == "finished"
        assert sorted(r.case_id for r in log.results) == [f"c{n:02d}" for n in range(CASES)]
        done_before = {r.key: r.model_dump(exclude=TIMING) for r in partial.results}
        assert all(r.model_dump(exclude=TIMING) == done_before[r.key]
                   for r in log.results if r.key in done_before)


# -- resume by id, unknown ids, changed suites -----------------------------------------------


def test_resume_by_run_id_finishes_that_run_not_the_last(
    project: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    write_suite(project / "other.suite.yaml", suite_doc(cases=4, name="other"))
    base = ["-m", "openai/mock-a", "--api-base", openai_server.base_url, "--out", "out",
            "-q", "--no-cache"]
    assert main(["run", f"{SUITE}.suite.yaml", *base]) == 1
    first = RunLog.read(project / "out" / f"{SUITE}.json").run_id
    # Lose three results of the first run, as if it had died before they were written.
    con = sqlite3.connect(project / "out" / "runs.sqlite")
    with con:
        con.execute("DELETE FROM results WHERE run_id = ? AND case_id IN ('c03','c07','c29')",
                    (first,))
    con.close()
    assert main(["run", "other.suite.yaml", *base]) == 1  # now 'last' is another run
    openai_server.reset()
    capsys.readouterr()

    assert main(["run", "--resume", first, "--out", "out", "-q"]) == 1
    assert "3 calls" in capsys.readouterr().err
    assert openai_server.count == 3
    assert sorted(last_user(b) for b in openai_server.requests) == [
        "Question 29: topic 29", "Question 3: topic 3", "Question 7: topic 7"]
    log = RunLog.read(project / "out" / f"{SUITE}.json")
    assert log.run_id == first and len(log.results) == CASES


def last_user(body: dict[str, Any]) -> str:
    return str(body["messages"][-1]["content"])


def test_resuming_an_unknown_run_lists_the_recent_ones(
    project: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", f"{SUITE}.suite.yaml", "-m", "openai/mock-a", "--api-base",
                 openai_server.base_url, "--out", "out", "-q", "--no-cache",
                 "--limit", "2"]) == 0
    known = run_ids(project / "out" / "runs.sqlite")
    capsys.readouterr()
    openai_server.reset()

    assert main(["run", "--resume", "20990101-000000-abcdef", "--out", "out"]) == 2
    err = capsys.readouterr().err
    assert "no run '20990101-000000-abcdef'" in err
    assert f"recent runs: {known[0]}" in err
    assert "Traceback" not in err
    assert openai_server.count == 0

    # An empty store says so instead of listing nothing.
    assert main(["run", "--resume", "last", "--out", "empty"]) == 2
    assert "none yet" in capsys.readouterr().err


def test_resuming_after_the_suite_changed_names_the_suite(
    project: Path, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", f"{SUITE}.suite.yaml", "-m", "openai/mock-a", "--api-base",
                 openai_server.base_url, "--out", "out", "-q", "--no-cache",
                 "--limit", "3"]) == 0
    doc = suite_doc()
    doc["cases"][1]["expect"] = [{"contains": "something else"}]
    write_suite(project / f"{SUITE}.suite.yaml", doc)
    capsys.readouterr()
    openai_server.reset()

    assert main(["run", "--resume", "last", "--out", "out", "-q"]) == 2
    err = capsys.readouterr().err
    assert f"suite(s) {SUITE} changed" in err
    assert "start a new run" in err
    assert openai_server.count == 0
