"""The HTML report: self-contained, every untrusted string escaped, a drill-down per result."""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.report import render_html, write_html
from harness.report.html import _anchor, _interval
from harness.results import (
    CaseResult,
    CheckRecord,
    ErrorRecord,
    ModelInfo,
    RunLog,
    SuiteInfo,
    merge_logs,
    summarize,
)


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
    assert html.count("<script") == 2  # ours, with the nonce: the script and its data
    tags = parse(html)
    assert not [a for _, a in tags if any(k.startswith("on") for k in a)], "no event handlers"
    # the hostile case id may sit inside a quoted title (as text), never as markup of its own
    carriers = {k for _, a in tags for k, v in a.items() if v and "window.__pwned" in v}
    assert carriers <= {"title"}


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
    details = [a for t, a in tags if t == "section" and "result" in classes(a)]
    assert len(details) == len(run_log.results)
    # one collapsible per case holds its results (10,000 <details> made a page slow to open)
    cases = [a for t, a in tags if t == "details" and "case" in classes(a)]
    assert len(cases) == 4
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
        if t == "section" and a.get("id") and "result" in classes(a)
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
    details = {a["id"] for t, a in tags if t == "section" and "result" in classes(a)}
    assert len(details) == 4
    # the cell points at the repeat that failed, the most useful one to open
    link = next(a["href"] for t, a in tags if t == "a" and "cell-link" in classes(a))
    failing = next(
        a["id"] for t, a in tags if t == "section" and {"result", "failed"} <= classes(a)
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


# -- intervals, repeats, run status, attempts, size ------------------------------------------


def _section(html: str, start: str, end: str = "</section>") -> str:
    """The markup from the tag holding ``start`` to the next ``end``."""
    rest = html[html.rindex("<", 0, html.index(start) + 1) :]
    return rest[: rest.index(end)]


def _text(html: str) -> str:
    """Visible text, whitespace collapsed (tags dropped, entities decoded)."""

    class _Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def _log(results: list[Any], **fields: Any) -> RunLog:
    models = sorted({r.model for r in results})
    return RunLog(
        run_id=fields.pop("run_id", "r"),
        harness_version="0",
        created_at="2024-01-01T00:00:00Z",
        suites=[SuiteInfo(name="s", path="s.suite.yaml", fingerprint="x", cases=1)],
        models=[ModelInfo(name=m, id=m) for m in models],
        results=results,
        **fields,
    )


def test_pass_rate_shows_the_wilson_interval_from_summarize(run_log: RunLog) -> None:
    html = render_html(run_log)
    models = _section(html, 'id="models-table"', "</table>")
    ci = summarize(run_log.results)["models"]
    # gpt-mini 3/4 and smollm2 2/4: the same interval summarize() reports, in percent
    assert ci["gpt-mini"]["pass_rate_ci95"] == [0.3006, 0.9544]
    assert '<span class="pct">75%</span><span class="ci"' in models
    assert "(30–95%)" in models
    assert "(15–85%)" in models
    assert "(44–100%)" in models  # claude: 3/3 judged, its error left out
    # the whisker sits on the judged (green + red) part of the bar: claude's bar is 3 passed
    # and 1 error, so its interval is scaled by 3/4 and ends on the green/error boundary
    whiskers = [a["style"] for t, a in parse(models) if t == "span" and "whisker" in classes(a)]
    assert len(whiskers) == 3
    low, high = ci["claude"]["pass_rate_ci95"]
    assert whiskers[2] == f"left: {low * 75:.2f}%; width: {(high - low) * 75:.2f}%"
    left, width = (float(part.split(": ")[1].rstrip("%")) for part in whiskers[2].split("; "))
    assert left + width == pytest.approx(75)
    # overlapping intervals: the leader's badge comes with a caution
    assert "highest pass rate" in models and "the lead may be noise" in models


def test_report_recomputes_from_results_not_the_stored_summary(run_log: RunLog) -> None:
    stale = run_log.model_copy(
        update={"summary": {"models": {"gpt-mini": {"pass_rate": 0.01, "passed": 999}}}}
    )
    html = render_html(stale)
    assert "999" not in html
    assert '<span class="pct">75%</span>' in html


def test_interval_precision_follows_its_width() -> None:
    assert _interval((0.2904, 0.7096)) == "29–71%"
    assert _interval((0.9931, 0.9978)) == "99.3–99.8%"  # narrow: a tenth of a point
    assert _interval(None) == ""
    big = [result_row("c", "m", "passed" if i % 5 else "failed", i) for i in range(2000)]
    assert "(78.2–81.7%)" in render_html(_log(big))


def result_row(case_id: str, model: str, status: str, repeat: int = 0) -> CaseResult:
    passed = status == "passed"
    reason = "found 'answer'" if passed else "expected 'refund'; found no mention of it"
    return CaseResult(
        suite="s",
        case_id=case_id,
        model=model,
        model_id=model,
        repeat=repeat,
        status="passed" if passed else "failed",
        messages=[{"role": "user", "content": f"Question {case_id}"}],
        output="A fine answer.",
        checks=[CheckRecord(check="contains", passed=passed, reason=reason)],
    )


def test_flaky_cells_are_marked_filterable_and_listed(repeat_log: RunLog) -> None:
    html = render_html(repeat_log)
    tags = parse(html)
    flaky_cells = [a for t, a in tags if t == "td" and {"mcell", "flaky"} <= classes(a)]
    assert len(flaky_cells) == 2
    matrix = _section(html, 'id="matrix-table"', "</table>")
    assert matrix.count('<span class="flaky-badge">~ flaky</span>') == 2
    # tagline (smollm2 ✓✗✓) and policy-inject (gpt-mini ✓✗✗); nda-summary's gpt-mini
    # passed twice and errored once, which is not flaky: an error is no verdict
    rows = [a for t, a in tags if t == "tr" and "case-row" in classes(a)]
    assert [a.get("data-flaky") for a in rows] == ["1", None, "1"]
    assert '<input type="checkbox" id="f-flaky">' in html
    # the header counts them and links to the list
    totals = _text(_section(html, 'id="totals"', '<table class="suites"'))
    assert "~ 2 flaky case × model" in totals
    # the list under "What went wrong": k/n and the Wilson interval of each
    listed = _text(_section(html, 'id="flaky-table"', "</table>"))
    assert "smollm2 marketing / tagline 2/3 66.7% (21–94%)" in listed
    assert "gpt-mini legal / policy-inject 1/3 33.3% (6–79%)" in listed
    assert "nda-summary" not in listed
    stats = {(r["case_id"], r["model"]): r for r in summarize(repeat_log.results)["repeats"]}
    assert stats[("tagline", "smollm2")]["ci95"] == [0.2077, 0.9385]
    # every link in the list resolves
    ids = set(attr(tags, "id"))
    for href in attr(parse(_section(html, 'id="flaky-table"', "</table>")), "href"):
        assert href[1:] in ids


def test_no_flaky_controls_without_repeats(run_log: RunLog) -> None:
    html = render_html(run_log)
    assert 'id="f-flaky"' not in html
    assert "Flaky cases" not in html
    assert "flaky case × model" not in html


def test_repeats_that_agree_are_not_flaky() -> None:
    results = [result_row("c1", "m1", "passed", i) for i in range(3)]
    results += [result_row("c1", "m2", "failed", i) for i in range(3)]
    html = render_html(_log(results))
    assert "No flaky cases" in html
    assert "~ flaky" not in _section(html, "<tbody>", "</tbody>")
    assert "flaky case × model" not in html


def test_interrupted_run_says_so_at_the_top(repeat_log: RunLog) -> None:
    html = render_html(repeat_log)
    banner = _section(html, 'id="status-banner"', "</div>")
    assert html.index('id="status-banner"') < html.index('id="totals"')
    assert _text(banner).startswith(
        "This run stopped early (interrupted): 15 of 18 planned calls finished; resume with "
        "harness run --resume 20240601-120000-c0ffee"
    )
    assert "3 planned calls did not run" in _text(banner)
    # the case × model that never ran still shows as not run
    assert html.count('class="mcell missing"') == 1
    assert "not run" in _section(html, 'id="matrix-table"', "</table>")


def test_budget_stop_names_the_budget(run_log: RunLog) -> None:
    log = run_log.model_copy(
        update={"settings": {"status": "max_cost", "planned": 20, "max_cost": 2.5}}
    )
    banner = _text(_section(render_html(log), 'id="status-banner"', "</div>"))
    assert banner.startswith(
        "This run stopped early (stopped before exceeding the $2.5 budget): 12 of 20 planned "
        "calls finished; resume with harness run --resume run-20240601-abc123"
    )


def test_finished_run_has_no_banner(run_log: RunLog) -> None:
    log = run_log.model_copy(update={"settings": {"status": "finished", "planned": 12}})
    html = render_html(log)
    assert 'id="status-banner"' not in html
    assert "stopped early" not in html


def test_merged_log_names_its_runs(run_log: RunLog) -> None:
    parts = [
        run_log.model_copy(
            update={
                "run_id": f"run-{n}",
                "results": [r for r in run_log.results if (r.model == "claude") == bool(n)],
            }
        )
        for n in range(2)
    ]
    html = render_html(merge_logs(parts))
    merged = _section(html, 'id="merged-from"', "</p>")
    assert _text(merged) == "Merged from runs run-0 , run-1 ."
    assert "<code>run-0</code>, <code>run-1</code>" in merged
    assert 'id="status-banner"' not in html


def test_errors_are_summarised_in_the_header(
    run_log: RunLog, result_factory: Callable[..., Any]
) -> None:
    timeout = ErrorRecord(kind="Timeout", message="no answer")
    extra = [
        result_factory("legal", f"extra-{i}", "claude", status="error", error=timeout)
        for i in range(2)
    ]
    log = run_log.model_copy(update={"results": [*run_log.results, *extra]})
    html = render_html(log)
    line = _section(html, 'id="error-summary"', "</p>")
    assert html.index('id="error-summary"') < html.index('id="models"')
    # most frequent kind first, and a link to the full table
    assert _text(line) == "! 3 errors claude 2 × Timeout , 1 × RateLimitError see errors"
    assert 'href="#errors"' in line
    assert 'id="error-summary"' not in render_html(_log([result_row("c", "m", "passed")]))


def test_drill_down_shows_attempts_and_cache(repeat_log: RunLog) -> None:
    html = render_html(repeat_log)
    by_id = {}
    for r in repeat_log.results:
        text = _text(_section(html, f'id="{_anchor(r)}"'))
        by_id[(r.case_id, r.model, r.repeat)] = text
    assert "attempts: 1" in by_id[("tagline", "gpt-mini", 0)]
    assert "attempts: 0 · answered from cache" in by_id[("tagline", "gpt-mini", 1)]
    assert "attempts: 3" in by_id[("tagline", "gpt-mini", 2)]
    assert "answered from cache" not in by_id[("tagline", "gpt-mini", 2)]
    error = by_id[("nda-summary", "gpt-mini", 2)]
    assert "attempts: 4" in error and "Timeout after 4 attempts" in error


def test_long_output_shows_its_start_and_the_rest_behind_a_toggle(
    repeat_log: RunLog, long_output: str
) -> None:
    html = render_html(repeat_log)
    more = _section(html, '<details class="more">', "</details>")
    assert f"show all {len(long_output):,} characters" in more
    assert "END-OF-OUTPUT" in more
    head = _section(html, '<pre class="output">The policy', "</pre>")
    assert len(head) == len('<pre class="output">') + 2000
    # past the cap the page says where the rest is, and never holds it
    huge = "x" * 60_000 + "<script>window.__pwned=9</script>" + "ZZTAILZZ"
    html = render_html(_log([result_row("c", "m", "passed").model_copy(update={"output": huge})]))
    assert "ZZTAILZZ" not in html and "window.__pwned=9" not in html
    assert f"{len(huge) - 50_000:,} more characters, left out of this report" in html


def test_identical_outputs_and_shared_prompts_are_shown_once(
    result_factory: Callable[..., Any],
) -> None:
    same = "An identical, reasonably long answer. " * 10
    results = [
        result_factory("s", "c1", m, output=same, repeat=i) for m in ("a", "b") for i in range(2)
    ]
    html = render_html(_log(results))
    assert html.count(same) == 1
    assert html.count("The same output as") == 3
    assert html.count("You write marketing copy.") == 1  # the prompt, once for the case
    assert "the same for all 4 results" in html


def test_a_large_run_stays_small() -> None:
    """2,400 results: failures in full, passed results as one line, and the cases in which
    everything passed only in the matrix."""
    results = [
        result_row(f"case-{c:04d}", m, "failed" if (c + i) % 4 == 0 else "passed", i)
        for c in range(600)
        for m in ("m1", "m2")
        for i in range(2)
    ]
    log = _log(results)
    page = render_html(log)
    assert len(page.encode()) / len(results) < 800, "bytes per result"
    # a large run packs each case's details (gzip, base64) and draws its matrix from JSON
    cases = json.loads(_section(page, 'id="cases-data" nonce="', "</script>").split(">", 1)[1])
    packed = [c[7] for c in cases]
    assert len(packed) == 300
    html = page + "".join(gzip.decompress(base64.b64decode(z)).decode() for z in packed)
    tags = parse(html)
    data = json.loads(_section(page, 'id="matrix-data" nonce="', "</script>").split(">", 1)[1])
    failed = sum(r.status == "failed" for r in results)
    listed = {r.case_id for r in results if r.status == "failed"}
    assert len(listed) == 300  # cases 0 and 3 (mod 4) have a failure; 1 and 2 passed
    assert len({c[0] for c in cases}) == 300  # one entry per listed case
    compact = [a for t, a in tags if t == "section" and "compact" in classes(a)]
    assert len(compact) == 4 * 300 - failed  # the passed results of the listed cases
    assert html.count("A fine answer.") == failed
    note = _text(_section(html, 'id="compacted"', "</p>"))
    assert "its 1,800 passed results show their verdict and numbers but not their output" in note
    assert "the 300 cases in which every result passed are not listed here" in note
    # a cell of an unlisted case shows its verdict without a link; every link resolves
    cells = [c for row in data["rows"] for c in row[5]]
    assert len(cells) == 600 * 2
    assert sum(1 for c in cells if not c[2]) == 300 * 2
    ids = set(attr(tags, "id")) | {c[0] for c in cases}
    assert all(h[1:] in ids for h in attr(tags, "href") if h.startswith("#"))
    assert all(c[2][1:] in ids for c in cells if c[2])

    full = render_html(log, full=True)
    assert full.count("A fine answer.") == len(results)
    assert "not their output" not in full


def test_selection_and_resume_are_shown(run_log: RunLog) -> None:
    settings = {
        "status": "finished",
        "planned": 12,
        "filters": ["legal/*"],
        "limit": 10,
        "shard": "1/4",
        "resumed": True,
    }
    meta = _text(
        _section(
            render_html(run_log.model_copy(update={"settings": settings})),
            '<dl class="meta">',
            "</dl>",
        )
    )
    assert "Status finished (resumed)" in meta
    assert "Selection filter legal/* · limit 10 · shard 1/4" in meta


def test_unsupported_numbers_and_names_are_highlighted_and_escaped() -> None:
    from harness.checks.registry import CheckInput, build
    from harness.report.html import render_html
    from harness.results import CaseResult, CheckRecord, RunLog, SuiteInfo

    output = "Revenue was $1.5 million in 2023, says <b>Bob Stone</b>."
    verdict = build("grounded", {})(CheckInput(
        output=output, context=("Revenue was 1.2 million dollars in 2023.",)))
    assert not verdict.passed
    result = CaseResult(
        suite="g", case_id="memo", model="m", model_id="openai/m", status="failed",
        messages=[{"role": "user", "content": "Summarise."}], output=output,
        checks=[CheckRecord(check="grounded", passed=False, score=verdict.score,
                            reason=verdict.reason, evidence=verdict.evidence)])
    log = RunLog(run_id="r", harness_version="0", created_at="2026-11-29T00:00:00",
                 suites=[SuiteInfo(name="g", path="p", fingerprint="f", cases=1)],
                 models=[], results=[result])
    html = render_html(log, show_pii=True)
    assert '<mark class="unsupported" title="not found in the sources">$1.5 million</mark>' \
        in html
    assert "Bob Stone</mark>" in html
    assert "<b>Bob" not in html and "&lt;b&gt;" in html  # the output stays escaped
