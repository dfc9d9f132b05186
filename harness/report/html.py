"""A self-contained, single-file HTML report rendered from a RunLog.

The page answers "which model does this task well, and what goes wrong": pass rates per
model (with 95% Wilson intervals) and per check, a case-by-model matrix that marks flaky
repeats, and drill-downs with the prompt, the output and each check's verdict. A run that
stopped early says so at the top, with the command that resumes it.

Pass rates, intervals, error counts and flaky verdicts come from
``harness.results.summarize`` over the log's results (never from the stored ``summary``,
which an older harness may have written), so the report agrees with every other reader of
the RunLog by construction; slices summarize() does not cut (suite, tag) use the same
``wilson_interval``.

Everything that came from a suite or a model (prompts, output, reasons, evidence, ids,
vars) is untrusted. Jinja2 autoescaping is on for the whole template, nothing is marked
safe, and a Content-Security-Policy with a fresh nonce per render means that even markup
that slipped through could not load anything or run a script.

Size and speed: 10,000 results must give a page under 10 MB that opens in seconds. Each
case is one collapsible (a <details> per result made such a page take ten seconds to open),
what the results of a case share (prompt, variables, context, parameters, check arguments)
is shown once, identical long outputs are shown once, and a long text shows its start with
the rest behind a toggle, up to a cap past which only the RunLog has it. In a large run,
passed results show their verdict and numbers but not their output, and cases in which
everything passed appear in the matrix only; ``full=True`` renders everything.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import statistics
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harness.formats import usd_short
from harness.report import prompts_view
from harness.report.bias_view import BiasView, bias_view
from harness.report.gc_pause import gc_paused
from harness.report.masking import one_cache
from harness.results import CaseResult, RunLog, is_shrunk, model_label, summarize
from harness.stats import p95, wilson_interval

if TYPE_CHECKING:
    import jinja2

    from harness.gate import Budgets
    from harness.report.diff import BaselineDiff

__all__ = ["render_html", "write_html"]

CellState = Literal["passed", "failed", "error", "mixed", "missing"]

_SYMBOL: dict[str, str] = {
    "passed": "✓",
    "failed": "✗",
    "error": "!",
    "mixed": "◐",
    "missing": "—",
}
_EVIDENCE_LIMIT = 2000  # characters of compact evidence JSON shown per check
_ARGS_LIMIT = 300
_REASON_LIMIT = 400  # in the failure lists; the drill-down always shows the whole reason
_LIST_LIMIT = 200  # rows per failure list before "and N more"
_TEXT_HEAD = 2000  # characters of a long text shown before its "show the rest" toggle
_TEXT_CAP = 50_000  # characters of one text put in the page at all; the RunLog has the rest
_STATUS_LABEL = {
    "finished": "finished",
    "interrupted": "interrupted",
    "max_cost": "stopped at its budget",
}
_SAME_OUTPUT_MIN = 200  # outputs at least this long are shown once per case when identical
# Past either limit a run is "large": its passed results show their verdict and numbers but
# not their output, and cases where everything passed are left out of the details; that
# keeps 10,000 results under 10 MB (full=True keeps everything).
_FULL_RESULTS = 2000
_FULL_OUTPUT_CHARS = 2_000_000


# -- formatting -----------------------------------------------------------------------------


def _pct(rate: float | None) -> str:
    if rate is None:
        return "—"
    text = f"{rate * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _interval(ci: tuple[float, float] | None) -> str:
    """``29–71%``; a tenth of a point when the interval is narrow enough to need it."""
    if ci is None:
        return ""
    low, high = ci
    digits = 0 if high - low >= 0.1 else 1
    return f"{low * 100:.{digits}f}–{high * 100:.{digits}f}%"


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1000:
        return f"{value:.0f} ms"
    return f"{value / 1000:.2f} s"





def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _timestamp(value: str | None) -> str:
    if not value:
        return "—"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value  # shown as written; it is escaped like everything else
    text = parsed.strftime("%Y-%m-%d %H:%M:%S")
    offset = parsed.strftime("%z")
    if offset in ("+0000", "-0000"):
        return text + " UTC"
    return f"{text} {offset}".rstrip()


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def _tokens(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _compact(value: Any, limit: int) -> str:
    if not value:
        return ""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if len(text) > limit:
        return f"{text[:limit]}… ({len(text) - limit:,} more characters)"
    return text


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2, default=str)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _hash_id(prefix: str, *parts: object) -> str:
    # stable across renders and runs: the same key always gets the same id
    key = json.dumps(parts, default=str)
    return prefix + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _anchor(result: CaseResult) -> str:
    variant = () if result.prompt is None else (result.prompt,)
    return _hash_id("r-", result.suite, result.case_id, result.model, result.repeat, *variant)


@dataclass(frozen=True)
class LongText:
    """A text cut for the page: ``head`` is shown, ``rest`` sits behind a toggle, and
    ``dropped`` characters past the cap are left to the RunLog."""

    head: str
    rest: str = ""
    dropped: int = 0
    marks: tuple[str, ...] = ()  # passages to highlight (e.g. unsupported numbers)

    @property
    def total(self) -> int:
        return len(self.head) + len(self.rest) + self.dropped

    @property
    def total_text(self) -> str:
        return f"{self.total:,}"


def _long(text: str, marks: tuple[str, ...] = ()) -> LongText:
    if len(text) <= _TEXT_HEAD:
        return LongText(text, marks=marks)
    kept = text[:_TEXT_CAP]
    return LongText(kept[:_TEXT_HEAD], kept[_TEXT_HEAD:], len(text) - len(kept), marks)


GROUNDING_CHECKS = ("grounded", "cites_sources")


def _unsupported(result: CaseResult) -> tuple[str, ...]:
    """The numbers, names and quotes a failed grounding check found nowhere in the
    sources, as written in the (already masked) output."""
    found: dict[str, None] = {}
    for check in result.checks:
        if check.check not in GROUNDING_CHECKS or check.passed:
            continue
        for claim in check.evidence.get("unsupported_claims") or []:
            for item in claim.get("unsupported") or [] if isinstance(claim, dict) else []:
                text = item.get("text") if isinstance(item, dict) else None
                if isinstance(text, str) and text.strip():
                    found[text] = None
    return tuple(found)


def highlight(text: str, marks: tuple[str, ...]) -> Any:
    """``text`` escaped, with every occurrence of ``marks`` wrapped in <mark>: the only
    markup the report adds to untrusted text, built from escaped pieces."""
    import re

    from markupsafe import Markup, escape

    if not marks:
        return escape(text)
    pattern = re.compile("|".join(re.escape(m) for m in sorted(marks, key=len, reverse=True)))
    out = Markup("")
    pos = 0
    for match in pattern.finditer(text):
        out += escape(text[pos:match.start()])
        out += Markup('<mark class="unsupported" title="not found in the sources">') \
            + escape(match.group(0)) + Markup("</mark>")
        pos = match.end()
    return out + escape(text[pos:])


# -- view model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """Counts of one slice of results; ``rate`` is passed / judged (errors excluded)."""

    passed: int = 0
    failed: int = 0
    errors: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors

    @property
    def judged(self) -> int:
        return self.passed + self.failed

    @property
    def rate(self) -> float | None:
        return self.passed / self.judged if self.judged else None

    @property
    def pct(self) -> str:
        return _pct(self.rate)

    @property
    def ci(self) -> tuple[float, float] | None:
        return wilson_interval(self.passed, self.judged) if self.judged else None

    @property
    def ci_text(self) -> str:
        return _interval(self.ci)

    @property
    def grade(self) -> str:
        rate = self.rate
        if rate is None:
            return "none"
        if rate >= 0.8:
            return "good"
        if rate >= 0.5:
            return "fair"
        return "poor"

    def width(self, part: str) -> str:
        """CSS width of one segment of a stacked bar, as a share of all results."""
        count = {"passed": self.passed, "failed": self.failed, "errors": self.errors}[part]
        share = 100 * count / self.total if self.total else 0.0
        return f"width: {share:.2f}%"

    def add(self, status: str) -> Rate:
        return Rate(
            self.passed + (status == "passed"),
            self.failed + (status == "failed"),
            self.errors + (status == "error"),
        )


@dataclass
class ModelStats:
    name: str
    model_id: str
    api_base: str | None
    rate: Rate = field(default_factory=Rate)
    ci: tuple[float, float] | None = None  # from summarize(): the interval everyone reports
    latencies: list[float] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_known: bool = False
    cached: int = 0
    best: bool = False
    best_overlaps: bool = False  # the leader's interval overlaps the runner-up's

    @property
    def ci_text(self) -> str:
        return _interval(self.ci)

    @property
    def whisker(self) -> str:
        """CSS placing the interval on the stacked bar.

        The bar spans all results, and the pass rate is measured over the judged ones
        (green + red), so the interval is scaled into that part: its point estimate lands
        exactly on the green/red boundary, errors or not.
        """
        if self.ci is None or not self.rate.total:
            return ""
        scale = 100 * self.rate.judged / self.rate.total
        low, high = self.ci
        return f"left: {low * scale:.2f}%; width: {(high - low) * scale:.2f}%"

    @property
    def mean_latency(self) -> str:
        return _ms(statistics.fmean(self.latencies) if self.latencies else None)

    @property
    def p95_latency(self) -> str:
        if not self.latencies:
            return "—"
        return _ms(p95(self.latencies))

    @property
    def total_cost(self) -> str:
        return usd_short(sum(self.costs) if self.costs else None)

    @property
    def cost_partial(self) -> bool:
        return bool(self.costs) and len(self.costs) < self.rate.total

    @property
    def tokens(self) -> str:
        if not self.tokens_known:
            return "—"
        return f"{self.prompt_tokens:,} / {self.completion_tokens:,}"


@dataclass(frozen=True)
class TableRow:
    """A row of a rows-by-models table; ``cells`` line up with the model columns."""

    label: str
    cells: list[Rate | None]
    note: str = ""


@dataclass(frozen=True)
class RepeatLink:
    href: str
    state: str
    symbol: str
    label: str


@dataclass(frozen=True)
class MatrixCell:
    state: CellState
    symbol: str
    text: str
    href: str
    title: str
    repeats: list[RepeatLink]
    flaky: bool = False


@dataclass(frozen=True)
class MatrixRow:
    suite: str
    case_id: str
    tags: list[str]
    source: str
    cells: list[MatrixCell]
    problem: bool
    disagree: bool
    flaky: bool


@dataclass(frozen=True)
class CheckView:
    label: str
    passed: bool
    score: str
    reason: str
    args: str  # empty when the case shows the check arguments once for all its results
    evidence: str


@dataclass(frozen=True)
class CaseInput:
    """What a case sends: shown once per case when all its results sent the same."""

    messages: list[tuple[str, LongText]]
    vars: str
    context: list[LongText]
    params: str
    checks: list[tuple[str, str]]  # (label, compact args) of each check, in order


@dataclass(frozen=True)
class Drill:
    anchor: str
    result: CaseResult
    symbol: str
    checks: list[CheckView]
    failed_checks: list[str]
    facts: list[str]
    compact: bool  # a passed result of a large run: verdict and numbers, no output
    output: LongText | None
    same_output_as: RepeatLink | None
    error_message: LongText | None
    own_input: CaseInput | None  # when this result's input differs from its case's


@dataclass(frozen=True)
class DrillGroup:
    """One case: a single collapsible holding every result of it (a <details> per result
    made a 10,000-result page take seconds to open)."""

    anchor: str
    suite: str
    case_id: str
    source: str
    tags: list[str]
    input: CaseInput | None
    items: list[Drill]

    @property
    def result_anchors(self) -> str:
        """The ids of the case's results, space-separated: where a link to one finds the
        case when its details are still packed."""
        return " ".join(d.anchor for d in self.items)

    @property
    def counts(self) -> list[tuple[str, str, int]]:
        """(status, symbol, count) of the case's results, for its one-line summary."""
        found = [d.result.status for d in self.items]
        return [
            (s, _SYMBOL[s], found.count(s)) for s in ("passed", "failed", "error") if s in found
        ]


@dataclass(frozen=True)
class FailureItem:
    model: str
    suite: str
    case_id: str
    repeat: int
    reason: str
    href: str


@dataclass(frozen=True)
class FailureGroup:
    check: str
    items: list[FailureItem]
    hidden: int


@dataclass(frozen=True)
class ErrorGroup:
    model: str
    kind: str
    count: int
    example: str
    links: list[RepeatLink]


@dataclass(frozen=True)
class ErrorLine:
    """One model's errors for the header: ``claude: 2 × RateLimitError, 1 × Timeout``."""

    model: str
    count: int
    kinds: list[tuple[str, int]]


@dataclass(frozen=True)
class FlakyItem:
    model: str
    suite: str
    case_id: str
    passed: int
    judged: int
    errors: int
    pct: str
    ci_text: str
    href: str
    repeats: list[RepeatLink]


@dataclass(frozen=True)
class SuiteView:
    name: str
    path: str
    description: str
    fingerprint: str
    cases: int


@dataclass(frozen=True)
class StatusView:
    """Why a run has fewer results than it planned, and how to finish it."""

    status: str
    why: str
    finished: int
    planned: int | None
    resume: str

    @property
    def not_run(self) -> int | None:
        return None if self.planned is None else max(0, self.planned - self.finished)


@dataclass
class ReportView:
    title: str
    nonce: str
    run_id: str
    harness_version: str
    created: str
    finished: str
    duration: str
    status: str
    status_label: str
    stopped: StatusView | None
    merged_from: list[str]
    selection: list[str]
    resumed: bool
    totals: Rate
    suites: list[SuiteView]
    models: list[ModelStats]
    settings: str
    checks: list[TableRow]
    by_suite: list[TableRow]
    by_tag: list[TableRow]
    matrix: list[MatrixRow]
    failures: list[FailureGroup]
    errors: list[ErrorGroup]
    error_kinds: list[str]
    error_table: list[tuple[str, list[int]]]
    error_lines: list[ErrorLine]
    flaky: list[FlakyItem]  # the first _LIST_LIMIT of them
    flaky_count: int
    drill: list[DrillGroup]
    compacted: int  # passed results shown without their output (a large run)
    omitted_cases: int  # cases of a large run left out of Details: every result passed
    repeats: int
    diff: BaselineDiff | None = None  # against a baseline run (``--baseline``)
    charts: ChartsView | None = None
    bias: BiasView | None = None  # BBQ scores and counterfactual gaps (report/bias_view.py)
    prompts: prompts_view.PromptsView | None = None  # prompt variants (prompts_view.py)
    comparison: ComparisonView | None = None  # two or more models
    lazy: bool = False  # details packed per case, unpacked when opened (a large run)
    matrix_data: dict[str, Any] = field(default_factory=dict)  # what the page's JS renders


_STATE_CODE = {"passed": "p", "failed": "f", "error": "e", "mixed": "m", "missing": "-"}


class _MatrixData:
    """The matrix as compact JSON for the page's script, which renders, filters, sorts and
    pages the rows itself: thousands of table rows in the HTML took Chromium seconds to
    lay out. Names are interned into lists and referred to by index.

    A row is ``[suite, case id, source, [tags], flags, [cells]]`` (flags: 1 a failure or
    error, 2 models disagree, 4 flaky); a cell is ``[state, text, href, title, repeats,
    flaky, [failed checks], [failure modes]]``, ``repeats`` one state letter per repeat.
    """

    def __init__(self, models: list[str]) -> None:
        self.models = models
        self.names: dict[str, dict[str, int]] = {k: {} for k in ("suites", "tags", "checks",
                                                                  "modes")}
        self.rows: list[list[Any]] = []

    def _i(self, kind: str, name: str) -> int:
        return self.names[kind].setdefault(name, len(self.names[kind]))

    def add(self, row: MatrixRow, results: list[list[CaseResult]]) -> None:
        cells = []
        for cell, rs in zip(row.cells, results, strict=True):
            failed = sorted({self._i("checks", _check_label(c.check, c.negate))
                             for r in rs for c in r.checks if not c.passed})
            modes = sorted({self._i("modes", _failure_label(r)) for r in rs
                            if r.status != "passed"})
            cells.append([_STATE_CODE[cell.state], cell.text, cell.href, cell.title,
                          "".join(_STATE_CODE[r.state] for r in cell.repeats),
                          int(cell.flaky), failed, modes])
        flags = row.problem | row.disagree << 1 | row.flaky << 2
        self.rows.append([self._i("suites", row.suite), row.case_id, row.source,
                          [self._i("tags", t) for t in row.tags], flags, cells])

    def dump(self) -> dict[str, Any]:
        return {"models": self.models, **{k: list(v) for k, v in self.names.items()},
                "rows": self.rows}


@dataclass(frozen=True)
class PairRow:
    """Model ``a`` against ``b`` in one slice: what compare.py's paired tests found."""

    where: str
    a: str
    b: str
    pairs: int
    difference: str  # a minus b, in points
    p: str
    p_adjusted: str
    significant: bool
    better: str  # the model that passes more, when the difference is significant


@dataclass(frozen=True)
class CostRow:
    model: str
    cost_median: str
    cost_p95: str
    cost_total: str
    priced: str
    latency_median: str
    latency_p95: str


@dataclass(frozen=True)
class ComparisonView:
    """``harness.compare.compare`` on this run, in the report's words."""

    verdicts: list[str]
    overall: list[PairRow]
    domains: list[PairRow]  # per suite and per tag, Holm-adjusted within each family
    costs: list[CostRow]
    notes: list[str]
    alpha: float


def _pair_rows(slices: Any, kind: str) -> list[PairRow]:
    from harness.compare import format_p

    rows = []
    for sl in slices:
        for t in sl.tests:
            if not t.pairs:
                continue
            better = (t.a if t.difference > 0 else t.b) if t.significant and t.difference else ""
            rows.append(PairRow(
                where="overall" if kind == "overall" else f"{kind} {sl.name}", a=t.a, b=t.b,
                pairs=t.pairs, difference=f"{t.difference * 100:+.1f} pts",
                p=format_p(t.p_value), p_adjusted=format_p(t.p_adjusted),
                significant=t.significant, better=better))
    return rows


def _comparison(log: RunLog) -> ComparisonView | None:
    """The significance section; None for a run of one model (nothing to compare)."""
    if len({r.model for r in log.results}) < 2:
        return None
    from harness.compare import compare

    # the report shows McNemar per suite and tag only: few resamples, no check slices
    c = compare([log], resamples=200, checks=False)
    return ComparisonView(
        verdicts=c.verdicts,
        overall=_pair_rows([c.overall], "overall"),
        domains=_pair_rows(c.suites, "suite") + _pair_rows(c.tags, "tag"),
        costs=[CostRow(
            model=k.model, cost_median=usd_short(k.cost_median), cost_p95=usd_short(k.cost_p95),
            cost_total=usd_short(k.cost_total), priced=f"{k.priced:,}/{k.results:,}",
            latency_median=_ms(k.latency_median), latency_p95=_ms(k.latency_p95),
        ) for k in c.costs],
        notes=list(c.notes),
        alpha=c.alpha,
    )


@dataclass(frozen=True)
class ChartsView:
    """The report's inline SVG charts (``harness.report.charts``), markup ready to embed."""

    rates: Any
    by_tag: Any | None
    failure_modes: Any | None
    cost_quality: Any | None
    mode_names: list[str]


def _failure_label(r: CaseResult) -> str:
    """What went wrong in a result that did not pass, as one short category."""
    from harness.compare import failure_mode

    if r.error is not None:
        return f"error: {r.error.kind}"
    mode = failure_mode(r)
    if mode:
        return mode
    failed = next((c for c in r.checks if not c.passed), None)
    return f"check: {_check_label(failed.check, failed.negate)}" if failed else "failed"


_MODES_SHOWN = 8  # failure modes with their own colour; the rest are "other"


def _charts(view: ReportView, modes: dict[str, dict[str, int]]) -> ChartsView:
    from harness.report import charts

    names = [m.name for m in view.models]
    columns = view.prompts.columns if view.prompts else []
    # with prompt variants, one bar per model · prompt: which prompt wins is the question
    rates = charts.pass_rates(
        [charts.Bar(c.name, c.rate.passed, c.rate.passed + c.rate.failed, c.rate.errors)
         for c in columns] if columns else
        [charts.Bar(m.name, m.rate.passed, m.rate.judged, m.rate.errors) for m in view.models])
    rows = [(f"tag {row.label}", row.cells) for row in view.by_tag] + \
        [(f"suite {row.label}", row.cells) for row in view.by_suite]
    by_tag = charts.grouped_rates(
        [(label, [charts.Bar(n, c.passed if c else 0, c.judged if c else 0)
                  for n, c in zip(names, cells, strict=True)]) for label, cells in rows],
        names) if rows else None
    totals: dict[str, int] = defaultdict(int)
    for counts in modes.values():
        for mode, n in counts.items():
            totals[mode] += n
    ranked = sorted(totals, key=lambda k: (-totals[k], k))
    keys = ranked[:_MODES_SHOWN] + (["other"] if len(ranked) > _MODES_SHOWN else [])
    stacked: list[tuple[str, dict[str, int]]] = []
    for name in names:
        row = dict(modes.get(name, {}))
        other = sum(v for k, v in row.items() if k not in keys)
        if other:
            row["other"] = other
        stacked.append((name, row))
    failure = charts.stacked_counts(stacked, keys) if ranked else None
    points = [charts.Point(m.name, sum(m.costs) / len(m.costs), m.rate.rate)
              for m in view.models if m.costs and m.rate.rate is not None]
    scatter = charts.cost_quality(points) if points else None
    return ChartsView(rates, by_tag, failure, scatter, keys)


def _check_label(name: str, negate: bool) -> str:
    return f"not {name}" if negate else name


def _rate(counts: dict[str, Any]) -> Rate:
    return Rate(
        int(counts.get("passed", 0)),
        int(counts.get("failed", 0)),
        int(counts.get("errors", counts.get("error", 0))),
    )


def _ci(value: Any) -> tuple[float, float] | None:
    if not value:
        return None
    low, high = value
    return (float(low), float(high))


def _cell(
    results: list[CaseResult],
    anchors: dict[int, str],
    model: str,
    repeats: int,
    flaky: bool,
) -> MatrixCell:
    if not results:
        return MatrixCell("missing", _SYMBOL["missing"], "not run", "", f"{model}: not run", [])
    ordered = sorted(results, key=lambda r: r.repeat)
    statuses = [r.status for r in ordered]
    passed = statuses.count("passed")
    state: CellState
    if passed == len(statuses):
        state = "passed"
    elif passed:
        state = "mixed"
    elif "failed" in statuses:
        state = "failed"
    else:
        state = "error"
    # point the cell at the most informative result: the first one that did not pass
    target = next((r for r in ordered if r.status != "passed"), ordered[0])
    if repeats == 1 and len(ordered) == 1:
        only = ordered[0]
        text = {"passed": "pass", "failed": "fail", "error": "error"}[only.status]
        title = f"{model}: {only.status}"
        if only.status == "failed":
            failed = [_check_label(c.check, c.negate) for c in only.checks if not c.passed]
            if failed:
                title += " — failed: " + ", ".join(failed)
        elif only.error is not None:
            title += f" — {only.error.kind}"
        return MatrixCell(state, _SYMBOL[state], text, "#" + anchors[id(target)], title, [])
    links = [
        RepeatLink(
            "#" + anchors[id(r)], r.status, _SYMBOL[r.status], f"repeat {r.repeat}: {r.status}"
        )
        for r in ordered
    ]
    title = f"{model}: {passed} of {len(ordered)} repeats passed"
    return MatrixCell(
        state,
        _SYMBOL[state],
        f"{passed}/{len(ordered)}",
        "#" + anchors[id(target)],
        title,
        links,
        flaky,
    )


def _check_defs(result: CaseResult) -> list[tuple[str, str]]:
    return [(_check_label(c.check, c.negate), _compact(c.args, _ARGS_LIMIT)) for c in result.checks]


def _input(result: CaseResult, checks: list[tuple[str, str]]) -> CaseInput:
    return CaseInput(
        messages=[(m.get("role", "?"), _long(m.get("content", ""))) for m in result.messages],
        vars=_vars(result.vars),
        context=[_long(doc) for doc in result.context],
        params=_compact(result.params, _EVIDENCE_LIMIT),
        checks=checks,
    )


def _vars(values: dict[str, Any]) -> str:
    if not values:
        return ""
    text = _compact(values, _EVIDENCE_LIMIT)
    return text if len(text) <= 100 else _pretty(values)


def _same_input(a: CaseResult, b: CaseResult) -> bool:
    return (a.messages, a.vars, a.context, a.params) == (b.messages, b.vars, b.context, b.params)


def _facts(result: CaseResult, show_params: bool) -> list[str]:
    # the model id is in the models table; "stop" is the finish reason worth no words
    facts = [_ms(result.latency_ms)]
    if result.prompt is not None:
        facts.insert(0, f"prompt {result.prompt}")
    if result.answer is not None:  # step_by_step: the checks judged only this
        facts.append("checked answer: " + _clip(result.answer, _REASON_LIMIT))
    if result.turns:
        facts.append(f"{len(result.turns) // 2 + 1} turns (self_check)")
    usage = result.usage
    if usage.prompt_tokens is not None or usage.completion_tokens is not None:
        facts.append(
            f"{_tokens(usage.prompt_tokens)} in / {_tokens(usage.completion_tokens)} out tokens"
        )
    if result.cost_usd is not None:
        facts.append(usd_short(result.cost_usd))
    facts.append(f"attempts: {result.attempts}")
    if result.cached:
        facts.append("answered from cache")
    if result.finish_reason and result.finish_reason != "stop":
        facts.append(f"finish reason: {result.finish_reason}")
    if show_params and result.params:
        facts.append("parameters " + _compact(result.params, _EVIDENCE_LIMIT))
    return facts


def _drill_group(
    ordered: list[CaseResult], anchors: dict[int, str], repeats: int, compact_passed: bool
) -> DrillGroup:
    """The drill-downs of one case, its results in model then repeat order."""
    first = ordered[0]
    shared = all(_same_input(first, r) for r in ordered[1:])
    defs = {tuple(_check_defs(r)) for r in ordered if r.checks}
    # check arguments are shown once, with the shared prompt, when every result has the same
    shared_checks = shared and len(defs) == 1
    case_anchor = _hash_id("c-", first.suite, first.case_id)
    case_input = None
    if shared:
        case_input = _input(first, list(next(iter(defs))) if shared_checks else [])
    outputs: dict[str, RepeatLink] = {}
    items: list[Drill] = []
    for r in ordered:
        anchor = anchors[id(r)]
        compact = compact_passed and r.status == "passed"
        # a compact (passed) result shows no check verdicts: skip building them
        checks = [] if compact else [
            CheckView(
                label=_check_label(c.check, c.negate),
                passed=c.passed,
                score=_score(c.score),
                reason=c.reason,
                args="" if shared_checks else _compact(c.args, _ARGS_LIMIT),
                evidence=_compact(c.evidence, _EVIDENCE_LIMIT),
            )
            for c in r.checks
        ]
        output: LongText | None = None
        same: RepeatLink | None = None
        if r.output and not compact:
            same = outputs.get(r.output) if len(r.output) >= _SAME_OUTPUT_MIN else None
            if same is None:
                output = _long(r.output, _unsupported(r))
                label = r.model + (f", repeat {r.repeat}" if repeats > 1 else "")
                outputs.setdefault(r.output, RepeatLink("#" + anchor, r.status, "", label))
        items.append(
            Drill(
                anchor=anchor,
                result=r,
                symbol=_SYMBOL[r.status],
                checks=checks,
                failed_checks=[c.label for c in checks if not c.passed],
                facts=_facts(r, show_params=not shared),
                compact=compact,
                output=output,
                same_output_as=same,
                error_message=_long(r.error.message) if r.error is not None else None,
                own_input=None if shared else _input(r, []),
            )
        )
    return DrillGroup(
        case_anchor, first.suite, first.case_id, first.source, first.tags, case_input, items
    )


def _rows(
    keys: list[str], counts: dict[tuple[str, str], Rate], models: list[str]
) -> list[TableRow]:
    return [TableRow(k, [counts.get((k, m)) for m in models]) for k in keys]


def _status(log: RunLog) -> StatusView | None:
    settings = log.settings
    status = settings.get("status")
    if not isinstance(status, str) or status == "finished":
        return None
    if status == "interrupted":
        why = "interrupted"
    elif status == "max_cost":
        budget = settings.get("max_cost")
        why = (
            f"stopped before exceeding the ${budget:g} budget"
            if isinstance(budget, int | float)
            else "stopped before exceeding its budget"
        )
    else:
        why = f"status: {status}"
    planned = settings.get("planned")
    return StatusView(
        status=status,
        why=why,
        finished=len(log.results),
        planned=planned if isinstance(planned, int) else None,
        resume=f"harness run --resume {log.run_id}",
    )


def _selection(settings: dict[str, Any]) -> list[str]:
    parts = []
    filters = settings.get("filters")
    if filters:
        items = filters if isinstance(filters, list) else [filters]
        parts.append("filter " + ", ".join(str(f) for f in items))
    if settings.get("limit") is not None:
        parts.append(f"limit {settings['limit']}")
    if settings.get("shard"):
        parts.append(f"shard {settings['shard']}")
    return parts


def _is_large(results: list[CaseResult]) -> bool:
    return (len(results) > _FULL_RESULTS
            or sum(len(r.output or "") for r in results) > _FULL_OUTPUT_CHARS)


def _unshown_dropped(log: RunLog) -> RunLog:
    """The log without the outputs a compact report never shows: those of passed results
    (only their verdict and numbers appear). Masking is the slow part of a large render;
    this spares it the text nobody will see. (The diff view reads the unpruned logs.)"""
    from harness.report.masking import replaced

    def unshown(r: CaseResult) -> CaseResult:
        # a compact result shows its verdict and numbers: not its output, nor its checks'
        # reasons and evidence (their names and verdicts stay: the tables count them)
        return replaced(r, {"output": None, "checks": [
            replaced(c, {"reason": "", "evidence": {}}) for c in r.checks]})

    return log.model_copy(update={"results": [
        unshown(r) if r.status == "passed" else r for r in log.results]})


def _mask_results(results: list[CaseResult]) -> list[CaseResult]:
    from harness.report.masking import mask_log

    if not results:
        return []
    carrier = RunLog(run_id="mask", harness_version="", created_at="", suites=[], models=[],
                     results=results)
    return mask_log(carrier).results


def _view(log: RunLog, title: str | None, full: bool,
          large: bool | None = None) -> ReportView:
    results = log.results
    # one source of truth: the same derivation every reader of a RunLog uses
    summary = summarize(results)

    # models: declared order first, then any that only appear in results
    stats: dict[str, ModelStats] = {
        m.name: ModelStats(m.name, m.id, m.api_base) for m in log.models
    }
    for r in results:
        if r.model not in stats:
            stats[r.model] = ModelStats(r.model, r.model_id, None)
    names = list(stats)
    for name, counts in summary["models"].items():
        stats[name].rate = _rate(counts)
        stats[name].ci = _ci(counts.get("pass_rate_ci95"))

    # several prompt variants: the matrix has a column per model · prompt
    prompts = prompts_view.build(log)
    columns = [c.name for c in prompts.columns] if prompts and prompts.columns else names

    def column(r: CaseResult) -> str:
        return prompts_view.column_name(r) if prompts and prompts.columns else r.model

    anchors: dict[int, str] = {}
    seen: dict[str, int] = defaultdict(int)
    for r in results:
        base = _anchor(r)
        seen[base] += 1
        # a malformed log may repeat a key; keep every anchor unique all the same
        anchors[id(r)] = base if seen[base] == 1 else f"{base}-{seen[base]}"

    check_names: dict[str, None] = {}  # first-seen order
    suite_counts: dict[tuple[str, str], Rate] = {}
    suite_names: dict[str, None] = {}
    tag_counts: dict[tuple[str, str], Rate] = {}
    tag_names: set[str] = set()
    cases: dict[tuple[str, str], dict[str, list[CaseResult]]] = {}
    failures: dict[str, list[FailureItem]] = defaultdict(list)
    error_groups: dict[tuple[str, str], list[CaseResult]] = defaultdict(list)
    modes: dict[str, dict[str, int]] = defaultdict(dict)

    for r in results:
        s = stats[r.model]
        if r.latency_ms is not None:
            s.latencies.append(r.latency_ms)
        if r.cost_usd is not None:
            s.costs.append(r.cost_usd)
        if r.usage.prompt_tokens is not None or r.usage.completion_tokens is not None:
            s.tokens_known = True
            s.prompt_tokens += r.usage.prompt_tokens or 0
            s.completion_tokens += r.usage.completion_tokens or 0
        s.cached += r.cached

        for c in r.checks:
            label = _check_label(c.check, c.negate)
            check_names.setdefault(label)
            if not c.passed and len(failures[label]) <= _LIST_LIMIT:
                failures[label].append(
                    FailureItem(
                        r.model,
                        r.suite,
                        r.label,
                        r.repeat,
                        _clip(c.reason, _REASON_LIMIT),
                        "#" + anchors[id(r)],
                    )
                )

        suite_names.setdefault(r.suite)
        shrunk = is_shrunk(r)  # a shrink candidate: shown, not counted
        if not shrunk:
            suite_counts[(r.suite, r.model)] = suite_counts.get(
                (r.suite, r.model), Rate()).add(r.status)
        for tag in r.tags:
            tag_names.add(tag)
            if not shrunk:
                tag_counts[(tag, r.model)] = tag_counts.get((tag, r.model), Rate()).add(
                    r.status)

        cases.setdefault((r.suite, r.case_id), {}).setdefault(column(r), []).append(r)
        if r.status != "passed" and not shrunk:
            label = _failure_label(r)
            modes[r.model][label] = modes[r.model].get(label, 0) + 1
        if r.error is not None:  # grouped as summarize() counts them
            error_groups[(r.model, r.error.kind)].append(r)

    rated = [s for s in stats.values() if s.rate.rate is not None]
    if len(rated) > 1:
        top = max(s.rate.rate or 0.0 for s in rated)
        leaders = [s for s in rated if s.rate.rate == top]
        if len(leaders) == 1:
            leader = leaders[0]
            leader.best = True
            runner_up = max((s for s in rated if s is not leader), key=lambda s: s.rate.rate or 0.0)
            if leader.ci is not None and runner_up.ci is not None:
                leader.best_overlaps = leader.ci[0] <= runner_up.ci[1]

    repeat_rows = {(row["suite"], row["case_id"],
                    model_label(row["model"], row.get("prompt") or None)
                    if columns is not names else row["model"]): row
                   for row in summary["repeats"]}
    flaky_keys = {key for key, row in repeat_rows.items() if row["flaky"]}

    planned_repeats = log.settings.get("repeat")
    repeats = max(
        (len(rs) for by_model in cases.values() for rs in by_model.values()),
        default=1,
    )
    if isinstance(planned_repeats, int):  # a run stopped before its second repeat
        repeats = max(repeats, planned_repeats)
    if large is None:
        large = _is_large(results)
    compact_passed = large and not full
    matrix: list[MatrixRow] = []
    data = _MatrixData(columns)
    drill: list[DrillGroup] = []
    omitted = 0
    flaky: list[FlakyItem] = []
    for (suite, case_id), by_model in cases.items():
        cells = [
            _cell(by_model.get(m, []), anchors, m, repeats, (suite, case_id, m) in flaky_keys)
            for m in columns
        ]
        states = {c.state for c in cells if c.state != "missing"}
        ordered = [r for m in columns
                   for r in sorted(by_model.get(m, []), key=lambda r: r.repeat)]
        if compact_passed and states == {"passed"}:
            # a large run lists only the cases with something to look into
            omitted += 1
            cells = [replace(c, href="") for c in cells]
        else:
            drill.append(_drill_group(ordered, anchors, repeats, compact_passed))
        matrix.append(
            MatrixRow(
                suite=suite,
                case_id=case_id,
                tags=ordered[0].tags,
                source=ordered[0].source,
                cells=cells,
                problem=bool(states - {"passed"}),
                disagree=len(states) > 1,
                flaky=any(c.flaky for c in cells),
            )
        )
        data.add(matrix[-1], [by_model.get(m, []) for m in columns])
        for m, cell in zip(columns, cells, strict=True):
            if cell.flaky:
                row = repeat_rows[(suite, case_id, m)]
                flaky.append(
                    FlakyItem(
                        model=m,
                        suite=suite,
                        case_id=case_id,
                        passed=row["passed"],
                        judged=row["judged"],
                        errors=row["repeats"] - row["judged"],
                        pct=_pct(row["pass_rate"]),
                        ci_text=_interval(_ci(row["ci95"])),
                        href=cell.href,
                        repeats=cell.repeats,
                    )
                )

    failure_groups = []
    for label, items in failures.items():
        count = sum(counts.get(label, {}).get("failed", 0) for counts in summary["checks"].values())
        failure_groups.append(FailureGroup(label, items[:_LIST_LIMIT], max(0, count - _LIST_LIMIT)))
    failure_groups.sort(key=lambda g: -(len(g.items) + g.hidden))

    errors: list[ErrorGroup] = []
    for (model, kind), rs in sorted(error_groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        example = next((r.error.message for r in rs if r.error is not None), "")
        links = [
            RepeatLink(
                "#" + anchors[id(r)],
                "error",
                _SYMBOL["error"],
                f"{r.suite} / {r.label}" + (f" #{r.repeat}" if r.repeat else ""),
            )
            for r in rs[:_LIST_LIMIT]
        ]
        errors.append(ErrorGroup(model, kind, len(rs), _clip(example, _REASON_LIMIT), links))
    error_counts: dict[str, dict[str, int]] = summary["error_kinds"]
    error_kinds = sorted({kind for kinds in error_counts.values() for kind in kinds})
    error_table = [
        (m, [error_counts[m].get(k, 0) for k in error_kinds]) for m in names if m in error_counts
    ]
    error_lines = [
        ErrorLine(
            m,
            sum(error_counts[m].values()),
            sorted(error_counts[m].items(), key=lambda kv: (-kv[1], kv[0])),
        )
        for m in names
        if m in error_counts
    ]

    merged = log.settings.get("merged_from")
    view = ReportView(
        title=title or f"harness report · {log.run_id}",
        # a fresh nonce per render: only the scripts this template wrote can run
        nonce=secrets.token_urlsafe(18),
        run_id=log.run_id,
        harness_version=log.harness_version,
        created=_timestamp(log.created_at),
        finished=_timestamp(log.finished_at),
        duration=_duration(log.duration_s),
        status=str(log.settings.get("status") or ""),
        status_label=_STATUS_LABEL.get(str(log.settings.get("status")), ""),
        stopped=_status(log),
        merged_from=[str(m) for m in merged] if isinstance(merged, list) else [],
        selection=_selection(log.settings),
        resumed=bool(log.settings.get("resumed")),
        totals=Rate(summary["passed"], summary["failed"], summary["errors"]),
        suites=[
            SuiteView(s.name, s.path, s.description or "", s.fingerprint, s.cases)
            for s in log.suites
        ],
        models=list(stats.values()),
        settings=_pretty(log.settings) if log.settings else "",
        checks=[
            TableRow(
                label,
                [
                    _rate(summary["checks"][m][label])
                    if label in summary["checks"].get(m, {})
                    else None
                    for m in names
                ],
            )
            for label in check_names
        ],
        by_suite=_rows(list(suite_names), suite_counts, names) if len(suite_names) > 1 else [],
        by_tag=_rows(sorted(tag_names), tag_counts, names),
        matrix=matrix,
        failures=failure_groups,
        errors=errors,
        error_kinds=error_kinds,
        error_table=error_table,
        error_lines=error_lines,
        flaky=flaky[:_LIST_LIMIT],
        flaky_count=len(flaky),
        drill=drill,
        compacted=summary["passed"] if compact_passed else 0,
        omitted_cases=omitted,
        repeats=repeats,
        bias=bias_view(log.results),
        prompts=prompts,
    )
    view.lazy = compact_passed
    view.matrix_data = data.dump()
    view.charts = _charts(view, modes)
    view.comparison = _comparison(log)
    return view


# -- rendering ------------------------------------------------------------------------------


def _gz64(markup: Any) -> str:
    """Rendered (already escaped) markup, gzipped and base64-encoded for a data- attribute:
    the page unpacks it with DecompressionStream when the reader opens the case."""
    import base64
    import gzip

    return base64.b64encode(gzip.compress(str(markup).encode("utf-8"), 6, mtime=0)).decode()


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"),
        # untrusted text everywhere: escape by default, and the template marks nothing safe
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = lambda n: f"{n:,}"
    env.filters["highlight"] = highlight
    env.filters["gz64"] = _gz64
    return env


@gc_paused
@one_cache
def render_html(log: RunLog, *, title: str | None = None, full: bool = False,
                show_pii: bool = False, baseline: RunLog | None = None,
                budgets: Budgets | None = None) -> str:
    """Render ``log`` as one self-contained HTML document (no network, output escaped).

    In a large run (over 2,000 results or 2 million characters of output) passed results
    show their verdict and numbers but not their output; ``full=True`` includes it all.
    Personal data in what the report shows is masked (``harness.report.masking``) unless
    ``show_pii``. With a ``baseline`` RunLog the report adds a diff view (new failures,
    fixed cases, changed outputs as text diffs) and the gate's verdict under ``budgets``.
    """
    raw = log
    large = _is_large(log.results)
    if large and not full:
        log = _unshown_dropped(log)
    if not show_pii:
        from harness.report.masking import mask_log

        log = mask_log(log)
    view = _view(log, title, full, large)
    if baseline is not None:
        from harness.report.diff import diff_runs

        anchors = {d.result.key: d.anchor for g in view.drill for d in g.items}
        # the diff reads both runs whole and masks only the entries it lists
        view.diff = diff_runs(baseline, raw, budgets=budgets, anchors=anchors,
                              mask=None if show_pii else _mask_results)
    template = _environment().get_template("report.html.j2")
    return template.render(v=view)


def write_html(
    log: RunLog, path: str | os.PathLike[str], *, title: str | None = None, full: bool = False,
    show_pii: bool = False, baseline: RunLog | None = None, budgets: Budgets | None = None,
) -> Path:
    """Write the HTML report to ``path`` atomically and return the path written."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(render_html(log, title=title, full=full, show_pii=show_pii,
                               baseline=baseline, budgets=budgets), encoding="utf-8")
    tmp.replace(target)
    return target
