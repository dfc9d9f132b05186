"""Keep secrets out of everything harness writes: reports, logs, the cache, the run store."""

from __future__ import annotations

import os
import re

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
# Shapes of common provider keys, for text where the key did not come from our environment.
_KEY_SHAPES = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}|AIza[0-9A-Za-z_\-]{30,}|"
    r"gh[pousr]_[A-Za-z0-9]{30,}|xox[abpr]-[A-Za-z0-9\-]{10,}|hf_[A-Za-z0-9]{30,}|"
    r"AKIA[0-9A-Z]{16})\b"
)
MASK = "***"


def _env_secrets() -> list[str]:
    values = [
        value
        for name, value in os.environ.items()
        if _SECRET_NAME.search(name) and len(value) >= 8
    ]
    return sorted(set(values), key=len, reverse=True)  # longest first: no partial masks


def redact(text: str) -> str:
    """``text`` with every known secret and anything shaped like an API key masked."""
    for value in _env_secrets():
        if value in text:
            text = text.replace(value, MASK)
    return _KEY_SHAPES.sub(MASK, text)
