"""The shipped counterfactual value lists (``harness/data/counterfactual.yaml``).

A list maps group labels to values; a case's ``counterfactual: {ATTR: LIST}`` expands
into one variant per value, each tagged with its group label.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from harness.errors import did_you_mean


class CounterfactualError(ValueError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@cache
def lists() -> dict[str, tuple[tuple[str, str], ...]]:
    """Every shipped list: name → ((value, group label), ...), in file order."""
    import yaml

    text = resources.files("harness").joinpath("data/counterfactual.yaml").read_text("utf-8")
    data: Any = yaml.safe_load(text)
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for name, groups in data.items():
        out[str(name)] = tuple((str(value), str(label))
                               for label, values in groups.items() for value in values)
    return out


def resolve(spec: str | list[str]) -> list[tuple[str, str]]:
    """The (value, group label) pairs a ``counterfactual:`` entry declares. An inline list's
    values are their own group labels."""
    if isinstance(spec, list):
        if not spec:
            raise CounterfactualError("the list of values is empty")
        if len(set(spec)) != len(spec):
            dupes = sorted({v for v in spec if spec.count(v) > 1})
            raise CounterfactualError(f"values repeat: {dupes}")
        bad = [v for v in spec if not v or any(c in v for c in "[]=")]
        if bad:
            raise CounterfactualError(f"values may not be empty or contain '[', ']' or '=': "
                                      f"{bad}")
        return [(v, v) for v in spec]
    known = lists()
    if spec not in known:
        guess = did_you_mean(spec, known)
        hint = f"Did you mean '{guess}'?" if guess else f"lists: {', '.join(known)}"
        raise CounterfactualError(f"unknown list '{spec}'", hint)
    return list(known[spec])
