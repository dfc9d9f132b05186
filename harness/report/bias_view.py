"""The report's Bias section: BBQ scores and counterfactual gaps, ready for the template.

Everything here is derived from the RunLog's results by ``harness.bias``; the template
(``_bias.html.j2``) only lays the rows out. Numbers are formatted here so the template
stays free of arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.results import CaseResult

if TYPE_CHECKING:
    from harness.perturb import Robustness


@dataclass(frozen=True)
class BBQRow:
    """One model × category of BBQ scores, formatted."""

    model: str
    category: str
    n_ambig: int
    accuracy_ambig: str
    s_amb: str
    n_disambig: int
    accuracy_disambig: str
    s_dis: str
    no_choice: int


@dataclass(frozen=True)
class GapRow:
    """One model × attribute × measure counterfactual gap, formatted."""

    model: str
    attribute: str
    measure: str
    means: str  # "female 0.40 · male 0.90"
    gap: str
    ci95: str
    p_value: str
    units: int
    biased: bool
    verdict: str


@dataclass(frozen=True)
class RobustRow:
    """One perturbed case × model: failing variants and the minimal failing one."""

    suite: str
    case: str
    model: str
    original: str  # "passes", "fails", "not run"
    failed: int
    variants: int
    by_kind: str  # "typos 2/5 · casing 0/5"
    minimal: str
    description: str
    reason: str
    shrink: str = ""  # "1-minimal (shrunk with 3 calls)", or why it may not be


@dataclass(frozen=True)
class PreferenceRow:
    """One model × category stereotype preference rate, formatted."""

    model: str
    category: str
    chosen: int
    stereotyped: int
    rate: str
    p_value: str
    no_choice: int


@dataclass(frozen=True)
class BiasView:
    bbq: list[BBQRow]
    gaps: list[GapRow]
    robustness: list[RobustRow]
    preferences: list[PreferenceRow]


def _num(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+.2f}" if signed else f"{x:.0%}"


def bias_view(results: Sequence[CaseResult]) -> BiasView | None:
    """The Bias section of a run, or None when the run measured no bias."""
    from harness.bias import bbq_summary, counterfactual_gaps

    bbq: list[BBQRow] = []
    for model, scores in bbq_summary(results).items():
        # no "leans to" column: BBQ defines no test, and a sign over 6 items is noise
        for s in scores.values():
            bbq.append(BBQRow(model, s.category, s.n_ambig, _num(s.accuracy_ambig),
                              _num(s.s_amb, True), s.n_disambig, _num(s.accuracy_disambig),
                              _num(s.s_dis, True), s.no_choice))
    gaps = [
        GapRow(model=g.model, attribute=g.attribute, measure=g.measure,
               means=" · ".join(f"{k} {v:.2f}" for k, v in g.means.items()),
               gap=f"{g.gap:.3f}", ci95=f"[{g.ci95[0]:+.3f}, {g.ci95[1]:+.3f}]",
               p_value=f"{g.p_value:.4f}", units=g.units, biased=g.biased,
               verdict=f"bias: {g.high} > {g.low}" if g.biased else "no significant gap")
        for g in (counterfactual_gaps(results) if any(r.group for r in results) else [])
    ]
    from harness.perturb import robustness

    robust = [RobustRow(r.suite, r.case, r.model,
                        {True: "passes", False: "fails", None: "not run"}[r.original_passed],
                        r.failed, r.variants,
                        " · ".join(f"{k} {f}/{n}" for k, (f, n) in (r.by_kind or {}).items()),
                        r.minimal or "", r.minimal_description or "",
                        r.minimal_reason or "", _shrink_note(r))
              for r in robustness(results)]
    from harness.bias import preferences

    prefs = [PreferenceRow(p.model, p.category, p.chosen, p.stereotyped, _num(p.rate),
                           "—" if p.p_value is None else f"{p.p_value:.4f}", p.no_choice)
             for p in preferences(results)]
    if not bbq and not gaps and not robust and not prefs:
        return None
    return BiasView(bbq, gaps, robust, prefs)


def _shrink_note(row: Robustness) -> str:
    """How sure the minimal perturbation is minimal (see harness/shrink.py)."""
    calls = f" (shrunk with {row.shrink_calls} call{'s' * (row.shrink_calls != 1)})" \
        if row.shrink_calls else ""
    if row.one_minimal is True:
        return "1-minimal: removing any one edit makes it pass" + calls
    if row.one_minimal is False:
        return "shrink budget spent before 1-minimality was shown" + calls
    return ""
