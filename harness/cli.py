"""The ``harness`` command. Heavy libraries (LiteLLM, pandas, llama.cpp) load only inside
the subcommand that needs them, so ``harness --help`` answers at once."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import __version__, detect, library
from harness.formats import usd

if TYPE_CHECKING:
    from harness.cost import Estimate

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
    run.add_argument("paths", nargs="*", metavar="SUITE",
                     help="suite files or folders (not needed with --resume)")
    run.add_argument("-m", "--model", action="append", default=[], metavar="MODEL",
                     help="LiteLLM model string, repeatable (default: the suite's models), "
                     "e.g. local/smollm2, openai/gpt-4o-mini")
    run.add_argument("--judge", action="append", default=[], metavar="MODEL",
                     help="judge model for LLM-judged checks (repeatable; overrides the "
                     "suite's 'judge:')")
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
    run.add_argument("--repeat", type=_positive_int, default=1, metavar="N",
                     help="sample each case N times (flaky cases are marked)")
    run.add_argument("--filter", action="append", default=[], metavar="PATTERN",
                     help="keep cases whose id matches a glob, or tag:NAME, or suite:NAME "
                     "(repeatable)")
    run.add_argument("--limit", type=_positive_int, metavar="N",
                     help="only the first N cases of each suite")
    run.add_argument("--prompt", action="append", default=[], metavar="NAME",
                     help="run only this prompt variant of the suites' 'prompts:' "
                     "(repeatable)")
    run.add_argument("--shard", metavar="I/N",
                     help="run the I-th of N deterministic slices (for parallel CI jobs)")
    run.add_argument("--max-cost", type=_non_negative_float, metavar="USD",
                     help="stop before spending more than USD (LiteLLM's price table)")
    run.add_argument("--dry-run", action="store_true",
                     help="print calls, tokens and estimated cost per model; send nothing")
    run.add_argument("--resume", metavar="RUN_ID",
                     help="finish an interrupted run (an id, or 'last'); nothing finished "
                     "is called again. The run keeps its options, except that --max-cost "
                     "sets a new budget for the whole run")
    run.add_argument("--store", metavar="PATH",
                     help="run store (default OUT/runs.sqlite)")
    _add_gate_options(run, required=False)
    run.add_argument("--show-pii", action="store_true",
                     help="do not mask personal data in the reports (HTML, JUnit, Markdown)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_ci_output_options(run)

    merge = sub.add_parser("merge", help="join RunLogs (e.g. of --shard jobs) into one")
    merge.add_argument("runlogs", nargs="+", metavar="RUNLOG")
    merge.add_argument("-o", "--output", metavar="FILE", required=True,
                       help="the merged RunLog (an HTML report is written beside it)")

    validate = sub.add_parser("validate", help="check suite files without calling a model")
    validate.add_argument("paths", nargs="+", metavar="SUITE")

    report = sub.add_parser("report", help="render a RunLog as a self-contained HTML report")
    report.add_argument("runlog", metavar="RUNLOG")
    report.add_argument("-o", "--output", metavar="FILE",
                        help="HTML file to write (default: next to the RunLog)")
    report.add_argument("--show-pii", action="store_true",
                        help="do not mask personal data (masked by default)")
    report.add_argument("--full", action="store_true",
                        help="show every output even in large runs (by default, runs over "
                        "2,000 results show passed results without their output)")
    _add_ci_output_options(report)
    _add_gate_options(report, required=False)

    schema = sub.add_parser("schema", help="print the JSON Schema of suites (or of RunLogs)")
    schema.add_argument("--runlog", action="store_true", help="the RunLog schema instead")
    schema.add_argument("-o", "--output", metavar="FILE", help="write to FILE")

    _add_compare_parsers(sub)
    gate = sub.add_parser(
        "gate", help="fail CI when HEAD is worse than a baseline RunLog",
        description="Compare a RunLog with a baseline. Exit 0: no regression; 1: a case that "
        "passed fails now, a pass rate fell beyond noise (McNemar), or a budget was broken; "
        "2: usage error; 3: too many provider errors to judge.")
    gate.add_argument("head", metavar="HEAD", help="the RunLog of the change")
    _add_gate_options(gate, required=True)
    init = sub.add_parser("init", help="start a project: an example suite, a fixture and a "
                          "GitHub Actions workflow (or only the workflow: harness init ci)")
    init.add_argument("what", nargs="?", choices=["project", "ci"], default="project")
    init.add_argument("--dir", default=".", help="where to write (default: here)")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    sub.add_parser("checks", help="list every registered check")
    detect.add_parser(sub)
    library.add_parser(sub)
    bias = sub.add_parser("bias", help="BBQ scores and counterfactual gaps of a RunLog",
                          description="BBQ accuracy and bias scores (s_DIS, s_AMB) per "
                          "model and category, and counterfactual gaps per attribute with "
                          "95% CI and permutation p-value. See docs/bias.md.")
    bias.add_argument("runlog", metavar="RUNLOG")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def entry() -> None:
    """The console script: ``main`` and then, when a heavy library was loaded, an
    immediate exit. Everything is written and flushed by then; skipping the interpreter's
    teardown saves about a second that LiteLLM would otherwise spend unwinding."""
    code = main()
    if "litellm" in sys.modules or "llama_cpp" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


def _add_gate_options(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--baseline", metavar="BASE.json", required=required,
                        help="baseline RunLog to gate against" + ("" if required else
                        " after the run (exit code from the gate)"))
    parser.add_argument("--min-pass-rate", type=float, metavar="R",
                        help="gate: fail when a suite × model passes less than R (0-1)")
    parser.add_argument("--max-run-cost", type=_non_negative_float, metavar="USD",
                        help="gate: fail when the run cost more than USD")
    parser.add_argument("--max-latency-p95", type=_non_negative_float, metavar="MS",
                        help="gate: fail when a model's p95 latency is above MS")
    parser.add_argument("--max-error-rate", type=float, default=0.2, metavar="R",
                        help="gate: exit 3 when more than R of the results are errors "
                        "(default 0.2)")


def _read_baseline(args: argparse.Namespace) -> Any:
    """The --baseline RunLog, or None without one."""
    from harness.errors import UsageError
    from harness.results import RunLog

    if not getattr(args, "baseline", None):
        return None
    try:
        return RunLog.read(args.baseline)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _budgets(args: argparse.Namespace) -> Any:
    from harness.gate import Budgets

    return Budgets(
        min_pass_rate=args.min_pass_rate, max_cost=args.max_run_cost,
        max_latency_p95=args.max_latency_p95, max_error_rate=args.max_error_rate)


def _gate(args: argparse.Namespace, head: Any) -> int:
    from harness.gate import compare

    base = _read_baseline(args)
    result = compare(base, head, _budgets(args))
    print("\n".join(result.lines()))
    return result.exit_code


def cmd_init(args: argparse.Namespace) -> int:
    from harness.scaffold import write

    written = write(Path(args.dir), args.what, args.force)
    for path in written:
        print(f"wrote {path}")
    if not written:
        print("nothing written: the files exist already (--force overwrites them)")
    return EXIT_OK


def cmd_gate(args: argparse.Namespace) -> int:
    from harness.errors import UsageError
    from harness.results import RunLog

    try:
        head = RunLog.read(args.head)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return _gate(args, head)


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number ≥ 0, got {text}")
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
               "schema": cmd_schema, "checks": cmd_checks, "merge": cmd_merge,
               "detect": detect.run, "compare": cmd_compare, "gate": cmd_gate,
               "init": cmd_init, "bias": cmd_bias, "library": library.run,
               "export": cmd_export}[args.command]
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
    from harness.session import load_suites

    return load_suites(paths)


def cmd_validate(args: argparse.Namespace) -> int:
    for suite in _load_all(args.paths):
        models = ", ".join(m.name for m in suite.models)
        n = len(suite.prompts)
        cases = f"{len(suite.cases) // n} cases × {n} prompt variants" if n \
            else f"{len(suite.cases)} cases"
        print(f"ok  {suite.path}: suite '{suite.name}', {cases}, "
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
    from harness.checks.registry import namespaces, registry

    for name, definition in sorted(registry().items()):
        params = ", ".join(definition.params)
        print(f"{name:16} ({params})\n    {definition.description}")
    for ns in namespaces().values():
        print(f"{ns.example:16} (threshold, judges, reference, options)\n    {ns.description}")
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
    base = _read_baseline(args)
    write_html(log, target, full=args.full, show_pii=args.show_pii, baseline=base,
               budgets=_budgets(args) if base is not None else None)
    print(f"report: {target}")
    for line in _write_ci_outputs(args, log, Path(args.runlog)):
        print(line)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from harness.errors import UsageError
    from harness.report.html import write_html
    from harness.runner import Progress
    from harness.session import RunOptions, prepare, run
    from harness.store import RunStore

    if not args.paths and not args.resume:
        raise UsageError("name at least one suite file or folder (or use --resume RUN_ID)")
    if args.resume and args.paths:
        print("note: --resume uses the suites and options the run started with",
              file=sys.stderr)
    options = RunOptions(
        paths=list(args.paths), models=list(args.model), api_base=args.api_base,
        concurrency=args.concurrency, retries=args.retries, repeat=args.repeat,
        filters=list(args.filter), limit=args.limit, shard=args.shard,
        max_cost=args.max_cost, cache=not args.no_cache,
        cache_path=args.cache or ".harness/cache.sqlite", out=args.out, name=args.name,
        judges=list(args.judge), prompts=list(args.prompt),
    )
    if args.dry_run and not args.resume:
        return _dry_run(options, None)
    store = RunStore(args.store or Path(args.out) / "runs.sqlite")
    try:
        # A run stopped by its budget can only go on with a larger one: the one option a
        # resume takes from the command line (a total, the part spent so far included).
        overrides = {"max_cost": args.max_cost} if args.max_cost is not None else {}
        prepared = prepare(options, store, resume=args.resume, overrides=overrides,
                           record=not args.dry_run)
        options = prepared.options
        if args.dry_run:
            return _dry_run(options, prepared.remaining)
        if not prepared.items and not options.shard:
            print("nothing to run: no case matches", file=sys.stderr)
            return EXIT_USAGE
        if options.max_cost is not None:
            _warn_unpriced(prepared.remaining)
            if any(i.case.has_async_checks for i in prepared.remaining):
                _warn_unpriced_judges(options.judges or [
                    m.id for s in prepared.suites for m in s.judges])
        models = prepared.model_infos()
        _warn_missing_keys(models, prepared.suites, options)
        done = len(prepared.items) - len(prepared.remaining)
        what = f"resuming run {prepared.run_id}: {done} of {len(prepared.items)} calls " \
            "already finished" if prepared.resumed else f"run {prepared.run_id}"
        print(f"harness {__version__}: {len(prepared.remaining)} calls "
              f"({len(prepared.suites)} suite{'s' if len(prepared.suites) != 1 else ''}, "
              f"models: {', '.join(m.name for m in models)}), {what}", file=sys.stderr)
        progress = None if args.quiet else Progress(len(prepared.remaining), sys.stderr,
                                                    sys.stderr.isatty())
        finished = run(prepared, store, on_result=progress)
    finally:
        store.close()
    log = finished.log
    name = options.name or (prepared.suites[0].name if len(prepared.suites) == 1 else "run")
    out = Path(options.out)
    json_path = log.write(out / f"{name}.json")
    base = _read_baseline(args)
    html_path = write_html(log, out / f"{name}.html", show_pii=args.show_pii, baseline=base,
                           budgets=_budgets(args) if base is not None else None)
    _print_summary(log.with_summary())
    print(f"\nRunLog: {json_path}\nreport: {html_path}")
    for line in _write_ci_outputs(args, log, json_path):
        print(line)
    outcome = finished.outcome
    if outcome.stopped is not None:
        # max_cost is None on a plain interrupt: format it only when it is the reason
        why = f"stopped before exceeding --max-cost ${options.max_cost:g}" \
            if outcome.stopped == "max_cost" else outcome.stopped
        print(f"\n{why}: {len(log.results)} of "
              f"{len(prepared.items)} calls finished and are saved; {len(outcome.not_run)} "
              f"not run.\nresume with: harness run --resume {prepared.run_id}"
              + (f" --store {args.store}" if args.store else
                 f" --out {options.out}" if options.out != "reports" else "")
              + (f" --max-cost <more than {options.max_cost:g}>"
                 if outcome.stopped == "max_cost" else ""),
              file=sys.stderr)
        return 130 if outcome.stopped == "interrupted" else EXIT_FAILED
    if args.baseline:
        # With a baseline, the gate decides: a failing case that failed before too is no
        # regression, and that is what a pull request needs to know.
        print()
        return _gate(args, log)
    everything_passed = all(r.status == "passed" for r in log.results)
    return EXIT_OK if everything_passed else EXIT_FAILED


def _warn_unpriced(items: Sequence[Any]) -> None:
    from harness.cost import price

    unpriced = sorted({i.model.id for i in items if price(i.model.id) is None})
    if unpriced:
        print(f"warning: LiteLLM's price table does not know {', '.join(unpriced)}; "
              "--max-cost cannot limit what those calls cost", file=sys.stderr)


def _warn_unpriced_judges(judges: Sequence[str]) -> None:
    from harness.cost import price

    unpriced = sorted({j for j in judges if price(j) is None})
    if unpriced:
        print(f"warning: LiteLLM's price table does not know the judge(s) "
              f"{', '.join(unpriced)}; --max-cost cannot limit what their calls cost",
              file=sys.stderr)


def _add_estimate(row: dict[str, Any], low: Estimate, high: Estimate) -> None:
    """Add a call to a dry-run row: its prompt tokens and least cost from ``low``, its
    completion tokens and greatest cost from ``high`` (the same estimate for one call)."""
    row["prompt"] += low.prompt_tokens
    row["completion"] += high.max_completion_tokens
    if low.min_cost is None or high.max_cost is None:
        row["priced"] = False
    else:
        row["low"] += low.min_cost
        row["high"] += high.max_cost


def _dry_run(options: Any, items: Sequence[Any] | None) -> int:
    """Calls, tokens and cost per model, estimated offline; nothing is sent."""
    from dataclasses import replace

    from harness.cost import estimate
    from harness.runner import plan, second_turn_bound
    from harness.session import load_suites, select
    from harness.store import ResponseCache, request_key

    if items is None:
        suites = load_suites(options.paths)
        items = select(plan(suites, options.models, options.api_base, options.repeat),
                       options.filters, options.limit, options.shard, options.prompts)
    cache = ResponseCache(options.cache_path) if options.cache and \
        Path(options.cache_path).exists() else None
    rows: dict[str, dict[str, Any]] = {}
    for item in items:
        request = item.request()
        row = rows.setdefault(item.model.name, {"calls": 0, "cached": 0, "prompt": 0,
                                                "completion": 0, "low": 0.0, "high": 0.0,
                                                "priced": True})
        row["calls"] += 1
        key = request_key(request, item.repeat, item.case.prompt)
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            row["cached"] += 1
            second = second_turn_bound(item.case, request, answer=hit.text or "")
            if second is None:
                continue
            # self_check after a cached first answer: the second turn is known exactly
            row["calls"] += 1
            if cache is not None and cache.get(
                    request_key(second, item.repeat, item.case.prompt)) is not None:
                row["cached"] += 1
                continue
            request = second
            item = replace(item, case=replace(item.case, revise=None))
        est = estimate(request)
        _add_estimate(row, est, est)
        shortest = second_turn_bound(item.case, request, answer="")
        if shortest is not None:  # self_check: a second call, after an answer of 0 to max
            row["calls"] += 1
            _add_estimate(row, estimate(shortest),
                          estimate(second_turn_bound(item.case, request) or shortest))
    if cache is not None:
        cache.close()
    print(f"dry run: {sum(row['calls'] for row in rows.values())} calls, nothing sent\n")
    header = f"{'model':28} {'calls':>6} {'cached':>7} {'prompt tok':>11} " \
             f"{'≤ completion tok':>17} {'est. cost':>22}"
    print(header)
    print("-" * len(header))
    for model, row in rows.items():
        cost = f"{usd(row['low'])} – {usd(row['high'])}" if row["priced"] \
            else "no price known"
        print(f"{model[:28]:28} {row['calls']:>6} {row['cached']:>7} {row['prompt']:>11} "
              f"{row['completion']:>17} {cost:>22}")
    print("\nPrompt tokens are counted with each model's tokenizer; completions are bounded by "
          "max_tokens,\nso the cost is a range from the prompts alone to every answer at "
          "max_tokens.")
    return EXIT_OK


def cmd_merge(args: argparse.Namespace) -> int:
    from harness.errors import UsageError
    from harness.report.html import write_html
    from harness.results import RunLog, merge_logs

    try:
        logs = [RunLog.read(p) for p in args.runlogs]
        merged = merge_logs(logs)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    path = merged.write(args.output)
    html = write_html(merged, Path(path).with_suffix(".html"))
    print(f"merged {len(logs)} RunLogs ({len(merged.results)} results) into {path}\n"
          f"report: {html}")
    return EXIT_OK


def _warn_missing_keys(models: list[Any], suites: list[Any], options: Any) -> None:
    """Say up front when a model's key is missing, instead of after N failed calls."""
    from harness.providers.litellm_provider import load_litellm
    from harness.runner import resolve_models

    configs = {m.name: m for s in suites
               for m in resolve_models(s, options.models, options.api_base)}
    to_check = [configs[info.name] for info in models]
    to_check = [c for c in to_check
                if not (c.id.startswith("local/") or c.api_base or c.api_key_env)]
    if not to_check:
        return  # nothing to ask LiteLLM, so no need to pay for importing it
    litellm = load_litellm()
    for config in to_check:
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
             f"{'median ms':>10} {'cost':>9}"
    print(header)
    print("-" * len(header))
    for model, row in log.summary["models"].items():
        rate = "—" if row["pass_rate"] is None else f"{row['pass_rate']:.0%}"
        latencies = sorted(r.latency_ms for r in log.results
                           if r.model == model and r.latency_ms is not None)
        median = f"{latencies[len(latencies) // 2]:.0f}" if latencies else "—"
        costs = [r.cost_usd for r in log.results if r.model == model and r.cost_usd is not None]
        cost = usd(sum(costs)) if costs else "—"
        print(f"{model[:28]:28} {rate:>9} {row['passed']:>7} {row['failed']:>7} "
              f"{row['errors']:>7} {median:>10} {cost:>9}")
    spent = log.summary.get("costs") or {}
    if spent.get("judge_usd") is not None:  # the cost column is the models' calls only
        print(f"judge calls cost {usd(spent['judge_usd'])}; models and judges together "
              f"{usd(spent['total_usd'])}")
    for prompt, by_model in log.summary.get("prompts", {}).items():  # prompt variants
        for model, row in by_model.items():
            rate = "—" if row["pass_rate"] is None else f"{row['pass_rate']:.0%}"
            label = f"{model[:28 - len(prompt) - 5]} · {prompt}" if len(prompt) < 20 \
                else f"· {prompt[:26]}"
            print(f"{label[:28]:28} {rate:>9} {row['passed']:>7} {row['failed']:>7} "
                  f"{row['errors']:>7}")
    _print_error_kinds(log)
    modes = log.summary.get("failure_modes") or {}
    if modes:  # what kind of mistakes, not only how many (harness/failures.py)
        print("\nfailure modes:")
        for model, per in modes.items():
            print(f"  {model}: " + ", ".join(f"{mode} {n}" for mode, n in per.items()))
    if any(r.group is not None for r in log.results):
        from harness.bias import counterfactual_gaps, gap_table

        gaps = counterfactual_gaps(log.results)
        if gaps:
            print("\ncounterfactual gaps between groups (bias only when p < 0.05):")
            for line in gap_table(gaps):
                print(line)
    if any(r.group is not None or any(c.check == "chosen_option" for c in r.checks)
           for r in log.results):
        from harness.bias import bbq_and_robustness_lines

        for line in bbq_and_robustness_lines(log.results):
            print(line)
    failures = [r for r in log.results if r.status != "passed"]
    if failures:
        print(f"\n{len(failures)} not passed:")
        for r in failures[:15]:
            if r.error is not None:
                why = f"error {r.error.kind}: {_short(r.error.message)[:100]}"
            else:
                first = next(c for c in r.checks if not c.passed)
                why = f"{first.check}: {first.reason[:100]}"
                if r.failure_mode:
                    why = f"{r.failure_mode} · {why}"
            print(f"  {r.suite}/{r.label} [{r.model}] {why}")
        if len(failures) > 15:
            print(f"  … and {len(failures) - 15} more (see the report)")


def _print_error_kinds(log: Any) -> None:
    """Errors grouped by model and kind, most frequent first, each with the message of its
    first occurrence: one 500 storm reads as one line, not as N identical ones."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for r in log.results:
        if r.error is not None:
            groups.setdefault((r.model, r.error.kind), []).append(r.error)
    if not groups:
        return
    models = list(log.summary["models"])
    print("\nerrors by model and kind:")
    header = f"{'model':28} {'kind':16} {'count':>6}  first message"
    print(header)
    print("-" * len(header))
    for (model, kind), errors in sorted(
        groups.items(), key=lambda g: (models.index(g[0][0]), -len(g[1]), g[0][1])
    ):
        print(f"{model[:28]:28} {kind[:16]:16} {len(errors):>6}  "
              f"{_short(errors[0].message)[:100]}")


def _short(message: str) -> str:
    """An error message without the chain of exception names LiteLLM puts in front
    ("InternalServerError: litellm.InternalServerError: ... OpenAIException - "), which
    would otherwise fill a 100-character column before the server's own words."""
    import re

    text = " ".join(message.split())
    rest = re.sub(r"^(?:(?:litellm\.)?\w*(?:Error|Exception)(?::| -) )+", "", text)
    return rest or text


# -- comparison and CI outputs --------------------------------------------------------------


def _add_ci_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--junit", nargs="?", const="", metavar="FILE",
                        help="also write JUnit XML (one test per case × model) to FILE; "
                        "without FILE, next to the RunLog as NAME.junit.xml")
    parser.add_argument("--markdown", nargs="?", const="", metavar="FILE",
                        help="also write a Markdown summary (for a pull-request comment or "
                        "$GITHUB_STEP_SUMMARY) to FILE; without FILE, next to the RunLog "
                        "as NAME.md")


def _add_compare_parsers(sub: Any) -> None:
    compare = sub.add_parser(
        "compare", help="compare models on the same cases: pass rates, cost, significance",
        description="Compare the models of one or more RunLogs on the cases they share: "
        "pass rates with 95% intervals per suite, tag and check, cost and latency, "
        "failure modes, paired significance tests (exact McNemar, paired bootstrap, "
        "Holm-adjusted) and a verdict per domain. A model name found in several RunLogs "
        "is suffixed with @RUN_ID.")
    compare.add_argument("runlogs", nargs="+", metavar="RUNLOG")
    compare.add_argument("--markdown", metavar="FILE", help="also write the comparison as "
                         "Markdown")
    compare.add_argument("--json", metavar="FILE", help="also write the comparison as JSON")

    export = sub.add_parser("export", help="write a RunLog as a table (CSV or Parquet)",
                            description="One row per case × model × repeat (pandas).")
    export.add_argument("runlog", metavar="RUNLOG")
    export.add_argument("--csv", metavar="FILE", help="write CSV to FILE")
    export.add_argument("--parquet", metavar="FILE",
                        help="write Parquet to FILE (needs pyarrow: pip install pyarrow)")


def _read_runlog(path: str) -> Any:
    from harness.errors import UsageError
    from harness.results import RunLog

    try:
        return RunLog.read(path)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _write_ci_outputs(args: argparse.Namespace, log: Any, runlog_path: Path) -> list[str]:
    """The --junit and --markdown files of `run` and `report`; a bare option writes next
    to the RunLog. Returns what to print."""
    written = []
    if args.junit is not None:
        from harness.report.junit import write_junit

        target = Path(args.junit) if args.junit else runlog_path.with_suffix(".junit.xml")
        written.append(f"JUnit: {write_junit(log, target, show_pii=args.show_pii)}")
    if args.markdown is not None:
        from harness.report.markdown import render_markdown

        comparison = None
        if len({r.model for r in log.results}) > 1:
            from harness.compare import compare

            comparison = compare([log])
        target = Path(args.markdown) if args.markdown else runlog_path.with_suffix(".md")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_markdown(log, comparison, show_pii=args.show_pii),
                          encoding="utf-8")
        written.append(f"Markdown: {target}")
    return written


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.compare import compare, render_text
    from harness.errors import UsageError

    logs = [_read_runlog(p) for p in args.runlogs]
    try:
        comparison = compare(logs)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(render_text(comparison))
    if args.markdown:
        from harness.report.markdown import render_comparison_markdown

        Path(args.markdown).write_text(render_comparison_markdown(comparison), encoding="utf-8")
        print(f"\nMarkdown: {args.markdown}")
    if args.json:
        Path(args.json).write_text(json.dumps(comparison.to_dict(), indent=1) + "\n",
                                   encoding="utf-8")
        print(f"JSON: {args.json}")
    return EXIT_OK


def cmd_bias(args: argparse.Namespace) -> int:
    from harness.bias import render_text

    sys.stdout.write(render_text(_read_runlog(args.runlog).results))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from harness.errors import UsageError

    if not args.csv and not args.parquet:
        raise UsageError("name what to write: --csv FILE and/or --parquet FILE")
    from harness.report.export import MissingDependency, write_csv, write_parquet

    log = _read_runlog(args.runlog)
    if args.parquet:
        try:
            print(f"Parquet: {write_parquet(log, args.parquet)}")
        except MissingDependency as exc:
            raise UsageError(str(exc)) from None
    if args.csv:
        print(f"CSV: {write_csv(log, args.csv)}")
    return EXIT_OK
