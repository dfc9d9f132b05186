"""Inline SVG charts: well-formed, labels escaped, one mark per model/segment, geometry
that matches numbers computed here by hand."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.report import charts, render_html
from harness.results import RunLog

NS = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert(1)</script>"&'


def parse(markup: object) -> ET.Element:
    # a parse error here would mean a label broke out of its text or attribute
    return ET.fromstring(str(markup))


def rects(svg: ET.Element, cls: str) -> list[ET.Element]:
    return [r for r in svg.iter(f"{NS}rect") if r.get("class") == cls]


def test_pass_rates_one_bar_per_model_with_whiskers() -> None:
    svg = parse(charts.pass_rates([
        charts.Bar("a", 3, 4), charts.Bar(EVIL, 1, 2, errors=1), charts.Bar("never judged", 0, 0),
    ]))
    bars = rects(svg, "c-bar")
    assert len(bars) == 2  # a model with nothing judged has no bar, only its label
    # the plot spans x 170..570 (400 units): 3/4 is 300 units, 1/2 is 200
    assert [float(b.get("width") or 0) for b in bars] == [300.0, 200.0]
    assert len([p for p in svg.iter(f"{NS}path") if p.get("class") == "whisker"]) == 2
    texts = ["".join(t.itertext()) for t in svg.iter(f"{NS}text")]
    assert "75.0%" in texts and "50.0%" in texts and "—" in texts
    assert any(EVIL[:20] in t for t in texts)  # the label survives as text, shortened
    titles = ["".join(t.itertext()) for t in svg.iter(f"{NS}title")]
    # Wilson 95% for 3/4 by hand: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)
    # with p = 0.75, n = 4, z = 1.96 gives 0.3006..0.9544
    assert titles[0] == "a: 75.0% (3/4), 95% interval 30.1–95.4%"
    assert "1 errors not counted" in titles[1]


def test_labels_are_escaped_in_every_chart() -> None:
    out = [
        charts.pass_rates([charts.Bar(EVIL, 1, 1)]),
        charts.grouped_rates([(EVIL, [charts.Bar(EVIL, 1, 2)])], [EVIL]),
        charts.stacked_counts([(EVIL, {EVIL: 2})], [EVIL]),
        charts.cost_quality([charts.Point(EVIL, 0.5, 0.5)]),
    ]
    for svg in out:
        text = str(svg)
        assert "<script>" not in text
        assert "&lt;script&gt;" in text
        parse(svg)


def test_grouped_rates_bar_count() -> None:
    rows = [("legal", [charts.Bar("m1", 1, 2), charts.Bar("m2", 2, 2)]),
            ("copy", [charts.Bar("m1", 0, 1), charts.Bar("m2", 0, 0)])]
    svg = parse(charts.grouped_rates(rows, ["m1", "m2"]))
    # 3 judged cells (m2 on copy judged nothing): 3 bars, one of them zero wide
    assert [float(b.get("width") or 0) for b in rects(svg, "c-bar")] == [200.0, 400.0, 0.0]
    assert len(rects(svg, "c-key")) == 2  # a legend entry per model


def test_stacked_failure_modes_segments() -> None:
    rows = [("m1", {"made-up figure": 3, "error: Timeout": 1}), ("m2", {"made-up figure": 2})]
    svg = parse(charts.stacked_counts(rows, ["made-up figure", "error: Timeout"]))
    segs = rects(svg, "c-seg")
    assert len(segs) == 3
    # scaled to the row with most failures (4) over 410 units (170..580)
    assert [round(float(s.get("width") or 0), 1) for s in segs] == [307.5, 102.5, 205.0]
    assert segs[0].get("fill") == segs[2].get("fill")  # the same mode, the same colour
    titles = ["".join(t.itertext()) for t in svg.iter(f"{NS}title")]
    assert titles == ["m1 · made-up figure: 3", "m1 · error: Timeout: 1",
                      "m2 · made-up figure: 2"]


def test_cost_quality_points_are_placed_and_labelled() -> None:
    svg = parse(charts.cost_quality([charts.Point("cheap", 0.0, 0.5),
                                     charts.Point("dear", 0.002, 1.0)]))
    dots = list(svg.iter(f"{NS}circle"))
    assert len(dots) == 2
    # x: 60 + 560 * cost / (0.002 * 1.15); y: 210 - 186 * rate
    assert float(dots[0].get("cx") or 0) == 60.0
    assert round(float(dots[1].get("cx") or 0), 1) == round(60 + 560 / 1.15, 1)
    assert [float(d.get("cy") or 0) for d in dots] == [117.0, 24.0]
    labels = [t.text for t in svg.iter(f"{NS}text") if t.get("class") == "point-label"]
    assert labels == ["cheap", "dear"]


def test_report_embeds_the_charts(run_log: RunLog) -> None:
    html = render_html(run_log)
    start = html.index('<section id="charts">')
    section = html[start:html.index("</section>", start)]
    assert section.count("<svg ") == 4  # rates, cost, failure modes, tags
    assert "&lt;i&gt;tag&lt;/i&gt;" in section and "<i>tag</i>" not in section
    # failure modes of the fixture: gpt-mini is_json, smollm2 contains + no_injection,
    # claude one RateLimitError
    for tip in ("gpt-mini · check: is_json: 1", "smollm2 · check: contains: 1",
                "smollm2 · check: no_injection: 1", "claude · error: RateLimitError: 1"):
        assert f"<title>{tip}</title>" in section
