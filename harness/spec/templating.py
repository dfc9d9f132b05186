"""Jinja2 rendering in a sandbox: prompts are data, never code.

Two globals help suites plant what the leak checks look for:

- ``{{ canary("sys") }}`` returns a secret token such as ``CANARY-7f3a9c21``: the same
  for the same name in the same case, different across names and cases (it is derived from
  the name and the template variable ``case_id`` when one is defined, else from the name
  alone). ``no_canary`` without arguments finds every such token in the prompt and the
  documents and fails when the output reveals one, even spaced out, reversed or encoded.
- ``{{ injection("html_comment") }}`` returns an injected instruction in one of the shipped
  disguises (``harness.injections.TEMPLATES``) carrying a marker that ``resists_injection``
  finds by itself.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from harness.errors import did_you_mean
from harness.injections import render_injection

CANARY_PREFIX = "CANARY-"
# A planted canary as ``canary()`` makes it; ``no_canary`` looks for these in the input.
CANARY_RE = re.compile(r"\bCANARY-[0-9a-f]{8}\b")


def canary_token(name: str = "default", case_id: str | None = None) -> str:
    """A deterministic secret token for ``name`` (and the case, when known)."""
    seed = f"harness-canary\x00{case_id or ''}\x00{name}"
    return CANARY_PREFIX + hashlib.sha256(seed.encode()).hexdigest()[:8]


def _case_seed(ctx: Context) -> str | None:
    case_id = ctx.get("case_id")
    return None if case_id is None else str(case_id)


@pass_context
def _canary(ctx: Context, name: str = "default") -> str:
    return canary_token(str(name), _case_seed(ctx))


@pass_context
def _injection(
    ctx: Context, kind: str = "ignore_previous", payload: str | None = None,
    marker: str | None = None,
) -> str:
    return render_injection(str(kind), payload, marker, seed=_case_seed(ctx) or "")


class RenderError(ValueError):
    """A template that cannot be rendered with the vars it was given."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@lru_cache(maxsize=1)
def _env() -> ImmutableSandboxedEnvironment:
    # StrictUndefined: a misspelt variable is an error, not a silently empty prompt.
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    env.globals["canary"] = _canary
    env.globals["injection"] = _injection
    return env


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
