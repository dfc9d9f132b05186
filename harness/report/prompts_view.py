"""What the HTML report shows about prompt variants (``_prompts.html.j2``): each variant
with its note, patterns and fingerprint, its pass rate per model with the 95% interval,
tokens and latency, the tests between variants and the verdicts; and the columns of the
cases matrix (model · prompt) when a run has several variants.

Built from the RunLog only, like the rest of the report. Every string here is untrusted
(notes and names come from suites) and is escaped by the template's autoescaping.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.prompt_compare import compare_prompts, format_p
from harness.results import CaseResult, RunLog, counted, model_label


@dataclass(frozen=True)
class ColumnRate:
    passed: int
    total: int
    failed: int = 0
    errors: int = 0


@dataclass(frozen=True)
class Column:
    """A column of the cases matrix: one model with one prompt variant."""

    name: str  # "model · prompt"
    rate: ColumnRate


@dataclass(frozen=True)
class VariantRow:
    prompt: str
    note: str
    patterns: str
    fingerprint: str
    suites: str
    cells: list[str]  # per model: "80% (62–91%) · 5/6"
    tokens: list[str]  # per model: mean tokens per result


@dataclass(frozen=True)
class TestRow:
    model: str
    a: str
    b: str
    text: str
    significant: bool


@dataclass(frozen=True)
class PromptsView:
    models: list[str]
    variants: list[VariantRow]
    tests: list[TestRow]
    verdicts: list[str]
    columns: list[Column]  # empty: the matrix keeps one column per model


def column_name(result: CaseResult) -> str:
    """The matrix column of a result in a run with several prompt variants."""
    return model_label(result.model, result.prompt)


def several_prompts(log: RunLog) -> bool:
    return len({r.prompt for r in log.results if r.prompt is not None}) > 1


def build(log: RunLog) -> PromptsView | None:
    """The prompts section of ``log``'s report; None when the run has no prompt variants."""
    comparison = compare_prompts(log.results)
    if comparison is None:
        return None
    models = list(comparison.models)
    declared: dict[str, tuple[str, list[str], str]] = {}  # name -> note, patterns, print
    used_by: dict[str, list[str]] = {}
    for suite in log.suites:
        for p in suite.prompts:
            declared.setdefault(p.name, (p.note or "", p.patterns, p.fingerprint))
            used_by.setdefault(p.name, []).append(suite.name)
    variants = []
    for prompt in comparison.prompts:
        note, patterns, fingerprint = declared.get(prompt, ("", [], ""))
        cells, tokens = [], []
        for model in models:
            rate = comparison.rate(model, prompt)
            if rate is None or rate.rate is None:
                cells.append("—")
                tokens.append("—")
                continue
            ci = f" ({rate.ci95[0] * 100:.0f}–{rate.ci95[1] * 100:.0f}%)" if rate.ci95 else ""
            cells.append(f"{rate.rate * 100:.0f}%{ci} · {rate.passed}/{rate.judged}")
            tokens.append("—" if rate.tokens is None else f"{rate.tokens:.0f}")
        variants.append(VariantRow(
            prompt=prompt, note=note, patterns=", ".join(patterns), fingerprint=fingerprint,
            suites=", ".join(used_by.get(prompt, [])),
            cells=cells, tokens=tokens))
    tests = [TestRow(t.model, t.a, t.b,
                     f"Δ {t.difference * 100:+.0f} pts on {t.pairs} pairs ({t.only_a} vs "
                     f"{t.only_b} discordant), McNemar {format_p(t.p_adjusted)}",
                     t.significant)
             for t in comparison.tests if t.scope == "overall" and t.pairs]
    columns: list[Column] = []
    if several_prompts(log):
        counts: dict[str, list[int]] = {}
        for r in counted(log.results):  # shrink candidates are shown, not counted
            cell = counts.setdefault(column_name(r), [0, 0, 0, 0])
            cell[0] += r.status == "passed"
            cell[1] += 1
            cell[2] += r.status == "failed"
            cell[3] += r.status == "error"
        columns = [Column(name, ColumnRate(*cell)) for name, cell in counts.items()]
    return PromptsView(models, variants, tests, list(comparison.verdicts), columns)
