"""Charts for the HTML report, drawn server-side as inline SVG.

No JavaScript library, no CDN, no web font: each function returns an ``<svg>`` element as
markup built from escaped pieces (labels come from suites and model names, so they are
untrusted), which the report's strict CSP allows as it allows any inline markup. Colours
are CSS classes the report's stylesheet defines (light and dark), plus a fixed palette for
series; every mark carries a ``<title>`` so a hover shows its numbers.

The charts:

- ``pass_rates``: one bar per model with its 95% Wilson interval as a whisker;
- ``grouped_rates``: per row (a tag or suite), one bar per model;
- ``stacked_counts``: per model, a bar split by failure mode;
- ``cost_quality``: one labelled point per model, cost on x, pass rate on y.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.formats import usd_short
from harness.stats import wilson_interval

if TYPE_CHECKING:
    from markupsafe import Markup

__all__ = ["Bar", "Point", "cost_quality", "grouped_rates", "pass_rates", "stacked_counts"]

PALETTE = ("#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#cf222e", "#1b7c83",
           "#57606a", "#e16f24", "#4d2d00")
_W = 640  # viewBox width; the SVG scales to its container
_ROW = 22
_LABEL_W = 170
_LABEL_CHARS = 26


@dataclass(frozen=True)
class Bar:
    """A pass rate: ``passed`` of ``judged``; ``errors`` are shown beside it, not in it."""

    label: str
    passed: int
    judged: int
    errors: int = 0

    @property
    def rate(self) -> float | None:
        return self.passed / self.judged if self.judged else None


@dataclass(frozen=True)
class Point:
    label: str
    cost: float
    rate: float


def _e(text: object) -> Markup:
    from markupsafe import escape

    return escape(str(text))


def _m(text: str) -> Markup:
    from markupsafe import Markup

    return Markup(text)


def _short(text: str, limit: int = _LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _svg(height: float, label: str, body: Markup, cls: str) -> Markup:
    return (_m(f'<svg class="chart {cls}" viewBox="0 0 {_W} {height:.0f}" width="{_W}" '
               'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="')
            + _e(label) + _m('">') + body + _m("</svg>"))


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "start") -> Markup:
    klass = f' class="{cls}"' if cls else ""
    return (_m(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>') + _e(text)
            + _m("</text>"))


def _axis(x0: float, x1: float, y: float, ticks: Sequence[float], fmt: str = "pct") -> Markup:
    out = _m(f'<line class="axis" x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}"/>')
    for t in ticks:
        x = x0 + (x1 - x0) * t
        out += _m(f'<line class="grid" x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{y:.1f}"/>')
        out += _text(x, y + 13, f"{t * 100:.0f}%" if fmt == "pct" else str(t), "tick", "middle")
    return out


def pass_rates(bars: Sequence[Bar], title: str = "Pass rate per model") -> Markup:
    """One horizontal bar per model, with the 95% Wilson interval as a whisker."""
    x0, x1 = _LABEL_W, _W - 70
    height = len(bars) * _ROW + 24
    body = _axis(x0, x1, len(bars) * _ROW + 4, (0, 0.25, 0.5, 0.75, 1))
    for i, bar in enumerate(bars):
        y = i * _ROW + 4
        rate = bar.rate
        body += _text(x0 - 6, y + 13, _short(bar.label), "label", "end")
        tip = f"{bar.label}: {_pct(rate)} ({bar.passed}/{bar.judged})"
        if bar.errors:
            tip += f"; {bar.errors} errors not counted"
        if rate is not None:
            low, high = wilson_interval(bar.passed, bar.judged)
            tip += f", 95% interval {low * 100:.1f}–{high * 100:.1f}%"
            w = (x1 - x0) * rate
            body += (_m(f'<rect class="c-bar" x="{x0}" y="{y + 3}" width="{w:.1f}" height="12" '
                        f'fill="{PALETTE[i % len(PALETTE)]}"><title>') + _e(tip)
                     + _m("</title></rect>"))
            lx, hx = x0 + (x1 - x0) * low, x0 + (x1 - x0) * high
            body += _m(f'<path class="whisker" d="M{lx:.1f} {y + 9}H{hx:.1f}M{lx:.1f} {y + 4}'
                       f'V{y + 14}M{hx:.1f} {y + 4}V{y + 14}"/>')
        body += _text(x1 + 6, y + 13, _pct(rate), "value")
    return _svg(height, title, body, "chart-rates")


def grouped_rates(rows: Sequence[tuple[str, Sequence[Bar]]], models: Sequence[str],
                  title: str = "Pass rate per tag and model") -> Markup:
    """Per row (tag, suite), one thin bar per model, in the models' colours."""
    x0, x1 = _LABEL_W, _W - 70
    bar_h = 9
    band = max(1, len(models)) * (bar_h + 2) + 10
    legend_h = 20
    height = legend_h + len(rows) * band + 22
    body = _legend(models, 0)
    axis_y = legend_h + len(rows) * band + 2
    body += _axis(x0, x1, axis_y, (0, 0.25, 0.5, 0.75, 1))
    for r, (label, bars) in enumerate(rows):
        top = legend_h + r * band + 4
        body += _text(x0 - 6, top + band / 2 - 2, _short(label), "label", "end")
        for i, bar in enumerate(bars):
            y = top + i * (bar_h + 2)
            rate = bar.rate
            if rate is None:
                continue
            w = (x1 - x0) * rate
            tip = f"{label} · {bar.label}: {_pct(rate)} ({bar.passed}/{bar.judged})"
            body += (_m(f'<rect class="c-bar" x="{x0}" y="{y:.1f}" width="{w:.1f}" '
                        f'height="{bar_h}" fill="{PALETTE[i % len(PALETTE)]}"><title>')
                     + _e(tip) + _m("</title></rect>"))
            body += _text(x0 + w + 4, y + bar_h - 1, _pct(rate), "value small")
    return _svg(height, title, body, "chart-grouped")


def _legend(names: Sequence[str], y: float) -> Markup:
    out = _m("")
    x = 4.0
    for i, name in enumerate(names):
        label = _short(name, 22)
        out += _m(f'<rect class="c-key" x="{x:.1f}" y="{y + 4}" width="10" height="10" '
                  f'fill="{PALETTE[i % len(PALETTE)]}"/>')
        out += _text(x + 14, y + 13, label, "legend")
        x += 24 + 6.5 * len(label)
        if x > _W - 60:
            break  # the table under the chart names every series anyway
    return out


def stacked_counts(rows: Sequence[tuple[str, dict[str, int]]], keys: Sequence[str],
                   title: str = "Failure modes per model") -> Markup:
    """Per row (a model), a bar of its failures split by ``keys`` (failure modes), scaled
    to the row with the most failures; each segment's count is in its tooltip."""
    x0, x1 = _LABEL_W, _W - 60
    legend_h = 20
    height = legend_h + len(rows) * _ROW + 8
    most = max((sum(c.values()) for _, c in rows), default=0) or 1
    body = _legend(keys, 0)
    for r, (label, counts) in enumerate(rows):
        y = legend_h + r * _ROW + 4
        body += _text(x0 - 6, y + 13, _short(label), "label", "end")
        x = float(x0)
        for i, key in enumerate(keys):
            n = counts.get(key, 0)
            if not n:
                continue
            w = (x1 - x0) * n / most
            body += (_m(f'<rect class="c-seg" x="{x:.1f}" y="{y + 3}" width="{w:.1f}" '
                        f'height="12" fill="{PALETTE[i % len(PALETTE)]}"><title>')
                     + _e(f"{label} · {key}: {n}") + _m("</title></rect>"))
            x += w
        body += _text(x + 6, y + 13, str(sum(counts.values())), "value")
    return _svg(height, title, body, "chart-stacked")


def cost_quality(points: Sequence[Point], cost_label: str = "cost per result (USD)",
                 title: str = "Cost vs pass rate") -> Markup:
    """One labelled point per model: cost on x (from zero), pass rate on y."""
    left, right, top, bottom = 60, _W - 20, 24, 210
    height = bottom + 34
    # headroom past the dearest model, so its point and label stay inside the frame
    most = (max((p.cost for p in points), default=0.0) or 1.0) * 1.15
    body = _m(f'<line class="axis" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>'
              f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/>')
    for t in (0, 0.25, 0.5, 0.75, 1):
        y = bottom - (bottom - top) * t
        body += _m(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"/>')
        body += _text(left - 6, y + 4, f"{t * 100:.0f}%", "tick", "end")
    for t in (0, 0.5, 1):
        x = left + (right - left) * t
        body += _text(x, bottom + 14, usd_short(most * t), "tick", "middle")
    body += _text((left + right) / 2, bottom + 30, cost_label, "axis-label", "middle")
    for i, p in enumerate(points):
        x = left + (right - left) * (p.cost / most)
        y = bottom - (bottom - top) * p.rate
        anchor = "end" if x > right - 120 else "start"
        dx = -8 if anchor == "end" else 8
        body += (_m(f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="5" '
                    f'fill="{PALETTE[i % len(PALETTE)]}"><title>')
                 + _e(f"{p.label}: {_pct(p.rate)} at {usd_short(p.cost)}")
                 + _m("</title></circle>"))
        body += _text(x + dx, y - 7, _short(p.label, 30), "point-label", anchor)
    return _svg(height, title, body, "chart-scatter")


