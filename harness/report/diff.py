"""What changed between a baseline RunLog and a head RunLog, for the report's diff view.

Results are paired by (suite, case id, model, repeat), so multi-model and repeated runs
compare like with like. Each pair falls in one class:

- ``new_failure``: passed in the baseline, failed or errored now;
- ``fixed``: did not pass in the baseline, passes now;
- ``still_failing``: did not pass in either;
- ``new`` / ``removed``: present in only one of the runs;
- ``changed``: passed in both, but the output is different.

Whether the change should fail CI is the gate's decision (``harness.gate.compare``), which
this module reuses rather than restates. Output diffs are computed here, server-side, with
difflib: line by line, and word by word inside a replaced line. The markup is built from
escaped pieces only (``<del>``/``<ins>`` around escaped text), so model output stays text.
Both logs are expected to be masked already (the report masks before it diffs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Literal

from harness.results import CaseResult, RunLog, counted

if TYPE_CHECKING:
    from markupsafe import Markup

    from harness.gate import Budgets, GateResult

__all__ = ["BaselineDiff", "DiffEntry", "DiffKind", "classify", "diff_runs", "text_diff"]

DiffKind = Literal["new_failure", "fixed", "still_failing", "new", "removed", "changed"]
Key = tuple[str, str, str, int, str | None]  # results.ResultKey

KINDS: tuple[DiffKind, ...] = (
    "new_failure", "fixed", "still_failing", "new", "removed", "changed")
TITLES: dict[DiffKind, str] = {
    "new_failure": "New failures",
    "fixed": "Fixed",
    "still_failing": "Still failing",
    "new": "New cases",
    "removed": "Removed cases",
    "changed": "Changed outputs (passed in both)",
}
_DIFF_INPUT_CAP = 20_000  # characters of each side diffed; past that the RunLogs have it
_DIFF_LINES_CAP = 400  # diff lines shown per pair
_ENTRY_CAP = 300  # entries listed (with their text diff) per class; the rest are counted
_REASON_CAP = 400
_WORD = re.compile(r"\s+|\w+|[^\w\s]")


def classify(base: CaseResult | None, head: CaseResult | None) -> DiffKind | None:
    """The class of one pair, or None when nothing worth showing changed."""
    if base is None and head is None:
        return None
    if base is None:
        return "new"
    if head is None:
        return "removed"
    was, now = base.status == "passed", head.status == "passed"
    if was and not now:
        return "new_failure"
    if not was and now:
        return "fixed"
    if not was:
        return "still_failing"
    return "changed" if (base.output or "") != (head.output or "") else None


@dataclass(frozen=True)
class DiffEntry:
    """One pair in the diff view. ``text_diff`` is None when the outputs are equal (or one
    side has none) or the class holds too many entries to diff them all."""

    kind: DiffKind
    suite: str
    case_id: str
    model: str
    repeat: int
    base_status: str | None
    head_status: str | None
    reason: str  # why the head result did not pass (or the baseline one, for fixed)
    output_changed: bool
    text_diff: Markup | None
    href: str = ""  # the head result's drill-down, when the report has one
    prompt: str | None = None  # the prompt variant (part of the pairing key)

    @property
    def label(self) -> str:
        """``case`` or ``case[prompt=NAME]``, as ids and the rest of the report show it."""
        from harness.results import case_label

        return case_label(self.case_id, self.prompt)


@dataclass(frozen=True)
class BaselineDiff:
    """Every changed pair between two runs, by class, and the gate's verdict on them."""

    base_run: str
    head_run: str
    gate: GateResult
    entries: dict[DiffKind, list[DiffEntry]] = field(default_factory=dict)
    counts: dict[DiffKind, int] = field(default_factory=dict)
    unchanged: int = 0
    repeats: bool = False  # some pair has a repeat index above 0: show it

    def of(self, kind: DiffKind) -> list[DiffEntry]:
        return self.entries.get(kind, [])

    @property
    def sections(self) -> list[tuple[DiffKind, str, int, list[DiffEntry]]]:
        """(kind, title, count, entries shown) of every class that has an entry."""
        return [(k, TITLES[k], self.counts[k], self.of(k)) for k in KINDS if self.counts.get(k)]


def _why(result: CaseResult) -> str:
    if result.error is not None:
        return f"{result.error.kind}: {result.error.message}"[:_REASON_CAP]
    for check in result.checks:
        if not check.passed:
            label = f"not {check.check}" if check.negate else check.check
            return f"{label}: {check.reason}"[:_REASON_CAP]
    return ""


def _index(results: Iterable[CaseResult]) -> dict[Key, CaseResult]:
    out: dict[Key, CaseResult] = {}
    for r in counted(results):  # shrink candidates differ between runs by design
        out.setdefault(r.key, r)  # a malformed log may repeat a key: the first one counts
    return out


def diff_runs(
    base: RunLog, head: RunLog, *, budgets: Budgets | None = None,
    anchors: dict[Key, str] | None = None,
    mask: Callable[[list[CaseResult]], list[CaseResult]] | None = None,
) -> BaselineDiff:
    """Classify every pair of ``base`` and ``head`` and ask the gate for its verdict.

    ``anchors`` maps a head result's key to the id of its drill-down in the report, so
    entries can link to it. ``mask`` masks the results whose texts the diff shows (only
    those: at most a few hundred per class, however large the runs).
    """
    from harness.gate import compare as gate

    before, after = _index(base.results), _index(head.results)
    keys = list(after) + [k for k in before if k not in after]
    entries: dict[DiffKind, list[DiffEntry]] = {k: [] for k in KINDS}
    counts: dict[DiffKind, int] = dict.fromkeys(KINDS, 0)
    unchanged = 0
    listed: list[tuple[DiffKind, Key]] = []
    for key in keys:
        kind = classify(before.get(key), after.get(key))
        if kind is None:
            unchanged += 1
            continue
        counts[kind] += 1
        if counts[kind] <= _ENTRY_CAP:
            listed.append((kind, key))
    if mask is not None:
        # mask exactly the texts the entries show, as the rest of the report is masked
        olds = [before[k] for _, k in listed if k in before]
        news = [after[k] for _, k in listed if k in after]
        masked = mask(olds + news)
        before = {**before, **{r.key: r for r in masked[:len(olds)]}}
        after = {**after, **{r.key: r for r in masked[len(olds):]}}
    for kind, key in listed:
        b, h = before.get(key), after.get(key)
        shown = entries[kind]
        a_text = (b.output if b is not None else None) or ""
        h_text = (h.output if h is not None else None) or ""
        changed = b is not None and h is not None and a_text != h_text
        markup = text_diff(a_text, h_text) if changed and (a_text or h_text) else None
        why_from = b if kind == "fixed" or h is None else h
        shown.append(DiffEntry(
            kind=kind, suite=key[0], case_id=key[1], model=key[2], repeat=key[3],
            base_status=b.status if b is not None else None,
            head_status=h.status if h is not None else None,
            reason=_why(why_from) if why_from is not None else "",
            output_changed=changed, text_diff=markup,
            href=("#" + anchors[key]) if anchors and h is not None and key in anchors else "",
            prompt=key[4],
        ))
    return BaselineDiff(
        base_run=base.run_id, head_run=head.run_id, gate=gate(base, head, budgets),
        entries=entries, counts=counts, unchanged=unchanged,
        repeats=any(k[3] for k in keys),
    )


# -- text diff ------------------------------------------------------------------------------


def _words(line: str) -> list[str]:
    return _WORD.findall(line)


def _line(cls: str, sign: str, body: Markup) -> Markup:
    from markupsafe import Markup

    return Markup('<span class="dl {}">{} ').format(cls, sign) + body + Markup("</span>")


def _word_pair(old: str, new: str) -> tuple[Markup, Markup]:
    """The two versions of a replaced line, with the words that differ wrapped."""
    from markupsafe import Markup, escape

    a, b = _words(old), _words(new)
    left, right = Markup(""), Markup("")
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        gone, came = "".join(a[i1:i2]), "".join(b[j1:j2])
        if tag == "equal":
            left += escape(gone)
            right += escape(came)
            continue
        if gone:
            left += Markup("<del>") + escape(gone) + Markup("</del>")
        if came:
            right += Markup("<ins>") + escape(came) + Markup("</ins>")
    return left, right


def text_diff(old: str, new: str, *, context: int = 2) -> Markup:
    """An escaped, marked-up diff of ``old`` → ``new``: changed lines with ``-``/``+``,
    ``context`` unchanged lines around them, and changed words inside a replaced line in
    ``<del>``/``<ins>``. Meant for a ``<pre>``."""
    from markupsafe import Markup, escape

    cut = [len(old) > _DIFF_INPUT_CAP, len(new) > _DIFF_INPUT_CAP]
    a = old[:_DIFF_INPUT_CAP].splitlines() or [""]
    b = new[:_DIFF_INPUT_CAP].splitlines() or [""]
    out = Markup("")
    lines = 0
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    for n, group in enumerate(matcher.get_grouped_opcodes(context)):
        if lines >= _DIFF_LINES_CAP:
            out += _line("dl-note", "…", escape("more changes; the RunLogs hold both texts"))
            break
        first = group[0]
        if n or first[1] or first[3]:
            out += _line("dl-hunk", "@@", escape(
                f"line {first[1] + 1} → line {first[3] + 1}"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for text in a[i1:i2]:
                    out += _line("dl-ctx", " ", escape(text))
                    lines += 1
                continue
            olds, news = a[i1:i2], b[j1:j2]
            paired = min(len(olds), len(news)) if tag == "replace" else 0
            for k in range(paired):
                left, right = _word_pair(olds[k], news[k])
                out += _line("dl-del", "-", left) + _line("dl-ins", "+", right)
                lines += 2
            for text in olds[paired:]:
                out += _line("dl-del", "-", Markup("<del>") + escape(text) + Markup("</del>"))
                lines += 1
            for text in news[paired:]:
                out += _line("dl-ins", "+", Markup("<ins>") + escape(text) + Markup("</ins>"))
                lines += 1
    if any(cut):
        out += _line("dl-note", "…", escape(
            f"only the first {_DIFF_INPUT_CAP:,} characters of each output were compared"))
    return out
