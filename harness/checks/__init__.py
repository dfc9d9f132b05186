"""Checks: the registry plus one module per family of properties."""

from harness.checks.registry import (
    BoundCheck,
    CheckDef,
    CheckInput,
    CheckResult,
    build,
    check,
    get,
    registry,
)

__all__ = [
    "BoundCheck",
    "CheckDef",
    "CheckInput",
    "CheckResult",
    "build",
    "check",
    "get",
    "registry",
]
