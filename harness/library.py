"""``harness library``: the prompt variants of a set of suites, read as a library.

Every prompt variant with its note and patterns, the suites that use it, and its latest
measured pass rate per model, taken from RunLogs (given with ``--runlog``, or found in the
output folder ``harness run`` writes to). A measurement made on an older text of the prompt
(its fingerprint differs from the suite's current one) is marked as such, so the library
doubles as evidence of what works, never silently out of date.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from harness.results import CaseResult, RunLog


# NamedTuples, not dataclasses: this module is imported by `harness --help`, and
# dataclasses imports inspect and ast (about 15 ms of every start-up).
class Measure(NamedTuple):
    """A variant's latest pass rate with one model in one suite."""

    suite: str
    model: str
    passed: int
    judged: int
    errors: int
    rate: float | None
    ci95: tuple[float, float] | None
    run_id: str
    created_at: str
    current: bool  # measured on the prompt text the suite has now


class Entry(NamedTuple):
    """One prompt variant name across the suites that declare it."""

    name: str
    notes: dict[str, str | None]  # suite -> note
    patterns: dict[str, list[str]]  # suite -> pattern names
    fingerprints: dict[str, str]  # suite -> fingerprint
    measures: list[Measure]

    @property
    def suites(self) -> list[str]:
        return list(self.notes)


def build(paths: list[str], runlogs: list[RunLog]) -> list[Entry]:
    """The library of the suites under ``paths``, measured by ``runlogs`` (newest wins)."""
    from harness.results import counted
    from harness.session import load_suites
    from harness.stats import wilson_interval

    suites = load_suites(paths)
    entries: dict[str, Entry] = {}
    for suite in suites:
        for info in suite.prompts:
            entry = entries.setdefault(info["name"], Entry(info["name"], {}, {}, {}, []))
            entry.notes[suite.name] = info.get("note")
            entry.patterns[suite.name] = list(info.get("patterns") or [])
            entry.fingerprints[suite.name] = info["fingerprint"]
    # per (prompt, suite, model): the newest log's results, grouped in one pass per log;
    # shrink candidates are diagnostics, not measurements (results.counted)
    latest: dict[tuple[str, str, str], tuple[str, RunLog, list[CaseResult]]] = {}
    for log in runlogs:
        groups: dict[tuple[str, str, str], list[CaseResult]] = {}
        for r in counted(log.results):
            if r.prompt is not None and r.prompt in entries:
                groups.setdefault((r.prompt, r.suite, r.model), []).append(r)
        for key, rows in groups.items():
            known = latest.get(key)
            if known is None or known[0] < log.created_at:
                latest[key] = (log.created_at, log, rows)
    for (prompt, suite_name, model), (_, log, rows) in sorted(latest.items(),
                                                              key=lambda kv: kv[0]):
        passed = sum(r.status == "passed" for r in rows)
        judged = sum(r.status != "error" for r in rows)
        measured = next((p.fingerprint for s in log.suites if s.name == suite_name
                         for p in s.prompts if p.name == prompt), None)
        entry = entries[prompt]
        entry.measures.append(Measure(
            suite=suite_name, model=model, passed=passed, judged=judged,
            errors=len(rows) - judged, rate=passed / judged if judged else None,
            ci95=wilson_interval(passed, judged) if judged else None, run_id=log.run_id,
            created_at=log.created_at,
            current=measured is not None and measured == entry.fingerprints.get(suite_name)))
    return list(entries.values())


def find_runlogs(explicit: list[str], out: str) -> list[RunLog]:
    """The RunLogs named, or every RunLog in ``out`` (files that are not RunLogs are
    skipped: the folder also holds comparisons and other JSON)."""
    from harness.errors import UsageError
    from harness.results import RunLog

    logs = []
    if explicit:
        for path in explicit:
            try:
                logs.append(RunLog.read(path))
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        return logs
    folder = Path(out)
    for found in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            head = found.read_bytes()[:200]
        except OSError:
            continue
        if b'"harness.runlog"' not in head:
            continue
        try:
            logs.append(RunLog.read(found))
        except ValueError:
            continue
    return logs


def render_text(entries: list[Entry], logs: int) -> str:
    """The library for a terminal."""
    if not entries:
        return "no prompt variants: add 'prompts:' to a suite (see docs/prompts.md)\n"
    suites = {s for e in entries for s in e.suites}
    out = [f"prompt library: {len(entries)} prompt{'s' if len(entries) != 1 else ''} in "
           f"{len(suites)} suite{'s' if len(suites) != 1 else ''}; measured by "
           f"{logs} RunLog{'s' if logs != 1 else ''}"]
    for e in entries:
        notes = {n for n in e.notes.values() if n}
        out.append("")
        out.append(f"{e.name}" + (f" — {' / '.join(sorted(notes))}" if notes else ""))
        patterns = list(dict.fromkeys(p for ps in e.patterns.values() for p in ps))
        out.append(f"  patterns: {', '.join(patterns) or 'none'} · used by: "
                   f"{', '.join(e.suites)}")
        if not e.measures:
            out.append("  not measured yet (run the suites, or pass --runlog)")
        for m in e.measures:
            rate = "—" if m.rate is None else f"{m.rate * 100:.0f}%"
            ci = "" if m.ci95 is None else f", {m.ci95[0] * 100:.0f}–{m.ci95[1] * 100:.0f}%"
            stale = "" if m.current else " (an older text of this prompt)"
            errors = f", {m.errors} errors" if m.errors else ""
            out.append(f"  {m.suite} · {m.model}: {rate} ({m.passed}/{m.judged}{ci}{errors})"
                       f" run {m.run_id}{stale}")
    return "\n".join(out) + "\n"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``library`` to the ``harness`` command's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "library", help="list every prompt variant with its note, suites and pass rates",
        description="Print every prompt variant of the suites with its note, the suites "
        "using it and its latest measured pass rate per model (from --runlog files, or the "
        "RunLogs in --out).")
    parser.add_argument("paths", nargs="+", metavar="SUITE", help="suite files or folders")
    parser.add_argument("--runlog", action="append", default=[], metavar="RUNLOG",
                        help="RunLog(s) to read pass rates from (repeatable; default: "
                        "every RunLog in --out)")
    parser.add_argument("-o", "--out", metavar="DIR", default="reports",
                        help="where `harness run` wrote its RunLogs (default reports/)")
    parser.add_argument("--json", metavar="FILE", help="also write the library as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``harness library`` as parsed by ``add_parser``'s parser."""
    logs = find_runlogs(list(args.runlog), args.out)
    entries = build(list(args.paths), logs)
    sys.stdout.write(render_text(entries, len(logs)))
    if args.json:
        rows = [{**e._asdict(), "measures": [m._asdict() for m in e.measures]}
                for e in entries]
        Path(args.json).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0
