"""A self-contained, single-file HTML report rendered from a RunLog.

The page answers "which model does this task well, and what goes wrong": pass rates per
model and per check, a case-by-model matrix, and a drill-down for every result with the
prompt, the output and each check's verdict.

Everything that came from a suite or a model (prompts, output, reasons, evidence, ids,
vars) is untrusted. Jinja2 autoescaping is on for the whole template, nothing is marked
safe, and a Content-Security-Policy with a fresh nonce per render means that even markup
that slipped through could not load anything or run a script.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harness.results import CaseResult, RunLog

if TYPE_CHECKING:
    import jinja2

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


# -- formatting -----------------------------------------------------------------------------


def _pct(rate: float | None) -> str:
    if rate is None:
        return "—"
    text = f"{rate * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1000:
        return f"{value:.0f} ms"
    return f"{value / 1000:.2f} s"


def _usd(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "$0"
    if value >= 1:
        return f"${value:,.2f}"
    if value >= 0.01:
        return f"${value:.3f}"
    return "$" + f"{value:.6f}".rstrip("0").rstrip(".")


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


def _anchor(result: CaseResult) -> str:
    # stable across renders and runs: the same case x model x repeat gets the same id
    key = json.dumps([result.suite, result.case_id, result.model, result.repeat])
    return "r-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


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
    latencies: list[float] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_known: bool = False
    cached: int = 0
    best: bool = False

    @property
    def mean_latency(self) -> str:
        return _ms(statistics.fmean(self.latencies) if self.latencies else None)

    @property
    def p95_latency(self) -> str:
        if not self.latencies:
            return "—"
        ordered = sorted(self.latencies)
        return _ms(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))])

    @property
    def total_cost(self) -> str:
        return _usd(sum(self.costs) if self.costs else None)

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


@dataclass(frozen=True)
class MatrixRow:
    suite: str
    case_id: str
    tags: list[str]
    source: str
    cells: list[MatrixCell]
    problem: bool
    disagree: bool


@dataclass(frozen=True)
class CheckView:
    label: str
    passed: bool
    score: str
    reason: str
    args: str
    evidence: str


@dataclass(frozen=True)
class Drill:
    anchor: str
    result: CaseResult
    symbol: str
    checks: list[CheckView]
    failed_checks: list[str]
    vars: str
    params: str
    latency: str
    cost: str
    prompt_tokens: str
    completion_tokens: str


@dataclass(frozen=True)
class DrillGroup:
    suite: str
    case_id: str
    source: str
    tags: list[str]
    items: list[Drill]


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
class SuiteView:
    name: str
    path: str
    description: str
    fingerprint: str
    cases: int


@dataclass
class ReportView:
    title: str
    nonce: str
    run_id: str
    harness_version: str
    created: str
    finished: str
    duration: str
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
    drill: list[DrillGroup]
    repeats: int


def _check_label(name: str, negate: bool) -> str:
    return f"not {name}" if negate else name


def _cell(
    results: list[CaseResult], anchors: dict[int, str], where: str, repeats: int
) -> MatrixCell:
    if not results:
        return MatrixCell("missing", _SYMBOL["missing"], "not run", "", "not run", [])
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
    links = [
        RepeatLink(
            "#" + anchors[id(r)], r.status, _SYMBOL[r.status], f"repeat {r.repeat}: {r.status}"
        )
        for r in ordered
    ]
    if repeats == 1 and len(ordered) == 1:
        only = ordered[0]
        text = {"passed": "pass", "failed": "fail", "error": "error"}[only.status]
        title = f"{only.status}: {where}"
        if only.status == "failed":
            failed = [_check_label(c.check, c.negate) for c in only.checks if not c.passed]
            if failed:
                title += " — failed: " + ", ".join(failed)
        elif only.error is not None:
            title += f" — {only.error.kind}"
        return MatrixCell(state, _SYMBOL[state], text, "#" + anchors[id(target)], title, [])
    text = f"{passed}/{len(ordered)}"
    title = f"{passed} of {len(ordered)} repeats passed: {where}"
    return MatrixCell(state, _SYMBOL[state], text, "#" + anchors[id(target)], title, links)


def _drill(result: CaseResult, anchor: str) -> Drill:
    checks = [
        CheckView(
            label=_check_label(c.check, c.negate),
            passed=c.passed,
            score=_score(c.score),
            reason=c.reason,
            args=_compact(c.args, _ARGS_LIMIT),
            evidence=_compact(c.evidence, _EVIDENCE_LIMIT),
        )
        for c in result.checks
    ]
    return Drill(
        anchor=anchor,
        result=result,
        symbol=_SYMBOL[result.status],
        checks=checks,
        failed_checks=[c.label for c in checks if not c.passed],
        vars=_pretty(result.vars) if result.vars else "",
        params=_compact(result.params, _EVIDENCE_LIMIT),
        latency=_ms(result.latency_ms),
        cost=_usd(result.cost_usd),
        prompt_tokens=_tokens(result.usage.prompt_tokens),
        completion_tokens=_tokens(result.usage.completion_tokens),
    )


def _rows(
    keys: list[str], counts: dict[tuple[str, str], Rate], models: list[str]
) -> list[TableRow]:
    return [TableRow(k, [counts.get((k, m)) for m in models]) for k in keys]


def _view(log: RunLog, title: str | None) -> ReportView:
    results = log.results

    # models: declared order first, then any that only appear in results
    stats: dict[str, ModelStats] = {
        m.name: ModelStats(m.name, m.id, m.api_base) for m in log.models
    }
    for r in results:
        if r.model not in stats:
            stats[r.model] = ModelStats(r.model, r.model_id, None)
    names = list(stats)

    anchors: dict[int, str] = {}
    seen: Counter[str] = Counter()
    for r in results:
        base = _anchor(r)
        seen[base] += 1
        # a malformed log may repeat a key; keep every anchor unique all the same
        anchors[id(r)] = base if seen[base] == 1 else f"{base}-{seen[base]}"

    totals = Rate()
    check_counts: dict[tuple[str, str], Rate] = {}
    check_names: list[str] = []
    suite_counts: dict[tuple[str, str], Rate] = {}
    suite_names: list[str] = []
    tag_counts: dict[tuple[str, str], Rate] = {}
    tag_names: set[str] = set()
    cases: dict[tuple[str, str], dict[str, list[CaseResult]]] = {}
    case_meta: dict[tuple[str, str], CaseResult] = {}
    failures: dict[str, list[FailureItem]] = defaultdict(list)
    error_groups: dict[tuple[str, str], list[CaseResult]] = defaultdict(list)

    for r in results:
        totals = totals.add(r.status)
        s = stats[r.model]
        s.rate = s.rate.add(r.status)
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
            if label not in check_names:
                check_names.append(label)
            key = (label, r.model)
            check_counts[key] = check_counts.get(key, Rate()).add(
                "passed" if c.passed else "failed"
            )
            if not c.passed:
                failures[label].append(
                    FailureItem(
                        r.model,
                        r.suite,
                        r.case_id,
                        r.repeat,
                        _clip(c.reason, _REASON_LIMIT),
                        "#" + anchors[id(r)],
                    )
                )

        if r.suite not in suite_names:
            suite_names.append(r.suite)
        suite_counts[(r.suite, r.model)] = suite_counts.get((r.suite, r.model), Rate()).add(
            r.status
        )
        for tag in r.tags:
            tag_names.add(tag)
            tag_counts[(tag, r.model)] = tag_counts.get((tag, r.model), Rate()).add(r.status)

        case_key = (r.suite, r.case_id)
        case_meta.setdefault(case_key, r)
        cases.setdefault(case_key, {}).setdefault(r.model, []).append(r)

        if r.status == "error":
            kind = r.error.kind if r.error is not None else "unknown"
            error_groups[(r.model, kind)].append(r)

    rated = [s for s in stats.values() if s.rate.rate is not None]
    if len(rated) > 1:
        top = max(s.rate.rate or 0.0 for s in rated)
        leaders = [s for s in rated if s.rate.rate == top]
        if len(leaders) == 1:
            leaders[0].best = True

    repeats = max((len(rs) for by_model in cases.values() for rs in by_model.values()), default=1)
    matrix: list[MatrixRow] = []
    drill: list[DrillGroup] = []
    for case_key, by_model in cases.items():
        meta = case_meta[case_key]
        where = f"{meta.suite} / {meta.case_id}"
        cells = [_cell(by_model.get(m, []), anchors, f"{where} · {m}", repeats) for m in names]
        states = {c.state for c in cells if c.state != "missing"}
        matrix.append(
            MatrixRow(
                suite=meta.suite,
                case_id=meta.case_id,
                tags=meta.tags,
                source=meta.source,
                cells=cells,
                problem=bool(states - {"passed"}),
                disagree=len(states) > 1,
            )
        )
        items = [
            _drill(r, anchors[id(r)])
            for m in names
            for r in sorted(by_model.get(m, []), key=lambda r: r.repeat)
        ]
        drill.append(DrillGroup(meta.suite, meta.case_id, meta.source, meta.tags, items))

    failure_groups = [
        FailureGroup(label, items[:_LIST_LIMIT], max(0, len(items) - _LIST_LIMIT))
        for label, items in sorted(failures.items(), key=lambda kv: -len(kv[1]))
    ]

    errors: list[ErrorGroup] = []
    for (model, kind), rs in sorted(error_groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        example = next((r.error.message for r in rs if r.error is not None), "")
        links = [
            RepeatLink(
                "#" + anchors[id(r)],
                "error",
                _SYMBOL["error"],
                f"{r.suite} / {r.case_id}" + (f" #{r.repeat}" if r.repeat else ""),
            )
            for r in rs[:_LIST_LIMIT]
        ]
        errors.append(ErrorGroup(model, kind, len(rs), _clip(example, _REASON_LIMIT), links))
    error_kinds = sorted({kind for _, kind in error_groups})
    error_table = [
        (m, [len(error_groups.get((m, k), [])) for k in error_kinds])
        for m in names
        if any((m, k) in error_groups for k in error_kinds)
    ]

    return ReportView(
        title=title or f"harness report · {log.run_id}",
        # a fresh nonce per render: only the scripts this template wrote can run
        nonce=secrets.token_urlsafe(18),
        run_id=log.run_id,
        harness_version=log.harness_version,
        created=_timestamp(log.created_at),
        finished=_timestamp(log.finished_at),
        duration=_duration(log.duration_s),
        totals=totals,
        suites=[
            SuiteView(s.name, s.path, s.description or "", s.fingerprint, s.cases)
            for s in log.suites
        ],
        models=list(stats.values()),
        settings=_pretty(log.settings) if log.settings else "",
        checks=_rows(check_names, check_counts, names),
        by_suite=_rows(suite_names, suite_counts, names) if len(suite_names) > 1 else [],
        by_tag=_rows(sorted(tag_names), tag_counts, names),
        matrix=matrix,
        failures=failure_groups,
        errors=errors,
        error_kinds=error_kinds,
        error_table=error_table,
        drill=drill,
        repeats=repeats,
    )


# -- rendering ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"),
        # untrusted text everywhere: escape by default, and the template marks nothing safe
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(log: RunLog, *, title: str | None = None) -> str:
    """Render ``log`` as one self-contained HTML document (no network, output escaped)."""
    template = _environment().get_template("report.html.j2")
    return template.render(v=_view(log, title))


def write_html(log: RunLog, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Write the HTML report to ``path`` atomically and return the path written."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(render_html(log, title=title), encoding="utf-8")
    tmp.replace(target)
    return target
