"""How big and how fast the HTML report is for a large run.

    python bench/report_render.py [--results 10000] [--models 4] [--out /tmp/report-bench]
                                  [--baseline] [--no-browser] [--reps 3]

Builds a synthetic RunLog (several models, suites, tags and checks; outputs of realistic
length, 300 to 3,000 characters; about a quarter failing with evidence and failure modes,
a few provider errors; costs and latencies), renders it, and reports:

- the file size and the render time (RunLog in memory → HTML string, masking included);
- with Chromium (Playwright, /usr/bin/chromium), the time from navigation to the moment
  the filters respond: the search box is typed into and the matrix count shows the
  filtered number. Also the browser's own domInteractive and load event times.

``--baseline`` renders the diff view too, against a second synthetic run in which some
cases changed. Nothing here touches the network.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from harness.results import CaseResult, CheckRecord, ErrorRecord, ModelInfo, RunLog, SuiteInfo

SUITES = {
    "legal-summaries": ["legal", "summary", "grounding"],
    "marketing-copy": ["marketing", "copy"],
    "research-synthesis": ["research", "grounding"],
    "product-specs": ["product", "format"],
    "policy-drafts": ["legal", "policy", "pii"],
}
CHECKS = ["contains", "is_json", "grounded", "matches_schema", "max_length", "regex"]
MODES = ["made-up figure", "unsupported name", "missing section", "wrong format",
         "leaked email", "off topic"]
# Prose to cut outputs from: the project's own docs, so the text compresses and escapes like
# real English (with numbers, punctuation, code and the odd "<" that must be escaped).
_ROOT = Path(__file__).resolve().parent.parent
PROSE = " ".join(
    (_ROOT / name).read_text(encoding="utf-8") for name in
    ("README.md", "docs/architecture.md", "docs/performance.md", "docs/compare.md"))


def _text(rng: random.Random, chars: int) -> str:
    start = rng.randrange(0, max(1, len(PROSE) - chars))
    return PROSE[start:start + chars]


def synthetic_log(n: int, models: int = 4, seed: int = 0, run_id: str = "bench-run",
                  flip: float = 0.0) -> RunLog:
    """``n`` case results over ``models`` models; ``flip`` is the share of results whose
    verdict and output differ from the seed-0 run (a head run for the diff view)."""
    case_rng = random.Random(seed)
    flipper = random.Random(f"{run_id}-flip")
    names = [f"provider-{i}/model-{chr(97 + i)}" for i in range(models)]
    cases = n // models
    suite_names = list(SUITES)
    results: list[CaseResult] = []
    quality = {m: 0.55 + 0.1 * i for i, m in enumerate(names)}
    for c in range(cases):
        suite = suite_names[c % len(suite_names)]
        tags = SUITES[suite]
        prompt = _text(case_rng, case_rng.randint(200, 800))
        case_checks = case_rng.sample(CHECKS, 3)
        for m in names:
            # one generator per result, so a flipped verdict changes nothing else
            rng = random.Random(f"{seed}-{c}-{m}")
            out_len = rng.randint(300, 3000)
            output = _text(rng, out_len)
            roll = rng.random()
            if flip and flipper.random() < flip:
                roll = 1 - roll
                output = output.replace("thirty", "sixty", 1) + " (revised)"
            error = None
            checks = []
            if roll < 0.02:
                status = "error"
                error = ErrorRecord(kind=rng.choice(["RateLimitError", "Timeout"]),
                                    message="429 too many requests", attempts=3)
                output = None
            else:
                failing = roll > quality[m]
                for i, name in enumerate(case_checks):
                    fails = failing and i == 0
                    evidence: dict[str, Any] = {}
                    if fails:
                        evidence = {"failure_mode": rng.choice(MODES),
                                    "unsupported_claims": [{"text": "twelve percent"}]}
                    checks.append(CheckRecord(
                        check=name, args={"value": "refund"}, passed=not fails,
                        score=0.0 if fails else 1.0,
                        reason=("expected 'refund'; found no mention of it" if fails
                                else "found 'refund'"), evidence=evidence))
                status = "failed" if failing else "passed"
            results.append(CaseResult(
                suite=suite, case_id=f"case-{c:05d}", model=m, model_id=m, status=status,
                tags=tags, source=f"suites/{suite}.suite.yaml:{10 + c}",
                vars={"topic": f"topic {c}"},
                messages=[{"role": "system", "content": "You are a careful analyst."},
                          {"role": "user", "content": prompt}],
                params={"temperature": 0.0}, output=output, error=error,
                cost_usd=None if error else round(0.00002 * (1 + names.index(m)) * out_len / 100,
                                                  8),
                latency_ms=None if error else rng.uniform(200, 2500) * (1 + names.index(m) / 3),
                checks=checks,
            ))
    return RunLog(
        run_id=run_id, harness_version="bench", created_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:10:00+00:00", duration_s=600.0,
        suites=[SuiteInfo(name=s, path=f"suites/{s}.suite.yaml", fingerprint="f" * 64,
                          cases=cases // len(SUITES)) for s in SUITES],
        models=[ModelInfo(name=m, id=m) for m in names],
        settings={"status": "finished", "concurrency": 16},
        results=results,
    )


def interactive_seconds(path: Path, cases: int) -> dict[str, float]:
    """Chromium: navigation start → the search filter has filtered the matrix."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        start = time.perf_counter()
        page.goto(path.as_uri(), wait_until="commit")
        page.locator("#f-text").fill("case-00001")  # waits until the filters are shown
        page.wait_for_function(
            "document.getElementById('f-count').textContent.startsWith('1 of')",
            polling="raf")
        ready = time.perf_counter() - start
        page.wait_for_load_state("load")
        timing = page.evaluate(
            "(() => { const t = performance.getEntriesByType('navigation')[0];"
            " return [t.domInteractive, t.loadEventEnd]; })()")
        browser.close()
    del cases
    return {"filters_respond_s": ready, "dom_interactive_s": timing[0] / 1000,
            "load_event_s": timing[1] / 1000}


def main() -> None:
    from harness.report.html import render_html

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--out", default="/tmp/report-bench")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--baseline", action="store_true", help="render the diff view too")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()

    log = synthetic_log(args.results, args.models)
    # the baseline: the same run with 5% of the verdicts (and those outputs) different
    base = synthetic_log(args.results, args.models, run_id="bench-base",
                         flip=0.05) if args.baseline else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    renders, cpu = [], []
    html = ""
    for _ in range(args.reps):
        start, start_cpu = time.perf_counter(), time.process_time()
        html = render_html(log, baseline=base)
        renders.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    target = out / "report.html"
    target.write_text(html, encoding="utf-8")
    size = target.stat().st_size
    print(f"{len(log.results):,} results, {args.models} models"
          + (", with a baseline diff" if base else ""))
    print(f"render   {statistics.median(renders):6.2f} s  (median of {args.reps}: "
          + ", ".join(f"{r:.2f}" for r in renders) + ")")
    print(f"cpu      {statistics.median(cpu):6.2f} s  (CPU time of the render: on a shared "
          "machine the wall time above includes waiting for a core)")
    print(f"size     {size / 1e6:6.2f} MB  ({target})")
    if args.no_browser:
        return
    runs = [interactive_seconds(target, args.results // args.models) for _ in range(args.reps)]
    for key in ("filters_respond_s", "dom_interactive_s", "load_event_s"):
        values = [r[key] for r in runs]
        print(f"{key:18} {statistics.median(values):6.2f} s  ("
              + ", ".join(f"{v:.2f}" for v in values) + ")")


if __name__ == "__main__":
    sys.exit(main())
