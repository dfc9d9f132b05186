"""Jinja2 rendering in a sandbox: prompts are data, never code."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from harness.errors import did_you_mean


class RenderError(ValueError):
    """A template that cannot be rendered with the vars it was given."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@lru_cache(maxsize=1)
def _env() -> ImmutableSandboxedEnvironment:
    # StrictUndefined: a misspelt variable is an error, not a silently empty prompt.
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


@lru_cache(maxsize=4096)
def _compile(source: str) -> Any:
    return _env().from_string(source)


def render(source: str, variables: dict[str, Any]) -> str:
    """Render ``source`` with ``variables``; RenderError says what went wrong."""
    if "{" not in source:  # fast path: most check arguments and many prompts are plain
        return source
    try:
        return str(_compile(source).render(**variables))
    except TemplateError as exc:
        raise _explain(exc, variables) from None
    except (TypeError, ValueError, ArithmeticError, AttributeError, RecursionError) as exc:
        raise RenderError(f"template error: {exc}") from None


def _explain(exc: TemplateError, variables: dict[str, Any]) -> RenderError:
    message = str(exc.message or exc)
    undefined = re.search(r"'([^']+)' is undefined", message)
    if undefined:
        name = undefined.group(1)
        guess = did_you_mean(name, variables)
        known = ", ".join(sorted(variables)) or "none"
        return RenderError(
            f"the template uses an undefined variable '{name}' (vars here: {known})",
            f"Did you mean '{guess}'?" if guess else "define it under the case's 'vars:'",
        )
    lineno = getattr(exc, "lineno", None)
    if lineno:
        return RenderError(f"template syntax error on template line {lineno}: {message}",
                           "Jinja2 syntax: {{ variable }}, {% if ... %}...{% endif %}")
    return RenderError(f"template error: {message}")
