"""``harness detect grounding``: score answers against their sources, one JSON line each.

    harness detect grounding --jsonl answers.jsonl -o verdicts.jsonl

Each input line is a JSON object ``{"id", "context", "question"?, "answer"}``: ``context`` is
the source text (or a list of texts), ``question`` the question or conversation the answer
replies to (its words count as partial support: repeating it is no hallucination).
Each output line is ``{"id", "score", "label", "unsupported"}`` in input order: ``score`` in
[0, 1] (1 = every claim supported), ``label`` "faithful" or "hallucinated" by the threshold,
and ``unsupported`` the answer's unsupported claims, each with its unsupported numbers,
dates, entities, quotes and negations as character spans of the answer. Without an ``id``,
the line number stands in; blank lines are skipped.

With ``--judge MODEL`` (repeatable) LLM judges verify the answers instead, through the
runner's provider, retries, cache and concurrency (``harness.detect_judge``); a line whose
verdict could not be parsed carries ``judge_error`` and no label.

The detector is deterministic and needs no model (``harness.detectors.grounding``). The
threshold is ``--threshold``, else the one tuned for ``--task`` (qa, summarization,
dialogue), else the one tuned for the line's own ``task`` field when it names one, else
the general default.

A bad input line is reported as ``FILE:LINE: problem`` on stderr and skipped; the command
then exits 1 (0 when every line was scored, 2 on a usage error).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from harness.detect import EXIT_BAD_LINES, close_streams, finish, json_type

if TYPE_CHECKING:
    from harness.detectors.grounding import Claim

TASKS = ("qa", "summarization", "dialogue", "dialogue_strict")  # TASK_THRESHOLDS' keys

HELP = "score answers against their source texts: faithful or hallucinated, with the " \
    "unsupported claims"
DESCRIPTION = (
    "Score each answer against its sources with the deterministic grounding detector (no "
    "model). Input: one JSON object per line, {\"id\", \"context\", \"question\"?, \"answer\"}. "
    "Output: one line per input, {\"id\", \"score\", \"label\": \"faithful\"|\"hallucinated\", "
    "\"unsupported\": [claims with their unsupported numbers, dates, entities as spans]}. "
    "Exit 0: every line scored; 1: some lines were bad (reported as FILE:LINE on stderr and "
    "skipped); 2: usage error."
)


def add_grounding_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of ``harness detect grounding`` to ``parser`` (its subparser)."""
    parser.add_argument("--jsonl", required=True, metavar="FILE",
                        help="input: one JSON object per line with 'context' and 'answer' "
                        "('-' for stdin)")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="write the results to OUT (default: standard output)")
    parser.add_argument("--threshold", type=float, default=None, metavar="T",
                        help="label an answer hallucinated below this score in [0, 1]")
    parser.add_argument("--task", choices=TASKS, default=None,
                        help="use the threshold tuned for this kind of answer")
    parser.add_argument("--claims", action="store_true",
                        help="also write every claim with its score ('claims')")
    from harness.detect_judge import add_judge_arguments

    add_judge_arguments(parser)  # --judge MODEL: LLM judges instead of the detector
    return parser


def run_grounding(args: argparse.Namespace) -> int:
    """Run ``harness detect grounding`` as parsed by ``add_grounding_arguments``."""
    from harness.errors import UsageError

    threshold: float | None = getattr(args, "threshold", None)
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise UsageError(f"--threshold must be between 0 and 1, got {threshold}")
    task: str | None = getattr(args, "task", None)
    if getattr(args, "judge", None):
        from harness.detect_judge import check_judge_arguments

        check_judge_arguments(args)
    if args.jsonl != "-" and not Path(args.jsonl).is_file():
        raise UsageError(f"{args.jsonl}: no such file")
    from harness.detectors import grounding

    name = "<stdin>" if args.jsonl == "-" else args.jsonl
    try:
        # bytes, decoded line by line: one line that is not UTF-8 spoils only itself
        source: IO[Any] = getattr(sys.stdin, "buffer", sys.stdin) if args.jsonl == "-" \
            else open(args.jsonl, "rb")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"{args.jsonl}: cannot read: {exc.strerror}") from None
    try:
        target = sys.stdout if not args.output else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        if args.jsonl != "-":
            source.close()
        raise UsageError(f"{args.output}: cannot write: {exc.strerror}") from None
    bad = 0
    judged: list[tuple[int, dict[str, Any]]] | None = [] if getattr(args, "judge", None) \
        else None
    try:
        for lineno, item in _read(source, name):
            if isinstance(item, str):
                print(item, file=sys.stderr)
                bad += 1
                continue
            if judged is not None:
                judged.append((lineno, item))
                continue
            limit = threshold if threshold is not None else grounding.TASK_THRESHOLDS.get(
                task or str(item.get("task") or ""), grounding.DEFAULT_THRESHOLD)
            try:
                verdict = grounding.ground(item["answer"], _texts(item["context"]),
                                           prompt=_texts(item.get("question")), threshold=limit)
            except Exception as exc:  # a detector bug must not end the batch; say where
                print(f"{name}:{lineno}: could not score: {type(exc).__name__}: {exc}",
                      file=sys.stderr)
                bad += 1
                continue
            row: dict[str, Any] = {
                "id": item.get("id", lineno),
                "score": round(verdict.score, 4),
                "label": verdict.label,
                "unsupported": [_claim(c) for c in verdict.unsupported_claims()],
            }
            if getattr(args, "claims", False):
                row["claims"] = [_claim(c) for c in verdict.claims]
            target.write(json.dumps(row, ensure_ascii=False) + "\n")
        if judged is not None:
            from harness.detect_judge import run_judged

            # a line without a verdict is not a bad line, but not a scored one either
            unjudged = run_judged(args, judged, target)
            if unjudged and not bad:
                return EXIT_BAD_LINES
    finally:
        close_streams(source, target)
    return finish(bad)


def _claim(claim: Claim) -> dict[str, Any]:
    return {
        "text": claim.text,
        "start": claim.start,
        "end": claim.end,
        "score": round(claim.score, 4),
        "spans": [s.to_dict() for s in claim.unsupported],
        "missing_words": list(claim.missing_words),
    }


def _texts(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _read(source: IO[Any], name: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, object) per non-blank line, or (line number, problem) for a bad one."""
    for lineno, raw in enumerate(source, start=1):
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield lineno, f"{name}:{lineno}: not UTF-8 text ({exc.reason})"
                continue
        else:
            line = raw
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            yield lineno, f"{name}:{lineno}: not JSON: {exc}"
            continue
        problem = _problem(item)
        yield lineno, f"{name}:{lineno}: {problem}" if problem else item


def _problem(item: Any) -> str | None:
    """What makes ``item`` unusable as an input line, or None."""
    if not isinstance(item, dict):
        return f"expected a JSON object, found {json_type(item)}"
    for key in ("context", "answer"):
        if key not in item:
            return f"no '{key}' field (expected {{\"id\", \"context\", \"question\"?, \"answer\"}})"
    if not isinstance(item["answer"], str):
        return f"'answer' is {json_type(item['answer'])}; expected a string"
    for key, required in (("context", True), ("question", False)):
        value = item.get(key)
        if value is None and not required:
            continue
        ok = isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value))
        if not ok:
            what = "an array holding other than strings" if isinstance(value, list) \
                else json_type(value)
            return (f"'{key}' is {what}; expected a string or a list of strings"
                    + ("" if required else " (or null)"))
    if not "".join(_texts(item["context"])).strip():
        return "'context' is empty: nothing to check the answer against"
    return None
