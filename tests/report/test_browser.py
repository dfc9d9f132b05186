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
    assert page.locator("details.result").count() == 12
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
    assert page.locator("script").count() == 1
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
    details = page.locator(f"details#{anchor}")
    assert details.evaluate("d => d.open") is False
    cell.click()
    assert details.evaluate("d => d.open") is True
    assert page.evaluate("location.hash") == f"#{anchor}"
    box = details.bounding_box()
    assert box is not None and 0 <= box["y"] < 900, "the details were scrolled into view"
    assert "RateLimitError" in details.inner_text()
    assert "429 <too many> requests" in details.inner_text()
    # a link elsewhere (the failure list) opens its drill-down the same way
    page.locator("#problems a", has_text="marketing / tagline").first.click()
    assert page.locator("details.result[open]").count() == 2
    assert console.errors == []


def test_without_javascript_links_still_navigate(open_page: Any, report: Path) -> None:
    page, console = open_page(report, java_script_enabled=False)
    assert not page.locator("#filters").is_visible()
    cell = _cell(page, "tagline", 1)
    href = cell.get_attribute("href") or ""
    cell.click()
    assert page.url.endswith(href)
    summary = page.locator(f"details{href} > summary")
    assert summary.is_visible()
    summary.click()
    assert page.locator(f"details{href}").evaluate("d => d.open") is True
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
