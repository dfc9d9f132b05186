"""Format checks: JSON, JSON Schema, Markdown structure."""

from __future__ import annotations

import json
import re
from typing import Any

from harness.checks.registry import CheckFn, CheckInput, CheckResult, check
from harness.checks.textutil import preview

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)
_NOTHING = object()


def extract_json(text: str) -> tuple[Any, str]:
    """Find a JSON value in a model's output.

    Tries, in order: the whole output, fenced code blocks (```json first), then the first
    object or array embedded in prose. Returns (value, where) or (_NOTHING, reason).
    """
    decoder = json.JSONDecoder()
    stripped = text.strip()
    try:
        return json.loads(stripped), "whole output"
    except ValueError:
        pass
    fences = sorted(_FENCE.findall(text), key=lambda f: f[0].lower() != "json")
    for lang, body in fences:
        try:
            return json.loads(body.strip()), f"```{lang or ''} block"
        except ValueError:
            continue
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                value, _ = decoder.raw_decode(text, i)
            except ValueError:
                continue
            return value, "embedded in text"
    return _NOTHING, "no JSON object or array found"


@check("is_json", failure_mode="format", examples=({}, {"type": "object"}))
def is_json(type: str | None = None) -> CheckFn:
    """The output is, or contains (in a fenced block or inline), valid JSON; ``type``
    optionally requires an ``object`` or ``array``."""
    wanted = {"object": dict, "array": list, None: object}
    if type not in wanted:
        raise ValueError("'type' must be object or array")

    def run(inp: CheckInput) -> CheckResult:
        value, where = extract_json(inp.output)
        if value is _NOTHING:
            return CheckResult(
                "is_json", False, 0.0, f"expected JSON; {where} in {preview(inp.output)!r}"
            )
        if not isinstance(value, wanted[type]):
            return CheckResult(
                "is_json", False, 0.0,
                f"expected a JSON {type}; found {_json_kind(value)} ({where})",
            )
        return CheckResult("is_json", True, 1.0, f"valid JSON {_json_kind(value)} ({where})",
                           {"where": where})

    return run


def _json_kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        value.__class__, "number" if isinstance(value, (int, float)) else "null"
    )


@check(
    "matches_schema",
    failure_mode="format",
    shorthand="schema",
    path_args=("schema",),
    examples=({"schema": {"type": "object", "required": ["name"]}},),
)
def matches_schema(schema: dict[str, Any]) -> CheckFn:
    """The JSON in the output validates against a JSON Schema (inline, or a file
    relative to the suite)."""
    import jsonschema

    try:
        validator_cls = jsonschema.validators.validator_for(schema)
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"invalid JSON Schema: {exc.message}") from None
    validator = validator_cls(schema)

    def run(inp: CheckInput) -> CheckResult:
        value, where = extract_json(inp.output)
        if value is _NOTHING:
            return CheckResult(
                "matches_schema", False, 0.0, f"expected JSON matching the schema; {where}"
            )
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if not errors:
            return CheckResult("matches_schema", True, 1.0, f"JSON matches the schema ({where})")
        messages = [
            f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in errors[:5]
        ]
        return CheckResult(
            "matches_schema", False, 0.0,
            f"expected JSON matching the schema; {len(errors)} error(s): " + "; ".join(messages),
            {"errors": messages},
        )

    return run


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\S", re.MULTILINE)


@check(
    "markdown",
    failure_mode="format",
    examples=({"headings": ["Summary"]}, {"min_bullets": 2, "max_bullets": 5}),
)
def markdown(
    headings: list[str] | None = None,
    min_bullets: int | None = None,
    max_bullets: int | None = None,
    min_headings: int | None = None,
) -> CheckFn:
    """The output is Markdown with the required ``headings`` (any level, case-insensitive,
    in order) and a number of bullet or numbered items within bounds."""
    required = list(headings or [])

    def run(inp: CheckInput) -> CheckResult:
        found = [h.strip() for _, h in _HEADING.findall(inp.output)]
        folded = [h.casefold() for h in found]
        missing: list[str] = []
        pos = 0
        for want in required:
            try:
                pos = folded.index(want.casefold(), pos) + 1
            except ValueError:
                missing.append(want)
        bullets = len(_BULLET.findall(inp.output))
        problems: list[str] = []
        if missing:
            problems.append(f"missing headings (in order) {missing}; found {found or 'none'}")
        if min_bullets is not None and bullets < min_bullets:
            problems.append(f"expected at least {min_bullets} bullets; found {bullets}")
        if max_bullets is not None and bullets > max_bullets:
            problems.append(f"expected at most {max_bullets} bullets; found {bullets}")
        if min_headings is not None and len(found) < min_headings:
            problems.append(f"expected at least {min_headings} headings; found {len(found)}")
        evidence = {"headings": found, "bullets": bullets, "missing": missing}
        if problems:
            return CheckResult("markdown", False, 0.0, "; ".join(problems), evidence)
        return CheckResult(
            "markdown", True, 1.0, f"{len(found)} headings, {bullets} bullets as required",
            evidence,
        )

    return run
