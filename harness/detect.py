"""``harness detect``: run a detector over a JSONL file of texts, one result line per input.

    harness detect pii --jsonl traffic.jsonl -o spans.jsonl

Each input line is a JSON object with a ``text`` field (and any ``id``; without one, the
line number stands in); each output line is ``{"id": ..., "spans": [{"start", "end",
"type", "score"}]}``, in input order (blank lines are skipped). The spans
carry offsets, never the values, so the output can be shared. Users run it to audit logs of
real model traffic; the project runs it to measure the detector (``bench/pii_eval.py``).

A bad input line is reported as ``FILE:LINE: problem`` on stderr and skipped; the command
then exits 1. Presidio and spaCy are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

EXIT_OK, EXIT_BAD_LINES, EXIT_USAGE = 0, 1, 2


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``detect`` and its detectors to the ``harness`` command's subparsers."""
    detect = subparsers.add_parser(
        "detect", help="run a deterministic detector (pii, grounding) over a JSONL file",
        description="Run a detector over a JSONL file, one JSON object per line, and write "
        "one JSON line per input. pii: reads 'text' (and any 'id'), writes spans; grounding: "
        "reads 'context' and 'answer', writes a score and a faithful/hallucinated label. "
        "Exit 0: every line read; 1: some lines were bad (reported as FILE:LINE on stderr "
        "and skipped); 2: usage error.",
    )
    which = detect.add_subparsers(dest="detector", metavar="DETECTOR", required=True)
    pii = which.add_parser(
        "pii", help="personal data: names, places, addresses, phones, e-mails, cards, IBANs, "
        "IPs, national ids, API keys",
        description="Find personal data with Presidio, a small English spaCy pipeline and the "
        "harness's own recognizers, offline. Needs: pip install 'harness[pii]'.",
    )
    pii.add_argument("--jsonl", required=True, metavar="FILE",
                     help="input: one JSON object per line with a 'text' field ('-' for stdin)")
    pii.add_argument("-o", "--output", metavar="OUT",
                     help="write the results to OUT (default: standard output)")
    pii.add_argument("--kinds", metavar="K1,K2",
                     help="only these types, e.g. EMAIL_ADDRESS,PHONE_NUMBER (default: all)")
    pii.add_argument("--min-score", type=float, metavar="S", default=None,
                     help="minimum confidence in [0, 1] (default 0.5)")
    pii.add_argument("--text-field", default="text", metavar="NAME",
                     help="the field holding the text (default: text)")
    pii.add_argument("--masked", action="store_true",
                     help="add each span's masked value (j***@acme.com), never the value")
    from harness.detect_grounding import DESCRIPTION, HELP, add_grounding_arguments

    add_grounding_arguments(which.add_parser("grounding", help=HELP, description=DESCRIPTION))
    parser: argparse.ArgumentParser = detect
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``harness detect`` as parsed by the parser from ``add_parser``."""
    from harness.errors import UsageError

    if args.detector == "grounding":
        from harness.detect_grounding import run_grounding

        return run_grounding(args)
    if args.detector != "pii":  # pragma: no cover - argparse allows only known detectors
        raise UsageError(f"unknown detector '{args.detector}'")
    from harness.detectors import pii

    problem = pii.missing_dependency()
    if problem:
        raise UsageError(problem)
    try:
        kinds = pii.normalize_kinds(args.kinds.split(",")) if args.kinds else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    min_score = pii.DEFAULT_MIN_SCORE if args.min_score is None else args.min_score
    if not 0.0 <= min_score <= 1.0:
        raise UsageError(f"--min-score must be between 0 and 1, got {min_score}")
    if args.jsonl != "-" and not Path(args.jsonl).is_file():
        raise UsageError(f"{args.jsonl}: no such file")

    bad = 0
    source = sys.stdin if args.jsonl == "-" else open(args.jsonl, encoding="utf-8-sig")  # noqa: SIM115
    target = sys.stdout if not args.output else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    name = "<stdin>" if args.jsonl == "-" else args.jsonl
    try:
        for lineno, item in _read(source, name, args.text_field):
            if isinstance(item, str):
                print(item, file=sys.stderr)
                bad += 1
                continue
            text = item[args.text_field]
            spans = pii.detect(text, kinds, min_score)
            row = []
            for span in spans:
                entry = span.to_dict()
                if args.masked:
                    entry["masked"] = span.masked
                row.append(entry)
            ident = item.get("id", lineno)
            target.write(json.dumps({"id": ident, "spans": row}, ensure_ascii=False) + "\n")
    finally:
        close_streams(source, target)
    return finish(bad)


def close_streams(source: IO[Any], target: IO[str]) -> None:
    """Close what a detector opened; standard streams are only flushed."""
    if source is not sys.stdin and source is not getattr(sys.stdin, "buffer", None):
        source.close()
    if target is not sys.stdout:
        target.close()
    else:
        target.flush()


def finish(bad: int) -> int:
    """The exit code of a detector run, saying how many input lines were skipped."""
    if bad:
        print(f"{bad} bad line{'s' if bad != 1 else ''} skipped", file=sys.stderr)
        return EXIT_BAD_LINES
    return EXIT_OK


def _read(source: IO[str], name: str, field: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, object) per non-blank line, or (line number, problem) for a bad one."""
    lineno = 0
    while True:
        lineno += 1
        try:
            line = source.readline()
        except UnicodeDecodeError as exc:
            yield lineno, f"{name}:{lineno}: not UTF-8 text ({exc.reason})"
            return  # the decoder cannot find the next line boundary reliably
        if not line:
            return
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            yield lineno, f"{name}:{lineno}: not JSON: {exc}"
            continue
        if not isinstance(item, dict):
            yield lineno, f"{name}:{lineno}: expected a JSON object, found {json_type(item)}"
        elif field not in item:
            yield lineno, f"{name}:{lineno}: no '{field}' field"
        elif not isinstance(item[field], str):
            yield lineno, (f"{name}:{lineno}: '{field}' is {json_type(item[field])}; "
                           "expected a string")
        else:
            yield lineno, item


def json_type(value: Any) -> str:
    """How a JSON value is named in a problem message ('a number', 'an object', ...)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "a string" if isinstance(value, str) else "null"
