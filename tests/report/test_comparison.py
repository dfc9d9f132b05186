"""The report's comparison section: pass-rate differences with McNemar p (Holm), the
verdict per domain, and cost and latency per model, checked against values computed here."""

from __future__ import annotations

import statistics

from scipy.stats import binomtest

from harness.report import render_html
from harness.results import CaseResult, RunLog
from tests.report.conftest import FAIL, build_log, make_result


def two_models() -> RunLog:
    """20 legal cases: model a passes 15, model b passes 5 (only cases a passes too)."""
    results: list[CaseResult] = []
    for i in range(20):
        for model, passes, cost, latency in (("a", i < 15, 0.003, 400.0 + i),
                                             ("b", i < 5, 0.001, 900.0 + 10 * i)):
            results.append(make_result(
                "legal", f"c{i}", model, status="passed" if passes else "failed",
                checks=None if passes else FAIL, tags=["legal"], cost_usd=cost,
                latency_ms=latency))
    return build_log().model_copy(update={"results": results, "models": []})


def section(html: str, ident: str) -> str:
    start = html.index(f'<section id="{ident}">')
    return html[start:html.index("</section>", start)]


def test_pairs_verdict_and_costs() -> None:
    html = section(render_html(two_models()), "comparison")
    # 10 discordant pairs, all favouring a: exact McNemar = two-sided binomial test
    p = binomtest(10, 10, 0.5).pvalue
    assert round(p, 6) == 0.001953
    assert "<td class=\"num\">+50.0 pts</td><td class=\"num\">p = 0.002</td>" in html
    # one tag (legal) and one suite (legal): both show the same pair
    assert html.count("+50.0 pts") == 3
    assert "overall, a passes 50 points more cases than b (p = 0.002) at 3.0× the cost" in html
    assert "for legal, a passes 50 points more cases than b" in html
    # latency: median, and p95 by nearest rank: sorted index round(0.95 * 19) = 18 -> 418
    lat_a = [400.0 + i for i in range(20)]
    assert statistics.median(lat_a) == 409.5
    assert "<td>a</td><td class=\"num\">$0.003</td><td class=\"num\">$0.003</td>" \
           "<td class=\"num\">$0.060</td><td class=\"num\">20/20</td>" \
           "<td class=\"num\">410 ms</td><td class=\"num\">418 ms</td>" in html


def test_one_model_has_no_comparison() -> None:
    log = two_models()
    one = log.model_copy(update={"results": [r for r in log.results if r.model == "a"]})
    assert 'id="comparison"' not in render_html(one)
