"""How numbers are written for people: money, intervals. One place, so the terminal, the
comparison and the Markdown summary agree."""

from __future__ import annotations

import math
from collections.abc import Sequence


def usd(value: float | None) -> str:
    """Dollars: 4 decimals from a cent up, 3 significant digits below (a small model's
    call costs fractions of a cent, which 4 decimals would print as $0.0000)."""
    if value is None:
        return "—"
    if value == 0:
        return "$0"
    if value >= 0.01:
        return f"${value:,.4f}"
    return f"${value:.{2 - math.floor(math.log10(value))}f}"


def usd_short(value: float | None) -> str:
    """Dollars for the report's tables and charts: cents from a dollar up, 3 decimals from
    a cent, and below a cent as many digits as it takes (trailing zeros dropped)."""
    if value is None:
        return "—"
    if value == 0:
        return "$0"
    if value >= 1:
        return f"${value:,.2f}"
    if value >= 0.01:
        return f"${value:.3f}"
    return "$" + f"{value:.6f}".rstrip("0").rstrip(".")


def percent_range(ci: Sequence[float] | None, empty: str = "—") -> str:
    """A 95% interval of a rate as percentages: ``74–95%``."""
    return empty if not ci else f"{ci[0] * 100:.0f}–{ci[1] * 100:.0f}%"
