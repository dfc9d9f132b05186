"""`harness export`: a RunLog as CSV (and Parquet) through pandas."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.report.export import MissingDependency, to_frame, write_csv, write_parquet
from harness.results import CheckRecord, RunLog, to_records
from tests.report.conftest import build_log, build_repeat_log, make_result


def test_csv_round_trip(tmp_path: Path) -> None:
    log = build_log()
    path = write_csv(log, tmp_path / "out" / "run.csv")
    back = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert len(back) == len(log.results) == 12
    assert list(back.columns) == list(to_frame(log).columns)
    assert list(back["case_id"]) == [r.case_id for r in log.results]  # markup survives
    assert list(back["model"]) == [r.model for r in log.results]
    assert list(back["status"]) == [r.status for r in log.results]
    assert back["latency_ms"].tolist() == [830.0] * 12
    assert back["cost_usd"].tolist() == pytest.approx([0.00012] * 12)
    assert back["prompt_tokens"].tolist() == [42] * 12
    assert back["error_kind"].fillna("").tolist() == \
        [r.error.kind if r.error else "" for r in log.results]
    tags = back["tags"].fillna("").tolist()
    assert tags == [",".join(r.tags) for r in log.results]
    # one column per check: passed, failed, or empty where a case has no such check
    contains = back["check.contains"].tolist()
    expected = [next((c.passed for c in r.checks if c.check == "contains" and not c.negate),
                     None) for r in log.results]
    assert [None if pd.isna(v) else bool(v) for v in contains] == expected
    assert back["check.not contains"].notna().sum() == 1


def test_repeated_and_negated_checks_get_honest_columns() -> None:
    checks = [
        CheckRecord(check="contains", args={"value": "a"}, passed=False, reason="r"),
        CheckRecord(check="contains", args={"value": "b"}, passed=True, reason="r"),
        CheckRecord(check="contains", args={"value": "c"}, negate=True, passed=True, reason="r"),
    ]
    log = build_log().model_copy(update={"results": [
        make_result("legal", "two", "gpt-mini", status="failed", checks=checks)]})
    (row,) = to_records(log)
    # the failing first instance is not overwritten by the passing second one
    assert row["check.contains"] is False and row["check.not contains"] is True


def test_export_command_writes_csv(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_repeat_log().write(project / "run.json")
    assert main(["export", "run.json", "--csv", "tables/run.csv"]) == 0
    assert "CSV: tables/run.csv" in capsys.readouterr().out
    frame = pd.read_csv(project / "tables" / "run.csv")
    assert frame.groupby("model")["repeat"].max().to_dict() == {"gpt-mini": 2, "smollm2": 2}


def test_export_needs_an_output_and_a_runlog(project: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    build_log().write(project / "run.json")
    assert main(["export", "run.json"]) == 2
    assert "--csv FILE" in capsys.readouterr().err
    (project / "x.json").write_text("{}")
    assert main(["export", "x.json", "--csv", "x.csv"]) == 2
    assert "not a harness RunLog" in capsys.readouterr().err


def test_parquet_without_pyarrow_is_a_usage_error_with_the_install_hint(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if it were not installed
    build_log().write(project / "run.json")
    assert main(["export", "run.json", "--parquet", "run.parquet", "--csv", "run.csv"]) == 2
    assert "pip install pyarrow" in capsys.readouterr().err
    assert not (project / "run.parquet").exists()
    with pytest.raises(MissingDependency, match="pip install pyarrow"):
        write_parquet(build_log(), project / "x.parquet")


def test_parquet_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    log: RunLog = build_log()
    back = pd.read_parquet(write_parquet(log, tmp_path / "run.parquet"))
    assert list(back["case_id"]) == [r.case_id for r in log.results]
    assert back["cost_usd"].tolist() == pytest.approx([0.00012] * 12)
