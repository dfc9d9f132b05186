"""``harness detect pii``: the output format, bad input lines, and a light ``--help``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.detectors import pii

needs_pii = pytest.mark.skipif(pii.missing_dependency() is not None,
                               reason="needs the pii extra: pip install 'harness[pii]'")

ITEMS = [
    {"id": "a", "text": "Mail j.smith@acme.com or call +44 20 7946 1234."},
    {"id": 7, "text": "The refund was approved and will arrive within 5 days."},
    {"text": "Card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32."},
    {"id": None, "text": "Server 10.20.30.40 logged SSN 536-90-4399 for Jane Doe."},
]


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@needs_pii
def test_one_line_per_input_with_ids_and_spans(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [json.dumps(i) for i in ITEMS])
    out = tmp_path / "out.jsonl"
    assert main(["detect", "pii", "--jsonl", str(source), "-o", str(out)]) == 0
    assert capsys.readouterr().err == ""
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == ["a", 7, 3, None]  # no id: the line number
    for row, item in zip(rows, ITEMS, strict=True):
        assert set(row) == {"id", "spans"}
        spans = row["spans"]
        assert isinstance(spans, list)
        for span in spans:
            assert set(span) == {"start", "end", "type", "score"}
            assert 0 <= span["start"] < span["end"] <= len(item["text"])
            assert 0.0 <= span["score"] <= 1.0
        found = {(item["text"][s["start"]:s["end"]], s["type"]) for s in spans}
        if row["id"] == "a":
            assert found == {("j.smith@acme.com", "EMAIL_ADDRESS"),
                             ("+44 20 7946 1234", "PHONE_NUMBER")}
        if row["id"] == 7:
            assert found == set()
        if row["id"] == 3:
            assert ("4111 1111 1111 1111", "CREDIT_CARD") in found
            assert ("GB82 WEST 1234 5698 7654 32", "IBAN_CODE") in found
        if row["id"] is None:
            assert {t for _, t in found} >= {"IP_ADDRESS", "US_SSN", "PERSON"}


@needs_pii
def test_output_goes_to_stdout_and_never_holds_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [json.dumps(ITEMS[0])])
    assert main(["detect", "pii", "--jsonl", str(source), "--masked",
                 "--kinds", "email"]) == 0
    out = capsys.readouterr().out
    assert "j.smith@acme.com" not in out
    row = json.loads(out)
    assert row["spans"] == [{"start": 5, "end": 21, "type": "EMAIL_ADDRESS",
                             "score": row["spans"][0]["score"], "masked": "j***@acme.com"}]


@needs_pii
def test_reads_stdin(monkeypatch: pytest.MonkeyPatch,
                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(ITEMS[0]) + "\n"))
    assert main(["detect", "pii", "--jsonl", "-"]) == 0
    assert len(json.loads(capsys.readouterr().out)["spans"]) == 2


@needs_pii
def test_bad_lines_are_reported_with_file_and_line_and_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [
        json.dumps(ITEMS[0]),
        "",
        "{not json",
        "[1, 2]",
        json.dumps({"id": "no-text"}),
        json.dumps({"id": "n", "text": 42}),
        json.dumps(ITEMS[1]),
    ])
    out = tmp_path / "out.jsonl"
    assert main(["detect", "pii", "--jsonl", str(source), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{source}:3: not JSON" in err
    assert f"{source}:4: expected a JSON object, found an array" in err
    assert f"{source}:5: no 'text' field" in err
    assert f"{source}:6: 'text' is a number; expected a string" in err
    assert "4 bad lines skipped" in err
    assert "Traceback" not in err
    assert [r["id"] for r in read_jsonl(out)] == ["a", 7]


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", "pii", "--jsonl", str(tmp_path / "missing.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    source = write_jsonl(tmp_path / "in.jsonl", [json.dumps(ITEMS[0])])
    assert main(["detect", "pii", "--jsonl", str(source), "--kinds", "emial"]) == 2
    assert "did you mean 'email'" in capsys.readouterr().err
    assert main(["detect", "pii", "--jsonl", str(source), "--min-score", "3"]) == 2


def test_without_the_extra_the_error_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(pii, "missing_dependency",
                        lambda: f"PII detection needs spacy; install it with: {pii.INSTALL}")
    source = write_jsonl(tmp_path / "in.jsonl", [json.dumps(ITEMS[0])])
    assert main(["detect", "pii", "--jsonl", str(source)]) == 2
    assert "pip install 'harness[pii]'" in capsys.readouterr().err


def test_help_imports_neither_presidio_nor_spacy() -> None:
    code = ("import sys\nfrom harness.cli import main\n"
            "for argv in (['--help'], ['detect', '--help'], ['detect', 'pii', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "heavy = [m for m in ('presidio_analyzer', 'spacy', 'harness.detectors.pii')\n"
            "         if m in sys.modules]\n"
            "print('heavy:', heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).parents[1])
    assert "heavy: []" in done.stdout
    assert "--jsonl" in done.stdout
