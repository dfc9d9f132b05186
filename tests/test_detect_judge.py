"""``harness detect grounding --judge MODEL``: verdict lines from LLM judges served by the
loopback server, with scripted replies (valid, malformed then valid, never parseable),
several judges, concurrency, retries and the response cache."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from tests.openai_server import OpenAIServer

CONTEXT = "Acme had revenue of $1,200,000 in 2023 from 12 stores."
ITEMS = [
    {"id": "valid", "context": CONTEXT, "question": "What was Acme's revenue?",
     "answer": "Acme's revenue was $1.2 million in 2023 and it has 40 stores."},
    {"id": "fixed", "context": CONTEXT, "answer": "Acme had 12 stores in 2023."},
    {"id": "broken", "context": [CONTEXT, "Acme was founded in 1990."],
     "answer": "Acme was founded in 1990."},
]


def claims(*pairs: tuple[str, bool]) -> str:
    return json.dumps({"claims": [{"claim": c, "supported": s, "evidence": "checked"}
                                  for c, s in pairs]})


def item_of(body: dict[str, Any]) -> str:
    """Which input the judge is asked about: its answer is in the first user message."""
    first = next(m["content"] for m in body["messages"] if m["role"] == "user")
    return next(i["id"] for i in ITEMS if f"<<<\n{i['answer']}\n>>>" in first)


class Judges:
    """Scripted judge replies, by judge model and input; counts calls per (model, input)."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()

    def __call__(self, body: dict[str, Any]) -> str:
        item = item_of(body)
        self.calls[(body["model"], item)] += 1
        n = self.calls[(body["model"], item)]
        if item == "valid":
            if body["model"] == "judge-b":  # a lenient second judge
                return claims(("revenue $1.2 million in 2023", True), ("40 stores", True))
            return claims(("revenue $1.2 million in 2023", True), ("40 stores", False))
        if item == "fixed":
            # first a verdict in prose, then (after the correction) valid JSON
            return "Looks faithful to me!" if n == 1 else claims(("12 stores in 2023", True))
        return '{"claims": "all fine"}'  # never the right shape


def write(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


def detect(server: OpenAIServer, source: Path, out: Path, *extra: str,
           judges: tuple[str, ...] = ("openai/judge-a",)) -> int:
    args = ["detect", "grounding", "--jsonl", str(source), "-o", str(out),
            "--api-base", server.base_url, *extra]
    for judge in judges:
        args += ["--judge", judge]
    return main(args)


def rows(path: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_judge_verdicts_corrections_and_errors(project: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    source = write(project / "in.jsonl", ITEMS)
    out = project / "out.jsonl"
    judges = Judges()
    with OpenAIServer(script=judges) as server:
        code = detect(server, source, out, "--no-cache")
    err = capsys.readouterr().err
    assert code == 1 and "1 answer could not be judged" in err
    got = rows(out)
    assert list(got) == ["valid", "fixed", "broken"]  # input order
    assert got["valid"] == {
        "id": "valid", "score": 0.5, "label": "hallucinated",
        "unsupported": [{"text": "40 stores", "judges": ["openai/judge-a"], "evidence": "checked"}]}
    assert got["fixed"] == {"id": "fixed", "score": 1.0, "label": "faithful", "unsupported": []}
    assert judges.calls[("judge-a", "fixed")] == 2  # corrected once
    broken = got["broken"]
    assert "label" not in broken and broken["score"] is None
    assert "no usable verdict after 3 tries" in broken["judge_error"]
    assert judges.calls[("judge-a", "broken")] == 3


def test_several_judges_threshold_and_disagreement(project: Path) -> None:
    source = write(project / "in.jsonl", ITEMS[:1])
    out = project / "out.jsonl"
    with OpenAIServer(script=Judges()) as server:
        assert detect(server, source, out, "--no-cache", "--threshold", "0.7",
                      judges=("openai/judge-a", "openai/judge-b")) == 0
    (row,) = rows(out).values()
    assert row["score"] == 0.75 and row["label"] == "faithful"  # mean of 0.5 and 1.0
    assert row["judges"] == [{"model": "openai/judge-a", "score": 0.5, "label": "hallucinated"},
                             {"model": "openai/judge-b", "score": 1.0, "label": "faithful"}]
    assert row["disagreement"] is True


def test_concurrency_retries_and_cache(project: Path) -> None:
    many = [{"id": f"a{n}", "context": CONTEXT, "answer": f"Acme had 12 stores (note {n})."}
            for n in range(12)]
    source = write(project / "many.jsonl", many)
    out = project / "out.jsonl"

    def reply(body: dict[str, Any]) -> str:
        return claims(("12 stores", True))

    # every third request fails once with a 503: retried, never reported
    def faults(n: int, body: dict[str, Any]) -> str | None:
        return "503" if n % 3 == 1 else None

    with OpenAIServer(script=reply, latency_ms=150, faults=faults) as server:
        assert detect(server, source, out, "--concurrency", "4", "--retries", "3") == 0
        assert 2 <= server.max_in_flight <= 4
        first = server.count
        assert first > len(many)  # the retries
        assert [r["label"] for r in rows(out).values()] == ["faithful"] * len(many)
        # a second run is answered from the response cache: nothing is sent
        assert detect(server, source, out) == 0
        assert server.count == first
        assert list(rows(out)) == [f"a{n}" for n in range(len(many))]
    assert (project / ".harness" / "cache.sqlite").exists()


def test_options_of_the_deterministic_detector_are_refused_with_a_judge(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(project / "in.jsonl", ITEMS)
    code = main(["detect", "grounding", "--jsonl", str(source), "--judge", "openai/x",
                 "--task", "qa"])
    assert code == 2
    assert re.search(r"--task .* with --judge, give --threshold", capsys.readouterr().err)
