"""How long `harness --help` takes, and what `harness run` pays before its first call.

    python bench/startup.py [--runs 10]

Prints the median wall time of `harness --help` next to bare `python -c pass`, so the
difference is what harness itself adds to an instant command.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def median_seconds(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    bare = median_seconds([sys.executable, "-c", "pass"], args.runs)
    help_ = median_seconds([sys.executable, "-m", "harness", "--help"], args.runs)
    run_help = median_seconds([sys.executable, "-m", "harness", "run", "--help"], args.runs)
    print(f"python -c pass        {bare * 1000:7.1f} ms")
    print(f"harness --help        {help_ * 1000:7.1f} ms  (+{(help_ - bare) * 1000:.1f} ms)")
    print(f"harness run --help    {run_help * 1000:7.1f} ms  (+{(run_help - bare) * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
