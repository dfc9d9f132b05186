"""Small text measures shared by checks (words, sentences, previews)."""

from __future__ import annotations

import re

_WORD = re.compile(r"[\w][\w'’\-]*", re.UNICODE)
# A sentence ends at . ! ? (or runs of them) followed by space or the end of the text.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+|\n{2,}")


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s and s.strip()]


def preview(text: str, limit: int = 80) -> str:
    """A one-line excerpt for a failure reason."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
