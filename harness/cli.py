"""The ``harness`` command. Heavy libraries (LiteLLM, pandas, llama.cpp) load only inside
the subcommand that needs them, so ``harness --help`` answers at once."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Test what large language models write: YAML suites, any model through "
        "LiteLLM, an embedded local model, reports for people and CI.",
        epilog="Start with: harness run suites/quickstart.suite.yaml",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run suites against models and write a RunLog and report",
                         description="Run suites against models; writes OUT/NAME.json (the "
                         "RunLog) and OUT/NAME.html. Exit 0: every check passed; 1: some "
                         "failed or errored; 2: suite or usage error.")
    run.add_argument("paths", nargs="+", metavar="SUITE", help="suite files or folders")
    run.add_argument("-m", "--model", action="append", default=[], metavar="MODEL",
                     help="LiteLLM model string, repeatable (default: the suite's models), "
                     "e.g. local/smollm2, openai/gpt-4o-mini")
    run.add_argument("--api-base", metavar="URL",
                     help="base URL of an OpenAI-compatible server for the -m models")
    run.add_argument("-c", "--concurrency", type=_positive_int, default=8, metavar="N",
                     help="calls in flight at once (default 8)")
    run.add_argument("--retries", type=_positive_int, default=4, metavar="N",
                     help="attempts per call for retryable failures (default 4)")
    run.add_argument("--no-cache", action="store_true",
                     help="call the model even when a cached answer exists")
    run.add_argument("--cache", metavar="PATH", default=None,
                     help="response cache file (default .harness/cache.sqlite, or $HARNESS_CACHE)")
    run.add_argument("-o", "--out", metavar="DIR", default="reports",
                     help="folder for the RunLog and report (default reports/)")
    run.add_argument("--name", metavar="NAME",
                     help="file name for the outputs (default: the suite's name)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    validate = sub.add_parser("validate", help="check suite files without calling a model")
    validate.add_argument("paths", nargs="+", metavar="SUITE")

    report = sub.add_parser("report", help="render a RunLog as a self-contained HTML report")
    report.add_argument("runlog", metavar="RUNLOG")
    report.add_argument("-o", "--output", metavar="FILE",
                        help="HTML file to write (default: next to the RunLog)")

    schema = sub.add_parser("schema", help="print the JSON Schema of suites (or of RunLogs)")
    schema.add_argument("--runlog", action="store_true", help="the RunLog schema instead")
    schema.add_argument("-o", "--output", metavar="FILE", help="write to FILE")

    sub.add_parser("checks", help="list every registered check")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``harness`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    from harness.errors import SuiteError, UsageError

    handler = {"run": cmd_run, "validate": cmd_validate, "report": cmd_report,
               "schema": cmd_schema, "checks": cmd_checks}[args.command]
    try:
        return handler(args)
    except SuiteError as exc:
        print(exc, file=sys.stderr)
        count = len(exc.problems)
        print(f"\n{count} problem{'s' if count != 1 else ''} found; nothing was run.",
              file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `harness checks | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _load_all(paths: Sequence[str]) -> list[Any]:
    from harness.errors import SuiteError
    from harness.spec.loader import find_suites, load_suite

    files = find_suites(paths)
    if not files:
        raise SuiteError([_problem(", ".join(paths), "no *.suite.yaml files found")])
    suites, problems = [], []
    for file in files:
        try:
            suites.append(load_suite(file))
        except SuiteError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SuiteError(problems)
    names: dict[str, str] = {}
    for suite in suites:
        if suite.name in names:
            raise SuiteError([_problem(suite.path, f"suite name '{suite.name}' is also used by "
                                       f"{names[suite.name]}; suite names must be unique")])
        names[suite.name] = suite.path
    return suites


def _problem(path: str, message: str) -> Any:
    from harness.errors import Problem

    return Problem(path, None, message)


def cmd_validate(args: argparse.Namespace) -> int:
    for suite in _load_all(args.paths):
        models = ", ".join(m.name for m in suite.models)
        print(f"ok  {suite.path}: suite '{suite.name}', {len(suite.cases)} cases, "
              f"{sum(len(c.checks) for c in suite.cases)} checks, models: {models}")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from harness.spec.schema import runlog_schema, suite_schema

    text = json.dumps(runlog_schema() if args.runlog else suite_schema(), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_checks(args: argparse.Namespace) -> int:
    from harness.checks.registry import registry

    for name, definition in sorted(registry().items()):
        params = ", ".join(definition.params)
        print(f"{name:16} ({params})\n    {definition.description}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from harness.errors import UsageError
    from harness.report.html import write_html
    from harness.results import RunLog

    try:
        log = RunLog.read(args.runlog)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    target = Path(args.output) if args.output else Path(args.runlog).with_suffix(".html")
    write_html(log, target)
    print(f"report: {target}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio
    import secrets
    import time
    from datetime import UTC, datetime

    from harness.providers.litellm_provider import LiteLLMProvider
    from harness.report.html import write_html
    from harness.results import CaseResult, ModelInfo, RunLog, SuiteInfo
    from harness.runner import Progress, RetryPolicy, RunSettings, execute, plan, resolve_models
    from harness.store import ResponseCache

    suites = _load_all(args.paths)
    items = plan(suites, args.model, args.api_base)
    if not items:
        print("nothing to run: the suites have no cases", file=sys.stderr)
        return EXIT_USAGE
    cache = None
    if not args.no_cache:
        cache = ResponseCache(args.cache or os.environ.get("HARNESS_CACHE")
                              or ".harness/cache.sqlite")
    settings = RunSettings(concurrency=args.concurrency, cache=cache,
                           retry=RetryPolicy(max_attempts=args.retries))
    started = datetime.now(UTC)
    run_id = started.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
    models: dict[str, ModelInfo] = {}
    for suite in suites:
        for m in resolve_models(suite, args.model, args.api_base):
            models.setdefault(m.name, ModelInfo(name=m.name, id=m.id, api_base=m.api_base))
    _warn_missing_keys(list(models.values()), suites, args)
    model_names = ", ".join(models)
    print(f"harness {__version__}: {len(items)} calls ({len(suites)} suite"
          f"{'s' if len(suites) != 1 else ''}, models: {model_names}), run {run_id}",
          file=sys.stderr)
    progress = None if args.quiet else Progress(len(items), sys.stderr, sys.stderr.isatty())
    results: list[CaseResult] = []
    clock = time.monotonic()
    interrupted = False
    try:
        asyncio.run(execute(items, LiteLLMProvider(), settings, progress, results))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if cache is not None:
            cache.close()
    log = RunLog(
        run_id=run_id,
        harness_version=__version__,
        created_at=started.isoformat(timespec="seconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=round(time.monotonic() - clock, 3),
        suites=[SuiteInfo(**s.summary()) for s in suites],
        models=list(models.values()),
        settings={"concurrency": args.concurrency, "cache": cache is not None,
                  "max_attempts": args.retries, "interrupted": interrupted},
        results=results,
    )
    name = args.name or (suites[0].name if len(suites) == 1 else "run")
    out = Path(args.out)
    json_path = log.write(out / f"{name}.json")
    html_path = write_html(log, out / f"{name}.html")
    _print_summary(log.with_summary())
    print(f"\nRunLog: {json_path}\nreport: {html_path}")
    if interrupted:
        print(f"interrupted: {len(results)} of {len(items)} calls finished and were saved",
              file=sys.stderr)
        return 130
    everything_passed = all(r.status == "passed" for r in results)
    return EXIT_OK if everything_passed else EXIT_FAILED


def _warn_missing_keys(models: list[Any], suites: list[Any], args: argparse.Namespace) -> None:
    """Say up front when a model's key is missing, instead of after N failed calls."""
    from harness.providers.litellm_provider import load_litellm
    from harness.runner import resolve_models

    configs = {m.name: m for s in suites for m in resolve_models(s, args.model, args.api_base)}
    litellm = load_litellm()
    for info in models:
        config = configs[info.name]
        if config.id.startswith("local/") or config.api_base or config.api_key_env:
            continue
        try:
            missing = litellm.validate_environment(config.id).get("missing_keys") or []
        except Exception:  # an unknown provider: LiteLLM itself will explain on the call
            continue
        if missing:
            print(f"warning: {config.id} needs {', '.join(missing)} in the environment; "
                  "its calls will fail with an 'auth' error", file=sys.stderr)


def _print_summary(log: Any) -> None:
    print()
    header = f"{'model':28} {'pass rate':>9} {'passed':>7} {'failed':>7} {'errors':>7} " \
             f"{'median ms':>10} {'cost $':>9}"
    print(header)
    print("-" * len(header))
    for model, row in log.summary["models"].items():
        rate = "—" if row["pass_rate"] is None else f"{row['pass_rate']:.0%}"
        latencies = sorted(r.latency_ms for r in log.results
                           if r.model == model and r.latency_ms is not None)
        median = f"{latencies[len(latencies) // 2]:.0f}" if latencies else "—"
        costs = [r.cost_usd for r in log.results if r.model == model and r.cost_usd is not None]
        cost = f"{sum(costs):.4f}" if costs else "—"
        print(f"{model[:28]:28} {rate:>9} {row['passed']:>7} {row['failed']:>7} "
              f"{row['errors']:>7} {median:>10} {cost:>9}")
    failures = [r for r in log.results if r.status != "passed"]
    if failures:
        print(f"\n{len(failures)} not passed:")
        for r in failures[:15]:
            if r.error is not None:
                why = f"error {r.error.kind}: {r.error.message[:100]}"
            else:
                first = next(c for c in r.checks if not c.passed)
                why = f"{first.check}: {first.reason[:100]}"
            print(f"  {r.suite}/{r.case_id} [{r.model}] {why}")
        if len(failures) > 15:
            print(f"  … and {len(failures) - 15} more (see the report)")
