"""``harness detect grounding``: the output format, thresholds, bad input lines, light imports.

The command runs in-process through ``run_grounding`` with the parser of
``add_grounding_arguments`` (the ``harness detect`` wiring is the CLI's).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.detect_grounding import TASKS, add_grounding_arguments, run_grounding
from harness.errors import UsageError

ITEMS = [
    {"id": "a", "context": "Acme had revenue of $1,200,000 in 2023 from 12 stores.",
     "question": "What was Acme's revenue in 2023?",
     "answer": "Acme's revenue was 1.2 million dollars in 2023."},
    {"id": 7, "context": ["Acme had revenue of $1,200,000 in 2023.", "Acme has 12 stores."],
     "answer": "Acme's revenue was $3 million in 2021, said its CEO Jane Roe."},
    {"context": "The Eiffel Tower is 330 metres tall.", "question": None,
     "answer": "It is 330 metres tall. Is that tall?"},
]


def parse(*argv: str) -> argparse.Namespace:
    parser = add_grounding_arguments(argparse.ArgumentParser(prog="harness detect grounding"))
    return parser.parse_args(list(argv))


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_one_line_per_input_with_score_label_and_unsupported_spans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [json.dumps(i) for i in ITEMS])
    out = tmp_path / "out.jsonl"
    assert run_grounding(parse("--jsonl", str(source), "-o", str(out))) == 0
    assert capsys.readouterr().err == ""
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == ["a", 7, 3]  # no id: the line number
    for row, item in zip(rows, ITEMS, strict=True):
        assert set(row) == {"id", "score", "label", "unsupported"}
        assert isinstance(row["score"], float) and 0.0 <= row["score"] <= 1.0
        assert row["label"] in ("faithful", "hallucinated")
        assert isinstance(row["unsupported"], list)
        for claim in row["unsupported"]:
            assert set(claim) == {"text", "start", "end", "score", "spans", "missing_words"}
            assert item["answer"][claim["start"]:claim["end"]] == claim["text"]
            for span in claim["spans"]:
                assert set(span) == {"start", "end", "text", "kind"}
                assert item["answer"][span["start"]:span["end"]] == span["text"]
    assert rows[0]["label"] == "faithful" and rows[0]["unsupported"] == []
    assert rows[1]["label"] == "hallucinated"
    spans = {(s["kind"], s["text"]) for c in rows[1]["unsupported"] for s in c["spans"]}
    assert spans == {("number", "$3 million"), ("number", "2021"), ("entity", "CEO Jane Roe")}
    assert rows[2] == {"id": 3, "score": 1.0, "label": "faithful", "unsupported": []}


def test_stdin_stdout_and_all_claims(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(ITEMS[0]) + "\n\n"))
    assert run_grounding(parse("--jsonl", "-", "--claims")) == 0
    row = json.loads(capsys.readouterr().out)
    assert [c["text"] for c in row["claims"]] == [ITEMS[0]["answer"]]
    assert row["claims"][0]["score"] == 1.0


def test_thresholds_come_from_the_option_the_task_or_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    item = {"id": 1, "context": "Returns are accepted within 30 days.",
            "answer": "Returns are accepted within 30 days with a receipt."}
    source = write_jsonl(tmp_path / "in.jsonl", [json.dumps(item),
                                                  json.dumps({**item, "task": "qa"})])
    assert run_grounding(parse("--jsonl", str(source))) == 0
    default, by_line = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert default["score"] == by_line["score"] < 1.0
    assert (default["label"], by_line["label"]) == ("faithful", "hallucinated")
    assert run_grounding(parse("--jsonl", str(source), "--threshold", "0.999")) == 0
    assert {json.loads(x)["label"] for x in capsys.readouterr().out.splitlines()} == {
        "hallucinated"}
    assert run_grounding(parse("--jsonl", str(source), "--task", "summarization")) == 0
    assert {json.loads(x)["label"] for x in capsys.readouterr().out.splitlines()} == {
        "faithful"}


def test_bad_lines_are_reported_with_file_and_line_and_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        json.dumps(ITEMS[0]),
        "not json",
        "[1, 2]",
        json.dumps({"id": "no-answer", "context": "x"}),
        json.dumps({"id": "no-context", "answer": "x"}),
        json.dumps({"id": "n", "context": 5, "answer": "x"}),
        json.dumps({"id": "q", "context": "x", "question": {"a": 1}, "answer": "x"}),
        json.dumps({"id": "l", "context": ["ok", 3], "answer": "x"}),
        json.dumps({"id": "e", "context": "  ", "answer": "x"}),
        json.dumps({"id": "t", "context": "x", "answer": None}),
        "",
        json.dumps(ITEMS[2]),
    ]
    source = write_jsonl(tmp_path / "in.jsonl", lines)
    assert run_grounding(parse("--jsonl", str(source))) == 1
    captured = capsys.readouterr()
    assert [json.loads(line)["id"] for line in captured.out.splitlines()] == ["a", 12]
    err = captured.err.splitlines()
    name = str(source)
    assert err[0].startswith(f"{name}:2: not JSON")
    assert err[1] == f"{name}:3: expected a JSON object, found an array"
    assert err[2].startswith(f"{name}:4: no 'answer' field")
    assert err[3].startswith(f"{name}:5: no 'context' field")
    assert err[4] == f"{name}:6: 'context' is a number; expected a string or a list of strings"
    assert err[5].startswith(f"{name}:7: 'question' is an object")
    assert err[6].startswith(f"{name}:8: 'context' is an array holding other than strings")
    assert err[7] == f"{name}:9: 'context' is empty: nothing to check the answer against"
    assert err[8] == f"{name}:10: 'answer' is null; expected a string"
    assert err[9] == "9 bad lines skipped"
    assert "Traceback" not in captured.err


def test_text_that_is_not_utf8_is_a_bad_line(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(json.dumps(ITEMS[0]).encode() + b"\n\xff\xfe broken\n")
    assert run_grounding(parse("--jsonl", str(source))) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1
    assert f"{source}:2: not UTF-8 text" in captured.err


def test_usage_errors(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [json.dumps(ITEMS[0])])
    with pytest.raises(UsageError, match="no such file"):
        run_grounding(parse("--jsonl", str(tmp_path / "missing.jsonl")))
    with pytest.raises(UsageError, match="between 0 and 1"):
        run_grounding(parse("--jsonl", str(source), "--threshold", "2"))
    with pytest.raises(UsageError, match="cannot write"):
        run_grounding(parse("--jsonl", str(source), "-o", str(tmp_path / "no" / "out.jsonl")))
    with pytest.raises(SystemExit):
        parse("--jsonl", str(source), "--task", "poetry")
    assert set(TASKS) == set(__import__("harness.detectors.grounding",
                                        fromlist=["x"]).TASK_THRESHOLDS)


def test_the_command_module_imports_no_detector_until_it_runs() -> None:
    code = ("import sys, harness.detect_grounding as d; "
            "print(sorted(m for m in sys.modules if m.startswith(('harness.detectors', "
            "'rapidfuzz', 'pydantic', 'litellm', 'pandas'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "[]"


def test_runs_as_a_subprocess_and_never_shows_a_traceback(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [json.dumps(ITEMS[1]), "{oops"])
    code = ("import argparse, sys\n"
            "from harness.detect_grounding import add_grounding_arguments, run_grounding\n"
            "p = add_grounding_arguments(argparse.ArgumentParser())\n"
            "sys.exit(run_grounding(p.parse_args(sys.argv[1:])))\n")
    done = subprocess.run([sys.executable, "-c", code, "--jsonl", str(source)],
                          capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 1
    assert json.loads(done.stdout)["label"] == "hallucinated"
    assert f"{source}:2: not JSON" in done.stderr and "Traceback" not in done.stderr
