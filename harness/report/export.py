"""A RunLog as a table: CSV or Parquet through pandas, one row per case × model × repeat.

The rows are ``harness.results.to_records``: ids, status, tags (comma-joined), latency,
cost, tokens, the error kind, and one ``check.NAME`` column per check (``check.not NAME``
for a negated one) holding whether it passed, empty where the case has no such check.
Outputs and prompts are not exported: the table is for counting and charting, and the
RunLog keeps the texts.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from harness.results import RunLog, to_records

if TYPE_CHECKING:
    import pandas

__all__ = ["PARQUET_INSTALL", "MissingDependency", "to_frame", "write_csv", "write_parquet"]

PARQUET_INSTALL = "pip install pyarrow"


class MissingDependency(ImportError):
    """An optional library an export needs is not installed; the message says how to
    install it."""


def to_frame(log: RunLog) -> pandas.DataFrame:
    import pandas as pd

    return pd.DataFrame(to_records(log))


def write_csv(log: RunLog, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    to_frame(log).to_csv(target, index=False)
    return target


def write_parquet(log: RunLog, path: str | Path) -> Path:
    """Parquet through pyarrow; MissingDependency (before anything is written) without it."""
    if importlib.util.find_spec("pyarrow") is None:
        raise MissingDependency(f"writing Parquet needs pyarrow: {PARQUET_INSTALL}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    to_frame(log).to_parquet(target, index=False, engine="pyarrow")
    return target
