"""The embedded model, for real: SmolLM2 through llama.cpp, registered with LiteLLM."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SUITE = """
suite: tiny
models: [local/smollm2]
defaults: {temperature: 0, max_tokens: 24}
prompt: "Name one colour of {{ thing }}. Answer in a few words."
cases:
  - id: sky
    vars: {thing: the sky on a clear day}
    expect:
      - min_words: 1
      - max_words: 40
  - id: grass
    vars: {thing: fresh grass}
    expect:
      - contains: {value: "zebra-purple-unlikely"}
"""


def harness(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
        timeout=600,
    )


def test_embedded_model_runs_a_suite_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "tiny.suite.yaml").write_text(SUITE)
    first = harness("run", "tiny.suite.yaml", "--no-cache", "-q", cwd=tmp_path)
    assert first.returncode == 1, first.stderr  # 'grass' fails its check on purpose
    log = json.loads((tmp_path / "reports" / "tiny.json").read_text())
    by_id = {r["case_id"]: r for r in log["results"]}
    assert set(by_id) == {"sky", "grass"}
    for result in by_id.values():
        assert result["error"] is None
        assert result["model_id"] == "local/smollm2"
        assert result["output"].strip(), "the model said something"
        assert result["usage"]["completion_tokens"] > 0
        assert result["cost_usd"] == 0.0 or result["cost_usd"] is None
    assert by_id["sky"]["status"] == "passed"
    assert by_id["grass"]["status"] == "failed"
    assert "zebra-purple-unlikely" in by_id["grass"]["checks"][0]["reason"]
    html = (tmp_path / "reports" / "tiny.html").read_text()
    assert "sky" in html and "grass" in html
    assert "Traceback" not in first.stderr and "Exception ignored" not in first.stderr

    # Deterministic at temperature 0: a fresh process gives the same words.
    second = harness("run", "tiny.suite.yaml", "--no-cache", "-q", "--name", "again", cwd=tmp_path)
    again = json.loads((tmp_path / "reports" / "again.json").read_text())
    assert [r["output"] for r in again["results"]] == [r["output"] for r in log["results"]]
    assert "Exception ignored" not in second.stderr  # the model was closed before exit
