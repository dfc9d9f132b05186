"""The command line as a user meets it: help, validation, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

from harness.cli import main
from harness.spec.schema import runlog_schema, suite_schema

ROOT = Path(__file__).resolve().parents[1]


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from harness.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['run', '--help'])\n"
        "    except SystemExit:\n        pass\n"
        "print(sorted(m for m in ('litellm', 'pandas', 'llama_cpp', 'jinja2', 'pydantic',"
        " 'openai', 'httpx', 'ragas', 'deepeval') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_validate_shipped_suites(capsys: object) -> None:
    assert main(["validate", str(ROOT / "suites")]) == 0


def test_validate_bad_suite_exits_2_with_path_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.suite.yaml"
    bad.write_text("suite: x\nprompt: hi\ncases:\n  - id: a\n    expect:\n      - contans: b\n")
    proc = subprocess.run([sys.executable, "-m", "harness", "validate", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "bad.suite.yaml:6: case 'a': unknown check 'contans'" in proc.stderr
    assert "Did you mean 'contains'?" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_run_unknown_path_is_a_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "harness", "run", str(tmp_path / "nope")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "no such file or folder" in proc.stderr


def test_committed_schema_is_current_and_validates_shipped_suites() -> None:
    committed = json.loads((ROOT / "harness" / "spec" / "suite.schema.json").read_text())
    assert committed == suite_schema(), "run: harness schema -o harness/spec/suite.schema.json"
    for file in (ROOT / "suites").glob("*.suite.yaml"):
        jsonschema.validate(yaml.safe_load(file.read_text()), committed)


def test_schema_rejects_a_misspelt_check() -> None:
    doc = {"suite": "x", "prompt": "p", "cases": [{"id": "a", "expect": [{"contans": "b"}]}]}
    validator = jsonschema.Draft202012Validator(suite_schema())
    assert list(validator.iter_errors(doc))


def test_runlog_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(runlog_schema())


def test_committed_runlog_schema_is_current() -> None:
    committed = json.loads((ROOT / "harness" / "spec" / "runlog.schema.json").read_text())
    hint = "run: harness schema --runlog -o harness/spec/runlog.schema.json"
    assert committed == runlog_schema(), hint
