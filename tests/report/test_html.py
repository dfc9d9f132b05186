"""The HTML report: self-contained, every untrusted string escaped, a drill-down per result."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from harness.report import render_html, write_html
from harness.results import CheckRecord, ModelInfo, RunLog, SuiteInfo


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside <script> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def attr(tags: list[tuple[str, dict[str, str | None]]], name: str) -> list[str]:
    return [a[name] or "" for _, a in tags if name in a]


def classes(a: dict[str, str | None]) -> set[str]:
    return set((a.get("class") or "").split())


def test_no_external_resources(run_log: RunLog) -> None:
    html = render_html(run_log)
    tags = parse(html)
    for name in ("src", "href", "action", "srcset", "poster", "data", "formaction"):
        for value in attr(tags, name):
            assert not re.match(r"\s*([a-z][a-z0-9+.-]*:)?//", value, re.I), (name, value)
            assert not value.strip().lower().startswith(("http:", "https:", "javascript:"))
    # the only link-like element is the empty data: favicon that stops a favicon fetch
    assert [t for t, _ in tags if t in ("link", "iframe", "object", "embed", "img")] == ["link"]
    assert "@import" not in html
    assert "url(" not in html
    # the URL in the model output is shown as text, never as a resource
    assert "https://evil.example/track.png" in html


def test_content_security_policy_with_fresh_nonce(run_log: RunLog) -> None:
    html = render_html(run_log)
    tags = parse(html)
    csp = [a for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1
    policy = csp[0]["content"] or ""
    assert "default-src 'none'" in policy
    assert "img-src data:" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1]
    nonce = re.search(r"script-src 'nonce-([A-Za-z0-9_\-+/=]+)'", policy)
    assert nonce is not None
    scripts = [a for t, a in tags if t == "script"]
    assert scripts and all(a.get("nonce") == nonce.group(1) for a in scripts)
    # the policy is the first thing in <head> after the charset, before any content
    assert html.index("Content-Security-Policy") < html.index("<style>")
    assert nonce.group(1) not in render_html(run_log), "the nonce must change per render"


def test_malicious_output_is_escaped(run_log: RunLog, payload: str) -> None:
    html = render_html(run_log)
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=" in html
    assert payload not in html
    assert "<script>window" not in html
    assert "<img" not in html
    assert "<iframe" not in html
    assert html.count("<script") == 1  # ours, with the nonce
    tags = parse(html)
    assert not [a for _, a in tags if any(k.startswith("on") for k in a)], "no event handlers"
    # the hostile case id may sit inside a quoted title (as text), never as markup of its own
    carriers = {k for _, a in tags for k, v in a.items() if v and "window.__pwned" in v}
    assert carriers <= {"title", "data-search"}


def test_ids_tags_and_reasons_are_escaped(
    run_log: RunLog, evil_case: str, evil_reason: str
) -> None:
    html = render_html(run_log)
    assert "q&amp;a-&lt;b&gt;&#34;onmouseover=&#34;window.__pwned=3" in html
    assert evil_case not in html
    assert "&lt;i&gt;tag&lt;/i&gt;" in html
    assert "<i>" not in html and "<b>" not in html
    assert evil_reason not in html
    assert "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;script&gt;" in html
    assert "Taglines &amp; blurbs &lt;for the spring launch&gt;" in html
    assert "429 &lt;too many&gt; requests" in html


def test_case_ids_appear(run_log: RunLog) -> None:
    html = render_html(run_log)
    for case_id in ("tagline", "nda-summary", "policy-inject"):
        assert f"<code>{case_id}</code>" in html
    assert "run-20240601-abc123" in html
    for model in ("gpt-mini", "smollm2", "claude", "openai/gpt-4o-mini"):
        assert model in html


def test_every_result_has_a_drill_down(run_log: RunLog) -> None:
    html = render_html(run_log)
    tags = parse(html)
    details = [a for t, a in tags if t == "details" and "result" in classes(a)]
    assert len(details) == len(run_log.results)
    ids = [a["id"] or "" for a in details]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"r-[0-9a-f]{16}", i) for i in ids)
    # every matrix cell links to a drill-down, and every drill-down is linked from a cell
    cell_links = [a["href"] or "" for t, a in tags if t == "a" and "cell-link" in classes(a)]
    assert len(cell_links) == len(run_log.results)  # one result per cell in this log
    assert {h.removeprefix("#") for h in cell_links} == set(ids)
    # every in-page link resolves
    all_ids = set(attr(tags, "id"))
    for href in attr(tags, "href"):
        if href.startswith("#"):
            assert href[1:] in all_ids, href
    # ids are stable: the same log renders the same anchors
    assert ids == [
        a["id"]
        for t, a in parse(render_html(run_log))
        if t == "details" and a.get("id") and "result" in classes(a)
    ]


def test_drill_down_content(run_log: RunLog) -> None:
    html = render_html(run_log)
    # prompt messages, roles and source lines
    assert "You write marketing copy. &lt;keep it short&gt;" in html
    assert ">system<" in html and ">user<" in html
    assert "suites/legal.suite.yaml:25" in html
    # the provider error: kind, status, message, attempts
    assert "RateLimitError" in html
    assert "(status 429) after 3 attempts" in html
    # the failed check: verdict, reason (what was expected and found), score, evidence
    assert "expected all of [refund, 30 days]; missing: [30 days]" in html
    assert "{&#34;missing&#34;: [&#34;30 days&#34;]}" in html
    assert "✗ failed" in html
    assert "<code>not contains</code>" in html  # negation shown, not folded into "contains"
    # usage, cost and latency
    assert "42 in / 17 out" in html
    assert "$0.00012" in html
    assert "830 ms" in html


def test_summary_numbers(run_log: RunLog) -> None:
    html = render_html(run_log)
    # gpt-mini: 3 passed, 1 failed; smollm2: 2/2; claude: 3 passed and 1 error
    assert '<span class="pct">75%</span>' in html
    assert '<span class="pct">50%</span>' in html
    assert '<span class="pct">100%</span>' in html
    assert "highest pass rate" in html
    assert "1 min 05 s" in html
    assert "2024-06-01 12:00:00 UTC" in html
    # errors per model and kind
    errors_table = html[html.index('id="errors-table"') :]
    errors_table = errors_table[: errors_table.index("</table>")]
    assert "RateLimitError" in errors_table and "claude" in errors_table
    assert "gpt-mini" not in errors_table


def test_matrix_cells(run_log: RunLog) -> None:
    tags = parse(render_html(run_log))
    rows = [a for t, a in tags if t == "tr" and "case-row" in classes(a)]
    assert len(rows) == 4
    cells = [classes(a) for t, a in tags if t == "td" and "mcell" in classes(a)]
    assert len(cells) == 12
    states = [next(iter(c - {"mcell"})) for c in cells]
    assert states.count("passed") == 8
    assert states.count("failed") == 3
    assert states.count("error") == 1
    assert [a["data-problem"] for a in rows] == ["1", "1", "1", "1"]


def test_repeats_show_k_of_n(result_factory: Callable[..., Any]) -> None:
    failed = [CheckRecord(check="contains", passed=False, reason="missing 'x'")]
    results = [
        result_factory("s", "c1", "m1", repeat=0),
        result_factory("s", "c1", "m1", repeat=1, status="failed", checks=failed),
        result_factory("s", "c1", "m1", repeat=2),
        result_factory("s", "c1", "m2", repeat=0),
    ]
    log = RunLog(
        run_id="r",
        harness_version="0",
        created_at="2024-01-01T00:00:00Z",
        suites=[SuiteInfo(name="s", path="s.suite.yaml", fingerprint="x", cases=1)],
        models=[ModelInfo(name="m1", id="m1"), ModelInfo(name="m2", id="m2")],
        results=results,
    )
    html = render_html(log)
    tags = parse(html)
    assert '<span class="txt">2/3</span>' in html
    assert '<span class="txt">1/1</span>' in html
    mixed = [a for t, a in tags if t == "td" and {"mcell", "mixed"} <= classes(a)]
    assert len(mixed) == 1
    details = {a["id"] for t, a in tags if t == "details" and "result" in classes(a)}
    assert len(details) == 4
    # the cell points at the repeat that failed, the most useful one to open
    link = next(a["href"] for t, a in tags if t == "a" and "cell-link" in classes(a))
    failing = next(
        a["id"] for t, a in tags if t == "details" and {"result", "failed"} <= classes(a)
    )
    assert link == f"#{failing}"
    assert "repeat 1" in html


def test_missing_cell_and_unknown_model(result_factory: Callable[..., Any]) -> None:
    log = RunLog(
        run_id="r",
        harness_version="0",
        created_at="not a date",
        suites=[],
        models=[ModelInfo(name="m1", id="m1")],
        results=[result_factory("s", "c1", "m1"), result_factory("s", "c2", "m2")],
    )
    html = render_html(log, title="Nightly <run>")
    assert "<title>Nightly &lt;run&gt;</title>" in html
    assert "not a date" in html
    assert html.count('class="mcell missing"') == 2  # m1 never ran c2, m2 never ran c1
    assert "not run" in html


def test_empty_log_renders() -> None:
    log = RunLog(
        run_id="empty", harness_version="0", created_at="", suites=[], models=[], results=[]
    )
    html = render_html(log)
    assert "No results in this run." in html
    assert "No provider errors." in html


def test_write_html(run_log: RunLog, tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    written = write_html(run_log, target)
    assert written == target
    text = target.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]  # no temp file left
