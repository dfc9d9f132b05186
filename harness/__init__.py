"""harness: test what large language models write before people rely on it."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
