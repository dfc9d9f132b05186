"""Deterministic grounding: is each claim of an output supported by the source documents?

No model and no download. The output is split into claims (sentences, and clauses of long
sentences) and each claim is compared with an index of the sources:

* numbers, amounts, percentages and dates must appear in the sources, after normalisation:
  "1.2 million" = "1,200,000", "3%" = "3 percent" = "3 per cent", "$5m" = "5 million
  dollars", "twelve" = 12, "17 Jan 1925" = "January 17, 1925" = "1925-01-17"; a hedged
  figure ("about 1.2 million", "more than 30") may be rounded, an exact one may not;
* named entities (capitalised spans) and quoted strings must appear;
* a negated statement ("X did not ...") must not rest on a passage that says it plainly,
  and a causal or contrastive link ("due to", "led to", "despite") must be the passage's too;
* content words must be covered, after folding and light stemming of both sides
  ("organisations" = "organization", "wrote" = "written"), and preferably together: word
  pairs of the claim should stand near each other in the sources, and its words should come
  from one passage, which catches true words recombined into a false statement.

What is not supported adds up to a claim's unsupported *mass*, in units of one missing
content word (see ``ANCHOR`` ... ``COST`` below); a claim scores ``exp(-mass / SCALE)`` and
the output the product of its claims' scores, so one invented figure or name costs the
same in a long answer as in a short one. Below ``threshold`` the output is labelled
hallucinated. The unsupported numbers, dates, entities, quotes, negations and links come
back as spans of the output, so a report can highlight them.

A question claims only what it names: its figures and names are checked, its words are
not. Text the user supplied that is not evidence (the question, the conversation so far)
can be passed as ``prompt``: repeating it is no hallucination, so its figures and names
count as supported, but its words earn only ``PROMPT_CREDIT`` of a source word's credit.

Pure Python plus ``rapidfuzz`` for near spellings. An index of the sources is cached, so
many outputs scored against the same documents cost one indexing.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

SpanKind = Literal["number", "date", "entity", "quote", "negation", "link"]
Label = Literal["faithful", "hallucinated"]

# Thresholds chosen on labelled data (bench/grounding_eval.py, docs/detectors.md), since
# how much unsupported material a faithful answer carries differs by task: a short answer
# to a question copies its source (HaluEval QA), a summary paraphrases (HaluEval
# summarization), a chat reply may add chit-chat around a knowledge graph (HaluEval
# dialogue) or must stay within one knowledge sentence (FaithDial: 'dialogue_strict').
TASK_THRESHOLDS: dict[str, float] = {"qa": 0.98, "summarization": 0.17, "dialogue": 0.5,
                                     "dialogue_strict": 0.82}
DEFAULT_THRESHOLD = 0.5

# How unsupported material adds up, in units of one missing content word. A missing word
# counts 1, and up to 1 + ANCHOR when the rest of its claim comes from one passage (a detail
# changed inside a sourced statement is the typical hallucination; a remark beside the
# sources is milder). Adjacent content words the sources never hold near each other count
# PAIRS per pair; words found only away from the claim's best passage count SPREAD each;
# an unsupported number, date, entity, quote, negation or link counts COST.
ANCHOR = 4.0
PAIRS = 0.5
SPREAD = 1.0
COST = 3.0
SCALE = 20.0  # a claim scores exp(-mass / SCALE)
PROMPT_CREDIT = 0.5  # credit of a word found only in the prompt
COMMON_WEIGHT = 0.3  # weight of a common word ('good', 'make'); function words weigh 0
WINDOW = 2  # sentences in a source passage
PAIR_DISTANCE = 3  # content words apart that still count as 'near each other'
NEGATION_LOCALITY = 0.6  # share of a claim one passage must hold to be contradicted by it


# ---------------------------------------------------------------------------------------
# result values


@dataclass(frozen=True)
class Span:
    """``text`` at ``output[start:end]`` that the sources do not support."""

    start: int
    end: int
    text: str
    kind: SpanKind

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text, "kind": self.kind}


@dataclass(frozen=True)
class Claim:
    """One claim (``output[start:end]``) and how well the sources support it.

    ``coverage``: weighted share of its content words found in the sources; ``phrases``:
    share of its adjacent content-word pairs found near each other there; ``locality``:
    share of its content words found in its best passage. ``mass`` is the unsupported
    material (see the module docstring) and ``score`` = exp(-mass / SCALE).
    """

    start: int
    end: int
    text: str
    score: float
    coverage: float = 1.0
    phrases: float = 1.0
    locality: float = 1.0
    unsupported: tuple[Span, ...] = ()
    missing_words: tuple[str, ...] = ()
    mass: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "score": round(self.score, 4),
            "coverage": round(self.coverage, 4),
            "phrases": round(self.phrases, 4),
            "locality": round(self.locality, 4),
            "unsupported": [s.to_dict() for s in self.unsupported],
            "missing_words": list(self.missing_words),
        }


@dataclass(frozen=True)
class Grounding:
    """The verdict on one output: its claims, the overall score and the label."""

    score: float
    label: Label
    threshold: float
    claims: tuple[Claim, ...] = ()

    def unsupported_claims(self) -> list[Claim]:
        """Claims scored below the threshold or holding an unsupported span."""
        return [c for c in self.claims if c.score < self.threshold or c.unsupported]

    def unsupported_spans(self) -> list[Span]:
        return [span for claim in self.claims for span in claim.unsupported]

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 4),
            "label": self.label,
            "threshold": self.threshold,
            "claims": [c.to_dict() for c in self.claims],
        }


# ---------------------------------------------------------------------------------------
# words: folding, stemming, weights


def _listed(text: str) -> list[str]:
    return text.split()


# Function words claim nothing; common words claim little (a sentence made only of them
# says nothing a source could contradict), so they weigh less.
STOPWORDS = frozenset(_listed("""
a about above after again against all also am an and any are aren't as at be because been
before being below between both but by can can't cannot could couldn't did didn't do does
doesn't doing don't down during each either else ever every few for from further had hadn't
has hasn't have haven't having he he'd he'll he's her here here's hers herself him himself his
how how's however i i'd i'll i'm i've if in into is isn't it it's its itself just let's me
more most mustn't my myself neither no nor not now of off on once only or other ought our ours
ourselves out over own same shan't she she'd she'll she's should shouldn't so some such than
that that's the their theirs them themselves then there there's these they they'd they'll
they're they've this those through thus to too under until up upon us very was wasn't we we'd
we'll we're we've were weren't what what's when when's where where's whether which while who
who's whom whose why why's will with won't would wouldn't yet you you'd you'll you're you've
your yours yourself yourselves yes yeah ok okay oh ah hi hello hey please thanks thank lol
haha wow um uh hmm ya yep nope im ive dont didnt doesnt isnt wasnt cant wont thats whats
theres youre s t d ll m re ve nd rd th st n't 's 're 've 'll 'd 'm
"""))

COMMON_WORDS = frozenset(_listed("""
able actually again ago almost along already although always among another anything anyway
around away back bad based became become becomes best better big bit came certain certainly
come comes coming could day days definitely did different do done each early either enough
especially even exactly example far feel felt find fine found get gets getting give given go
goes going gone good got great guess had happen happened hard has have hear heard help high
however idea important indeed instead interesting keep kind knew know known large last later
least less let like liked likes little long look looking lot lots love loved made main make
makes making many may maybe mean means might much must need never new next nice often old
one ones part people perhaps place point pretty probably put quite rather real really
recently right said same saw say says see seem seems seen several should show since small
something sometimes soon sort still stuff sure take taken tell than thing things think
thought though time times today together told took toward true try trying turn two use used
using usually want wanted way ways well went whole will wish within without wonder year
years yet also believe
"""))

_COMBINING = re.compile(r"[\u0300-\u036f]")
# Words start with a letter and may hold digits ('q2', 'i386'); the letters of '2nd', '1990s'
# or '5bn' come out as words of their own, which the figure words below leave out.
_WORD_ASCII = re.compile(r"[a-z][a-z0-9]*(?:'[a-z]+)?")
_WORD_ANY = re.compile(r"[^\W\d_][^\W_]*(?:'[^\W\d_]+)?")
_RAW_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_HYPHENATED = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)+")


def fold_text(text: str) -> str:
    """Lower case, accents removed, curly apostrophes straightened."""
    low = text.lower().replace("’", "'")
    if low.isascii():
        return low
    return _COMBINING.sub("", unicodedata.normalize("NFKD", low))


def folded_words(folded: str) -> list[str]:
    """The words of a folded text, hyphenated compounds also as one word ('manmade')."""
    words: list[str] = (_WORD_ASCII if folded.isascii() else _WORD_ANY).findall(folded)
    if "-" in folded:
        words.extend(m.group(0).replace("-", "") for m in _HYPHENATED.finditer(folded)
                     if not all(part in NUMBER_WORDS for part in m.group(0).split("-")))
    return words


_DOUBLE = re.compile(r"([bdfgkmnprt])\1$")
# Irregular forms a suffix rule cannot reach, mapped to their base form.
_IRREGULAR = {
    form: base
    for base, forms in (
        ("arise", "arose arisen"), ("be", "was were been"), ("bear", "bore born borne"),
        ("beat", "beaten"), ("become", "became"), ("begin", "began begun"),
        ("bite", "bit bitten"), ("blow", "blew blown"), ("break", "broke broken"),
        ("bring", "brought"), ("build", "built"), ("buy", "bought"), ("catch", "caught"),
        ("choose", "chose chosen"), ("come", "came"), ("dig", "dug"), ("do", "did done"),
        ("draw", "drew drawn"), ("drink", "drank drunk"), ("drive", "drove driven"),
        ("eat", "ate eaten"), ("fall", "fell fallen"), ("feed", "fed"), ("feel", "felt"),
        ("fight", "fought"), ("find", "found"), ("fly", "flew flown"),
        ("forget", "forgot forgotten"), ("freeze", "froze frozen"), ("get", "got gotten"),
        ("give", "gave given"), ("go", "went gone"), ("grow", "grew grown"),
        ("hang", "hung"), ("have", "had has"), ("hear", "heard"), ("hide", "hid hidden"),
        ("hold", "held"), ("keep", "kept"), ("know", "knew known"), ("lay", "laid"),
        ("lead", "led"), ("leave", "left"), ("lend", "lent"), ("lie", "lay lain"),
        ("lose", "lost"), ("make", "made"), ("mean", "meant"), ("meet", "met"),
        ("pay", "paid"), ("ride", "rode ridden"), ("ring", "rang rung"), ("rise", "rose risen"),
        ("run", "ran"), ("say", "said"), ("see", "saw seen"), ("seek", "sought"),
        ("sell", "sold"), ("send", "sent"), ("shake", "shook shaken"), ("shoot", "shot"),
        ("sing", "sang sung"), ("sink", "sank sunk"), ("sit", "sat"), ("sleep", "slept"),
        ("speak", "spoke spoken"), ("spend", "spent"), ("stand", "stood"),
        ("steal", "stole stolen"), ("stick", "stuck"), ("strike", "struck"),
        ("swim", "swam swum"), ("take", "took taken"), ("teach", "taught"),
        ("tear", "tore torn"), ("tell", "told"), ("think", "thought"), ("throw", "threw thrown"),
        ("understand", "understood"), ("wake", "woke woken"), ("wear", "wore worn"),
        ("win", "won"), ("write", "wrote written"), ("man", "men"), ("woman", "women"),
        ("child", "children"), ("person", "people"), ("foot", "feet"), ("tooth", "teeth"),
        ("mouse", "mice"),
    )
    for form in forms.split()
}


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light stem of a folded word: inflections off, so 'cities' = 'city', 'baked' =
    'baking' = 'bake', 'organisations' = 'organization', 'wrote' = 'written'. Both sides go
    through it, so a crude stem is enough as long as it is consistent."""
    w = _IRREGULAR.get(word, word)
    if w.endswith("'s"):
        w = w[:-2]
    elif "'" in w:
        w = w.replace("'", "")
    if len(w) <= 3:
        return w[:2] if len(w) == 3 and w[2] == "s" and w[1] not in "aeiou" else w  # tvs
    if w.endswith(("ies", "ied")) and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith(("sses", "ches", "shes", "xes", "zes")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if w.endswith("ing") and len(w) > 5:
        w = _DOUBLE.sub(r"\1", w[:-3])
    elif w.endswith("ed") and len(w) > 4:
        w = _DOUBLE.sub(r"\1", w[:-2])
    if w.endswith("ly") and len(w) > 5:
        w = w[:-2]
    if w.endswith("y") and len(w) > 3:
        w = w[:-1] + "i"
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    if len(w) > 5:  # British and American spellings meet: organisation, colour
        w = w.replace("isat", "izat").replace("our", "or")
        if w.endswith("is"):
            w = w[:-1] + "z"
    return w


def word_weight(folded: str) -> float:
    """How much a word matters to a claim: 0 for function words, little for common ones."""
    if folded in STOPWORDS:
        return 0.0
    if folded in COMMON_WORDS or len(folded) <= 2:
        return COMMON_WEIGHT
    return 1.0


# Places and their adjectives name the same thing ('in China' / 'the Chinese Grand Prix').
_DEMONYM_PAIRS = _listed("""
afghanistan afghan albania albanian algeria algerian america american argentina argentine
argentina argentinian australia australian austria austrian bangladesh bangladeshi belgium
belgian bolivia bolivian brazil brazilian britain british bulgaria bulgarian cambodia
cambodian canada canadian chile chilean china chinese colombia colombian croatia croatian
cuba cuban czechia czech denmark danish egypt egyptian england english ethiopia ethiopian
europe european finland finnish france french germany german ghana ghanaian greece greek
holland dutch netherlands dutch hungary hungarian iceland icelandic india indian indonesia
indonesian iran iranian iraq iraqi ireland irish israel israeli italy italian jamaica
jamaican japan japanese jordan jordanian kenya kenyan korea korean kuwait kuwaiti lebanon
lebanese libya libyan malaysia malaysian mexico mexican morocco moroccan nepal nepalese
nigeria nigerian norway norwegian pakistan pakistani peru peruvian philippines filipino
poland polish portugal portuguese qatar qatari romania romanian russia russian scotland
scottish serbia serbian singapore singaporean slovakia slovak somalia somali spain spanish
sweden swedish switzerland swiss syria syrian taiwan taiwanese thailand thai tunisia
tunisian turkey turkish uganda ugandan ukraine ukrainian venezuela venezuelan vietnam
vietnamese wales welsh yemen yemeni zimbabwe zimbabwean africa african asia asian
arabia arab arabia saudi
""")
ALIASES: dict[str, frozenset[str]] = {}
for _place, _adjective in zip(_DEMONYM_PAIRS[::2], _DEMONYM_PAIRS[1::2], strict=True):
    ALIASES[stem(_place)] = ALIASES.get(stem(_place), frozenset()) | {stem(_adjective)}
    ALIASES[stem(_adjective)] = ALIASES.get(stem(_adjective), frozenset()) | {stem(_place)}


# ---------------------------------------------------------------------------------------
# figures: numbers, amounts, percentages and dates

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "dozen": 12,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000,
           "trillion": 1_000_000_000_000}
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50,
    "sixtieth": 60, "seventieth": 70, "eightieth": 80, "ninetieth": 90,
}
NUMBER_WORDS = frozenset({*_UNITS, *_TENS, *_SCALES, *_ORDINALS})
# Words that belong to a figure ('5 million dollars', '3 per cent'): the figure is checked.
_FIGURE_WORDS = NUMBER_WORDS | frozenset(_listed(
    "k b bn mn tn per percent cent dollar dollars pound pounds euro euros usd gbp eur yen "
    "rupee rupees"
))
# Alone, these are words more often than counts: 'one of', 'the first time', 'a second'.
_WEAK_NUMBER_WORDS = frozenset({"one", "first", "second", "dozen", "hundred", "thousand",
                                "million", "billion", "trillion", "zero"})
_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}
_SCALE_SUFFIX = {"k": 1e3, "m": 1e6, "mn": 1e6, "b": 1e9, "bn": 1e9, "tn": 1e12,
                 "hundred": 1e2, "thousand": 1e3, "million": 1e6, "billion": 1e9,
                 "trillion": 1e12}
# One-letter suffixes are units too (5m = five metres, a 5k race) unless money is meant.
_AMBIGUOUS_SUFFIX = frozenset({"k", "m", "b"})

# The pattern starts with a digit so the engine can skip to digits quickly; the lookbehind
# then rejects digits inside words ('i386'), decimals and other numbers.
_NUMERIC = re.compile(
    r"(?P<num>\d(?<![\w.,/]\d)(?:\d{0,2}(?:,\d{3})+(?:\.\d+)?|\d*(?:\.\d+)?))"
    r"(?:(?P<ord>st|nd|rd|th)\b|(?P<dec>'?s)\b)?"
    r"(?:\s?(?P<scale>hundred|thousand|million|billion|trillion|bn|mn|tn|k|m|b)\b)?"
    r"(?:\s?(?P<pct>%|percent\b|per\s?cent\b))?",
    re.IGNORECASE,
)
_NUMERIC_DATE = re.compile(
    r"\b(?:(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})|"
    r"(?P<a>\d{1,2})[/.](?P<b>\d{1,2})[/.](?P<y2>\d{4}|\d{2}))(?!\d)"
)
_WORD_BEFORE = re.compile(r"([A-Za-z]+)\.?,?\s+$")
_WORD_AFTER = re.compile(r"(?:st|nd|rd|th)?\s+(?:of\s+)?([A-Za-z]+)\.?(?:,?\s+(\d{4})(?!\d))?")
_YEAR_AFTER = re.compile(r"(?:st|nd|rd|th)?,?\s+(\d{4})(?!\d)")
_CURRENCY_BEFORE = re.compile(r"(?:[$£€¥₹]|\b(?:usd|gbp|eur|rs)\.?)\s?$", re.IGNORECASE)
_CURRENCY_AFTER = re.compile(r"\s?(?:dollars?|pounds?|euros?|usd|gbp|eur|yen|rupees?)\b",
                             re.IGNORECASE)
# Words that hedge a figure: 'about 1.2 million' may round 1,213,000 (within 10%); 'more
# than 30' may stand for 34 and 'fewer than 40' for 34 (within half the figure again).
_HEDGE = re.compile(
    r"\b(?:(?P<about>about|around|approximately|approx|roughly|nearly|almost|some|close to|"
    r"estimated|circa|ca)|(?P<above>over|more than|at least|just over|upwards of|above)|"
    r"(?P<below>under|less than|fewer than|up to|at most|just under|below))[\s.]*"
    r"(?:[$£€¥₹]\s?)?$",
    re.IGNORECASE,
)
Hedge = Literal["about", "above", "below"] | None
_LETTERS = re.compile(r"[A-Za-z]+")

DateParts = tuple[int | None, int | None, int | None]  # (year, month, day)


@dataclass(frozen=True)
class Quantity:
    """A number in a text: where it is, every value it may stand for, how it is hedged."""

    start: int
    end: int
    values: frozenset[float]
    hedged: Hedge = None


@dataclass(frozen=True)
class DateMention:
    """A date in a text with each of its readings (day and month swap when ambiguous)."""

    start: int
    end: int
    options: tuple[DateParts, ...]


def _key(value: float) -> float:
    return float(f"{value:.9g}")


def _year(text: str | None) -> int | None:
    if not text:
        return None
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < 50 else 1900
    return year


def _month(word: str | None) -> int | None:
    # a month is capitalised in running text, which tells 'in May 2013' from 'may 5 of them'
    if not word or not word[0].isupper():
        return None
    return _MONTHS.get(word.lower())


def _overlaps(start: int, end: int, taken: Sequence[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in taken)


def figures(text: str, *, spelled: bool = True, hedges: bool = True,
            ) -> tuple[list[DateMention], list[Quantity]]:
    """The dates and the other numbers of ``text``, with their normalised values.

    Dates: '17 January 1925', 'January 17, 1925', 'Jan 1925', '1925-01-17', '17/01/1925'.
    Numbers: '1,200,000', '1.2 million', '$5m', '3%', '3 per cent', '4th', 'the 80s', and
    written-out numbers ('twenty-five thousand') unless ``spelled`` is off. ``hedges``
    looks for 'about', 'more than', ... before each number.
    """
    found: list[DateMention] = []
    for m in _NUMERIC_DATE.finditer(text):
        if m.group("y"):
            year, month, day = int(m.group("y")), int(m.group("mo")), int(m.group("d"))
            options: list[DateParts] = (
                [(year, month, day)] if 1 <= month <= 12 and 1 <= day <= 31 else []
            )
        else:
            a, b, year2 = int(m.group("a")), int(m.group("b")), _year(m.group("y2"))
            options = [(year2, mo, d) for d, mo in ((a, b), (b, a))
                       if 1 <= mo <= 12 and 1 <= d <= 31]
        if options:
            found.append(DateMention(m.start(), m.end(), tuple(dict.fromkeys(options))))
    taken = [(d.start, d.end) for d in found]
    numeric = list(_NUMERIC.finditer(text))
    for m in numeric:
        num = m.group("num")
        if not num.isdigit() or m.group("scale") or m.group("pct") or m.group("dec"):
            continue
        start, end = m.start(), m.end("num")
        if _overlaps(start, end, taken):
            continue
        mention = _month_date(text, start, end, int(num))
        if mention is not None and not _overlaps(mention.start, mention.end, taken):
            found.append(mention)
            taken.append((mention.start, mention.end))
    found.sort(key=lambda d: d.start)

    quantities: list[Quantity] = []
    for m in numeric:
        start, end = m.start(), m.end()
        if _overlaps(start, end, taken):
            continue
        amount = float(m.group("num").replace(",", ""))
        currency = _CURRENCY_BEFORE.search(text, max(0, start - 5), start)
        money = bool(currency) or bool(_CURRENCY_AFTER.match(text, end))
        if currency:
            start = currency.start()
        values = {amount}
        scale = (m.group("scale") or "").lower()
        if scale:
            factor = _SCALE_SUFFIX[scale]
            values = {amount, amount * factor} if scale in _AMBIGUOUS_SUFFIX and not money \
                else {amount * factor}
        if m.group("dec") and amount < 100 and amount % 10 == 0:
            values.add(1900 + amount)  # the 80s
        hedged = _hedge(text, start) if hedges else None
        quantities.append(Quantity(start, end, frozenset(_key(v) for v in values), hedged))
    if spelled:
        numeric_ends = [q.end for q in quantities]
        words = [(m.group(0).lower(), m.start(), m.end()) for m in _LETTERS.finditer(text)]
        for start, end, value, phrase in _word_number_runs(words):
            if phrase in _WEAK_NUMBER_WORDS or _overlaps(start, end, taken):
                continue
            if phrase in _SCALES and any(0 <= start - e <= 1 for e in numeric_ends):
                continue  # '1.2 million': the digits took it
            hedged = _hedge(text, start) if hedges else None
            quantities.append(Quantity(start, end, frozenset({_key(value)}), hedged))
        quantities.sort(key=lambda q: q.start)
    return found, quantities


def _hedge(text: str, start: int) -> Hedge:
    m = _HEDGE.search(text, max(0, start - 24), start)
    if m is None:
        return None
    return "about" if m.group("about") else "above" if m.group("above") else "below"


def _month_date(text: str, start: int, end: int, value: int) -> DateMention | None:
    """A date around the number ``text[start:end]`` with a month name next to it."""
    after = _WORD_AFTER.match(text, end)
    month = _month(after.group(1)) if after else None
    if after and month and value <= 31:  # 17 January (1925)
        return DateMention(start, after.end(), ((_year(after.group(2)), month, value),))
    before = _WORD_BEFORE.search(text, max(0, start - 12), start)
    month = _month(before.group(1)) if before else None
    if before is None or month is None:
        return None
    if 1 <= value <= 31 and end - start <= 2:  # January 17(, 1925)
        year = _YEAR_AFTER.match(text, end)
        return DateMention(before.start(), year.end() if year else end,
                           ((_year(year.group(1)) if year else None, month, value),))
    if 1000 <= value <= 2999:  # January 1925
        return DateMention(before.start(), end, ((value, month, None),))
    return None


def _word_number_runs(words: Sequence[tuple[str, int, int]],
                      ) -> Iterator[tuple[int, int, float, str]]:
    """(start, end, value, words) of each run of number words ('twenty-five thousand');
    ``words`` are (lower-case word, start, end) in order, adjacent when at most two
    characters apart."""
    i = 0
    while i < len(words):
        if words[i][0] not in NUMBER_WORDS:
            i += 1
            continue
        j = i
        parts = [words[i][0]]
        while j + 1 < len(words) and words[j + 1][1] - words[j][2] <= 2:
            nxt = words[j + 1][0]
            if nxt in NUMBER_WORDS and parts[-1] not in _ORDINALS:
                parts.append(nxt)
                j += 1
            elif (nxt == "and" and parts[-1] in _SCALES and j + 2 < len(words)
                  and words[j + 2][0] in NUMBER_WORDS and words[j + 2][1] - words[j + 1][2] <= 2):
                j += 1
            else:
                break
        yield words[i][1], words[j][2], _words_value(parts), " ".join(parts)
        i = j + 1


def _words_value(parts: Sequence[str]) -> float:
    total, current = 0.0, 0.0
    for part in parts:
        if part in _UNITS:
            current += _UNITS[part]
        elif part in _TENS:
            current += _TENS[part]
        elif part in _ORDINALS:
            current += _ORDINALS[part]
        elif part == "hundred":
            current = max(current, 1) * 100
        else:
            total += max(current, 1) * _SCALES[part]
            current = 0
    return total + current


# ---------------------------------------------------------------------------------------
# entities and quotes

_CONNECTORS = frozenset({"of", "the", "de", "del", "la", "le", "da", "di", "von", "van", "der",
                         "du", "&", "and", "y", "al", "bin"})
# A capitalised word, or initials ('J.K.', 'U.S.'); names may hold connectors ('Bank of
# England', 'Ludwig van Beethoven').
_ENTITY_WORD = r"(?:(?:[A-Z]\.)+(?:[A-Z][\w'’\-]*)?|[A-Z][\w'’\-]*)"
_ENTITY = re.compile(
    rf"(?<![\w'’]){_ENTITY_WORD}(?:(?:\s+(?:of|the|de|del|la|le|da|di|von|van|der|du|&))*"
    rf"\s+{_ENTITY_WORD})*"
)
_QUOTE = re.compile(r"[\"“”]([^\"“”\n]{3,300})[\"“”]|(?<![\w])['‘]([^'‘’\n]{3,300})['’](?!\w)")
_WEEKDAYS = frozenset({"monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                       "sunday"})
# Capitalised words that open a sentence or name the calendar, not a thing.
_NOT_ENTITIES = STOPWORDS | COMMON_WORDS | NUMBER_WORDS | _WEEKDAYS | frozenset(
    {"mr", "mrs", "ms", "dr", "st", "sure", "no", "yes", *_MONTHS}
)


@dataclass(frozen=True)
class Entity:
    start: int
    end: int
    tokens: tuple[str, ...]  # folded, without connectors, calendar words and initials


def entities(text: str) -> list[Entity]:
    """Capitalised spans of ``text``: names of people, places, organisations, titles."""
    found: list[Entity] = []
    for m in _ENTITY.finditer(text):
        raw = m.group(0).split()
        offsets: list[int] = []
        pos = m.start()
        for token in raw:
            pos = text.index(token, pos)
            offsets.append(pos)
            pos += len(token)
        keep = []
        for i, token in enumerate(raw):
            folded = fold_text(token.strip(".'’-"))
            if not folded or folded in _CONNECTORS:
                continue
            # a common word is part of a name inside it ('The Who'), not at its start
            if folded in _NOT_ENTITIES and (i == 0 or folded in _MONTHS or folded in _WEEKDAYS):
                continue
            keep.append(i)
        tokens = tuple(
            part[:-2] if part.endswith("'s") else part
            for i in keep for part in fold_text(raw[i].strip(".'’-")).split(".")
            if len(part) > 1  # initials prove nothing either way
        )
        if not tokens:
            continue
        first, last = keep[0], keep[-1]
        if len(keep) == 1 and first == 0 and _at_sentence_start(text, offsets[0]):
            continue  # 'Paramedics found ...': a capital that only opens the sentence
        end = offsets[last] + len(raw[last].rstrip(".'’-"))
        if text[end - 2:end] in ("'s", "’s"):
            end -= 2
        found.append(Entity(offsets[first], end, tokens))
    return found


def _at_sentence_start(text: str, start: int) -> bool:
    before = text[:start].rstrip(" \t\"'“‘([*-")
    if not before:
        return True
    if before[-1] == "." and _abbreviation_before(before + " ", len(before), len(before) + 1):
        return False  # 'Mr. Smith'
    return before[-1] in ".!?:;\n"


# ---------------------------------------------------------------------------------------
# the source index

_PASSAGE_END = re.compile(r"[.!?]+(?:\s+|(?=[A-Z]))|\n\s*")
_GLUED = re.compile(r"[a-z][A-Z]")
_NEGATION = re.compile(
    r"\b(?:not|never|no longer|none|nobody|nothing|neither|nor|cannot)\b|n't\b", re.IGNORECASE
)
# Words that link two facts as cause and effect or as a contrast: a link is a claim of its
# own, which the passage the facts come from must make too.
_LINK = re.compile(
    r"\b(?:because|due to|owing to|thanks to|as a result|result(?:ed|s|ing)? in|led to|"
    r"lead(?:s|ing)? to|caus(?:e|ed|es|ing)|despite|in spite of|therefore|consequently|"
    r"so that)\b",
    re.IGNORECASE,
)


def passages(text: str) -> list[str]:
    """The sentences of a source, and the records of knowledge snippets glued together
    without a space ('... Picture ShowThe Rocky ...')."""
    bounds = _passage_bounds(text)
    return [text[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _passage_bounds(text: str) -> list[int]:
    cuts = []
    for m in _PASSAGE_END.finditer(text):
        i = m.start()
        if text[i] == "." and i >= 1 and text[i - 1].isupper() and \
                (i < 2 or not text[i - 2].isalpha()):
            continue  # an initial: 'J. K. Rowling'
        cuts.append(m.end())
    for m in _GLUED.finditer(text):
        i = m.start()
        if text[i + 2:i + 3].islower() and text[max(0, i - 2):i + 1].islower() and i >= 2:
            cuts.append(i + 1)  # 'ShowThe', not 'McCartney' or 'YouTube'
    cuts.sort()
    return [0, *cuts, len(text)]


# Words that may start a negation or a link; a passage holding none needs no regex.
_NEGATION_WORDS = frozenset(_listed("not never no none nobody nothing neither nor cannot"))
_LINK_WORDS = frozenset(_listed(
    "because due owing thanks result results resulted resulting led lead leads leading cause "
    "caused causes causing despite spite therefore consequently so"
))


def _folded_passages(source: str) -> Iterator[tuple[list[str], bool, bool]]:
    """(folded words, holds a negation, holds a causal or contrastive link) per passage."""
    folded = fold_text(source)
    if len(folded) == len(source):
        bounds = _passage_bounds(source)
        pieces = [folded[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    else:  # folding moved offsets: fold passage by passage
        pieces = [fold_text(piece) for piece in passages(source)]
    for piece in pieces:
        words = folded_words(piece)
        present = set(words)
        negated = bool(present & _NEGATION_WORDS) or "n't" in piece
        linked = bool(present & _LINK_WORDS) and bool(_LINK.search(piece))
        yield words, negated and bool(_NEGATION.search(piece)), linked


@dataclass(frozen=True)
class SourceIndex:
    """What the sources say, in the forms claims are compared with."""

    text: str  # folded words joined by spaces and padded, for quotes
    stems: frozenset[str]
    stem_list: tuple[str, ...]  # the longer stems, for near spellings
    prefixes: dict[str, str]  # first letters of a long stem -> that stem
    positions: dict[str, list[int]]  # content stem -> its places in the content-word stream
    passage_of: tuple[int, ...]  # place in the content-word stream -> passage number
    negated: frozenset[int]  # passages that hold a negation
    linked: frozenset[int]  # passages that link facts as cause or contrast
    values: frozenset[float]
    numeric: tuple[float, ...]
    dates: tuple[DateParts, ...]

    def passages_of(self, word_stem: str) -> set[int]:
        return {self.passage_of[k] for k in self.positions.get(word_stem, ())}

    def near(self, a: str, b: str) -> bool:
        """Whether the sources hold content stems ``a`` and ``b`` within PAIR_DISTANCE."""
        if a == b:
            return True
        pa, pb = self.positions.get(a), self.positions.get(b)
        if not pa or not pb:
            return False
        if len(pa) > len(pb):
            pa, pb = pb, pa
        for i in pa:
            j = bisect.bisect_left(pb, i - PAIR_DISTANCE)
            if j < len(pb) and pb[j] <= i + PAIR_DISTANCE:
                return True
        return False


@functools.lru_cache(maxsize=256)
def index(sources: tuple[str, ...]) -> SourceIndex:
    """Index ``sources`` (cached: the same documents serve many outputs)."""
    positions: dict[str, list[int]] = {}
    passage_of: list[int] = []
    negated: set[int] = set()
    linked: set[int] = set()
    all_words: list[str] = []
    passage = 0
    place = positions.setdefault
    stop = STOPWORDS
    for source in sources:
        for words, has_negation, has_link in _folded_passages(source):
            if has_negation:
                negated.add(passage)
            if has_link:
                linked.add(passage)
            all_words.extend(words)
            content = [w for w in words if w not in stop]
            start = len(passage_of)
            for k, word in enumerate(content, start):
                place(stem(word), []).append(k)
            passage_of.extend([passage] * len(content))
            passage += 1
    joined = "\n\n".join(sources)
    found_dates, quantities = figures(joined, spelled=False, hedges=False)
    values: set[float] = set()
    date_options: list[DateParts] = []
    for d in found_dates:
        date_options.extend(d.options)
        for year, _month, day in d.options:
            values.update(float(part) for part in (year, day) if part is not None)
    for q in quantities:
        values.update(q.values)
    unique = set(all_words)
    if unique & NUMBER_WORDS:  # spelled out: a number even when weak ('one', 'first')
        runs = [(w, 2 * k, 2 * k + 1) for k, w in enumerate(all_words)
                if w in NUMBER_WORDS or w == "and"]
        values.update(_key(value) for _s, _e, value, _p in _word_number_runs(runs))
    stems = frozenset({stem(w) for w in unique})
    long_stems = sorted(s for s in stems if len(s) >= _PREFIX)
    return SourceIndex(
        text=" " + " ".join(all_words) + " ",
        stems=stems,
        stem_list=tuple(long_stems),
        prefixes={s[:_PREFIX]: s for s in long_stems},
        positions=positions,
        passage_of=tuple(passage_of),
        negated=frozenset(negated),
        linked=frozenset(linked),
        values=frozenset(values),
        numeric=tuple(sorted(values)),
        dates=tuple(dict.fromkeys(date_options)),
    )


_PREFIX = 6


def _match(word_stem: str, idx: SourceIndex) -> tuple[float, str | None]:
    """(credit, the source stem matched): 1 for the word itself or a demonym of it, 0.75 for
    a near spelling or a shared long prefix ('organisational'), 0 when the sources lack it."""
    if word_stem in idx.stems:
        return 1.0, word_stem
    for alias in ALIASES.get(word_stem, ()):
        if alias in idx.stems:
            return 1.0, alias
    if len(word_stem) > _PREFIX and word_stem[:_PREFIX] in idx.prefixes:
        return 0.75, idx.prefixes[word_stem[:_PREFIX]]
    if len(word_stem) >= 5 and idx.stem_list:
        from rapidfuzz import fuzz, process

        best = process.extractOne(word_stem, idx.stem_list, scorer=fuzz.ratio, score_cutoff=85)
        if best is not None:
            return 0.75, str(best[0])
    return 0.0, None


def _value_found(q: Quantity, idx: SourceIndex) -> bool:
    if q.values & idx.values:
        return True
    low, high = {"about": (0.9, 1.1), "above": (1.0, 1.5), "below": (0.5, 1.0),
                 None: (1.0, 1.0)}[q.hedged]
    return q.hedged is not None and any(
        low * value <= source <= high * value
        for value in q.values if value > 0 for source in idx.numeric)


def _date_found(d: DateMention, idx: SourceIndex) -> bool:
    return any(
        (year is None or year == sy) and (month is None or month == sm)
        and (day is None or day == sd)
        for year, month, day in d.options for sy, sm, sd in idx.dates
    )


def _quote_found(quote: str, idx: SourceIndex) -> bool:
    phrase = " ".join(folded_words(fold_text(quote)))
    if not phrase or f" {phrase} " in idx.text:
        return True
    from rapidfuzz import fuzz

    return fuzz.partial_ratio(phrase, idx.text, score_cutoff=90) > 0


# ---------------------------------------------------------------------------------------
# claims

_SENTENCE = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+|\n+")
_CLAUSE = re.compile(r";\s+|,\s+(?:but|while|whereas|although|though)\s+|\s+but\s+")
# '..., do you like that genre?': a statement with a question tagged on is two claims.
_TAG_QUESTION = re.compile(
    r",\s+(?=(?:do|does|did|have|has|had|is|are|was|were|can|could|would|will|should|shall|"
    r"don't|doesn't|didn't|isn't|aren't|wasn't|haven't|right|what|which|who|how|why|where|"
    r"when)\b[^,]*\?[\s\"'”’)*]*$)",
    re.IGNORECASE,
)
_CONDITIONAL = re.compile(r"(?:if|when|since|because|as|although|though|unless)\b", re.IGNORECASE)
_BULLET = re.compile(r"\s*(?:[-*•]|\d+[.)])\s+")
_MIN_CLAUSE_WORDS = 4
# A full stop after these does not end a sentence ('Dr. Who', 'U.S. troops').
_ABBREVIATIONS = frozenset(_listed(
    "mr mrs ms dr st jr sr vs etc no nos inc ltd co corp gen gov sen rep prof lt sgt col capt "
    "mt ft fig vol approx dept est jan feb mar apr jun jul aug sep sept oct nov dec e.g i.e "
    "a.m p.m"
))
_LAST_TOKEN = re.compile(r"([\w.]+)[.!?]$")
_LEADING_NO = re.compile(r"\s*no\b[,.!]?", re.IGNORECASE)


def split_claims(text: str, *, clauses: bool = True) -> list[tuple[int, int]]:
    """(start, end) of each claim of ``text``: sentences, and clauses of long sentences
    unless ``clauses`` is off."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _SENTENCE.finditer(text):
        if _abbreviation_before(text, m.start(), m.end()):
            continue
        spans.extend(_clauses(text, pos, m.start(), clauses))
        pos = m.end()
    spans.extend(_clauses(text, pos, len(text), clauses))
    return spans


def _abbreviation_before(text: str, start: int, end: int) -> bool:
    """Whether the break ``text[start:end]`` follows an initial or an abbreviation, or
    comes before a lower-case word: no sentence end then."""
    if "\n" in text[start:end]:
        return False
    last = _LAST_TOKEN.search(text, max(0, start - 12), start)
    if last and text[start - 1] == ".":
        token = last.group(1).lower().strip(".")
        if all(len(part) == 1 for part in token.split(".")) or token in _ABBREVIATIONS:
            return True
    following = text[end:end + 1]
    return bool(following) and following.islower()


def _clauses(text: str, start: int, end: int, split: bool = True,
             ) -> Iterator[tuple[int, int]]:
    bullet = _BULLET.match(text, start, end)
    if bullet:
        start = bullet.end()
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end <= start:
        return
    if not split:
        yield start, end
        return
    pos = start
    tag = _TAG_QUESTION.search(text, start, end) if text[start:end].rstrip(
        " \"'”’)*").endswith("?") else None
    for m in _CLAUSE.finditer(text, start, tag.start() if tag else end):
        if len(_RAW_WORD.findall(text, pos, m.start())) >= _MIN_CLAUSE_WORDS and \
                len(_RAW_WORD.findall(text, m.end(), end)) >= _MIN_CLAUSE_WORDS:
            yield pos, m.start()
            pos = m.end()
    if tag and len(_RAW_WORD.findall(text, pos, tag.start())) >= 2 and \
            not _CONDITIONAL.match(text, pos):
        yield pos, tag.start()
        pos = tag.end()
    yield pos, end


def _is_question(claim: str) -> bool:
    return claim.rstrip(" \"'”’)*").endswith("?")


def unsupported_spans(claim: str, idx: SourceIndex, prompt: SourceIndex | None = None,
                      offset: int = 0) -> list[Span]:
    """The numbers, dates, entities and quotes of ``claim`` that neither the sources nor
    the prompt hold, as spans shifted by ``offset`` (where the claim starts)."""
    found: list[Span] = []

    def add(start: int, end: int, kind: SpanKind) -> None:
        found.append(Span(offset + start, offset + end, claim[start:end], kind))

    claim_dates, quantities = figures(claim)
    for d in claim_dates:
        if not _date_found(d, idx) and not (prompt and _date_found(d, prompt)):
            add(d.start, d.end, "date")
    for q in quantities:
        if not _value_found(q, idx) and not (prompt and _value_found(q, prompt)):
            add(q.start, q.end, "number")
    for e in entities(claim):
        if not all(_match(stem(t), idx)[0] or (prompt and _match(stem(t), prompt)[0])
                   for t in e.tokens):
            add(e.start, e.end, "entity")
    for m in _QUOTE.finditer(claim):
        quote = m.group(1) or m.group(2) or ""
        if len(folded_words(fold_text(quote))) >= 2 and not _quote_found(quote, idx) and \
                not (prompt and _quote_found(quote, prompt)):
            add(m.start(), m.end(), "quote")
    return found


def score_claim(text: str, start: int, end: int, idx: SourceIndex,
                prompt: SourceIndex | None = None) -> Claim | None:
    """Score the claim ``text[start:end]`` against the sources (and the prompt); None when
    it claims nothing that could be checked."""
    claim = text[start:end]
    unsupported = unsupported_spans(claim, idx, prompt, start)
    if _is_question(claim):
        if not unsupported:
            return None
        mass = COST * len(unsupported)
        return Claim(start, end, claim, math.exp(-mass / SCALE), unsupported=tuple(unsupported),
                     mass=mass)

    total = covered = 0.0
    missing: list[str] = []
    content: list[tuple[str, float]] = []  # (the stem the sources know it by, weight)
    windows: dict[int, float] = {}
    for word in folded_words(fold_text(claim)):
        weight = word_weight(word)
        if weight == 0.0 or word in _FIGURE_WORDS:
            continue
        word_stem = stem(word)
        credit, matched = _match(word_stem, idx)
        if credit < PROMPT_CREDIT and prompt is not None and _match(word_stem, prompt)[0]:
            credit, matched = PROMPT_CREDIT, None
        total += weight
        covered += weight * credit
        content.append((matched or word_stem, weight))
        if credit == 0.0:
            missing.append(word)
        if matched is not None:
            hit: set[int] = set()
            for passage in idx.passages_of(matched):
                hit.update(range(passage - WINDOW + 1, passage + 1))
            for window in hit:
                windows[window] = windows.get(window, 0.0) + weight * credit
    if total == 0.0 and not unsupported and not _NUMERIC.search(claim):
        return None
    best = max(windows, key=lambda w: (windows[w], -w), default=None)
    in_best = windows[best] if best is not None else 0.0
    pair_total = pair_found = 0.0
    for (a, wa), (b, wb) in itertools.pairwise(content):
        pair_total += min(wa, wb)
        if idx.near(a, b):
            pair_found += min(wa, wb)
    coverage = covered / total if total else 1.0
    locality = in_best / total if total else 1.0
    phrases = pair_found / pair_total if pair_total else coverage

    # A negated statement about a passage that states the thing plainly contradicts it.
    if best is not None and locality >= NEGATION_LOCALITY and \
            not set(range(best, best + WINDOW)) & idx.negated:
        opening_no = _LEADING_NO.match(claim)
        cue = _NEGATION.search(claim, opening_no.end() if opening_no else 0)
        if cue:
            unsupported.append(Span(start + cue.start(), start + cue.end(), cue.group(0),
                                    "negation"))
    if best is not None and not set(range(best, best + WINDOW)) & idx.linked:
        link = _LINK.search(claim)
        if link:
            unsupported.append(Span(start + link.start(), start + link.end(), link.group(0),
                                    "link"))
    mass = ((total - covered) * (1.0 + ANCHOR * locality) + PAIRS * (pair_total - pair_found)
            + SPREAD * (total - in_best) + COST * len(unsupported))
    unsupported.sort(key=lambda span: span.start)
    return Claim(start, end, claim, math.exp(-mass / SCALE), coverage, phrases, locality,
                 tuple(unsupported), tuple(dict.fromkeys(missing)), mass)


def ground(
    output: str,
    sources: Iterable[str],
    *,
    prompt: Iterable[str] = (),
    threshold: float = DEFAULT_THRESHOLD,
) -> Grounding:
    """Score how well ``output`` is supported by ``sources``; see the module docstring."""
    idx = index(tuple(s for s in sources if s))
    prompt_texts = tuple(p for p in prompt if p)
    prompt_idx = index(prompt_texts) if prompt_texts else None
    claims = [claim for start, end in split_claims(output)
              if (claim := score_claim(output, start, end, idx, prompt_idx)) is not None]
    score = math.exp(-math.fsum(c.mass for c in claims) / SCALE)
    label: Label = "faithful" if score >= threshold else "hallucinated"
    return Grounding(score, label, threshold, tuple(claims))
