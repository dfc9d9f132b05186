"""Prompt patterns: small, pure transformations of the messages a case sends.

A prompt variant in a suite lists patterns (``role``, ``output_format``, ``few_shot``,
``step_by_step``, ``self_check``); the loader applies them in order to each case's rendered
messages. Each pattern takes a :class:`Prompt` and returns a new one, so what is sent is
exactly what the golden files under ``tests/golden/patterns/`` show.

Two patterns change more than the messages: ``step_by_step`` sets ``answer_marker`` (the
runner keeps the model's full reply and gives the checks only what follows the last
marker), and ``self_check`` sets ``revise`` (the runner sends a second turn with the first
answer and this instruction, through the same provider path, cache and cost accounting).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

Message = dict[str, str]

DEFAULT_MARKER = "Answer:"
STEP_BY_STEP = ("Think step by step. Then give your final answer on a new line that "
                "starts with '{marker}', and put nothing after it.")
SELF_CHECK = ("Review your answer above: check it against every instruction in the task "
              "and correct any mistake. Then reply with the final, corrected answer only.")


class PatternError(ValueError):
    """A pattern that cannot be applied as written; ``hint`` says what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Prompt:
    """What a case sends: its messages, and how the runner treats the reply."""

    messages: tuple[Message, ...]
    answer_marker: str | None = None  # step_by_step: checks see what follows it
    revise: str | None = None  # self_check: the second turn's instruction

    def to_json(self) -> dict[str, Any]:
        return {"messages": [dict(m) for m in self.messages],
                "answer_marker": self.answer_marker, "revise": self.revise}


@dataclass(frozen=True)
class Example:
    """A worked example for few-shot prompting: the messages asked, and the answer."""

    messages: tuple[Message, ...]
    answer: str


@dataclass(frozen=True)
class PatternContext:
    """What a pattern may know about the case beyond its messages."""

    case_id: str = ""
    schema: Any = None  # the JSON Schema of the case's matches_schema check, if any
    # vars of the suite's other cases with their rendered messages (few_shot draws on them)
    others: tuple[tuple[Mapping[str, Any], tuple[Message, ...]], ...] = ()
    examples_file: tuple[Example, ...] = ()  # few_shot {file: ...}, read by the loader


PatternFn = Callable[[Prompt, Mapping[str, Any], PatternContext], Prompt]


@dataclass(frozen=True)
class PatternDef:
    """A registered pattern: its function, the arguments it takes, and a short summary."""

    name: str
    fn: PatternFn
    args: Mapping[str, type | tuple[type, ...]]
    summary: str
    shorthand: str | None = None  # the argument a scalar value stands for
    required: tuple[str, ...] = field(default_factory=tuple)


PATTERNS: dict[str, PatternDef] = {}


def _pattern(name: str, summary: str, args: Mapping[str, type | tuple[type, ...]],
             shorthand: str | None = None,
             required: tuple[str, ...] = ()) -> Callable[[PatternFn], PatternFn]:
    def register(fn: PatternFn) -> PatternFn:
        PATTERNS[name] = PatternDef(name, fn, args, summary, shorthand, required)
        return fn
    return register


def normalize(spec: Any) -> tuple[str, dict[str, Any]]:
    """``"step_by_step"`` or ``{role: "..."}`` → (name, arguments), checked against the
    registry; PatternError says what is wrong."""
    from harness.errors import did_you_mean

    if isinstance(spec, str):
        name, raw = spec, None
    elif isinstance(spec, dict) and len(spec) == 1:
        (name, raw), = spec.items()
        name = str(name)
    else:
        raise PatternError(
            f"each pattern is a name or a one-key mapping; found {spec!r}",
            "e.g. '- step_by_step' or '- role: \"You are an editor.\"'")
    definition = PATTERNS.get(name)
    if definition is None:
        guess = did_you_mean(name, PATTERNS)
        raise PatternError(f"unknown pattern '{name}'",
                           f"Did you mean '{guess}'?" if guess
                           else f"patterns: {', '.join(sorted(PATTERNS))}")
    if raw is None:
        args: dict[str, Any] = {}
    elif isinstance(raw, dict):
        args = {str(k): v for k, v in raw.items()}
    elif definition.shorthand is not None:
        args = {definition.shorthand: raw}
    else:
        raise PatternError(f"pattern '{name}' takes a mapping of arguments; found {raw!r}",
                           f"arguments: {', '.join(definition.args) or 'none'}")
    for key, value in args.items():
        if key not in definition.args:
            guess = did_you_mean(key, definition.args)
            raise PatternError(
                f"pattern '{name}' has no argument '{key}'",
                f"Did you mean '{guess}'?" if guess
                else f"arguments: {', '.join(definition.args) or 'none'}")
        wanted = definition.args[key]
        if (isinstance(value, bool) and wanted is int) or not isinstance(value, wanted):
            kinds = wanted if isinstance(wanted, tuple) else (wanted,)
            raise PatternError(f"pattern '{name}': '{key}' should be "
                               f"{' or '.join(k.__name__ for k in kinds)}; found {value!r}")
    for key in definition.required:
        if key not in args:
            raise PatternError(f"pattern '{name}' needs '{key}'")
    return name, args


def apply(prompt: Prompt, patterns: Sequence[tuple[str, Mapping[str, Any]]],
          context: PatternContext) -> Prompt:
    """``prompt`` with each (name, args) pattern applied in order."""
    for name, args in patterns:
        prompt = PATTERNS[name].fn(prompt, args, context)
    return prompt


def _append_to_last_user(messages: tuple[Message, ...], text: str) -> tuple[Message, ...]:
    out = [dict(m) for m in messages]
    for message in reversed(out):
        if message["role"] == "user":
            message["content"] = message["content"].rstrip() + "\n\n" + text
            return tuple(out)
    return (*out, {"role": "user", "content": text})


@_pattern("role", "A system message giving the model a role or persona (put before an "
          "existing system message).", {"text": str}, shorthand="text", required=("text",))
def role(prompt: Prompt, args: Mapping[str, Any], context: PatternContext) -> Prompt:
    """The role as the system message; an existing system message follows it."""
    text = str(args["text"]).strip()
    messages = [dict(m) for m in prompt.messages]
    if messages and messages[0]["role"] == "system":
        messages[0]["content"] = text + "\n\n" + messages[0]["content"]
    else:
        messages.insert(0, {"role": "system", "content": text})
    return replace(prompt, messages=tuple(messages))


@_pattern("output_format", "Explicit output instructions: the case's matches_schema as a "
          "JSON Schema to follow, or your own text.", {"text": str}, shorthand="text")
def output_format(prompt: Prompt, args: Mapping[str, Any], context: PatternContext) -> Prompt:
    """Append the expected output format to the last user message."""
    text = args.get("text")
    if text is None:
        if context.schema is None:
            raise PatternError(
                f"case '{context.case_id}': output_format has no format to state: the case "
                "has no matches_schema check",
                "add a matches_schema check to the case, or write the format: "
                "'output_format: \"Reply with a bulleted list.\"'")
        schema = json.dumps(context.schema, indent=2, sort_keys=True, ensure_ascii=False)
        text = ("Reply with a single JSON value and nothing else (no prose, no code fence). "
                f"It must validate against this JSON Schema:\n{schema}")
    return replace(prompt, messages=_append_to_last_user(prompt.messages, str(text).strip()))


@_pattern("few_shot", "Worked examples before the task: other cases of the suite (their "
          "prompt, and their expected answer var) or a file of examples.",
          {"k": int, "answer": str, "file": str})
def few_shot(prompt: Prompt, args: Mapping[str, Any], context: PatternContext) -> Prompt:
    """Insert ``k`` user/assistant example pairs before the case's last user message."""
    k = int(args.get("k", 2))
    if k < 1:
        raise PatternError("few_shot: 'k' must be at least 1")
    if "file" in args:
        examples = list(context.examples_file)
    else:
        var = str(args.get("answer", "answer"))
        examples = [
            Example(tuple(m for m in messages if m["role"] != "system"), str(vars_[var]))
            for vars_, messages in context.others
            if vars_.get(var) not in (None, "")
        ]
        if not examples:
            raise PatternError(
                f"case '{context.case_id}': few_shot found no other case with a "
                f"'{var}' var to use as an example answer",
                "give other cases the expected answer in vars (e.g. 'answer: ...'), name "
                "the var with 'few_shot: {answer: VAR}', or use 'few_shot: {file: PATH}'")
    shots: list[Message] = []
    for example in examples[:k]:
        shots.extend(dict(m) for m in example.messages)
        shots.append({"role": "assistant", "content": example.answer})
    messages = [dict(m) for m in prompt.messages]
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"),
                    default=len(messages))
    return replace(prompt, messages=tuple(messages[:last_user] + shots + messages[last_user:]))


@_pattern("step_by_step", "Ask for reasoning first and the final answer after a marker; "
          "checks see only the final answer (the full reply is kept).", {"marker": str},
          shorthand="marker")
def step_by_step(prompt: Prompt, args: Mapping[str, Any], context: PatternContext) -> Prompt:
    """Ask for step-by-step reasoning and a marked final answer."""
    marker = str(args.get("marker", DEFAULT_MARKER)).strip() or DEFAULT_MARKER
    messages = _append_to_last_user(prompt.messages, STEP_BY_STEP.format(marker=marker))
    revise = prompt.revise
    if revise is not None:
        revise = revise + " " + STEP_BY_STEP.format(marker=marker)
    return replace(prompt, messages=messages, answer_marker=marker, revise=revise)


@_pattern("self_check", "A second turn: the model reviews its first answer against the "
          "task and gives a revised one (which the checks judge).", {"instruction": str},
          shorthand="instruction")
def self_check(prompt: Prompt, args: Mapping[str, Any], context: PatternContext) -> Prompt:
    """Ask, in a second turn, for a reviewed and corrected answer."""
    text = str(args.get("instruction", SELF_CHECK)).strip()
    if prompt.answer_marker is not None:  # the revision must keep the marked format
        text += " " + STEP_BY_STEP.format(marker=prompt.answer_marker)
    return replace(prompt, revise=text)


def extract_answer(text: str, marker: str) -> str | None:
    """What follows the last ``marker`` in ``text`` (a Markdown-bold marker too), or None
    when the reply has no marker."""
    core = re.escape(marker.rstrip(":").strip())
    pattern = re.compile(rf"(?:\*\*|__)?{core}\s*:?\s*(?:\*\*|__)?\s*:?", re.IGNORECASE)
    found = list(pattern.finditer(text))
    if not found:
        return None
    answer = text[found[-1].end():].strip()
    return answer.strip("*_ ").strip() or None


def describe() -> list[dict[str, str]]:
    """Every pattern with its summary (for docs and ``harness library``)."""
    return [{"name": d.name, "summary": d.summary} for d in PATTERNS.values()]
