"""Metamorphic robustness: ``perturb:`` variants of a case, drawn with hypothesis.

A case that declares ``perturb: {kinds: [typos, casing], n: 5, seed: 0}`` runs as itself
and as ``n`` variants per kind (ids ``case[perturb=typos#2]``), each with the case's own
checks: a property that holds for the original must hold for every variant.

A perturbation is a *description* (a tuple of small edits) drawn by a hypothesis
strategy, then applied to the case's text. Drawing is repeatable: a fixed ``@seed``, no
example database, generation only, so the same seed always yields the same variants.
The description is recorded on each variant, and the run's robustness summary reports,
for each case whose variants failed, the *minimal* failing perturbation: the smallest
failing variant, shrunk after the main run by delta debugging over its edits, each
candidate a model call (harness/shrink.py, at most ``perturb.shrink`` per case × model).

Kinds: ``typos`` (swap, drop, double or replace a letter), ``casing`` (a word upper-,
lower- or title-cased), ``whitespace`` (a space doubled, a tab or newline), ``punctuation``
(a mark dropped or added), ``synonyms`` (a word replaced from the shipped list in
``harness/data/perturb.yaml``), ``reorder`` (the context documents shuffled),
``irrelevant`` (an unrelated sentence added, from the same file).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

Kind = Literal["typos", "casing", "whitespace", "punctuation", "synonyms", "reorder",
               "irrelevant"]
KINDS: tuple[Kind, ...] = ("typos", "casing", "whitespace", "punctuation", "synonyms",
                           "reorder", "irrelevant")
MAX_EDITS = 3  # per variant: a handful of small edits, as a user's sloppy typing would make
_WORD = re.compile(r"[A-Za-z]{3,}")
_NEIGHBOURS = {  # QWERTY neighbours, for plausible replacement typos
    "a": "qsz", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj",
    "i": "uo", "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o",
    "q": "w", "r": "et", "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc",
    "y": "tu", "z": "x",
}

# One edit: (kind, target text index, position, option); integers are reduced modulo the
# sizes of the text they apply to, so any drawn value is valid for any text.
Edit = tuple[str, int, int, int]


class PerturbError(ValueError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Perturbed:
    """One variant: its id suffix, its edits described for people, and the new texts."""

    label: str  # "typos#2"
    kind: str
    description: str  # "typos: 'refund' → 'rfeund'; 'policy' → 'polciy'"
    size: int  # number of edits; the minimal failing perturbation has the fewest
    texts: tuple[str, ...]
    documents: tuple[str, ...]
    edits: tuple[Edit, ...] = ()  # what was drawn: shrinking removes some of them


@cache
def shipped() -> dict[str, Any]:
    """The shipped synonym pairs and irrelevant sentences (``harness/data/perturb.yaml``)."""
    import yaml

    text = resources.files("harness").joinpath("data/perturb.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


@cache  # read by every synonym edit (hypothesis draws many per case while loading)
def _synonyms() -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for group in shipped()["synonyms"]:
        words = [str(w) for w in group]
        for w in words:
            table.setdefault(w.lower(), []).extend(x for x in words if x.lower() != w.lower())
    return table


def _strategy(kind: Kind, n_texts: int, n_docs: int) -> Any:
    from hypothesis import strategies as st

    if kind == "reorder":
        return st.permutations(range(n_docs)).filter(lambda p: list(p) != sorted(p)).map(
            lambda p: tuple(("reorder", 0, i, v) for i, v in enumerate(p)))
    big = st.integers(0, 10_000)
    edit = st.tuples(st.just(kind), st.integers(0, max(0, n_texts - 1)), big, big)
    return st.lists(edit, min_size=1, max_size=MAX_EDITS).map(tuple)


def draw(kind: Kind, n: int, seed: int, n_texts: int, n_docs: int) -> list[tuple[Edit, ...]]:
    """``n`` distinct edit lists for ``kind``, the same ones for the same seed.

    Fewer when the kind has fewer distinct perturbations (two documents have one
    reordering)."""
    try:
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import seed as fixed_seed
    except ImportError:
        raise PerturbError("perturb: needs hypothesis",
                           "pip install 'harness[robustness]' (or: pip install hypothesis)"
                           ) from None
    found: list[tuple[Edit, ...]] = []

    # @seed fixed and no database: repeatable, yet varied per seed. Every setting that
    # changes what is drawn is given here, so a settings profile loaded elsewhere (a
    # test suite's derandomize=True, say) cannot change the variants.
    @fixed_seed(seed)
    @settings(max_examples=max(20, 6 * n), database=None, phases=[Phase.generate],
              derandomize=False, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_strategy(kind, n_texts, n_docs))
    def collect(edits: tuple[Edit, ...]) -> None:
        if edits not in found:
            found.append(edits)

    with _no_local_constants():
        collect()
    return found[:n]


@contextmanager
def _no_local_constants() -> Iterator[None]:
    """Hypothesis sometimes draws constants found in the source of the "local" modules
    already imported (this project's, a plugin's, a test's), so without this the same
    seed gives other variants depending on what happens to be imported. Private API,
    hence the guard: when it is missing there is nothing to turn off."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover
        yield
        return
    getter = getattr(providers, "_get_local_constants", None)
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    constants = getattr(providers, "Constants", None)
    if getter is None or cache is None or constants is None:  # pragma: no cover
        yield
        return
    empty = constants()
    cache.cache.clear()
    providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        providers._get_local_constants = getter
        cache.cache.clear()


def apply(edits: Sequence[Edit], texts: Sequence[str], documents: Sequence[str],
          ) -> tuple[tuple[str, ...], tuple[str, ...], list[str]]:
    """The texts and documents with ``edits`` applied, and what each edit did."""
    out = list(texts)
    docs = list(documents)
    said: list[str] = []
    if edits and edits[0][0] == "reorder":
        order = [e[3] for e in edits]
        return tuple(out), tuple(docs[i] for i in order), [
            f"documents in order {[i + 1 for i in order]}"]
    for kind, target, pos, option in edits:
        if kind == "irrelevant":
            sentences = [str(s) for s in shipped()["irrelevant"]]
            sentence = sentences[option % len(sentences)]
            if docs:
                i = target % len(docs)
                docs[i], k = _insert_sentence(docs[i], sentence, pos)
                said.append(f"{sentence!r} added to document {i + 1} after sentence {k}")
            elif out:
                i = target % len(out)
                out[i], k = _insert_sentence(out[i], sentence, pos)
                said.append(f"{sentence!r} added after sentence {k}")
            continue
        if not out:
            continue
        i = target % len(out)
        new, what = _EDITORS[kind](out[i], pos, option)
        if what:
            out[i] = new
            said.append(what)
    return tuple(out), tuple(docs), said


def _insert_sentence(text: str, sentence: str, pos: int) -> tuple[str, int]:
    """``text`` with ``sentence`` after its k-th sentence, and k."""
    ends = [0, *[m.end() for m in re.finditer(r"[.!?](?=\s)", text)], len(text)]
    k = pos % len(ends)
    before, after = text[:ends[k]].rstrip(), text[ends[k]:].lstrip()
    return " ".join(p for p in (before, sentence, after) if p), k


def _pick_word(text: str, pos: int) -> re.Match[str] | None:
    found = list(_WORD.finditer(text))
    return found[pos % len(found)] if found else None


def _typo(text: str, pos: int, option: int) -> tuple[str, str]:
    m = _pick_word(text, pos)
    if m is None:
        return text, ""
    word = m.group(0)
    i = 1 + option // 4 % (len(word) - 1)  # keep the first letter: typos rarely hit it
    op = option % 4
    if op == 0 and i < len(word) - 1:
        new = word[:i] + word[i + 1] + word[i] + word[i + 2:]
    elif op == 1:
        new = word[:i] + word[i + 1:]
    elif op == 2:
        new = word[:i] + word[i] + word[i:]
    else:
        near = _NEIGHBOURS.get(word[i].lower(), "e")
        new = word[:i] + near[option % len(near)] + word[i + 1:]
    if new == word:
        new = word[:i] + word[i:][::-1][:1] + word[i:]
    return text[:m.start()] + new + text[m.end():], f"{word!r} → {new!r}"


def _casing(text: str, pos: int, option: int) -> tuple[str, str]:
    m = _pick_word(text, pos)
    if m is None:
        return text, ""
    word = m.group(0)
    for shape in (*(str.upper, str.lower, str.title)[option % 3:], str.upper, str.lower):
        new = shape(word)
        if new != word:
            return text[:m.start()] + new + text[m.end():], f"{word!r} → {new!r}"
    return text, ""


def _whitespace(text: str, pos: int, option: int) -> tuple[str, str]:
    gaps = [m.start() for m in re.finditer(r" ", text)]
    if not gaps:
        return text + "  ", "trailing spaces added"
    at = gaps[pos % len(gaps)]
    new, name = ((("  ", "double space"), ("\t", "tab"), ("\n", "line break"),
                  ("   ", "triple space"))[option % 4])
    return text[:at] + new + text[at + 1:], f"{name} at character {at}"


def _punctuation(text: str, pos: int, option: int) -> tuple[str, str]:
    marks = [m.start() for m in re.finditer(r"[.,;:!?]", text)]
    if marks and option % 2 == 0:
        at = marks[pos % len(marks)]
        return text[:at] + text[at + 1:], f"{text[at]!r} removed at character {at}"
    m = _pick_word(text, pos)
    if m is None:
        return text, ""
    mark = ",;!"[option % 3]
    return text[:m.end()] + mark + text[m.end():], f"{mark!r} added after {m.group(0)!r}"


def _synonym(text: str, pos: int, option: int) -> tuple[str, str]:
    table = _synonyms()
    found = [m for m in re.finditer(r"[A-Za-z]+", text) if m.group(0).lower() in table]
    if not found:
        return text, ""
    m = found[pos % len(found)]
    word = m.group(0)
    choices = table[word.lower()]
    new = choices[option % len(choices)]
    if word[0].isupper():
        new = new[0].upper() + new[1:]
    return text[:m.start()] + new + text[m.end():], f"{word!r} → {new!r}"


_EDITORS: dict[str, Callable[[str, int, int], tuple[str, str]]] = {
    "typos": _typo, "casing": _casing, "whitespace": _whitespace,
    "punctuation": _punctuation, "synonyms": _synonym,
}


def variants(kinds: Sequence[Kind], n: int, seed: int, texts: Sequence[str],
             documents: Sequence[str]) -> list[Perturbed]:
    """Up to ``n`` variants per kind of ``texts`` (and ``documents``), repeatable by seed.

    An edit list that changes nothing (a synonym kind on a text with no listed word), or
    gives a text already drawn, is dropped rather than run twice."""
    if "reorder" in kinds and len(documents) < 2:
        raise PerturbError("perturb kind 'reorder' needs a case with at least two context "
                           "documents", "give 'context:' a list of documents, or drop "
                           "'reorder'")
    if not texts and any(k != "reorder" for k in kinds):
        raise PerturbError("perturb: the case has no text to perturb",
                           "give the case string 'vars', or name them with 'vars: [...]'")
    out: list[Perturbed] = []
    for k, kind in enumerate(kinds):
        # draw more than needed: different edit lists can give the same text
        drawn = draw(kind, 4 * n, seed + 7919 * k, len(texts), len(documents))
        seen = {(tuple(texts), tuple(documents))}
        number = 0
        for edits in drawn:
            if number == n:
                break
            new_texts, new_docs, said = apply(edits, texts, documents)
            if (new_texts, new_docs) in seen or not said:
                continue
            seen.add((new_texts, new_docs))
            out.append(Perturbed(f"{kind}#{number}", kind, f"{kind}: " + "; ".join(said),
                                 len(said), new_texts, new_docs, edits))
            number += 1
    return out


# ---------------------------------------------------------------------------------------
# the robustness summary of a run


@dataclass(frozen=True)
class Robustness:
    """One case × model: how its perturbed variants fared."""

    suite: str
    case: str
    model: str
    original_passed: bool | None  # None: the original was not run or errored
    variants: int
    failed: int
    errors: int
    minimal: str | None  # the variant id of the minimal failing perturbation
    minimal_description: str | None
    minimal_reason: str | None  # its first failing check's reason
    by_kind: dict[str, tuple[int, int]] | None = None  # kind → (failed, run)
    # True: removing any one edit of the minimal perturbation makes the case pass (proven
    # by shrinking, or it has one edit); False: the shrink budget ran out first
    one_minimal: bool | None = None
    shrink_calls: int = 0  # candidates run to shrink it (harness/shrink.py)


def robustness(results: Sequence[Any]) -> list[Robustness]:
    """Per perturbed case, model and repeat: the failing variants and the minimal one."""
    from collections import defaultdict

    from harness.results import case_label, is_shrunk

    # a prompt variant is a different prompt: its perturbations form their own group
    groups: dict[tuple[str, str, str, int, str], list[Any]] = defaultdict(list)
    for r in results:
        if r.group is not None and r.variant.get("attribute") == "perturb":
            groups[(r.suite, r.group, r.model, r.repeat, r.prompt or "")].append(r)
    out: list[Robustness] = []
    for (suite, group, model, _, prompt), members in sorted(groups.items()):
        case = case_label(group, prompt or None)
        original = next((r for r in members if r.variant.get("value") == "original"), None)
        shrunk = [r for r in members if is_shrunk(r)]
        perturbed = [r for r in members if r is not original and r not in shrunk]
        failed = [r for r in perturbed if r.status == "failed"]
        errors = sum(r.status == "error" for r in perturbed)
        passed = None if original is None or original.status == "error" \
            else original.status == "passed"
        # fewest edits, then the smallest description, among the variants and the shrink
        # candidates that failed; a finished shrink names its result
        minimal = min(failed + [r for r in shrunk if r.status == "failed"],
                      key=lambda r: (int(r.variant.get("size", "99")),
                                     len(r.variant.get("description", "")),
                                     r.case_id)) if failed else None
        one_minimal = None if minimal is None or not passed else \
            minimal.variant.get("size") == "1" or None
        verdict = next((r for r in shrunk if "minimal" in r.variant), None)
        if verdict is not None and failed:
            named = next((r for r in members if r.case_id == verdict.variant["minimal"]),
                         None)
            minimal = named or minimal
            one_minimal = verdict.variant.get("one_minimal") == "yes" or (
                minimal is not None and minimal.variant.get("size") == "1")
        reason = None
        if minimal is not None:
            first = next((c for c in minimal.checks if not c.passed), None)
            reason = None if first is None else f"{first.check}: {first.reason}"
        by_kind: dict[str, tuple[int, int]] = {}
        for r in perturbed:
            failed_n, run_n = by_kind.get(r.variant.get("group", ""), (0, 0))
            by_kind[r.variant.get("group", "")] = (failed_n + (r.status == "failed"),
                                                   run_n + 1)
        out.append(Robustness(
            by_kind=by_kind,
            suite=suite, case=case, model=model, original_passed=passed,
            variants=len(perturbed), failed=len(failed), errors=errors,
            minimal=None if minimal is None else minimal.case_id,
            minimal_description=None if minimal is None else minimal.variant.get(
                "description"),
            minimal_reason=reason, one_minimal=one_minimal, shrink_calls=len(shrunk)))
    return out


def robustness_table(rows: Sequence[Robustness]) -> list[str]:
    """The robustness summary as text lines."""
    lines = []
    for r in rows:
        orig = {True: "original passes", False: "original FAILS", None: "original not run"}[
            r.original_passed]
        head = f"{r.suite}/{r.case} [{r.model}]: {r.failed}/{r.variants} perturbed " \
               f"variants fail ({orig})"
        if r.by_kind:
            head += "; " + ", ".join(f"{k} {f}/{n}" for k, (f, n) in r.by_kind.items())
        lines.append(head)
        if r.minimal is not None:
            lines.append(f"  minimal failing: {r.minimal}  {r.minimal_description}")
            if r.shrink_calls or r.one_minimal is not None:
                proof = {True: "1-minimal: removing any one edit makes it pass",
                         False: "shrink budget spent before 1-minimality was shown",
                         None: "not shrunk"}[r.one_minimal]
                lines.append(f"    shrunk with {r.shrink_calls} call(s); {proof}")
            if r.minimal_reason:
                lines.append(f"    {r.minimal_reason[:120]}")
    return lines
