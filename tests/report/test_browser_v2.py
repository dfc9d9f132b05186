"""Report v2 in real headless Chromium: the matrix filters (model, status, tag, failed
check, failure mode), sorting, drill-down into a packed case of a large run, the diff view
against a baseline with its text diff, and a screenshot whose matrix shows the status
colours (decoded pixels, not just a file)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

from harness.report import write_html
from harness.results import CaseResult, RunLog
from tests.report.conftest import FAIL, build_log, make_result
from tests.report.test_browser import browser, open_page  # fixtures, re-exported below

__all__ = ["browser", "open_page"]


def visible_cases(page: Any) -> list[str]:
    return list(page.locator("#matrix-table tr.case-row:visible td.case code").all_inner_texts())


def test_filter_by_model_status_tag_check_and_mode(open_page: Any, run_log: RunLog,
                                                   tmp_path: Path) -> None:
    page, console = open_page(write_html(run_log, tmp_path / "r.html"))
    assert len(visible_cases(page)) == 4
    page.select_option("#f-model", label="smollm2")
    page.select_option("#f-status", "failed")
    # smollm2 failed tagline (contains) and policy-inject (no_injection)
    assert visible_cases(page) == ["tagline", "policy-inject"]
    assert page.locator("#f-count").inner_text() == "2 of 4 cases shown"
    page.select_option("#f-status", "passed")
    assert visible_cases(page) == ['q&a-<b>"onmouseover="window.__pwned=3', "nda-summary"]
    page.select_option("#f-model", "")
    page.select_option("#f-status", "error")
    assert visible_cases(page) == ["nda-summary"]  # claude's RateLimitError
    page.select_option("#f-status", "")
    page.select_option("#f-tag", label="<i>tag</i>")  # a hostile tag, shown as text
    assert visible_cases(page) == ['q&a-<b>"onmouseover="window.__pwned=3']
    page.select_option("#f-tag", "")
    page.select_option("#f-check", label="is_json")
    assert visible_cases(page) == ['q&a-<b>"onmouseover="window.__pwned=3']
    page.select_option("#f-check", "")
    page.select_option("#f-mode", label="error: RateLimitError")
    assert visible_cases(page) == ["nda-summary"]
    page.select_option("#f-mode", "")
    page.locator("#f-text").fill("legal")
    assert visible_cases(page) == ["nda-summary", "policy-inject"]
    page.locator("#f-text").fill("")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert console.errors == []


def test_sorting_a_model_column_puts_failures_first(open_page: Any, run_log: RunLog,
                                                    tmp_path: Path) -> None:
    page, console = open_page(write_html(run_log, tmp_path / "r.html"))
    header = page.locator("#matrix-table thead th.model", has_text="smollm2")
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert visible_cases(page)[:2] == ["tagline", "policy-inject"]
    header.click()
    assert header.get_attribute("aria-sort") == "descending"
    assert visible_cases(page)[-2:] == ["policy-inject", "tagline"]
    page.locator("#matrix-table thead th", has_text="Case").click()
    assert visible_cases(page) == sorted(visible_cases(page))
    assert console.errors == []


def _large_log() -> RunLog:
    """2,100 results: large enough to be packed; case-0007 fails on model m2."""
    results: list[CaseResult] = []
    for c in range(700):
        for m in ("m1", "m2", "m3"):
            bad = c == 7 and m == "m2"
            results.append(make_result(
                "legal", f"case-{c:04d}", m, status="failed" if bad else "passed",
                checks=FAIL if bad else None,
                output="The refund window is <b>30 days</b> SENTINEL-7." if bad else "Fine."))
    return build_log().model_copy(update={"results": results, "models": []})


def test_drill_down_into_a_packed_case(open_page: Any, tmp_path: Path) -> None:
    page, console = open_page(write_html(_large_log(), tmp_path / "large.html"))
    assert page.locator("#matrix-table tr.case-row").count() == 200  # one page
    assert page.locator("#f-count").inner_text() == "700 of 700 cases shown (first 200 listed)"
    page.locator("#f-more").click()
    assert page.locator("#matrix-table tr.case-row").count() == 400
    # the details list is drawn a page at a time, too: only case-0007 has a failure
    assert page.locator("#case-list details.case").count() == 1
    assert page.locator("#cases-more").is_hidden()
    page.locator("#f-text").fill("case-0007")
    assert visible_cases(page) == ["case-0007"]
    page.locator("#matrix-table tr.case-row td.mcell.failed a.cell-link").click()
    result = page.locator("section.result.failed")
    result.wait_for(state="visible")
    assert "The refund window is <b>30 days</b> SENTINEL-7." in result.inner_text()
    assert page.locator("section.result.failed b").count() == 0  # text, not markup
    assert console.errors == []


def _baseline_pair() -> tuple[RunLog, RunLog]:
    head = build_log()
    base = head.model_copy(update={"run_id": "base-run", "results": [
        make_result(r.suite, r.case_id, r.model, tags=r.tags,
                    output="Buy stuff now, with a refund within 30 days.")
        if (r.case_id, r.model) == ("tagline", "smollm2") else r for r in head.results]})
    return base, head


def test_diff_view_shows_a_new_failure_with_its_text_diff(open_page: Any,
                                                          tmp_path: Path) -> None:
    base, head = _baseline_pair()
    page, console = open_page(write_html(head, tmp_path / "diff.html", baseline=base))
    page.locator("nav.toc a", has_text="Changes since baseline").click()
    verdict = page.locator("#gate-verdict")
    assert verdict.is_visible()
    assert "Gate failed" in verdict.inner_text()
    assert "1 case × model pair that passed in the baseline fail now" in verdict.inner_text()
    entry = page.locator("#diff details.diff-entry.new_failure")
    assert entry.count() == 1
    assert "tagline" in entry.inner_text() and "passed → failed" in entry.inner_text()
    diff = entry.locator("pre.textdiff")
    assert diff.is_visible()
    assert diff.locator("del").first.inner_text().strip() == "now, with a refund within 30 days"
    assert "- Buy stuff now, with a refund within 30 days." in diff.inner_text()
    assert "+ Buy stuff." in diff.inner_text()
    entry.locator("a", has_text="open this result").click()
    assert page.locator("section.result.failed", has_text="Buy stuff.").first.is_visible()
    assert console.errors == []


def _pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of RGB(A) bytes of an 8-bit, non-interlaced PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(png):
        size, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + size]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + size
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line if channels == 3 else bytes(
            v for k, v in enumerate(line) if k % 4 != 3)))
        prev = line
    return width, height, rows


def test_screenshot_shows_the_matrix_in_status_colours(open_page: Any, run_log: RunLog,
                                                       tmp_path: Path) -> None:
    page, console = open_page(write_html(run_log, tmp_path / "r.html"),
                              color_scheme="light")
    page.locator("#matrix").scroll_into_view_if_needed()
    box = page.locator("#matrix-table").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    shot = page.screenshot(clip=box)
    width, height, rows = _pixels(shot)
    assert abs(width - box["width"]) <= 1 and abs(height - box["height"]) <= 1
    colours: dict[tuple[int, int, int], int] = {}
    for line in rows:
        for x in range(0, len(line), 3):
            px = (line[x], line[x + 1], line[x + 2])
            colours[px] = colours.get(px, 0) + 1
    # the cell backgrounds of the stylesheet: --pass-bg #dafbe1, --fail-bg #ffebe9,
    # --err-bg #fff8c5; the fixture's matrix has 8 passed, 3 failed and 1 error cell
    pass_bg, fail_bg, err_bg = (0xDA, 0xFB, 0xE1), (0xFF, 0xEB, 0xE9), (0xFF, 0xF8, 0xC5)
    assert colours.get(pass_bg, 0) > 8 * 200, "green cells: passed"
    assert colours.get(fail_bg, 0) > 3 * 200, "red cells: failed"
    assert colours.get(err_bg, 0) > 200, "yellow cell: the provider error"
    assert colours.get(pass_bg, 0) > colours.get(fail_bg, 0) > colours.get(err_bg, 0)
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert console.errors == []
