"""A compact Markdown summary of a RunLog, for a pull-request comment or
``$GITHUB_STEP_SUMMARY``: pass rate per model with its 95% interval, the verdicts of a
comparison, the first failures and the errors by kind.

GitHub renders comments as Markdown with some HTML, so text that came from a suite or a
model (ids, tags, reasons, error messages) is neutralised before it goes in: HTML is
entity-escaped, Markdown punctuation that could build a link, an image (which GitHub would
fetch), emphasis or a table cell is backslash-escaped, newlines are folded, and ``@`` and
``#`` get a zero-width space so an output cannot mention people or link issues. Personal
data is masked as in the HTML report unless ``show_pii``. The text stays far below
GitHub's 65,536-character limit for a comment: cells are clipped and lists are capped.
"""

from __future__ import annotations

import re
import statistics
from typing import TYPE_CHECKING

from harness.formats import percent_range, usd
from harness.results import CaseResult, RunLog, counted, summarize

if TYPE_CHECKING:
    from harness.compare import Comparison, PairTest, Slice

__all__ = ["md_text", "render_comparison_markdown", "render_markdown"]

TOP_FAILURES = 20
_REASON_LIMIT = 160
_MESSAGE_LIMIT = 120
_ESCAPE = re.compile(r"[\\`*_\[\]!|~<>&]")
_ENTITY = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def md_text(text: object, limit: int | None = None) -> str:
    """``text`` made safe for a Markdown table cell or list item (see the module doc)."""
    flat = " ".join(str(text).split())
    if limit is not None and len(flat) > limit:
        flat = flat[:limit].rstrip() + "…"
    escaped = _ESCAPE.sub(lambda m: _ENTITY.get(m.group(), "\\" + m.group()), flat)
    # a zero-width space after @ and # breaks mentions and issue links
    return escaped.replace("@", "@\u200b").replace("#", "#\u200b")


def _code(text: str) -> str:
    """An inline code span: it shows its content literally, so only a backtick (which
    would end it) and a newline need replacing."""
    return "`" + " ".join(text.replace("`", "'").split())[:200] + "`"


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def _ms(values: list[float]) -> str:
    if not values:
        return "—"
    median = statistics.median(values)
    return f"{median:.0f} ms" if median < 1000 else f"{median / 1000:.2f} s"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _failure_reason(r: CaseResult) -> tuple[str, str]:
    failed = [c for c in r.checks if not c.passed]
    if not failed:
        return ("—", "failed")
    first = failed[0]
    label = f"not {first.check}" if first.negate else first.check
    more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
    return (label + more, first.reason)


def _short_error(message: str) -> str:
    # LiteLLM puts a chain of exception names before the server's own words
    rest = re.sub(r"^(?:(?:litellm\.)?\w*(?:Error|Exception)(?::| -) )+", "",
                  " ".join(message.split()))
    return rest or message


def render_markdown(log: RunLog, comparison: Comparison | None = None, *,
                    show_pii: bool = False, top: int = TOP_FAILURES) -> str:
    """The summary as Markdown. ``comparison`` (``harness.compare.compare([log])``) adds
    its verdicts; without one, none are computed here."""
    results = counted(log.results)  # shrink candidates are diagnostics (HTML, RunLog)
    summary = summarize(results)
    failures = [r for r in results if r.status == "failed"]
    by_kind: dict[tuple[str, str], list[CaseResult]] = {}
    for r in results:
        if r.error is not None:
            by_kind.setdefault((r.model, r.error.kind), []).append(r)
    errors = sorted(by_kind.items(), key=lambda g: -len(g[1]))
    shown = failures[:top]
    # mask only what is shown: the detector is not cheap, and a summary shows little
    examples = [group[0] for _, group in errors]
    if not show_pii and (shown or examples):
        from harness.report.masking import mask_log

        masked = mask_log(log.model_copy(update={"results": shown + examples})).results
        shown, examples = masked[:len(shown)], masked[len(shown):]

    suites = ", ".join(s.name for s in log.suites) or "no suite"
    out = [f"### harness: {md_text(suites, 120)}", ""]
    judged = summary["passed"] + summary["failed"]
    out.append(f"**{summary['passed']:,} of {judged:,} passed** · "
               f"{_plural(summary['failed'], 'failure')} · {_plural(summary['errors'], 'error')}"
               f" · {_plural(len(results), 'result')} · run {_code(log.run_id)}")
    status = log.settings.get("status")
    if status in ("interrupted", "max_cost"):
        why = "was interrupted" if status == "interrupted" else "stopped at its budget"
        out += ["", f"> **Incomplete:** the run {why}; "
                f"resume with {_code('harness run --resume ' + log.run_id)}."]
    out += ["", "| model | pass rate | 95% CI | passed | failed | errors | median latency | cost |",
            "| --- | --: | --: | --: | --: | --: | --: | --: |"]
    for model, row in summary["models"].items():
        mine = [r for r in results if r.model == model]
        costs = [r.cost_usd for r in mine if r.cost_usd is not None]
        latencies = [r.latency_ms for r in mine if r.latency_ms is not None]
        out.append(
            f"| {md_text(model, 60)} | {_pct(row['pass_rate'])} "
            f"| {percent_range(row['pass_rate_ci95'])}"
            f" | {row['passed']:,} | {row['failed']:,} | {row['errors']:,} | {_ms(latencies)}"
            f" | {usd(sum(costs)) if costs else '—'} |")
    if summary.get("prompts"):  # prompt variants: pass rate per prompt × model
        out += ["", "| prompt | model | pass rate | 95% CI | passed | failed | errors |",
                "| --- | --- | --: | --: | --: | --: | --: |"]
        for prompt, by_model in summary["prompts"].items():
            for model, row in by_model.items():
                out.append(f"| {md_text(prompt, 40)} | {md_text(model, 60)} "
                           f"| {_pct(row['pass_rate'])} | {percent_range(row['pass_rate_ci95'])}"
                           f" | {row['passed']:,} | {row['failed']:,} | {row['errors']:,} |")
    flaky = [row for row in summary["repeats"] if row["flaky"]]
    if flaky:
        out += ["", f"{_plural(len(flaky), 'case')} flaky: the outcome varies between repeats."]

    if comparison is not None:
        out += ["", "#### Verdicts", ""]
        out += [f"- {md_text(v)}" for v in comparison.verdicts]
        out += ["", f"<sub>Exact McNemar test on the cases both models judged, "
                f"Holm-adjusted; significant when p &lt; {comparison.alpha:g}.</sub>"]

    if failures:
        title = f"Failures ({len(shown)} of {len(failures):,})" if len(failures) > len(shown) \
            else f"Failures ({len(failures):,})"
        out += ["", f"#### {title}", "", "| case | model | check | reason |",
                "| --- | --- | --- | --- |"]
        for r in shown:
            check, reason = _failure_reason(r)
            if r.failure_mode:
                check = f"{check} ({r.failure_mode})"
            case = f"{r.suite}/{r.label}" + (f" (repeat {r.repeat})" if r.repeat else "")
            out.append(f"| {md_text(case, 80)} | {md_text(r.model, 40)} | {md_text(check, 40)}"
                       f" | {md_text(reason, _REASON_LIMIT)} |")
        if len(failures) > len(shown):
            out.append(f"\n… and {len(failures) - len(shown):,} more in the HTML report.")

    modes = summary.get("failure_modes") or {}
    if modes:
        out += ["", "#### Failure modes", "", "| model | modes |", "| --- | --- |"]
        for model, per in modes.items():
            listed = ", ".join(f"{mode} {n:,}" for mode, n in per.items())
            out.append(f"| {md_text(model, 60)} | {md_text(listed, 300)} |")

    if errors:
        out += ["", "#### Errors by kind", "", "| model | kind | count | first message |",
                "| --- | --- | --: | --- |"]
        for ((model, kind), group), example in zip(errors, examples, strict=True):
            message = _short_error(example.error.message) if example.error else ""
            out.append(f"| {md_text(model, 40)} | {md_text(kind, 40)} | {len(group):,} | "
                       f"{md_text(message, _MESSAGE_LIMIT)} |")

    if not show_pii:
        out += ["", "<sub>Personal data in this summary is masked.</sub>"]
    return "\n".join(out) + "\n"


# -- a whole comparison ---------------------------------------------------------------------


def _cell(test: PairTest | None, a: str) -> str:
    from harness.compare import format_p

    if test is None or not test.pairs:
        return "—"
    diff = test.difference if test.a == a else -test.difference
    mark = " **\\***" if test.significant else ""
    return f"{diff * 100:+.0f} pts, {format_p(test.p_adjusted).replace('<', '&lt;')}{mark}"


def _slice_rows(models: tuple[str, ...], slices: tuple[Slice, ...]) -> list[str]:
    pairs = [(a, b) for i, a in enumerate(models) for b in models[i + 1:]]
    header = ["", *(md_text(m, 40) for m in models),
              *(f"{md_text(a, 24)} − {md_text(b, 24)}" for a, b in pairs)]
    rows = ["| " + " | ".join(header) + " |", "| --- |" + " --: |" * (len(header) - 1)]
    for s in slices:
        cells = [md_text(s.name, 60)]
        for m in models:
            rate = s.rate(m)
            cells.append("—" if rate is None or rate.rate is None
                         else f"{_pct(rate.rate)} ({percent_range(rate.ci95)})")
        cells += [_cell(s.test(a, b), a) for a, b in pairs]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def render_comparison_markdown(c: Comparison) -> str:
    """A comparison (``harness compare --markdown``) as Markdown tables and verdicts."""
    from harness.compare import format_p

    out = [f"### harness compare: {md_text(', '.join(c.models), 300)}", "",
           "#### Verdicts", ""]
    out += [f"- {md_text(v)}" for v in c.verdicts]
    out += ["", "| model | pass rate | 95% CI | passed | judged | errors | median cost | "
            "median latency | p95 latency |", "| --- |" + " --: |" * 8]
    costs = {k.model: k for k in c.costs}
    for m in c.overall.models:
        k = costs[m.model]
        out.append(f"| {md_text(m.model, 60)} | {_pct(m.rate)} | {percent_range(m.ci95)} "
                   f"| {m.passed:,} "
                   f"| {m.judged:,} | {m.errors:,} | {usd(k.cost_median)} | "
                   f"{_ms([k.latency_median] if k.latency_median is not None else [])} | "
                   f"{_ms([k.latency_p95] if k.latency_p95 is not None else [])} |")
    if c.overall.tests:
        out.append("")
    for t in c.overall.tests:
        line = (f"- {md_text(t.a)} vs {md_text(t.b)}: {t.difference * 100:+.0f} points on "
                f"{t.pairs:,} pairs ({t.only_a} vs {t.only_b} discordant), McNemar "
                f"{format_p(t.p_adjusted).replace('<', '&lt;')}")
        if t.score_difference is not None and t.score_ci95 is not None:
            line += (f"; score {t.score_difference:+.2f} [{t.score_ci95[0]:+.2f}, "
                     f"{t.score_ci95[1]:+.2f}]")
            if t.score_p_adjusted is not None:
                line += f", bootstrap {format_p(t.score_p_adjusted).replace('<', '&lt;')}"
        out.append(line)
    for title, slices in (("By tag", c.tags), ("By suite", c.suites), ("By check", c.checks)):
        if slices:
            out += ["", f"#### {title}", "", *_slice_rows(c.models, slices)]
    out += ["", "#### Failure modes", "", "| model | failed | errors | failed checks | "
            "failure modes | error kinds |", "| --- | --: | --: | --- | --- | --- |"]
    for f in c.failures:
        def top(counts: dict[str, int]) -> str:
            return md_text(", ".join(f"{k} {v}" for k, v in list(counts.items())[:5]) or "—",
                           200)
        out.append(f"| {md_text(f.model, 60)} | {f.failed:,} | {f.errors:,} | "
                   f"{top(f.failed_checks)} | {top(f.failure_modes)} | {top(f.error_kinds)} |")
    if c.notes:
        out += [""] + [f"> {md_text(n)}" for n in c.notes]
    out += ["", f"<sub>Δ: pass-rate points, first minus second, on the cases both judged. "
            f"p: exact McNemar, Holm-adjusted within each table; **\\*** p &lt; {c.alpha:g}. "
            f"Scores: paired bootstrap, {c.resamples:,} resamples, seed {c.seed}.</sub>"]
    return "\n".join(out) + "\n"
