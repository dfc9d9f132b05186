"""The report render pauses the cyclic collector and gives it back as it found it."""

from __future__ import annotations

import gc

import pytest

from harness.report.gc_pause import gc_paused
from harness.report.html import render_html
from harness.results import RunLog


def _empty_log() -> RunLog:
    return RunLog(run_id="r", harness_version="0", created_at="2026-11-29T00:00:00",
                  suites=[], models=[], results=[])


def test_render_runs_without_the_collector_and_restores_it() -> None:
    seen: list[bool] = []

    @gc_paused
    def probe() -> str:
        seen.append(gc.isenabled())
        return "ok"

    assert gc.isenabled()
    assert probe() == "ok"
    assert seen == [False] and gc.isenabled()
    assert "<html" in render_html(_empty_log()) and gc.isenabled()


def test_collector_is_restored_after_an_error_and_left_off_if_it_was_off() -> None:
    @gc_paused
    def boom() -> None:
        raise ValueError("x")

    with pytest.raises(ValueError):
        boom()
    assert gc.isenabled()
    gc.disable()
    try:
        render_html(_empty_log())
        assert not gc.isenabled()
    finally:
        gc.enable()
