"""The written report in real headless Chromium: it renders, runs no injected script, logs
no errors (a CSP violation would be one), and a matrix cell opens its drill-down."""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from harness.report import write_html
from harness.results import RunLog

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page

pytestmark = pytest.mark.browser

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(reason: str) -> NoReturn:
    # CI promises a browser: missing one there is a broken setup, not a reason to skip
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _find_chromium() -> str | None:
    configured = os.environ.get("HARNESS_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the Python package 'playwright' is not installed (pip install playwright)")
    executable = _find_chromium()
    if executable is None:
        _unavailable(
            "no Chromium found: set HARNESS_CHROMIUM, install /usr/bin/chromium "
            "(apt-get install chromium) or put 'chromium' on PATH"
        )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        yield browser
        browser.close()


class Console:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def on_console(self, msg: ConsoleMessage) -> None:
        if msg.type in ("error", "warning"):
            self.errors.append(f"console.{msg.type}: {msg.text}")

    def on_pageerror(self, exc: Error) -> None:
        self.errors.append(f"pageerror: {exc}")

    def on_request(self, request: Any) -> None:
        if not request.url.startswith(("file:", "data:")):
            self.errors.append(f"request: {request.url}")


@pytest.fixture
def report(run_log: RunLog, tmp_path: Path) -> Path:
    return write_html(run_log, tmp_path / "report.html")


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Any]:
    """Open a file in a fresh context; every page records console errors and requests."""
    contexts: list[BrowserContext] = []

    def _open(path: Path, **options: Any) -> tuple[Page, Console]:
        console = Console()
        context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
        contexts.append(context)
        page = context.new_page()
        page.on("console", console.on_console)
        page.on("pageerror", console.on_pageerror)
        page.on("request", console.on_request)
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        return page, console

    yield _open
    for context in contexts:
        context.close()


def _cell(page: Page, case_id: str, column: int) -> Any:
    row = page.locator("#matrix-table tr.case-row").filter(
        has=page.locator("td.case code", has_text=case_id)
    )
    return row.locator("td.mcell").nth(column).locator("a.cell-link")


def test_matrix_renders_without_errors(open_page: Any, report: Path) -> None:
    page, console = open_page(report)
    rows = page.locator("#matrix-table tbody tr.case-row")
    assert rows.count() == 4
    for i in range(4):
        assert rows.nth(i).locator("td.mcell").count() == 3
    assert page.locator("#matrix-table thead th.model").all_inner_texts() == [
        "gpt-mini",
        "smollm2",
        "claude",
    ]
    assert page.locator("section.result").count() == 12
    assert page.locator("details.case").count() == 4
    # the filter controls exist only for readers with JS, and they work
    assert page.locator("#filters").is_visible()
    page.locator("#f-text").fill("legal")
    assert page.locator("#matrix-table tr.case-row:visible").count() == 2
    page.locator("#f-text").fill("")
    page.locator("#f-disagree").check()
    assert page.locator("#f-count").inner_text() == "4 of 4 cases shown"
    assert console.errors == []


def test_injected_markup_never_runs(open_page: Any, report: Path, payload: str) -> None:
    page, console = open_page(report)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img").count() == 0
    # ours: the script and the matrix's JSON data, both carrying the nonce
    assert page.locator("script").count() == 2
    assert page.locator("script[nonce]").count() == 2
    cell = _cell(page, "policy-inject", 1)  # smollm2, whose output carries the payload
    cell.click()
    target = page.locator(cell.get_attribute("href") or "")
    output = target.locator("pre.output")
    assert output.is_visible()
    assert payload in output.inner_text()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert console.errors == []


def test_clicking_a_cell_opens_its_details(open_page: Any, report: Path) -> None:
    page, console = open_page(report)
    cell = _cell(page, "nda-summary", 2)  # claude's RateLimitError
    anchor = (cell.get_attribute("href") or "").removeprefix("#")
    result = page.locator(f"section#{anchor}")
    case = page.locator("details.case").filter(has=result)
    assert case.evaluate("d => d.open") is False
    assert not result.is_visible()
    cell.click()
    assert case.evaluate("d => d.open") is True
    assert page.evaluate("location.hash") == f"#{anchor}"
    assert result.is_visible()
    box = result.bounding_box()
    assert box is not None and 0 <= box["y"] < 900, "the result was scrolled into view"
    assert "RateLimitError" in result.inner_text()
    assert "429 <too many> requests" in result.inner_text()
    # a link elsewhere (the failure list) opens its case the same way
    page.locator("#problems a", has_text="marketing / tagline").first.click()
    assert page.locator("details.case[open]").count() == 2
    assert console.errors == []


def test_without_javascript_links_still_navigate(open_page: Any, report: Path) -> None:
    page, console = open_page(report, java_script_enabled=False)
    assert not page.locator("#filters").is_visible()
    cell = _cell(page, "tagline", 1)
    href = cell.get_attribute("href") or ""
    cell.click()
    assert page.url.endswith(href)
    # Chromium opens a closed <details> when a link points inside it, script or not
    assert page.locator(f"section{href}").is_visible()
    assert "Buy stuff." in page.locator(f"section{href}").inner_text()
    assert console.errors == []


def test_screenshot_is_a_real_picture(open_page: Any, report: Path, tmp_path: Path) -> None:
    page, console = open_page(report)
    _cell(page, "tagline", 1).click()
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 1280 and height > 1500
    assert len(data) > 50_000, "a blank page compresses to almost nothing"
    # a narrow window keeps the page usable: no sideways scrolling of the page itself
    page.set_viewport_size({"width": 400, "height": 800})
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    assert console.errors == []


def test_stopped_run_banner_and_flaky_filter(
    open_page: Any, repeat_log: RunLog, tmp_path: Path
) -> None:
    page, console = open_page(write_html(repeat_log, tmp_path / "repeat.html"))
    banner = page.locator("#status-banner")
    assert banner.is_visible()
    box = banner.bounding_box()
    assert box is not None and box["y"] < 200, "the banner is at the top of the page"
    assert "This run stopped early (interrupted): 15 of 18 planned calls finished" in (
        banner.inner_text()
    )
    assert "harness run --resume 20240601-120000-c0ffee" in banner.inner_text()

    rows = page.locator("#matrix-table tr.case-row")
    assert rows.count() == 3
    page.locator("#f-flaky").check()
    visible = page.locator("#matrix-table tr.case-row:visible")
    assert visible.count() == 2
    assert visible.locator("td.case code").all_inner_texts() == ["tagline", "policy-inject"]
    for i in range(2):
        assert visible.nth(i).locator("td.mcell.flaky .flaky-badge").is_visible()
    assert page.locator("#f-count").inner_text() == "2 of 3 cases shown"
    # the filters combine: flaky and models disagreeing leaves tagline (gpt-mini passed every
    # repeat); in policy-inject only gpt-mini ran, and a missing cell is no disagreement
    page.locator("#f-disagree").check()
    assert page.locator("#f-count").inner_text() == "1 of 3 cases shown"
    page.locator("#f-flaky").uncheck()
    page.locator("#f-disagree").uncheck()
    assert page.locator("#matrix-table tr.case-row:visible").count() == 3

    # a long output shows its start; the rest opens on request and stays text
    page.locator("#flaky-table a", has_text="marketing / tagline").click()
    _cell(page, "nda-summary", 1).click()
    more = page.locator("details.more").first
    assert more.is_visible()
    assert "END-OF-OUTPUT" not in page.locator("pre.output:visible").first.inner_text()
    more.locator("summary").click()
    assert more.locator("pre").inner_text().endswith("END-OF-OUTPUT")
    assert console.errors == []
