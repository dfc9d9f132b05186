"""harness: test what large language models write before people rely on it.

The Python API (``from harness import Case, Model, assert_case``) is loaded on first use,
so ``import harness`` stays instant; see ``harness.api``.

PYTEST_DONT_REWRITE: harness is a library, not a test module. The marker stops pytest
from warning, when harness was imported before pytest started (pytester runs, scripts
calling ``pytest.main``), that it can no longer rewrite this package's asserts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["CallFailed", "Case", "Model", "Output", "__version__", "assert_case"]

if TYPE_CHECKING:
    from harness.api import CallFailed, Case, Model, Output, assert_case

_LAZY = frozenset({"CallFailed", "Case", "Model", "Output", "assert_case"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from harness import api

        # Not cached in globals(): a harness.api imported again (as pytester's in-process
        # runs do) must be the one every caller sees.
        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
