"""Text checks: what the output contains, equals, starts with, and how long it is."""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable

from harness.checks.registry import CheckFn, CheckInput, CheckResult, check
from harness.checks.textutil import preview, sentences, words


def _fold(text: str, ignore_case: bool) -> str:
    return text.casefold() if ignore_case else text


@check(
    "contains",
    shorthand="value",
    examples=({"value": "refund"}, {"any": ["a", "b"]}, {"all": ["x"], "ignore_case": True}),
)
def contains(
    value: str | list[str] | None = None,
    any: list[str] | None = None,
    all: list[str] | None = None,
    ignore_case: bool = False,
) -> CheckFn:
    """The output contains the given text: ``value`` (one or all of a list), ``any`` of a
    list, or ``all`` of a list."""
    given = [value is not None, any is not None, all is not None]
    if sum(given) != 1:
        raise ValueError("give exactly one of: value, any, all")
    if value is not None:
        needles, mode = ([value] if isinstance(value, str) else list(value)), "all"
    elif any is not None:
        needles, mode = list(any), "any"
    else:
        needles, mode = list(all or []), "all"
    if not needles or not builtins.all(isinstance(n, str) and n for n in needles):
        raise ValueError("needs at least one non-empty text to look for")

    def run(inp: CheckInput) -> CheckResult:
        hay = _fold(inp.output, ignore_case)
        found = [n for n in needles if _fold(n, ignore_case) in hay]
        missing = [n for n in needles if n not in found]
        passed = bool(found) if mode == "any" else not missing
        score = len(found) / len(needles) if mode == "all" else float(passed)
        reason = (
            f"expected {mode} of {needles}; found: {found or 'none'}"
            + (f"; missing: {missing}" if missing and mode == "all" else "")
        )
        return CheckResult("contains", passed, score, reason, {"found": found, "missing": missing})

    return run


@check(
    "equals", shorthand="value", examples=({"value": "yes"}, {"value": "Yes", "ignore_case": True})
)
def equals(value: str, ignore_case: bool = False, strip: bool = True) -> CheckFn:
    """The whole output equals ``value`` (surrounding whitespace ignored unless strip is off)."""

    def run(inp: CheckInput) -> CheckResult:
        got = inp.output.strip() if strip else inp.output
        want = value.strip() if strip else value
        passed = _fold(got, ignore_case) == _fold(want, ignore_case)
        reason = f"expected {want!r}; found {preview(got)!r}"
        return CheckResult("equals", passed, float(passed), reason)

    return run


@check("starts_with", shorthand="value", examples=({"value": "Dear"},))
def starts_with(value: str, ignore_case: bool = False) -> CheckFn:
    """The output (leading whitespace ignored) starts with ``value``."""
    if not value:
        raise ValueError("'value' must not be empty")

    def run(inp: CheckInput) -> CheckResult:
        got = inp.output.lstrip()
        passed = _fold(got, ignore_case).startswith(_fold(value, ignore_case))
        reason = f"expected to start with {value!r}; starts with {preview(got, 40)!r}"
        return CheckResult("starts_with", passed, float(passed), reason)

    return run


_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


@check(
    "regex", shorthand="pattern", examples=({"pattern": r"\d+"}, {"pattern": "^a", "flags": "im"})
)
def regex(pattern: str, flags: str = "") -> CheckFn:
    """The output matches the regular expression ``pattern`` somewhere (Python syntax;
    ``flags`` from i, m, s, x)."""
    bad = set(flags) - set(_FLAGS)
    if bad:
        raise ValueError(f"unknown regex flags {sorted(bad)}; use any of i, m, s, x")
    flag_value = 0
    for f in flags:
        flag_value |= _FLAGS[f]
    try:
        compiled = re.compile(pattern, flag_value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None

    def run(inp: CheckInput) -> CheckResult:
        match = compiled.search(inp.output)
        if match:
            return CheckResult(
                "regex", True, 1.0, f"matched /{pattern}/ at {match.group(0)!r}",
                {"match": match.group(0), "start": match.start()},
            )
        return CheckResult(
            "regex", False, 0.0, f"expected a match for /{pattern}/; found none in "
            f"{preview(inp.output)!r}",
        )

    return run


@check("one_of", shorthand="values", examples=({"values": ["yes", "no"]},))
def one_of(values: list[str], ignore_case: bool = True, strip_punctuation: bool = True) -> CheckFn:
    """The whole output is one of ``values`` (a label, a choice), ignoring case and
    trailing punctuation by default."""
    if not values:
        raise ValueError("'values' must list at least one allowed answer")

    def norm(text: str) -> str:
        text = text.strip()
        if strip_punctuation:
            text = text.strip(" .!?;:\"'`*")
        return _fold(text, ignore_case)

    allowed = {norm(v): v for v in values}

    def run(inp: CheckInput) -> CheckResult:
        got = norm(inp.output)
        passed = got in allowed
        reason = f"expected one of {values}; found {preview(inp.output.strip(), 60)!r}"
        return CheckResult("one_of", passed, float(passed), reason, {"answer": allowed.get(got)})

    return run


def _bound(
    name: str, measure: Callable[[str], int], unit: str, is_max: bool
) -> Callable[[int], CheckFn]:
    def factory(n: int) -> CheckFn:
        if n < 0:
            raise ValueError(f"'{name}' needs a number of {unit} ≥ 0, got {n}")

        def run(inp: CheckInput) -> CheckResult:
            count = measure(inp.output)
            passed = count <= n if is_max else count >= n
            op = "at most" if is_max else "at least"
            return CheckResult(
                name, passed, float(passed), f"expected {op} {n} {unit}; found {count}",
                {"count": count},
            )

        return run

    factory.__doc__ = f"The output has {'at most' if is_max else 'at least'} ``n`` {unit}."
    factory.__name__ = name
    return factory


for _name, _measure, _unit in (
    ("words", lambda t: len(words(t)), "words"),
    ("chars", lambda t: len(t.strip()), "characters"),
    ("sentences", lambda t: len(sentences(t)), "sentences"),
):
    for _is_max in (False, True):
        _check_name = f"{'max' if _is_max else 'min'}_{_name}"
        # a length limit is a budget the answer overran (or fell short of), not a wrong answer
        check(_check_name, shorthand="n", failure_mode="budget", examples=({"n": 3},))(
            _bound(_check_name, _measure, _unit, _is_max)
        )
