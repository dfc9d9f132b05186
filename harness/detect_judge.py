"""``harness detect grounding --judge MODEL``: the same verdict lines, from LLM judges.

    harness detect grounding --jsonl answers.jsonl --judge openai/gpt-4o-mini -o out.jsonl

Each answer is verified claim by claim against its context by the ``faithful`` check
(``harness.checks.judge``), exactly as in a suite: the judges' calls go through the
runner's provider, retry policy (``--retries``), response cache (``.harness/cache.sqlite``,
``--no-cache``) and one concurrency limit (``--concurrency``). The score is the share of
supported claims (the mean over judges), and the label is ``hallucinated`` below
``--threshold`` (default 1.0: a single unsupported claim). A judge whose reply cannot be
parsed is asked again with a correction; when it still gives nothing usable, the line
carries ``judge_error`` and neither a score nor a label, and the command exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.checks.registry import BoundCheck, CheckResult
    from harness.judge import JudgeClient

DEFAULT_THRESHOLD = 1.0  # as the faithful check's: one unsupported claim is a hallucination
WINDOW = 4  # answers in flight per unit of concurrency; output is written window by window


def add_judge_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the judge mode, added to ``harness detect grounding``'s parser."""
    parser.add_argument("--judge", action="append", default=[], metavar="MODEL",
                        help="verify with this LLM judge (any LiteLLM model) instead of the "
                        "deterministic detector; repeat for several judges (mean score, "
                        "agreement recorded)")
    parser.add_argument("--api-base", metavar="URL",
                        help="with --judge: an OpenAI-compatible server for the judges")
    parser.add_argument("--concurrency", type=int, default=8, metavar="N",
                        help="with --judge: judge calls in flight at once (default 8)")
    parser.add_argument("--retries", type=int, default=4, metavar="N",
                        help="with --judge: attempts per call on retryable errors (default 4)")
    parser.add_argument("--no-cache", action="store_true",
                        help="with --judge: do not read or write the response cache")


def check_judge_arguments(args: argparse.Namespace) -> None:
    """UsageError for options that make no sense with --judge (before any input is read)."""
    from harness.errors import UsageError

    if args.concurrency < 1 or args.retries < 1:
        raise UsageError("--concurrency and --retries must be at least 1")
    if getattr(args, "task", None):
        raise UsageError("--task picks a threshold of the deterministic detector; "
                         "with --judge, give --threshold")
    if getattr(args, "claims", False):
        raise UsageError("--claims lists the deterministic detector's claims; a judge's "
                         "unsupported claims are in 'unsupported'")


def run_judged(args: argparse.Namespace, items: Sequence[tuple[int, dict[str, Any]]],
               target: IO[str]) -> int:
    """Judge ``items`` (line number, input object) and write one line each, in order;
    the number of items left without a verdict."""
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    import asyncio  # here, not at the top: 'harness --help' builds this parser

    return asyncio.run(_judge_all(args, items, threshold, target))


async def _judge_all(args: argparse.Namespace, items: Sequence[tuple[int, dict[str, Any]]],
                     threshold: float, target: IO[str]) -> int:
    import asyncio

    from harness.checks.registry import build
    from harness.judge import JudgeClient
    from harness.providers.transport import LeanProvider
    from harness.runner import RetryPolicy
    from harness.spec.models import ModelConfig
    from harness.store import ResponseCache

    cache = None if args.no_cache else ResponseCache(
        os.environ.get("HARNESS_CACHE") or ".harness/cache.sqlite")
    provider = LeanProvider()
    models = [ModelConfig(id=m, api_base=None if m.startswith("local/") else args.api_base)
              for m in args.judge]
    client = JudgeClient(provider, models, RetryPolicy(max_attempts=args.retries), cache,
                         asyncio.Semaphore(args.concurrency))
    faithful = build("faithful", {"threshold": threshold})
    errors = 0
    try:
        step = args.concurrency * WINDOW
        for start in range(0, len(items), step):
            window = items[start:start + step]
            results = await asyncio.gather(*(_judge(faithful, client, item)
                                             for _, item in window))
            for (lineno, item), result in zip(window, results, strict=True):
                row = _row(item.get("id", lineno), result, len(models))
                errors += "judge_error" in row
                target.write(json.dumps(row, ensure_ascii=False) + "\n")
            target.flush()
    finally:
        await provider.aclose()
        if cache is not None:
            cache.close()
    if errors:
        print(f"{errors} answer{'s' if errors != 1 else ''} could not be judged "
              "(judge_error)", file=sys.stderr)
    return errors


async def _judge(faithful: BoundCheck, client: JudgeClient,
                 item: dict[str, Any]) -> CheckResult:
    from harness.checks.registry import CheckInput
    from harness.detect_grounding import _texts

    question = _texts(item.get("question"))
    inp = CheckInput(
        output=item["answer"],
        context=tuple(_texts(item["context"])),
        messages=tuple({"role": "user", "content": q} for q in question),
        judge=client,
    )
    return await faithful.run_async(inp)


def _row(ident: Any, result: CheckResult, judges: int) -> dict[str, Any]:
    evidence = result.evidence
    if result.error is not None:
        # no verdict is no label: an unparseable judge must not count either way
        return {"id": ident, "score": None, "judge_error": result.error}
    if evidence.get("internal_error"):  # the check itself raised
        return {"id": ident, "score": None, "judge_error": result.reason}
    if result.score is None:  # the faithful check's own "nothing to verify against"
        return {"id": ident, "score": None, "judge_error": result.reason}
    row: dict[str, Any] = {
        "id": ident,
        "score": round(result.score, 4),
        "label": "faithful" if result.passed else "hallucinated",
        "unsupported": _unsupported(evidence.get("verdicts") or []),
    }
    if judges > 1:
        row["judges"] = [{"model": v["model"], "score": v["score"],
                          "label": "faithful" if v["passed"] else "hallucinated"}
                         for v in evidence.get("verdicts") or []]
        row["disagreement"] = bool(evidence.get("disagreement"))
    return row


def _unsupported(verdicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The claims a judge found unsupported, once each, with the judges that said so."""
    found: dict[str, dict[str, Any]] = {}
    for verdict in verdicts:
        for claim in verdict.get("claims") or []:
            if claim["supported"]:
                continue
            entry = found.setdefault(claim["claim"], {"text": claim["claim"], "judges": [],
                                                      "evidence": claim.get("evidence", "")})
            entry["judges"].append(verdict["model"])
    return list(found.values())

