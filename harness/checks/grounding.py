"""Grounding checks: the output says only what its sources say, and cites them truly.

Both use the deterministic detector of ``harness.detectors.grounding`` (no model, a few
milliseconds per case): ``grounded`` scores every claim of the output against the case's
source documents; ``cites_sources`` checks that each citation ([1], [^2], ¹, (Source: X))
names a provided source and that the cited source supports the sentence it is attached to.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.checks.registry import CheckFn, CheckInput, CheckResult, check
from harness.checks.textutil import preview

if TYPE_CHECKING:
    from harness.detectors import grounding as detector_module

Context = str | list[str] | dict[str, str] | None
SourcesArg = dict[str, str] | list[str | dict[str, str]] | None
_FIGURES = ("number", "date")


def _texts(context: Context) -> tuple[str, ...]:
    if context is None:
        return ()
    if isinstance(context, str):
        return (context,)
    if isinstance(context, dict):
        return tuple(context.values())
    return tuple(context)


def _prompt(inp: CheckInput) -> tuple[str, ...]:
    return tuple(str(m.get("content") or "") for m in inp.messages if m.get("role") == "user")


def _show(text: str, limit: int = 60) -> str:
    """A preview of a sentence whose citation markers were blanked out."""
    return preview(re.sub(r"\s+([.,;:!?])", r"\1", text), limit)


def _detector() -> Any:
    """The detector module, imported when a check first runs (its patterns take a few
    tens of milliseconds to compile, which listing or validating suites should not pay)."""
    from harness.detectors import grounding

    return grounding


def _describe(claim: detector_module.Claim) -> str:
    parts = [f"{span.kind} {span.text!r}" for span in claim.unsupported]
    if claim.missing_words:
        words = ", ".join(claim.missing_words[:4]) + (", …" if len(claim.missing_words) > 4
                                                     else "")
        parts.append(f"words not in the sources: {words}")
    detail = "; ".join(parts) if parts else f"weakly supported (score {claim.score:.2f})"
    return f"{_show(claim.text)!r} ({detail})"


def _failure_mode(spans: Sequence[detector_module.Span]) -> str:
    return "unsupported_number" if any(s.kind in _FIGURES for s in spans) else "hallucination"


@check(
    "grounded",
    failure_mode="hallucination",
    shorthand="threshold",
    examples=(
        {},
        {"threshold": 0.8, "strict": False},
        {"context": "The refund window is 30 days from delivery.", "include_prompt": False},
        {"context": ["Q3 revenue was $1.2 million.", "Costs rose 3 percent."]},
    ),
)
def grounded(
    threshold: float = 0.5,
    context: Context = None,
    include_prompt: bool = True,
    strict: bool = True,
) -> CheckFn:
    """Every claim of the output is supported by the source documents: its numbers, dates,
    names and quotes appear there and its words are covered (score in [0, 1]).

    The sources are the case's ``context`` unless ``context`` is given here. Numbers are
    compared after normalisation ("1.2 million" = "1,200,000", "3%" = "3 percent"). The
    user's messages count as partial support (repeating the question is no hallucination)
    unless ``include_prompt`` is off. With ``strict`` (the default) one unsupported number
    or date fails the check whatever the score.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"'threshold' must be between 0 and 1, got {threshold}")
    override = _texts(context)
    if context is not None and not any(t.strip() for t in override):
        raise ValueError("'context' is empty: give the source text(s) to check against")

    def run(inp: CheckInput) -> CheckResult:
        sources = override or tuple(inp.context)
        if not any(s.strip() for s in sources):
            return CheckResult(
                "grounded", False, None,
                "expected source documents to check the output against; found none (give "
                "the case a 'context' or the check a 'context' argument)",
                {"internal_error": False, "sources": 0},
            )
        prompt = _prompt(inp) if include_prompt else ()
        detector = _detector()
        # A citation marker ([7], (Source: X)) names a document, it states no figure: blanked
        # (offsets kept), "[7]" is not an unsupported number when no source says 7.
        markers = find_citations(inp.output, _sources(None, sources))
        text = _blank(inp.output, [(c.start, c.end) for c in markers])
        verdict = detector.ground(text, sources, prompt=prompt, threshold=threshold)
        spans = verdict.unsupported_spans()
        figures = [s for s in spans if s.kind in _FIGURES]
        passed = verdict.score >= threshold and not (strict and figures)
        bad = verdict.unsupported_claims()
        n_docs = f"{len(sources)} source document{'s' if len(sources) != 1 else ''}"
        evidence: dict[str, Any] = {
            "score": round(verdict.score, 4),
            "threshold": threshold,
            "claims": [c.to_dict() for c in verdict.claims],
            "unsupported_claims": [c.to_dict() for c in bad],
            "unsupported": [s.to_dict() for s in spans],
        }
        if not verdict.claims:
            reason = f"no checkable claim in the output; nothing contradicts the {n_docs}"
        elif passed:
            reason = (f"expected claims supported by the {n_docs} (score ≥ {threshold}); "
                      f"found score {verdict.score:.2f} over {len(verdict.claims)} claims")
            if bad:
                reason += f", weakest: {_describe(min(bad, key=lambda c: c.score))}"
        else:
            shown = "; ".join(_describe(c) for c in bad[:3])
            more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
            why = (f"unsupported {'figure' if len(figures) == 1 else 'figures'} "
                   f"{', '.join(repr(s.text) for s in figures[:5])} (strict)"
                   if strict and figures and verdict.score >= threshold
                   else f"score {verdict.score:.2f}")
            reason = (f"expected every claim supported by the {n_docs} (score ≥ {threshold}"
                      f"{', no unsupported number or date' if strict else ''}); found {why}, "
                      f"{len(bad)} of {len(verdict.claims)} claims unsupported: {shown}{more}")
            evidence["failure_mode"] = _failure_mode(spans)
        return CheckResult("grounded", passed, verdict.score, reason, evidence)

    return run


# ---------------------------------------------------------------------------------------
# citations

_NUMBERED = re.compile(
    r"\[(?:(?:source|src|doc|document|ref)\s*)?(\d+(?:\s*(?:[-–,;]|and)\s*\d+)*)\]"
    r"|\((?:source|doc|document|ref)\s*(\d+(?:\s*(?:[-–,;]|and)\s*\d+)*)\)",
    re.IGNORECASE,
)
_NAMED = re.compile(r"[(\[]\s*(?:sources?|refs?|references?)\s*:\s*([^)\]\n]+)[)\]]",
                    re.IGNORECASE)
# a bracketed phrase, a citation when it names a source: "(Annual Report, p. 4)", "[Clause 8]"
_BRACKETED = re.compile(r"[(\[]\s*([^()\[\]\n]{2,80}?)\s*[)\]]")
_FOOTNOTE = re.compile(r"\[\^([\w-]+)\](?!:)")
_FOOTNOTE_DEF = re.compile(r"^[ \t]*\[\^([\w-]+)\]:[ \t]*(.+)$", re.MULTILINE)
_SUPERSCRIPT = re.compile(r"(?<=[\w.,;:!?)\"'’”])([¹²³⁴⁵⁶⁷⁸⁹⁰]+)")
_SUPERSCRIPT_DIGITS = str.maketrans("¹²³⁴⁵⁶⁷⁸⁹⁰", "1234567890")
_TITLE_LINE = re.compile(r"\A\s*(?:#{1,6}\s+|(?:title|source|name)\s*:\s*)(.+?)\s*$",
                         re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Source:
    number: int
    name: str | None
    text: str


@dataclass
class Citation:
    """One citation marker in the output and what it resolved to."""

    marker: str
    start: int
    end: int
    refers: list[str]  # what the marker names: numbers or names as written
    sources: list[int] = field(default_factory=list)  # resolved source numbers
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"marker": self.marker, "start": self.start, "end": self.end,
                "sources": self.sources, "valid": not self.problems, "problems": self.problems}


def _sources(given: SourcesArg, context: Sequence[str]) -> list[Source]:
    """Sources numbered from 1: the ``sources`` argument (a mapping of name to text, or a
    list of texts or of {title, text}), else the case's context documents, whose name is
    their title line ('# Refund policy', 'Title: Refund policy') when they have one."""
    entries: list[tuple[str | None, str]] = []
    if isinstance(given, dict):
        entries = [(name, text) for name, text in given.items()]
    elif given is not None:
        for item in given:
            if isinstance(item, str):
                entries.append((None, item))
            else:
                name = item.get("title") or item.get("name")
                entries.append((name, item.get("text") or item.get("content") or ""))
    else:
        entries = [(None, text) for text in context]
    found = []
    for number, (name, text) in enumerate(entries, start=1):
        if name is None:
            title = _TITLE_LINE.match(text)
            name = title.group(1) if title else None
        found.append(Source(number, name, text))
    return found


def _numbers(spec: str) -> list[int]:
    numbers: list[int] = []
    for part in re.split(r"\s*(?:[,;]|and)\s*", spec.strip()):
        if not part:
            continue
        bounds = re.split(r"\s*[-–]\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            low, high = int(bounds[0]), int(bounds[1])
            numbers.extend(range(low, high + 1) if 0 < high - low < 50 else (low, high))
        elif part.isdigit():
            numbers.append(int(part))
    return numbers


# A name is compared token by token: "Clause 1" is no prefix of "Clause 12", "Report 2023"
# is not "Report 2023b". A dotted number stays one token, so "Clause 12.3" can point into a
# document named "Clause 12" (a subsection of it) but never into "Clause 1".
_NAME_TOKEN = re.compile(r"\d+(?:\.\d+)*[a-z0-9]*|[a-z][a-z0-9]*")
# where in a document, not which document: "p. 4", "pp. 3-5", "page 12", "§ 2", "para. 3"
_LOCATOR = re.compile(
    r"(?:,\s*|\s+)(?:pp?\.?|pages?|paras?\.?|paragraphs?|§+|sections?|sec\.|at)\s*"
    r"\d+(?:\.\d+)*(?:\s*[-–]\s*\d+(?:\.\d+)*)?\s*$",
    re.IGNORECASE,
)
# names listed in one citation, split where the next item is no page locator
_NAME_LIST = re.compile(r"[;,](?!\s*(?:pp?\b|pages?\b|paras?\b|paragraphs?\b|§|sec))",
                        re.IGNORECASE)
_LEAD = re.compile(r"^(?:see(?:\s+also)?|cf\.?|per|according\s+to)\s+", re.IGNORECASE)


def _name_tokens(name: str) -> list[str]:
    return _NAME_TOKEN.findall(_detector().fold_text(name))


def _strip_locator(name: str) -> tuple[str, bool]:
    """``name`` without a leading 'see' and a trailing page or section locator, and whether
    there was a locator ('Annual Report, p. 4' names the document 'Annual Report')."""
    bare = _LEAD.sub("", name.strip())
    located = _LOCATOR.search(bare)
    if located and located.start() > 0:
        return bare[:located.start()].strip(" ,"), True
    return bare, False


def _same(wanted: str, have: str) -> bool:
    """Token equality, where a subsection number ('12.3') falls within its section ('12')."""
    return wanted == have or (have[:1].isdigit() and wanted.startswith(have + "."))


def _within(part: Sequence[str], whole: Sequence[str]) -> bool:
    """Whether ``part`` is a run of consecutive tokens of ``whole``."""
    n = len(part)
    return any(all(_same(w, h) for w, h in zip(part, whole[i:i + n], strict=True))
               for i in range(len(whole) - n + 1))


def _figures_agree(wanted: Sequence[str], have: Sequence[str]) -> bool:
    numbered = [t for t in wanted if t[0].isdigit()]
    numbers = [t for t in have if t[0].isdigit()]
    return len(numbered) == len(numbers) and all(
        _same(w, h) for w, h in zip(numbered, numbers, strict=True))


def _by_name(name: str, sources: Sequence[Source]) -> list[int]:
    """The sources ``name`` designates, best match first kept alone: the source named
    exactly so, else one whose name holds it (or a section of it: 'Clause 12.3' in 'Clause
    12') as whole tokens, else a near spelling with the same numbers; several sources only
    when they match equally well. Empty when no source fits."""
    bare, _located = _strip_locator(name)
    wanted = _name_tokens(bare)
    if not wanted:
        return []
    numbered = re.fullmatch(r"(?:source|src|doc|document|ref)?\s*(\d+)", " ".join(wanted))
    if numbered:
        return [int(numbered.group(1))]
    from rapidfuzz import fuzz

    scored: list[tuple[float, int]] = []
    for source in sources:
        if not source.name:
            continue
        have = _name_tokens(source.name)
        if not have:
            continue
        if wanted == have:
            score = 4.0
        elif _within(wanted, have) and len("".join(wanted)) >= 4:
            score = 3.0 + len(wanted) / (len(have) + 1)  # the more of the name, the better
        elif _within(have, wanted) and len("".join(have)) >= 4:
            score = 2.0 + len(have) / (len(wanted) + 1)
        elif _figures_agree(wanted, have):
            ratio = fuzz.ratio(" ".join(wanted), " ".join(have))
            if ratio < 85:
                continue
            score = ratio / 100
        else:
            continue
        scored.append((score, source.number))
    if not scored:
        return []
    best = max(score for score, _n in scored)
    return [number for score, number in scored if score == best]


def _citation_like(name: str, sources: Sequence[Source]) -> bool:
    """Whether a bracketed phrase that names no source still reads as a citation: it has a
    page locator ('Annual Report, p. 4'), or it is a numbered item of a kind the sources are
    named by ('Clause 12' when the sources are 'Clause 1' … 'Clause 10')."""
    bare, located = _strip_locator(name)
    if located:
        return True
    tokens = _name_tokens(bare)
    if not 2 <= len(tokens) <= 3 or not tokens[-1][0].isdigit() or tokens[0][0].isdigit():
        return False
    return any(source.name and _name_tokens(source.name)[:1] == tokens[:1]
               for source in sources)


def _named(marker: str, start: int, end: int, listed: str,
           sources: Sequence[Source]) -> Citation:
    """A citation by name ('Source: Annual Report; Pricing'), each name resolved."""
    whole = listed.strip()
    names = [whole] if _by_name(whole, sources) else \
        [n.strip() for n in _NAME_LIST.split(whole) if n.strip()]
    citation = Citation(marker, start, end, names)
    for name in names:
        numbers = _by_name(name, sources)
        if not numbers:
            citation.problems.append(f"names {name!r}, which is no provided source")
        citation.sources.extend(n for n in numbers if n not in citation.sources)
    return citation


def find_citations(text: str, sources: Sequence[Source]) -> list[Citation]:
    """Every citation marker of ``text``, resolved against ``sources``."""
    definitions = {m.group(1): m.group(2).strip() for m in _FOOTNOTE_DEF.finditer(text)}
    found: list[Citation] = []
    for m in _NUMBERED.finditer(text):
        spec = m.group(1) or m.group(2)
        found.append(Citation(m.group(0), m.start(), m.end(), [str(n) for n in _numbers(spec)],
                              _numbers(spec)))
    for m in _NAMED.finditer(text):
        found.append(_named(m.group(0), m.start(), m.end(), m.group(1), sources))
    for m in _FOOTNOTE.finditer(text):
        label = m.group(1)
        citation = Citation(m.group(0), m.start(), m.end(), [label])
        target = definitions.get(label)
        if target is not None:
            numbers = _by_name(re.sub(r"^\[(\d+)\]", r"\1", target), sources)
            if not numbers:
                citation.problems.append(
                    f"footnote [^{label}] names {preview(target, 40)!r}, which is no provided "
                    "source")
            else:
                citation.sources.extend(numbers)
        elif label.isdigit():
            citation.sources.append(int(label))
        else:
            citation.problems.append(f"footnote [^{label}] has no definition")
        found.append(citation)
    for m in _SUPERSCRIPT.finditer(text):
        number = int(m.group(1).translate(_SUPERSCRIPT_DIGITS))
        found.append(Citation(m.group(1), m.start(1), m.end(1), [str(number)], [number]))
    taken = [(c.start, c.end) for c in found]
    for m in _BRACKETED.finditer(text):
        if any(m.start() < e and s < m.end() for s, e in taken):
            continue
        phrase = m.group(1)
        if not re.search(r"[^\W\d_]{2}", phrase):
            continue  # '(2023)', '(18)': a figure in brackets, [1] and (Source 2) are above
        if any(_by_name(part, sources) or _citation_like(part, sources)
               for part in [phrase, *_NAME_LIST.split(phrase)]):
            found.append(_named(m.group(0), m.start(), m.end(), phrase, sources))
    # markers inside footnote definitions belong to the definition, not to a claim
    inside = [(m.start(), m.end()) for m in _FOOTNOTE_DEF.finditer(text)]
    found = [c for c in found if not any(s <= c.start < e for s, e in inside)]
    count = len(sources)
    for citation in found:
        for number in citation.sources:
            if not 1 <= number <= count:
                there = f"there {'is' if count == 1 else 'are'} {count} source" + \
                    ("" if count == 1 else "s")
                citation.problems.append(f"{citation.marker} points to source {number}; {there}")
    found.sort(key=lambda c: c.start)
    return found


def _blank(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` with the given spans replaced by spaces (offsets stay valid)."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


@check(
    "cites_sources",
    failure_mode="hallucination",
    examples=(
        {},
        {"min_citations": 0},
        {"threshold": 0.7, "require_all": True, "strict": False},
        {"sources": {"Refund policy": "Refunds are accepted within 30 days."}},
        {"sources": ["Q3 revenue was $1.2 million.", {"title": "Costs", "text": "Costs rose."}]},
    ),
)
def cites_sources(
    threshold: float = 0.6,
    sources: SourcesArg = None,
    min_citations: int = 1,
    require_all: bool = False,
    strict: bool = True,
) -> CheckFn:
    """Every citation in the output ([1], [^2], ¹, (Source: Name)) points to a provided
    source, and the cited source supports the sentence the citation is attached to.

    Sources are the case's context documents numbered from 1 (named by a title line such as
    '# Refund policy'), or ``sources`` given here: a mapping of name to text or a list of
    texts or {title, text}. A cited sentence must score ≥ ``threshold`` against the cited
    sources alone (and, with ``strict``, hold no number or date they lack). The output needs
    at least ``min_citations`` citations; with ``require_all`` every sentence that makes a
    claim needs one.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"'threshold' must be between 0 and 1, got {threshold}")
    if min_citations < 0:
        raise ValueError(f"'min_citations' must be ≥ 0, got {min_citations}")

    def run(inp: CheckInput) -> CheckResult:
        detector = _detector()
        provided = _sources(sources, inp.context)
        text = inp.output
        # footnote definitions are where citations point, not claims of the output
        body = _blank(text, [(m.start(), m.end()) for m in _FOOTNOTE_DEF.finditer(text)])
        citations = find_citations(text, provided)
        body = _blank(body, [(c.start, c.end) for c in citations])
        sentences = detector.split_claims(body, clauses=False)

        def sentence_of(citation: Citation) -> int | None:
            for i, (start, end) in enumerate(sentences):
                if start <= citation.start < end:
                    return i
            # a marker after the full stop belongs to the sentence before it
            before = [i for i, (_s, end) in enumerate(sentences) if end <= citation.start]
            if before:
                return before[-1]
            return 0 if sentences else None

        attached: dict[int, list[Citation]] = {}
        for citation in citations:
            i = sentence_of(citation)
            if i is not None:
                attached.setdefault(i, []).append(citation)

        problems: list[str] = []
        checked: list[dict[str, Any]] = []
        supported = 0
        for i, group in sorted(attached.items()):
            start, end = sentences[i]
            numbers = sorted({n for c in group for n in c.sources if 1 <= n <= len(provided)})
            entry: dict[str, Any] = {
                "sentence": body[start:end].strip(), "start": start, "end": end,
                "citations": [c.to_dict() for c in group], "sources": numbers,
            }
            for c in group:
                problems.extend(c.problems)
            if numbers:
                cited = [provided[n - 1].text for n in numbers]
                verdict = detector.ground(body[start:end], cited, threshold=threshold)
                spans = [detector.Span(s.start + start, s.end + start, s.text, s.kind)
                         for s in verdict.unsupported_spans()]
                figures = [s for s in spans if s.kind in _FIGURES]
                ok = verdict.score >= threshold and not (strict and figures)
                entry.update(score=round(verdict.score, 4), supported=ok,
                             unsupported=[s.to_dict() for s in spans],
                             missing_words=[w for c in verdict.claims for w in c.missing_words])
                label = ", ".join(str(n) for n in numbers)
                if ok:
                    supported += 1
                else:
                    detail = ", ".join(f"{s.kind} {s.text!r}" for s in spans[:3]) or \
                        f"score {verdict.score:.2f} < {threshold}"
                    problems.append(f"{_show(body[start:end].strip(), 50)!r} is not supported "
                                    f"by source {label} ({detail})")
            else:
                entry.update(score=None, supported=False)
            checked.append(entry)

        uncited: list[str] = []
        if require_all:
            for i, (start, end) in enumerate(sentences):
                sentence = body[start:end].strip()
                if i not in attached and sentence and not sentence.endswith("?") and any(
                    detector.word_weight(w) >= 1.0
                    for w in detector.folded_words(detector.fold_text(sentence))
                ):
                    uncited.append(sentence)
            if uncited:
                problems.append(f"{len(uncited)} sentence{'s' if len(uncited) != 1 else ''} "
                                f"without a citation, e.g. {_show(uncited[0], 50)!r}")
        if len(citations) < min_citations:
            problems.insert(0, f"found {len(citations)} citation"
                               f"{'s' if len(citations) != 1 else ''}, expected at least "
                               f"{min_citations}")

        valid = sum(1 for c in citations if not c.problems)
        units = len(checked) + len(uncited)
        score = supported / units if units else (1.0 if not problems else 0.0)
        n_src = f"{len(provided)} source{'s' if len(provided) != 1 else ''}"
        expected = (f"expected every citation to point to one of the {n_src} and to be "
                    f"supported by it (score ≥ {threshold})")
        if problems:
            shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more"
                                                if len(problems) > 4 else "")
            reason = f"{expected}; found: {shown}"
        else:
            reason = (f"{expected}; found {len(citations)} citation"
                      f"{'s' if len(citations) != 1 else ''} in {len(checked)} sentence"
                      f"{'s' if len(checked) != 1 else ''}, all supported")
        evidence: dict[str, Any] = {
            "sources": [{"number": s.number, "name": s.name} for s in provided],
            "citations": len(citations),
            "valid_citations": valid,
            "cited_sentences": checked,
            "uncited_sentences": uncited,
            "problems": problems,
        }
        if problems:
            evidence["failure_mode"] = "hallucination"
        return CheckResult("cites_sources", not problems, score, reason, evidence)

    return run

