"""The diff view against a baseline: classification of each pair, text diffs built from
escaped pieces, the gate's verdict, masking, and `harness report --baseline`."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.cli import main
from harness.report import render_html
from harness.report.diff import classify, diff_runs, text_diff
from harness.results import CaseResult, CheckRecord, RunLog
from tests.report.conftest import MODELS, build_log, make_result

FAIL = [CheckRecord(check="contains", args={"value": "refund"}, passed=False, score=0.0,
                    reason="expected 'refund'; found no mention of it")]


def _log(run_id: str, results: list[CaseResult]) -> RunLog:
    return build_log().model_copy(update={"run_id": run_id, "results": results})


def _r(case: str, model: str, status: str = "passed", output: str = "A fine answer.",
       repeat: int = 0) -> CaseResult:
    return make_result("legal", case, model, status=status, output=output, repeat=repeat,
                       checks=FAIL if status == "failed" else None)


def _pairs() -> tuple[RunLog, RunLog]:
    """Two models, two repeats; every class of change appears exactly as listed."""
    base = [
        _r("a", "gpt-mini"), _r("a", "smollm2"),                       # a/smollm2 breaks
        _r("b", "gpt-mini", "failed", "no"), _r("b", "smollm2", "failed", "no"),
        _r("c", "gpt-mini", "passed", "old words here"),               # changed, passes
        _r("c", "gpt-mini", repeat=1),                                 # repeat 1 breaks
        _r("gone", "smollm2"),                                         # removed
    ]
    head = [
        _r("a", "gpt-mini"), _r("a", "smollm2", "failed", "Buy <b>stuff</b>."),
        _r("b", "gpt-mini", "passed", "refund"),                       # fixed
        _r("b", "smollm2", "failed", "still no"),                      # still failing
        _r("c", "gpt-mini", "passed", "new words here"),
        _r("c", "gpt-mini", "failed", repeat=1),
        _r("d", "smollm2"),                                            # new
    ]
    return _log("base-run", base), _log("head-run", head)


def test_classify_each_pair_by_hand() -> None:
    p, f = _r("x", "m"), _r("x", "m", "failed")
    e = make_result("legal", "x", "m", status="error", output=None)
    assert classify(p, f) == "new_failure"
    assert classify(p, e) == "new_failure"
    assert classify(f, p) == "fixed"
    assert classify(e, p) == "fixed"
    assert classify(f, e) == "still_failing"
    assert classify(None, p) == "new"
    assert classify(p, None) == "removed"
    assert classify(p, _r("x", "m", output="other")) == "changed"
    assert classify(p, p) is None


def test_pairs_are_matched_by_suite_case_model_and_repeat() -> None:
    base, head = _pairs()
    diff = diff_runs(base, head)
    got = {k: sorted((e.case_id, e.model, e.repeat) for e in diff.of(k)) for k in diff.counts}
    assert got == {
        "new_failure": [("a", "smollm2", 0), ("c", "gpt-mini", 1)],
        "fixed": [("b", "gpt-mini", 0)],
        "still_failing": [("b", "smollm2", 0)],
        "new": [("d", "smollm2", 0)],
        "removed": [("gone", "smollm2", 0)],
        "changed": [("c", "gpt-mini", 0)],
    }
    assert diff.unchanged == 1  # a/gpt-mini
    assert diff.repeats
    broken = next(e for e in diff.of("new_failure") if e.case_id == "a")
    assert (broken.base_status, broken.head_status) == ("passed", "failed")
    assert broken.reason == "contains: expected 'refund'; found no mention of it"
    # the gate's own verdict rides along; it pools repeats: a(smollm2) regressed, and
    # c(gpt-mini), one repeat of two failing, "became flaky"
    assert not diff.gate.passed
    assert [(g.case_id, g.model) for g in diff.gate.regressions] == [("a", "smollm2")]
    assert diff.gate.became_flaky == ("legal/c [gpt-mini]: 1/2 repeats pass",)


def test_text_diff_marks_changed_words_and_escapes() -> None:
    out = str(text_diff("We refund <b>in 30 days</b>.\nSame line.",
                        "We refund <b>in 14 days</b>.\nSame line.\n<script>x()</script>"))
    assert "<script>" not in out and "<b>" not in out
    assert '<span class="dl dl-del">- We refund &lt;b&gt;in <del>30</del> days' in out
    assert '<span class="dl dl-ins">+ We refund &lt;b&gt;in <ins>14</ins> days' in out
    assert '<span class="dl dl-ctx">  Same line.</span>' in out
    assert '<span class="dl dl-ins">+ <ins>&lt;script&gt;x()&lt;/script&gt;</ins></span>' in out
    # only these element kinds are ever emitted
    tags: list[str] = []

    class P(HTMLParser):
        def handle_starttag(self, tag: str, attrs: object) -> None:
            tags.append(tag)

    P().feed(out)
    assert set(tags) <= {"span", "del", "ins"}


def test_report_shows_the_diff_view_masked(tmp_path: Path) -> None:
    base, head = _pairs()
    secret = "call me at jane.doe@example.com"
    head = head.model_copy(update={"results": [
        r.model_copy(update={"output": f"{r.output} {secret}"}) if r.case_id == "a"
        and r.model == "smollm2" else r for r in head.results]})
    html = render_html(head, baseline=base)
    assert 'id="diff"' in html and 'id="gate-verdict"' in html
    assert "Gate failed" in html
    assert "1 case × model pair that passed in the baseline fail now" in html
    assert "New failures <span class=\"muted\">(2)</span>" in html
    assert "Buy &lt;b&gt;stuff&lt;/b&gt;." in html
    assert "jane.doe@example.com" not in html  # masked inside the diff too
    assert "<ins>Buy" in html
    # without a baseline there is no diff section
    assert 'id="diff"' not in render_html(head)


def test_report_cli_with_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, head = _pairs()
    base.write(tmp_path / "base.json")
    head.write(tmp_path / "head.json")
    out = tmp_path / "out.html"
    assert main(["report", str(tmp_path / "head.json"), "--baseline",
                 str(tmp_path / "base.json"), "-o", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "Changes since the baseline" in html
    assert "base-run" in html
    assert main(["report", str(tmp_path / "head.json"), "--baseline",
                 str(tmp_path / "missing.json"), "-o", str(out)]) == 2


def test_diff_models_are_the_declared_ones() -> None:
    # a sanity check on the fixture: the pairs use models the log declares
    base, head = _pairs()
    assert {r.model for r in base.results + head.results} <= {m.name for m in MODELS}


def test_a_wholesale_change_lists_a_capped_number_and_masks_only_those() -> None:
    # every output differs (a run at temperature 0.7, say): 400 pairs changed
    base = _log("b", [_r(f"c{i}", "gpt-mini", output=f"old {i}") for i in range(400)])
    head = _log("h", [_r(f"c{i}", "gpt-mini", output=f"new {i}") for i in range(400)])
    seen: list[int] = []

    def mask(results: list[CaseResult]) -> list[CaseResult]:
        seen.append(len(results))
        return [r.model_copy(update={"output": (r.output or "").upper()}) for r in results]

    diff = diff_runs(base, head, mask=mask)
    assert diff.counts["changed"] == 400
    assert len(diff.of("changed")) == 300
    assert seen == [600]  # both sides of the 300 listed pairs, nothing else
    assert "<del>OLD</del>" in str(diff.of("changed")[0].text_diff)
    html = render_html(head, baseline=base)
    assert "… and 100 more." in html
