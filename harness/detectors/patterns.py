"""The harness's own PII recognizers: regular expressions with validation, no model.

They cover what a small NER model does badly: numbers that carry a checksum (cards, IBANs),
numbers whose shape and surroundings say what they are (phones, national ids), secrets of
the common API providers, and the structure of postal addresses. Each recognizer returns
``Hit`` values; ``harness.detectors.pii`` feeds them to Presidio next to its own recognizers.

Scores follow one scale: 0.85 and above when a checksum or a distinctive prefix proves the
kind; 0.6–0.8 when the shape is specific; below 0.5 for shapes that need a context word
("phone", "card", "address") to be believed, which adds ``CONTEXT_BOOST``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple


class Hit(NamedTuple):
    """One finding of a recognizer: ``text[start:end]`` is of kind ``type``."""

    start: int
    end: int
    type: str
    score: float


CONTEXT_BOOST = 0.35
Recognizer = Callable[[str], Iterable[Hit]]


def word_set(text: str) -> frozenset[str]:
    """The words of ``text``: lets long word lists read as prose."""
    return frozenset(text.split())


def _context(text: str, start: int, end: int, words: re.Pattern[str], before: int = 48,
             after: int = 24) -> bool:
    """Whether a context word is near ``text[start:end]`` (before it, or just after)."""
    return bool(words.search(text, max(0, start - before), start)
                or words.search(text, end, min(len(text), end + after)))


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


# ---------------------------------------------------------------------------------------
# checksums and validity rules


def luhn_ok(number: str) -> bool:
    """The Luhn (mod 10) check used by payment cards."""
    digits = _digits(number)
    if not digits:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# ISO 13616 lengths of the countries that issue IBANs.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def iban_ok(value: str) -> bool:
    """ISO 13616: a known country, its length, and the mod-97 check equal to 1."""
    iban = re.sub(r"[\s-]", "", value).upper()
    if len(iban) < 15 or not iban.isalnum() or IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def ssn_ok(value: str) -> bool:
    """US SSN rules: area not 000, 666 or 9xx; group not 00; serial not 0000; not a
    number known from advertising."""
    digits = _digits(value)
    if len(digits) != 9:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return digits not in ("078051120", "219099999", "123456789") and len(set(digits)) > 1


# ---------------------------------------------------------------------------------------
# numbers


_CARD = re.compile(r"(?<![\d\w.\-])(?:\d[ \-]?){11,18}\d(?![\d\w]|[.\-]\d)")
_CARD_CONTEXT = re.compile(
    r"(?i)\b(?:card|credit|debit|visa|master ?card|amex|american express|discover|jcb|"
    r"maestro|diners|cc|pan|cvv|expir\w*|billing|charge)\b"
)
# Issuer prefixes (IIN ranges) and the lengths each issues.
_CARD_BRANDS: tuple[tuple[re.Pattern[str], tuple[int, ...]], ...] = (
    (re.compile(r"4"), (13, 16, 19)),  # Visa
    (re.compile(r"5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)"), (16,)),  # Mastercard
    (re.compile(r"3[47]"), (15,)),  # American Express
    (re.compile(r"6(?:011|5|4[4-9]|22)"), (16, 17, 18, 19)),  # Discover
    (re.compile(r"35(?:2[89]|[3-8])"), (16, 17, 18, 19)),  # JCB
    (re.compile(r"2131|1800"), (15,)),  # JCB, older 15-digit numbers
    (re.compile(r"3(?:0[0-5]|[689])"), (14, 15, 16, 17, 18, 19)),  # Diners Club
    (re.compile(r"5[06-9]|6\d"), (12, 13, 14, 15, 16, 17, 18, 19)),  # Maestro
    (re.compile(r"62"), (16, 17, 18, 19)),  # UnionPay
)


def _card_brand_ok(digits: str) -> bool:
    return any(p.match(digits) and len(digits) in lengths for p, lengths in _CARD_BRANDS)


def find_credit_cards(text: str) -> Iterator[Hit]:
    for m in _CARD.finditer(text):
        raw = m.group(0).rstrip(" -")
        digits = _digits(raw)
        if not 12 <= len(digits) <= 19 or not luhn_ok(digits) or len(set(digits)) < 3:
            continue
        seps = set(re.findall(r"[ \-]+", raw))
        if len(seps) > 1:  # mixed separators: two numbers side by side, not one card
            continue
        score = 0.85 if _card_brand_ok(digits) else 0.3
        if _context(text, m.start(), m.start() + len(raw), _CARD_CONTEXT):
            score += CONTEXT_BOOST
        yield Hit(m.start(), m.start() + len(raw), "CREDIT_CARD", min(score, 1.0))


# Printed IBANs are one run or groups of four; a looser pattern would read into words.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ \-]?[A-Z0-9]{4}){2,7}(?:[ \-]?[A-Z0-9]{1,3})?\b")


def find_ibans(text: str) -> Iterator[Hit]:
    for m in _IBAN.finditer(text):
        raw = m.group(0)
        # A candidate may run into the next word; shorten it to the valid IBAN it holds.
        for end in range(len(raw), 14, -1):
            if raw[end - 1].isalnum() and iban_ok(raw[:end]):
                yield Hit(m.start(), m.start() + end, "IBAN_CODE", 0.95)
                break


_SSN = re.compile(r"(?<![\d\w\-.])(\d{3})([ \-.]?)(\d{2})\2(\d{4})(?![\d\w]|[\-.]\d)")
_SSN_CONTEXT = re.compile(r"(?i)\b(?:ssn|ssns|social security|social sec|ss#|ssn#|tax ?id|tin)")


def find_us_ssns(text: str) -> Iterator[Hit]:
    for m in _SSN.finditer(text):
        if not ssn_ok(m.group(0)):
            continue
        score = {"-": 0.6, " ": 0.3, ".": 0.3, "": 0.15}[m.group(2)]
        if _context(text, m.start(), m.end(), _SSN_CONTEXT):
            score += 0.4
        yield Hit(m.start(), m.end(), "US_SSN", min(score, 1.0))


# UK National Insurance number: two prefix letters (some never issued), six digits, A-D.
_NINO = re.compile(
    r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r"[ ]?\d{2}[ ]?\d{2}[ ]?\d{2}[ ]?[A-D]\b"
)
_NINO_CONTEXT = re.compile(r"(?i)\b(?:national insurance|nino|ni number|ni no)\b")


def find_uk_ninos(text: str) -> Iterator[Hit]:
    for m in _NINO.finditer(text):
        score = 0.6 + (0.3 if _context(text, m.start(), m.end(), _NINO_CONTEXT) else 0.0)
        yield Hit(m.start(), m.end(), "UK_NINO", score)


_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_IP_CONTEXT = re.compile(r"(?i)\b(?:ip|ips|ipv4|ipv6|address|host|server|client|from|src|"
                         r"dst|connect\w*|login|gateway|dns|subnet)\b")
_VERSION_CONTEXT = re.compile(r"(?i)\b(?:version|v\.?|release|build|python|node)\s*$")


def find_ips(text: str) -> Iterator[Hit]:
    for m in _IPV4.finditer(text):
        try:
            addr = ipaddress.IPv4Address(m.group(0))
        except ValueError:
            continue
        if _VERSION_CONTEXT.search(text, max(0, m.start() - 12), m.start()):
            continue
        score = 0.6 if not (addr.is_unspecified or addr.is_loopback) else 0.3
        if _context(text, m.start(), m.end(), _IP_CONTEXT):
            score += 0.25
        yield Hit(m.start(), m.end(), "IP_ADDRESS", min(score, 1.0))
    for m in _IPV6.finditer(text):
        value = m.group(0)
        if value.count(":") < 2 or sum(ch.isalnum() for ch in value) < 4:
            continue
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            continue
        yield Hit(m.start(), m.end(), "IP_ADDRESS", 0.7)


# ---------------------------------------------------------------------------------------
# phone numbers

_PHONE = re.compile(
    r"(?<![\w+\-./])"
    r"(?:(?:\+|00)\d{1,3}[ \t.\-]?)?(?:\(\d{1,5}\)[ \t.\-]?)?"
    r"\d{1,10}(?:[ \t.\-/]\d{1,10}){0,5}"
    r"(?:[ \t]?(?:x|ext\.?|extension)[ \t]?\d{1,6})?"
    r"(?![\w]|[.\-/]\d)"
)
_PHONE_CONTEXT = re.compile(
    r"(?i)\b(?:phone|tel|telephone|mobile|mob|cell|cellphone|fax|office|desk|"
    r"call|calls|called|calling|ring|sms|whatsapp|contact|reach|dial|hotline|"
    r"landline)\b"
)
_NANP = re.compile(
    r"(?:\+?1[ .\-]?|001[ .\-]?)?(?:\(\d{3}\)[ .\-]?|\d{3}[ .\-])\d{3}[ .\-]\d{4}"
    r"(?:[ \t]?(?:x|ext\.?)[ \t]?\d{1,6})?"
)
_DATE_LIKE = re.compile(
    r"^(?:\d{4}[./\-]\d{1,2}[./\-]\d{1,2}|\d{1,2}[./\-]\d{1,2}[./\-]\d{2,4}|"
    r"\d{1,2}:\d{2}(?::\d{2})?)$"
)


def find_phones(text: str) -> Iterator[Hit]:
    for m in _PHONE.finditer(text):
        value = m.group(0)
        digits = _digits(re.split(r"(?i)x|ext", value)[0])
        if not 7 <= len(digits) <= 15 or _DATE_LIKE.match(value):
            continue
        groups = re.split(r"[ \t.\-/()]+", value.strip("()"))
        if "." in value and re.fullmatch(r"\d+\.\d{1,2}", value):
            continue  # a decimal amount
        if "/" in value and not value.startswith(("+", "00", "(")):
            continue  # fractions, dates and ids use slashes; phone numbers rarely
        international = value.startswith(("+", "00"))
        if international and len(digits) >= 8:
            score = 0.75
        elif _NANP.fullmatch(value):
            score = 0.6
        elif value.startswith("(") or len([g for g in groups if g]) >= 2:
            score = 0.35
        else:
            score = 0.2  # one run of digits: an id as often as a phone number
        if _context(text, m.start(), m.end(), _PHONE_CONTEXT, before=40, after=16):
            score += CONTEXT_BOOST + 0.05
        yield Hit(m.start(), m.end(), "PHONE_NUMBER", min(score, 1.0))


# ---------------------------------------------------------------------------------------
# secrets

_API_KEYS: tuple[tuple[re.Pattern[str], float], ...] = tuple(
    (re.compile(p), s) for p, s in (
        (r"\bsk-ant-(?:api\d{2}-)?[A-Za-z0-9_\-]{32,}", 0.95),  # Anthropic
        (r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}", 0.9),  # OpenAI
        (r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b", 0.95),  # AWS
        (r"\bgh[pousr]_[A-Za-z0-9]{36,}\b", 0.95),  # GitHub
        (r"\bgithub_pat_[A-Za-z0-9_]{40,}\b", 0.95),
        (r"\bglpat-[A-Za-z0-9_\-]{20,}", 0.95),  # GitLab
        (r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", 0.95),  # Slack tokens
        (r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]{20,}", 0.95),
        (r"\bAIza[0-9A-Za-z_\-]{35}\b", 0.95),  # Google API key
        (r"\bya29\.[0-9A-Za-z_\-]{20,}", 0.9),  # Google OAuth token
        (r"\b[sr]k_(?:live|test)_[0-9A-Za-z]{16,}\b", 0.95),  # Stripe secret/restricted
        (r"\bwhsec_[0-9A-Za-z]{24,}\b", 0.9),  # Stripe webhook secret
        (r"\bhf_[A-Za-z0-9]{30,}\b", 0.95),  # Hugging Face
        (r"\bSG\.[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-]{20,}", 0.95),  # SendGrid
        (r"\bnpm_[A-Za-z0-9]{36}\b", 0.95),  # npm
        (r"\bpypi-[A-Za-z0-9_\-]{50,}", 0.95),  # PyPI
        (r"\bdop_v1_[a-f0-9]{64}\b", 0.95),  # DigitalOcean
        (r"\bsq0(?:atp|csp)-[0-9A-Za-z_\-]{22,}", 0.95),  # Square
        (r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}", 0.85),  # JWT
        (r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----", 0.99),
    )
)
# key = value where the name says secret and the value looks random enough
_ASSIGNED_SECRET = re.compile(
    r"(?i)\b(?:api[_\-]?key|apikey|secret(?:[_\-]?key)?|access[_\-]?token|auth[_\-]?token|"
    r"client[_\-]?secret|password|passwd|bearer)\b[\"']?\s*(?:[:=]|=>)?\s*[\"']?"
    r"([A-Za-z0-9_\-+/=.]{16,})"
)


# A literal each key pattern needs (any of them): a substring test is ~50× cheaper than a
# regex scan starting with \b, and reports mask every text they show.
_KEY_NEEDLES: tuple[tuple[str, ...], ...] = (
    ("sk-ant-",), ("sk-",),
    ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA"),
    ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), ("github_pat_",), ("glpat-",), ("xox",),
    ("hooks.slack.com",), ("AIza",), ("ya29.",), ("k_live_", "k_test_"), ("whsec_",),
    ("hf_",), ("SG.",), ("npm_",), ("pypi-",), ("dop_v1_",), ("sq0",), ("eyJ",),
    ("-----BEGIN",),
)
_SECRET_WORDS = ("api", "secret", "token", "password", "passwd", "bearer")


def find_api_keys(text: str) -> Iterator[Hit]:
    for (pattern, score), needles in zip(_API_KEYS, _KEY_NEEDLES, strict=True):
        if not any(n in text for n in needles):
            continue
        for m in pattern.finditer(text):
            value = m.group(0)
            if pattern.pattern.startswith(r"\bsk-") and not _random_enough(value[3:]):
                continue
            yield Hit(m.start(), m.end(), "API_KEY", score)
    lowered = text.lower()
    if not any(w in lowered for w in _SECRET_WORDS):
        return
    for m in _ASSIGNED_SECRET.finditer(text):
        if _random_enough(m.group(1)):
            yield Hit(m.start(1), m.end(1), "API_KEY", 0.7)


def _random_enough(value: str) -> bool:
    """Mixed letters and digits, like a generated token, unlike a word or a path."""
    has_digit = any(ch.isdigit() for ch in value)
    has_alpha = any(ch.isalpha() for ch in value)
    return has_digit and has_alpha and len(set(value)) >= 8


# ---------------------------------------------------------------------------------------
# email


_EMAIL = re.compile(
    r"(?<![\w.+\-])[\w.+\-]*\w@(?:[^\W_](?:[\w\-]*[^\W_])?\.)+[^\W\d_]{2,24}(?![\w\-])"
)


def find_emails(text: str) -> Iterator[Hit]:
    for m in _EMAIL.finditer(text):
        local = m.group(0).split("@", 1)[0]
        if local.startswith(".") or ".." in local:
            continue
        yield Hit(m.start(), m.end(), "EMAIL_ADDRESS", 0.9)


# ---------------------------------------------------------------------------------------
# postal addresses

_W = r"[^\W\d_][\w'’\-]*"  # a word (any script), which the code checks for a capital
_NUM = r"\d{1,6}[A-Za-z]?(?:[/\-]\d{1,4}[A-Za-z]?)?"
_PARTICLES = (
    "de|del|della|delle|dei|di|da|do|dos|das|du|des|la|le|les|el|los|las|van|von|der|den|"
    "am|an|im|na|nad|pod|y|e|of|the|and|sur|en|op|ter|te|zum|zur|bei|st|saint"
)
# USPS street suffixes (Publication 28) and their common abbreviations.
_SUFFIXES = (
    "Street|St|Str|Road|Rd|Avenue|Ave|Av|Boulevard|Blvd|Drive|Dr|Lane|Ln|Way|Court|Ct|Place|"
    "Pl|Terrace|Ter|Square|Sq|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Crescent|Cres|Close|Row|"
    "Walk|Hill|Hills|Green|Grove|Gardens|Garden|Park|Plaza|Trail|Trl|Route|Rte|Expressway|"
    "Freeway|Alley|Loop|Pass|Path|Pike|Point|Points|Ridge|Run|View|Vista|Mews|Rise|Wharf|"
    "Quay|Heights|Harbor|Harbour|Creek|Crossing|Dam|Falls|Ferry|Fields|Field|Forge|Forges|"
    "Fork|Forks|Glen|Glens|Haven|Hollow|Island|Islands|Junction|Knoll|Knolls|Lake|Lakes|"
    "Landing|Manor|Manors|Meadow|Meadows|Mill|Mills|Mount|Mountain|Orchard|Oval|Port|Ports|"
    "Rapid|Rapids|Shore|Shores|Spring|Springs|Station|Stream|Summit|Trace|Track|Tunnel|"
    "Turnpike|Valley|Valleys|Village|Villages|Ville|Well|Wells|Estate|Estates|Causeway|"
    "Center|Centre|Common|Commons|Corner|Corners|Cove|Coves|Crest|Flat|Flats|Ford|Fords|"
    "Fort|Gateway|Inlet|Isle|Keys|Lock|Locks|Lodge|Mall|Mission|Motorway|Neck|Pine|Pines|"
    "Plain|Plains|Prairie|Ranch|River|Shoal|Shoals|Skyway|Spur|Stravenue|Underpass|Viaduct|"
    "Bypass|Canyon|Cape|Cliff|Cliffs|Course|Divide|Extension|Throughway|Bridge|Brook|Brooks|"
    "Burg|Burgs|Bluff|Bluffs|Bottom|Branch|Camp|Curve|Dale|Gardens|Gateway|Hbr|Hts|Jct|"
    "Mnr|Mtn|Orch|Pt|Radial|Ramp|Rdg|Spg|Sta|Strm|Trak|Trce|Trfy|Vly|Vlg|Vw|Xing|Embankment|"
    "Parade|Promenade|Esplanade|Quadrant|Grange|Chase|Gate|Gardens|Yard|End|Wynd|Broadway"
)
# Words that open a street name in many languages (Rue de…, Via…, ul. …).
_PREFIXES = (
    "Rue|Via|Viale|Vicolo|Corso|Piazza|Piazzale|Largo|Calle|Carrer|Carretera|Camino|Avenida|"
    "Avinguda|Avda\\.|Av\\.|Rua|Rúa|Travessa|Praça|Paseo|Passeig|Plaza|Plaça|Chemin|Allée|"
    "Impasse|Quai|Cours|Boulevard|Bd\\.|Ul\\.|ul\\.|Ulica|ulica|Aleja|Al\\.|Os\\.|Osiedle|"
    "Plac|Trg|trg|Trh|Náměstí|nám\\.|Strada|Str\\.|Calea|Bulevardul|Bulevar|Şoseaua|"
    "Jalan|Jl\\.|Odos|Leoforos|Straße|Strasse|Rambla|Ronda|Travesía|Vía|Avenue|Route|Place"
)
# Endings of compound street names in German, Nordic, Dutch, Finnish, Hungarian, Slavic…
_COMPOUND = (
    "straße|strasse|str\\.|gasse|weg|vej|gade|gata|gatan|vägen|väg|veien|vei|laan|straat|"
    "plein|stræde|platz|allee|ring|torget|torg|torv|katu|tie|kuja|polku|stig|bakken|gränd|"
    "damm|ufer|markt|steig|pfad|vænget|vænge|parken|plads|kaari|rinne|utca|körút|sétány|"
    "sokak|sokağı|caddesi|ulice|cesta|iela|gatvė|gatve|tänav|maantee|prospekt|kade|gracht|"
    "dreef|singel|hof|kamp|berg|feld|anger|graben|stieg|chaussee|promenade|gårdsvej|stien|"
    "brekka|braut|gata|vegur|stígur|tún"
)
_SEPARATE_SUFFIX = (
    "Strasse|Straße|Str\\.|Gasse|Weg|Vej|Gade|Gata|Allee|Platz|Ring|Straat|Laan|Plein|"
    "Katu|Tie|u\\.|utca|útja|út|körút|ulice|ulica|iela|tänav|Street|gate|gata|gatan|vei|"
    "veien|vej|gade|vegen|vägen|straße|strasse|gasse|weg|katu|tie|tee"
)
_UNIT = (
    r"(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm|Bldg|Building|Box|Lgh|Dept)\.?"
    r"[ \t]*#?[ \t]*\d{1,5}[A-Za-z]?|#[ \t]?\d{1,5}"
)
_POSTCODE = (
    r"(?:\d{3,6}(?:[ \-]\d{2,4})?|[A-Z]\d[A-Z][ ]?\d[A-Z]\d|[A-Z]{1,2}\d[A-Z\d]?[ ]?\d[A-Z]{2}|"
    r"\d{4}[ ]?[A-Z]{2}|[A-Z]{1,2}-\d{4,5})"
)

_STREET_SUFFIX_CORE = re.compile(
    rf"(?:\b{_NUM}[ \t]+){{1,2}}(?P<words>(?:{_W}[ \t]+){{0,4}}?)"
    rf"(?P<suffix>(?:{_SUFFIXES}))\b\.?(?:[ \t]+{_NUM}\b)?"
)
_STREET_SUFFIX_NUM_AFTER = re.compile(
    rf"\b(?P<words>(?:{_W}[ \t]+){{1,3}}?)(?P<suffix>(?:{_SUFFIXES}))\b\.?[ \t]+{_NUM}\b"
)
_STREET_PREFIX_CORE = re.compile(
    rf"(?:\b{_NUM}[ \t]+){{0,2}}(?<![\w.])(?P<prefix>{_PREFIXES})[ \t]+"
    rf"(?P<words>(?:(?:{_PARTICLES})[ \t]+)*{_W}(?:[ \t]+(?:(?:{_PARTICLES})[ \t]+)*{_W}){{0,3}})"
    rf"(?P<num>[ \t]*,?[ \t]*{_NUM}\b)?"
)
_STREET_COMPOUND_CORE = re.compile(
    rf"(?:\b{_NUM}[ \t]+)?\b(?P<words>(?:{_W}[ \t]+){{0,2}}[^\W\d_][\w'’\-]*(?:{_COMPOUND}))"
    rf"[ \t]+{_NUM}\b|"
    rf"(?:\b{_NUM}[ \t]+)?\b(?P<words2>(?:{_W}[ \t]+){{1,2}})(?:{_SEPARATE_SUFFIX})[ \t]+{_NUM}\b",
)
_STREET_NUMBERED_WORDS = re.compile(
    rf"\b{_NUM}[ \t]+(?P<words>{_W}(?:[ \t]+{_W}){{0,2}})[ \t]+{_NUM}\b"
)
_PO_BOX = re.compile(
    r"(?i)\b(?:P\.?[ \t]?O\.?[ \t]?Box|Post(?:al)?[ \t]+Office[ \t]+Box|Postfach|"
    r"Apartado(?:[ \t]+de[ \t]+Correos)?|Caixa[ \t]+Postal|Boîte[ \t]+Postale|BP)[ \t]*\d{1,6}\b"
)
_MILITARY = re.compile(
    r"(?i)\b(?:(?:PSC|CMR|Unit)[ \t]+\d{3,5},?[ \t]+Box[ \t]+\d{3,5}|"
    r"(?:USNS|USNV|USS|USCGC)[ \t]+[A-Z][\w]+(?:[ \t]+[A-Z][\w]+)?)"
    r"[ \t]*,?[ \t]*\n?[ \t>]*(?:APO|FPO|DPO)[ \t]+(?:AA|AE|AP)[ \t]+\d{5}\b"
)
_CITY_STATE_ZIP = re.compile(
    rf"\b{_W}(?:[ \t]+{_W}){{0,3}},[ \t]+[A-Z]{{2}}[ \t]+\d{{5}}(?:-\d{{4}})?\b"
)
_POSTCODE_LABEL = re.compile(
    rf"(?i:\b(?:zip|zip[ \-]?code|postcode|post[ \-]?code|postal[ \-]?code|plz)\b)[ \t]*[:#]?"
    rf"[ \t]*(?P<code>{_POSTCODE})(?![\w])"
)
_ADDRESS_CUE = re.compile(
    r"(?i)(?:\baddress(?:es)?\b(?:[ \t]+(?:is|was|:))?[ \t]*[:\-]?|\b(?:lives?|living|"
    r"resides?|residing|stays?|staying|located|based|situated)[ \t]+(?:at|on|in)|"
    r"\b(?:deliver(?:ed)?|ship(?:ped)?|send|sent|mail(?:ed)?|post(?:ed)?|return(?:ed)?|"
    r"forward(?:ed)?|move[sd]?|moving)[ \t]+(?:it[ \t]+|them[ \t]+|this[ \t]+|everything[ \t]+)?"
    r"to|\bmeet[ \t]+(?:me|you|us)[ \t]+at|\bis[ \t]+(?:at|on)|\bcorner[ \t]+of)[ \t]*\n?[ \t]*"
)
_TAIL_SEP = r"[ \t]*,?[ \t]*(?:\n[ \t>]*,?[ \t]*)?"
_TAIL_PIECES = (
    re.compile(rf"{_TAIL_SEP}(?:{_UNIT})\b\.?"),
    re.compile(rf"{_TAIL_SEP}{_POSTCODE}(?=[ \t]*(?:$|\n|,|\.|\?|!|;|\)|[ \t]+[^\W\d]))", re.M),
    re.compile(rf"{_TAIL_SEP}(?:(?:{_PARTICLES})[ \t]+)?{_W}\.?"),
    re.compile(rf"{_TAIL_SEP}\b[A-Z]{{2,3}}\b"),
)
_LABEL_AHEAD = re.compile(r"[ \t]*:")


def _capitalized(word: str) -> bool:
    return word[:1].isupper()


def _words_capitalized(words: str) -> bool:
    tokens = [w for w in re.split(r"[ \t]+", words.strip()) if w]
    particles = set(_PARTICLES.split("|"))
    return all(_capitalized(w) or w.lower() in particles for w in tokens)


def _tail(text: str, end: int, max_lines: int = 5, max_chars: int = 160) -> int:
    """Extend an address over what usually follows the street: unit, city, region,
    postcode and country, on the same line or the next few."""
    limit = min(len(text), end + max_chars)
    lines = 0
    while end < limit:
        for piece in _TAIL_PIECES:
            m = piece.match(text, end, limit)
            if not m or m.end() == end:
                continue
            chunk = m.group(0)
            word = chunk.strip(" \t,\n>")
            if "\n\n" in chunk or re.search(r"\n[ \t>]*\n", chunk):
                continue
            if piece is _TAIL_PIECES[2]:
                last = word.split()[-1] if word.split() else word
                if not (_capitalized(last) or last.isupper()):
                    continue
                if _LABEL_AHEAD.match(text, m.end()):
                    continue  # "Mobile:" starts the next field, not the address
            new_lines = lines + chunk.count("\n")
            if new_lines > max_lines:
                continue
            lines = new_lines
            end = m.end()
            break
        else:
            break
    return end


def _cue_before(text: str, start: int) -> bool:
    window = text[max(0, start - 40):start]
    return any(m.end() == len(window) for m in _ADDRESS_CUE.finditer(window))


def find_addresses(text: str) -> Iterator[Hit]:
    seen: list[tuple[int, int]] = []

    def emit(start: int, end: int, score: float, tail: bool = True) -> Iterator[Hit]:
        full_end = _tail(text, end) if tail else end
        if full_end > end:
            # more lines of place names and postcodes: the shape of an address block
            score += 0.25 if "\n" in text[end:full_end] else 0.1
        if _cue_before(text, start):
            score += 0.25
        seen.append((start, full_end))
        yield Hit(start, full_end, "STREET_ADDRESS", min(round(score, 2), 0.95))

    for m in _MILITARY.finditer(text):
        yield from emit(m.start(), m.end(), 0.85, tail=False)
    for m in _PO_BOX.finditer(text):
        if m.group(0)[:2] != "BP" or m.group(0).startswith("BP "):
            yield from emit(m.start(), m.end(), 0.6)
    for m in _STREET_SUFFIX_CORE.finditer(text):
        # a bare abbreviation after numbers ("12 St") is too little to go on
        if _words_capitalized(m.group("words")) and _capitalized(m.group("suffix")) and (
                m.group("words").strip() or m.group("suffix") not in ("St", "Dr", "Pl", "Ct")):
            yield from emit(m.start(), m.end(), 0.6)
    for m in _STREET_SUFFIX_NUM_AFTER.finditer(text):
        words = m.group("words")
        if _words_capitalized(words) and _capitalized(m.group("suffix")) and \
                _capitalized(words.strip()):
            yield from emit(m.start(), m.end(), 0.5)
    for m in _STREET_PREFIX_CORE.finditer(text):
        has_number = bool(m.group("num")) or bool(re.match(r"\d", m.group(0)))
        if not _words_capitalized(m.group("words")) and not has_number:
            continue
        if m.group("prefix") in ("Place", "Route", "Avenue", "Boulevard", "Plaza") and \
                not has_number:
            continue
        yield from emit(m.start(), m.end(), 0.6 if has_number else 0.4)
    for m in _STREET_COMPOUND_CORE.finditer(text):
        words = m.group("words") or m.group("words2") or ""
        if _capitalized(words.strip()):
            yield from emit(m.start(), m.end(), 0.6)
    for m in _STREET_NUMBERED_WORDS.finditer(text):
        if any(s <= m.start() < e for s, e in seen):
            continue
        if _words_capitalized(m.group("words")) and _capitalized(m.group("words")):
            yield from emit(m.start(), m.end(), 0.3)
    for m in _CITY_STATE_ZIP.finditer(text):
        if _words_capitalized(m.group(0).split(",")[0]):
            yield Hit(m.start(), m.end(), "LOCATION", 0.7)
    for m in _POSTCODE_LABEL.finditer(text):
        yield Hit(m.start("code"), m.end("code"), "LOCATION", 0.7)
    yield from _cued_addresses(text, seen)


_CUED_BODY = re.compile(
    rf"(?:{_NUM}[ \t]+)?(?:(?:{_PARTICLES})[ \t]+)*{_W}(?:[ \t]+(?:(?:{_PARTICLES})[ \t]+)*"
    rf"(?:{_W}\.?|{_NUM}))*"
)


def _cued_addresses(text: str, seen: list[tuple[int, int]]) -> Iterator[Hit]:
    """After "address:", "lives at", "ship to" …: a run of capitalized words holding a
    house number is an address even when its street type is unknown."""
    for cue in _ADDRESS_CUE.finditer(text):
        start = cue.end()
        if any(s <= start < e for s, e in seen):
            continue
        m = _CUED_BODY.match(text, start)
        if not m:
            continue
        body = m.group(0)
        words = [w for w in re.split(r"[ \t]+", body) if w and not w[0].isdigit()]
        if not words or not any(ch.isdigit() for ch in body):
            continue
        if not all(_capitalized(w) or w.lower() in _PARTICLES.split("|") for w in words):
            continue
        end = _tail(text, m.end())
        yield Hit(start, end, "STREET_ADDRESS", 0.65)


# Country names (English short forms). Names that are also common words or first names
# (Chad, Jordan, Georgia, Turkey) are left to the NER model, which sees their context.
COUNTRIES = (
    "Afghanistan|Albania|Algeria|Andorra|Angola|Antigua and Barbuda|Argentina|Armenia|"
    "Australia|Austria|Azerbaijan|Bahamas|Bahrain|Bangladesh|Barbados|Belarus|Belgium|Belize|"
    "Benin|Bhutan|Bolivia|Bosnia and Herzegovina|Bosnia|Botswana|Brazil|Brunei|Bulgaria|"
    "Burkina Faso|Burundi|Cabo Verde|Cape Verde|Cambodia|Cameroon|Canada|"
    "Central African Republic|Chile|China|Colombia|Comoros|Congo|Costa Rica|Croatia|Cuba|"
    "Cyprus|Czechia|Czech Republic|Denmark|Djibouti|Dominica|Dominican Republic|Ecuador|"
    "Egypt|El Salvador|Equatorial Guinea|Eritrea|Estonia|Eswatini|Ethiopia|Fiji|Finland|"
    "France|Gabon|Gambia|Germany|Ghana|Greece|Greenland|Grenada|Guatemala|Guinea-Bissau|"
    "Guinea|Guyana|Haiti|Honduras|Hong Kong|Hungary|Iceland|India|Indonesia|Iran|Iraq|"
    "Ireland|Israel|Italy|Ivory Coast|Jamaica|Japan|Kazakhstan|Kenya|Kiribati|Kosovo|Kuwait|"
    "Kyrgyzstan|Laos|Latvia|Lebanon|Lesotho|Liberia|Libya|Liechtenstein|Lithuania|"
    "Luxembourg|Madagascar|Malawi|Malaysia|Maldives|Mali|Malta|Marshall Islands|Mauritania|"
    "Mauritius|Mexico|Micronesia|Moldova|Monaco|Mongolia|Montenegro|Morocco|Mozambique|"
    "Myanmar|Namibia|Nauru|Nepal|Netherlands|New Zealand|Nicaragua|Nigeria|Niger|"
    "North Korea|North Macedonia|Macedonia|Norway|Oman|Pakistan|Palau|Palestine|Panama|"
    "Papua New Guinea|Paraguay|Peru|Philippines|Poland|Portugal|Puerto Rico|Qatar|Romania|"
    "Russia|Rwanda|Saint Lucia|Samoa|San Marino|Saudi Arabia|Senegal|Serbia|Seychelles|"
    "Sierra Leone|Singapore|Slovakia|Slovenia|Solomon Islands|Somalia|South Africa|"
    "South Korea|South Sudan|Spain|Sri Lanka|Sudan|Suriname|Sweden|Switzerland|Syria|"
    "Taiwan|Tajikistan|Tanzania|Thailand|Timor-Leste|East Timor|Tonga|Trinidad and Tobago|"
    "Tunisia|Turkmenistan|Tuvalu|Uganda|Ukraine|United Arab Emirates|United Kingdom|"
    "United States of America|United States|Uruguay|Uzbekistan|Vanuatu|Vatican City|"
    "Venezuela|Vietnam|Viet Nam|Yemen|Zambia|Zimbabwe|England|Scotland|Wales|"
    "Northern Ireland"
)
_COUNTRY = re.compile(
    rf"\b(?:{COUNTRIES}|{COUNTRIES.upper()})\b(?![\-'’]\w)"
)


def find_countries(text: str) -> Iterator[Hit]:
    for m in _COUNTRY.finditer(text):
        yield Hit(m.start(), m.end(), "LOCATION", 0.6)


# Phrases after which English names a place: "moved here from X", "grew up in X".
_PLACE_CUE = re.compile(
    r"(?i:\b(?:moved|moving|move|relocated|emigrated|immigrated|came|comes|coming|arrived|"
    r"arriving|arrives|returned|travell?ed|flew|fled|drove|hails?)(?:[ \t]+(?:here|there|"
    r"back|over|away|home|down|up))?[ \t]+(?:from|to|in|at|into)|\b(?:grew[ \t]+up|born|"
    r"raised|lives?|living|lived|resides?|residing|based|located|settled|stationed|"
    r"headquartered|stays?|staying|stayed)[ \t]+(?:in|at|near)|\b(?:i[ \t]+am|i'm|i’m|we're|"
    r"we[ \t]+are|currently|now)[ \t]+(?:in|at)|\b(?:originally|native)[ \t]+(?:from|of)|"
    r"\b(?:trip|journey|flight|visit|move)[ \t]+to|\b(?:city|town|village|suburb|"
    r"municipality|district)[ \t]+of)[ \t]+"
)
_PLACE_WORD = r"(?:[^\W\d_][\w'’\-]*\.?)"
_PLACE_RUN = re.compile(
    rf"{_PLACE_WORD}(?:[ \t]+(?:(?:{_PARTICLES})[ \t]+)?{_PLACE_WORD}){{0,3}}"
)
# "in Springfield 62704": a place followed by its postcode
_PLACE_POSTCODE = re.compile(
    rf"\b(?i:in|at|near|from)[ \t]+(?P<place>{_PLACE_WORD}(?:[ \t]+(?:(?:{_PARTICLES})"
    rf"[ \t]+)?{_PLACE_WORD}){{0,3}})[ \t]+(?P<code>\d{{4,5}}|\d{{3}}[ ]\d{{2}}|"
    rf"\d{{4}}-\d{{3}}|\d{{5}}-\d{{4}})(?![\w.,/\-]?\d)"
)
_NOT_PLACES = word_set(
    "the a an my our your his her their this that room building floor gate terminal "
    "version chapter section windows office level unit suite table figure step page year "
    "years q1 q2 q3 q4 fy week month day order invoice ticket case issue model series "
    "phase stage round track lane platform"
)


def _place_words(run: str) -> str:
    """The leading capitalised words of ``run`` (particles inside allowed)."""
    kept: list[str] = []
    particles = set(_PARTICLES.split("|"))
    for word in run.split():
        if word[:1].isupper() or (word.lower() in particles and kept):
            kept.append(word)
        else:
            break
    while kept and kept[-1].lower() in particles:
        kept.pop()
    return " ".join(kept)


def find_places(text: str) -> Iterator[Hit]:
    for cue in _PLACE_CUE.finditer(text):
        m = _PLACE_RUN.match(text, cue.end())
        if not m:
            continue
        place = _place_words(m.group(0)).rstrip(".")
        if not place or place.split()[0].lower() in _NOT_PLACES or \
                place.split()[0].lower() in ("i", "we", "you", "he", "she", "they", "it"):
            continue
        yield Hit(m.start(), m.start() + len(place), "LOCATION", 0.6)
    for m in _PLACE_POSTCODE.finditer(text):
        place = _place_words(m.group("place"))
        code = m.group("code")
        if place != m.group("place") or place.split()[0].lower() in _NOT_PLACES or \
                re.fullmatch(r"(?:19|20)\d\d", code):
            continue
        yield Hit(m.start("place"), m.end("code"), "LOCATION", 0.6)


# ---------------------------------------------------------------------------------------
# people

_NAME = r"[A-ZÀ-ÖØ-ÞĀ-Žא-ת][\w'’\-]*[^\W\d_]"
_INITIAL = r"[A-Z]\."
_HONORIFIC = re.compile(
    rf"\b(?i:mr|mrs|ms|miss|mx|dr|prof|sir|dame|madam|mme|mlle|herr|frau|señor|señora|sr|"
    rf"sra)\b\.?[ \t]+(?P<name>(?:{_NAME}|{_INITIAL})(?:[ \t]+(?:{_NAME}|{_INITIAL})){{0,3}})"
)
_MIDDLE_INITIAL = re.compile(
    rf"\b(?P<name>{_NAME}[ \t]+(?:[A-HJ-Z]\.?|[A-Z]\.)[ \t]+{_NAME}(?:[ \t]+{_NAME})?)"
)
_NAME_CUE = re.compile(
    rf"(?i:\bmy[ \t]+name[ \t]+is|\b(?:first|last|full|maiden|middle|sur|given|family|"
    rf"user|customer|patient|client|account[ \t]+holder)?[ \t]?name[ \t]*[:?]|\bname[ \t]+is|"
    rf"\bsigned|\bregards,|\bsincerely,|\bcheers,|\bthanks,|\bthank[ \t]+you,|\bcalled|"
    rf"\bnamed|\bknown[ \t]+as|\baka)[ \t]*\n?[ \t]*"
    rf"(?P<name>{_NAME}(?:[ \t]+(?:{_NAME}|{_INITIAL})){{0,3}})"
)
_NOT_NAMES = word_set(
    "The A An This That These Those It I We You He She They My Our Your His Her Their In "
    "On At Of For To From By With And Or But If When Where What Who Why How Is Are Was "
    "Were Be Please Thank Thanks Dear Hi Hello Yes No Not Mr Mrs Ms Dr Street Road Avenue "
    "Apt Suite Unit Box Monday Tuesday Wednesday Thursday Friday Saturday Sunday January "
    "February March April May June July August September October November December Inc "
    "Ltd LLC Corp Company Bank Card Account Number"
)


def find_person_names(text: str) -> Iterator[Hit]:
    for pattern, score in ((_HONORIFIC, 0.8), (_NAME_CUE, 0.75), (_MIDDLE_INITIAL, 0.65)):
        for m in pattern.finditer(text):
            name = m.group("name")
            tokens = name.split()
            while tokens and tokens[-1] in _NOT_NAMES:
                tokens.pop()
            if not tokens or tokens[0] in _NOT_NAMES:
                continue
            if all(t.isupper() and len(t) > 2 for t in tokens):
                continue  # ALL CAPS: an acronym or a heading, rarely a name
            start = m.start("name")
            end = start + len(" ".join(tokens)) if len(tokens) == len(name.split()) else \
                start + name.index(tokens[-1]) + len(tokens[-1])
            yield Hit(start, end, "PERSON", score)


# ---------------------------------------------------------------------------------------

RECOGNIZERS: dict[str, Recognizer] = {
    "EMAIL_ADDRESS": find_emails,
    "CREDIT_CARD": find_credit_cards,
    "IBAN_CODE": find_ibans,
    "US_SSN": find_us_ssns,
    "UK_NINO": find_uk_ninos,
    "IP_ADDRESS": find_ips,
    "PHONE_NUMBER": find_phones,
    "API_KEY": find_api_keys,
    "STREET_ADDRESS": find_addresses,
    "PERSON": find_person_names,
    "LOCATION": lambda text: [*find_countries(text), *find_places(text)],
}


def find_all(text: str) -> list[Hit]:
    """Every hit of every recognizer above, unsorted and unmerged."""
    return [hit for recognizer in RECOGNIZERS.values() for hit in recognizer(text)]
