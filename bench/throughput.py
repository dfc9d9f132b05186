"""Throughput of `harness run` against a loopback OpenAI-compatible server.

The workload is the one the peer rig measures (../shared/bench): N cases x 2 models,
three cheap checks each (contains, regex, is_json), concurrency C, server latency L.

    python bench/throughput.py --latency-ms 100 --reps 3
    python bench/throughput.py --latency-ms 2 --reps 3

Prints, per rep and as medians: wall (whole process), span (first request to last
response, from the server), ideal = N·L/C, eff_wall, eff_span, calls/s, CPU seconds
(user+sys) and peak RSS. Compare with `bash ../shared/bench/run_peers.sh` run right after.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "bench"

SUITE = """\
suite: throughput
models:
  - {{id: openai/mock-a, api_base: "{base}"}}
  - {{id: openai/mock-b, api_base: "{base}"}}
defaults: {{temperature: 0, max_tokens: 64}}
prompt: "{{{{ prompt }}}}"
dataset:
  path: cases.jsonl
  id: id
  expect:
    - contains: "{{{{ expected.contains[0] }}}}"
    - regex: "{{{{ expected.regex[0] }}}}"
    - is_json: {{}}
"""


def start_server(latency_ms: float, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port_file = workdir / f"port-{latency_ms:g}"
    server = subprocess.Popen(
        [sys.executable, str(SHARED / "mock_llm_server.py"), "--port", "0",
         "--latency-ms", str(latency_ms), "--max-seconds", "1800", "--port-file", str(port_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        if port_file.exists() and port_file.read_text().strip():
            return server, f"http://127.0.0.1:{port_file.read_text().strip()}"
        time.sleep(0.05)
    server.kill()
    raise SystemExit("the mock server did not start")


def http(url: str, method: str = "GET") -> dict[str, object]:
    req = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return dict(json.loads(resp.read()))


def fill_store(path: Path, count: int) -> None:
    """A run store already holding ``count`` results of 100 earlier runs."""
    sys.path.insert(0, str(ROOT))
    from harness.results import CaseResult, CheckRecord
    from harness.store import RunStore

    store = RunStore(path)
    per_run = max(1, count // 100)
    for run in range(0, count, per_run):
        run_id = f"earlier-{run:07d}"
        store.create_run(run_id, f"2026-01-01T00:00:{run % 60:02d}", {"options": {}})
        batch = [
            CaseResult(suite="throughput", case_id=f"case-{i:06d}", model="openai/mock-a",
                       model_id="openai/mock-a", status="passed",
                       messages=[{"role": "user", "content": f"Case {i}: reply in json"}],
                       output='{"ok": true, "hash": "0123456789ab", "words": 7}',
                       checks=[CheckRecord(check="is_json", passed=True, reason="valid JSON")])
            for i in range(run, min(count, run + per_run))
        ]
        store.add_many(run_id, batch)
    store.close()


def one_run(workdir: Path, base: str, concurrency: int, extra: list[str]) -> dict[str, float]:
    http(f"{base}/reset", "POST")
    out = workdir / "out"
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "harness", "run",
           str(workdir / "throughput.suite.yaml"), "--no-cache", "-q", "-c", str(concurrency),
           "--out", str(out), *extra]
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"harness failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    stats = http(f"{base}/stats")
    log = json.loads((out / "throughput.json").read_text())
    passed = sum(r["status"] == "passed" for r in log["results"])
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", proc.stderr).group(1))  # type: ignore[union-attr]
    sys_ = float(re.search(r"System time \(seconds\): ([\d.]+)", proc.stderr).group(1))  # type: ignore[union-attr]
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))  # type: ignore[union-attr]
    return {
        "wall": wall, "span": float(stats["first_to_last_s"] or 0.0),  # type: ignore[arg-type]
        "avg_in_flight": float(stats["avg_in_flight"] or 0.0),  # type: ignore[arg-type]
        "requests": float(stats["requests"]),  # type: ignore[arg-type]
        "results": float(len(log["results"])), "passed": float(passed),
        "cpu": user + sys_, "rss_mb": rss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--cases", type=int, default=500)
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="one JSON line per rep")
    parser.add_argument("--store-results", type=int, default=0, metavar="K",
                        help="first fill the run store with K results of earlier runs")
    parser.add_argument("extra", nargs="*", help="extra arguments for harness run (after --)")
    args = parser.parse_args()
    if not (SHARED / "mock_llm_server.py").exists():
        raise SystemExit(f"needs the shared bench rig at {SHARED}")
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        workdir = Path(tmp)
        server, base = start_server(args.latency_ms, workdir)
        try:
            subprocess.run([sys.executable, str(SHARED / "make_suite.py"), "-n", str(args.cases),
                            "--out-dir", str(workdir), "--base-url", f"{base}/v1"],
                           check=True, capture_output=True)
            (workdir / "throughput.suite.yaml").write_text(SUITE.format(base=f"{base}/v1"))
            if args.store_results:
                fill_store(workdir / "out" / "runs.sqlite", args.store_results)
            calls = 2 * args.cases
            ideal = calls * args.latency_ms / 1000 / args.concurrency
            one_run(workdir, base, args.concurrency, args.extra)  # warm-up: page cache, pyc
            runs = [one_run(workdir, base, args.concurrency, args.extra) for _ in range(args.reps)]
        finally:
            server.terminate()
    print(f"harness run: {calls} calls, C={args.concurrency}, L={args.latency_ms:g} ms, "
          f"ideal N·L/C = {ideal:.3f} s, {args.reps} reps")
    print(f"{'':8} {'wall s':>7} {'span s':>7} {'eff_wall':>8} {'eff_span':>8} {'calls/s':>8} "
          f"{'per call ms':>11} {'fixed s':>7} {'CPU s':>6} {'RSS MB':>7} {'passed':>7}")
    rows = []
    for i, r in enumerate(runs, 1):
        row = {**r, "eff_wall": ideal / r["wall"],
               "eff_span": ideal / r["span"] if r["span"] else 0,
               "calls_s": calls / r["wall"], "per_call_ms": 1000 * r["span"] / calls,
               "fixed": r["wall"] - r["span"]}
        rows.append(row)
        if args.json:
            print(json.dumps({"rep": i, "latency_ms": args.latency_ms, **row}))
        _print_row(f"rep {i}", row)
    median = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    _print_row("median", median)


def _print_row(label: str, r: dict[str, float]) -> None:
    print(f"{label:8} {r['wall']:7.2f} {r['span']:7.2f} {r['eff_wall']:8.2f} {r['eff_span']:8.2f} "
          f"{r['calls_s']:8.0f} {r['per_call_ms']:11.2f} {r['fixed']:7.2f} {r['cpu']:6.2f} "
          f"{r['rss_mb']:7.0f} {r['passed']:7.0f}")


if __name__ == "__main__":
    main()
