"""Prompt variants of a suite (``prompts:``): resolve each to a template and patterns, and
apply the patterns to every case's rendered messages.

Errors point at the variant's line: unknown patterns or bad arguments, missing template
files, an unknown ``base`` and ``base`` cycles.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import did_you_mean
from harness.patterns import Example, PatternContext, PatternError, Prompt, apply, normalize
from harness.spec.models import Message, PromptVariant, Suite

if TYPE_CHECKING:
    from harness.spec.loader import CaseSpec, _Collector

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# (role, content, loc-within-case): the loader's own template shape
Template = list[tuple[str, str, tuple[str | int, ...]]]


@dataclass(frozen=True)
class Pattern:
    name: str
    args: dict[str, Any]
    line: int | None
    examples: tuple[Example, ...] = ()  # few_shot {file: ...}


@dataclass(frozen=True)
class Variant:
    """A resolved prompt variant: its template (None: the suite's own), its patterns (a
    base's first), and a fingerprint of both that changes when the prompt text does."""

    name: str
    note: str | None
    template: Template | None
    patterns: tuple[Pattern, ...]
    fingerprint: str
    line: int | None

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "note": self.note, "fingerprint": self.fingerprint,
                "patterns": [p.name for p in self.patterns]}


def resolve_variants(suite: Suite, file: Path, root: Path, errors: _Collector) -> list[Variant]:
    """Every declared variant, in declaration order; problems go to ``errors``."""
    declared = suite.prompts or {}
    done: dict[str, Variant | None] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> Variant | None:
        if name in done:
            return done[name]
        spec = declared[name]
        loc: tuple[str | int, ...] = ("prompts", name)
        line = errors.line(loc)
        if not NAME_RE.match(name):
            errors.add(loc, f"prompt name '{name}' must be a word of letters, digits, '-', "
                       "'_' or '.'", "e.g. 'few-shot' or 'with_role'")
        given = [k for k in ("prompt", "messages", "file", "base")
                 if getattr(spec, k) is not None]
        if len(given) > 1:
            errors.add(loc, f"prompt '{name}': give one of prompt, messages, file or base; "
                       f"found {', '.join(given)}",
                       "use 'base' to start from another variant and add patterns")
            done[name] = None
            return None
        template: Template | None = _suite_template(suite)
        inherited: tuple[Pattern, ...] = ()
        parts: list[Any] = []
        if spec.base is not None:
            if spec.base not in declared:
                guess = did_you_mean(spec.base, declared)
                errors.add((*loc, "base"), f"prompt '{name}': unknown base '{spec.base}'",
                           f"Did you mean '{guess}'?" if guess
                           else f"variants: {', '.join(declared)}")
                done[name] = None
                return None
            if spec.base in chain or spec.base == name:
                start = chain.index(spec.base) if spec.base in chain else len(chain)
                cycle = " → ".join((*chain[start:], name, spec.base))
                errors.add((*loc, "base"), f"prompt '{name}': 'base' makes a cycle: {cycle}",
                           "a variant cannot start from itself, directly or through others")
                done[name] = None
                return None
            parent = resolve(spec.base, (*chain, name))
            if parent is None:
                done[name] = None
                return None
            template, inherited = parent.template, parent.patterns
            parts.append(parent.fingerprint)
        else:
            own = _own_template(name, spec, loc, file, root, errors)
            if isinstance(own, bool):
                done[name] = None
                return None
            if own is not None:
                template = own
        if template is None and (suite.datasets() or any(
                c.prompt is None and c.messages is None for c in suite.cases)):
            errors.add(loc, f"prompt '{name}' has no template and the suite has no "
                       "'prompt' or 'messages'", "give it 'prompt:', 'messages:', 'file:' "
                       "or 'base:'")
            done[name] = None
            return None
        patterns = list(inherited)
        for index, raw in enumerate(spec.patterns):
            ploc = (*loc, "patterns", index)
            try:
                pname, args = normalize(raw)
            except PatternError as exc:
                errors.add(ploc, f"prompt '{name}': {exc}", exc.hint)
                continue
            examples: tuple[Example, ...] = ()
            if pname == "few_shot" and "file" in args:
                try:
                    examples = _examples(str(args["file"]), file, root)
                except ValueError as exc:
                    errors.add(ploc, f"prompt '{name}': few_shot: {exc}",
                               "a YAML list of {user: ..., assistant: ...} mappings")
                    continue
                parts.append([e.messages for e in examples] + [e.answer for e in examples])
            patterns.append(Pattern(pname, args, errors.line(ploc), examples))
        parts.append([(r, c) for r, c, _ in template or []])
        parts.append([(p.name, p.args) for p in patterns[len(inherited):]])
        blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
        variant = Variant(name, spec.note, template, tuple(patterns),
                          hashlib.sha256(blob.encode()).hexdigest()[:12], line)
        done[name] = variant
        return variant

    out = [resolve(name, ()) for name in declared]
    return [v for v in out if v is not None]


def _suite_template(suite: Suite) -> Template | None:
    if suite.messages is not None:
        return [(m.role, m.content, ()) for m in suite.messages]
    if suite.prompt is not None:
        return [("user", suite.prompt, ())]
    return None


def _own_template(
    name: str, spec: PromptVariant, loc: tuple[str | int, ...], file: Path, root: Path,
    errors: _Collector,
) -> Template | bool | None:
    """The variant's own template; None when it has none, False after a problem."""
    if spec.prompt is not None:
        return [("user", spec.prompt, ())]
    if spec.messages is not None:
        return [(m.role, m.content, ()) for m in spec.messages]
    if spec.file is None:
        return None
    from harness.spec.loader import _PathProblem, safe_path
    from harness.spec.yamlmarks import YamlProblem, load_marked

    try:
        target = safe_path(spec.file, file, root)
        text = target.read_text(encoding="utf-8")
    except _PathProblem as exc:
        errors.add((*loc, "file"), f"prompt '{name}': {exc}")
        return False
    except (OSError, UnicodeDecodeError) as exc:
        errors.add((*loc, "file"), f"prompt '{name}': cannot read '{spec.file}': {exc}")
        return False
    if target.suffix.lower() not in (".yaml", ".yml"):
        return [("user", text, ())]
    try:
        data = load_marked(text).data
        if isinstance(data, dict) and "messages" in data:
            data = data["messages"]
        messages = [Message.model_validate(m) for m in data]
    except (YamlProblem, TypeError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        errors.add((*loc, "file"), f"prompt '{name}': '{spec.file}' is not a list of chat "
                   f"messages: {first}", "each item: {role: system|user|assistant, content: ...}")
        return False
    return [(m.role, m.content, ()) for m in messages]


def _examples(relative: str, file: Path, root: Path) -> tuple[Example, ...]:
    from harness.spec.loader import _PathProblem, safe_path
    from harness.spec.yamlmarks import YamlProblem, load_marked

    try:
        text = safe_path(relative, file, root).read_text(encoding="utf-8")
        data = load_marked(text).data
    except (_PathProblem, YamlProblem, OSError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(data, list) or not data:
        raise ValueError(f"'{relative}' holds no examples")
    out = []
    for item in data:
        if not isinstance(item, dict) or not {"user", "assistant"} <= set(item):
            raise ValueError(f"'{relative}': each example needs 'user' and 'assistant'")
        out.append(Example(({"role": "user", "content": str(item["user"])},),
                           str(item["assistant"])))
    return tuple(out)


def apply_variant(variant: Variant, cases: Sequence[CaseSpec],
                  errors: _Collector) -> list[CaseSpec]:
    """Each case with the variant's patterns applied and its prompt name set."""
    out = []
    for spec in cases:
        others = tuple((c.vars, c.messages) for c in cases
                       if c.id != spec.id and (c.group is None or c.group != spec.group))
        schema = next((b.args.get("schema") for b in spec.checks
                       if b.name == "matches_schema" and not b.negate), None)
        prompt = Prompt(spec.messages)
        failed = False
        for pattern in variant.patterns:
            context = PatternContext(case_id=spec.id, schema=schema, others=others,
                                     examples_file=pattern.examples)
            try:
                prompt = apply(prompt, [(pattern.name, pattern.args)], context)
            except PatternError as exc:
                errors.add(pattern.line, f"prompt '{variant.name}': {exc}", exc.hint)
                failed = True
                break
        if not failed:
            out.append(replace(spec, messages=prompt.messages, prompt=variant.name,
                               answer_marker=prompt.answer_marker, revise=prompt.revise))
    return out
