"""What the pytest plugin costs per item, in replay mode, next to plain pytest items.

    python bench/pytest_replay.py [--items 1000] [--runs 5]

Builds, in a temporary folder, 1,000 cases whose outputs are already recorded (a RunLog),
each with three cheap checks (contains, max_words, min_words), and runs them two ways in
fresh ``pytest`` processes:

- plain: a test file of 1,000 parametrised functions asserting the same three properties
  of the same outputs (what a hand-written pytest suite costs);
- plugin: ``pytest bench.suite.yaml --harness-replay recorded.json`` (the suite collected,
  every output re-checked through the check registry, one RunLog and one HTML report
  written, pass rates printed).

Other pytest plugins are switched off (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``) so both runs
pay the same start-up; the harness plugin is loaded with ``-p harness.pytest_plugin``.
Each run is repeated and the fastest wall time reported, with a breakdown by phase
(collection, run loop, session end) from a small timing plugin. The issue's target: at
most 1 ms per item over plain pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = ["apple", "river", "copper", "meadow", "signal", "harbor", "lantern", "orbit"]

TIMER = '''
import json, os, time

import pytest

_t = {"start": time.perf_counter()}

def pytest_collection(session):
    _t["collect"] = time.perf_counter()

def pytest_collection_finish(session):
    _t["collected"] = time.perf_counter()

@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    _t.setdefault("loop", time.perf_counter())

@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    _t["finish"] = time.perf_counter()

def pytest_unconfigure(config):
    _t["end"] = time.perf_counter()
    with open(os.environ["BENCH_TIMES"], "w") as f:
        json.dump(_t, f)
'''


def make_project(folder: Path, items: int) -> None:
    """The suite, its recorded RunLog, and the equivalent plain pytest file."""
    from harness.results import CaseResult, ModelInfo, RunLog, SuiteInfo

    (folder / "pyproject.toml").write_text("[tool.pytest.ini_options]\n", encoding="utf-8")
    (folder / "bench_timer.py").write_text(TIMER, encoding="utf-8")
    rows = []
    for n in range(items):
        needle = WORDS[n % len(WORDS)]
        prompt = f"Question {n}: name something like {needle}."
        output = f"Answer {n}: a {needle}, plainly put, in a few words."
        rows.append({"id": f"case-{n:04d}", "needle": needle, "prompt": prompt,
                     "output": output})
    lines = ["suite: bench", "models: [openai/bench]", 'prompt: "{{ q }}"',
             "expect: [{max_words: 60}, {min_words: 1}]", "cases:"]
    for row in rows:
        lines.append(f"  - id: {row['id']}")
        lines.append(f"    vars: {{q: \"{row['prompt']}\"}}")
        lines.append(f"    expect: [{{contains: {row['needle']}}}]")
    (folder / "bench.suite.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = [
        CaseResult(suite="bench", case_id=row["id"], model="openai/bench",
                   model_id="openai/bench", status="passed", source="bench.suite.yaml:1",
                   messages=[{"role": "user", "content": row["prompt"]}],
                   params={"temperature": 0.0, "max_tokens": 256, "seed": 0},
                   output=row["output"], latency_ms=120.0)
        for row in rows
    ]
    log = RunLog(run_id="recorded", harness_version="bench", created_at="2026-01-01T00:00:00",
                 suites=[SuiteInfo(name="bench", path="bench.suite.yaml", fingerprint="x",
                                   cases=items)],
                 models=[ModelInfo(name="openai/bench", id="openai/bench")], results=results)
    log.write(folder / "recorded.json")
    (folder / "outputs.json").write_text(json.dumps(rows), encoding="utf-8")
    (folder / "test_plain.py").write_text(
        "import json, pathlib\n"
        "import pytest\n\n"
        "ROWS = json.loads((pathlib.Path(__file__).parent / 'outputs.json').read_text())\n\n\n"
        "@pytest.mark.parametrize('row', ROWS, ids=[r['id'] for r in ROWS])\n"
        "def test_output(row):\n"
        "    out = row['output']\n"
        "    assert row['needle'] in out\n"
        "    assert len(out.split()) <= 60\n"
        "    assert len(out.split()) >= 1\n", encoding="utf-8")


def run_once(folder: Path, args: list[str]) -> dict[str, float]:
    times = folder / "times.json"
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "BENCH_TIMES": str(times),
           "PYTHONPATH": str(folder), "HARNESS_CACHE": str(folder / "cache.sqlite")}
    # Installed packages have their bytecode cached; without it every run would compile
    # every imported module again, which no user's pytest does.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "bench_timer", *args], cwd=folder, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"pytest {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n"
                         f"{proc.stderr[-3000:]}")
    t = json.loads(times.read_text())
    return {"wall": wall, "collect": t["collected"] - t["collect"],
            "loop": t["finish"] - t["loop"], "finish": t["end"] - t["finish"]}


def best_runs(folder: Path, configs: dict[str, list[str]],
              runs: int) -> dict[str, dict[str, float]]:
    """Per configuration, the fastest of ``runs`` runs after a warm-up (bytecode caches
    written). The configurations take turns, so a burst of other work on a shared machine
    slows them alike, and the fastest run is the one least disturbed."""
    for args in configs.values():
        run_once(folder, args)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
    for _ in range(runs):
        for name, args in configs.items():
            samples[name].append(run_once(folder, args))
    return {name: min(s, key=lambda row: row["wall"]) for name, s in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_project(folder, args.items)
        plugin = ["-p", "harness.pytest_plugin", "bench.suite.yaml",
                  "--harness-replay", "recorded.json"]
        configs = {"plain pytest": ["test_plain.py"], "harness plugin (replay)": plugin,
                   "  without the HTML report": [*plugin, "--harness-no-html"]}
        rows = best_runs(folder, configs, args.runs)
        log = json.loads((folder / "reports" / "pytest.json").read_text())
        assert log["summary"]["passed"] == args.items, log["summary"]
        n = args.items
        print(f"{n} items, three checks each, fastest of {args.runs} fresh pytest processes "
              f"(other plugins off)\n")
        print(f"{'':26} {'wall s':>7} {'ms/item':>8} {'collect s':>10} {'run s':>7} "
              f"{'finish s':>9}")
        for name, row in rows.items():
            print(f"{name:26} {row['wall']:7.2f} {row['wall'] / n * 1000:8.2f} "
                  f"{row['collect']:10.2f} {row['loop']:7.2f} {row['finish']:9.2f}")
        plain = rows["plain pytest"]["wall"]
        ours, lean = rows["harness plugin (replay)"]["wall"], \
            rows["  without the HTML report"]["wall"]
        print(f"\nplugin overhead over plain pytest: {(ours - plain) / n * 1000:.2f} ms per "
              f"item with the HTML report, {(lean - plain) / n * 1000:.2f} ms without it "
              "(target: at most 1 ms)")


if __name__ == "__main__":
    main()
