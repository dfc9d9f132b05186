"""The judge as a library's LLM: a prompt and a pydantic model in, a validated instance out.

Every call goes through the run's JudgeClient (provider, retries, cache, concurrency) and
the reply is validated against the model the library asked for, with the same correction
round-trips as harness's own judges. Usage is added up so the check can record its cost.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel

from harness.judge import JudgeClient, JudgeError, Verdict, VerdictShape, total_usage

M = TypeVar("M", bound=BaseModel)


class JudgeBridge:
    """One judge model, answering a library's structured prompts."""

    def __init__(self, client: JudgeClient) -> None:
        if len(client.models) != 1:
            raise ValueError("a bridge speaks for exactly one judge model")
        self.client = client
        self.model = client.names[0]
        self.calls: list[Verdict] = []

    async def structured(self, prompt: Any, schema: type[M]) -> M:
        """The judge's answer to ``prompt`` as an instance of ``schema``; JudgeError when
        the judge gives none (after its corrections) or cannot be reached."""
        parsed: dict[str, Any] = {}

        def validate(value: Any) -> dict[str, Any]:
            # pydantic's ValidationError is a ValueError: the judge is told what was wrong
            parsed["value"] = schema.model_validate(value)
            return {}

        hint = json.dumps(schema.model_json_schema(), ensure_ascii=False)
        shape = VerdictShape(hint=hint, validate=validate)
        # A library may hand over a structured prompt (deepeval's multimodal parts): the
        # judge gets its text.
        content = prompt if isinstance(prompt, str) else str(prompt)
        (verdict,) = await self.client.verdicts([{"role": "user", "content": content}], shape)
        self.calls.append(verdict)
        if verdict.error is not None:
            raise JudgeError(verdict.error)
        value: M = parsed["value"]
        return value

    def usage(self) -> dict[str, Any]:
        """Calls, tokens and cost of every prompt this bridge answered."""
        return total_usage(self.calls)

    def verdict(self, data: dict[str, Any] | None = None, error: str | None = None) -> Verdict:
        """One Verdict for the whole metric: its score (or error) and the summed usage."""
        u = self.usage()
        return Verdict(self.model, data or {}, error, u["calls"], u["cached_calls"],
                       u["prompt_tokens"], u["completion_tokens"], u["cost_usd"])


def snake(name: str) -> str:
    """A class name as a suite writes it: ``FactualCorrectness`` -> ``factual_correctness``,
    ``GEval`` -> ``g_eval``, ``PIILeakage`` -> ``pii_leakage``."""
    out = ""
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper()
                                   or (i + 1 < len(name) and name[i + 1].islower())):
            out += "_"
        out += ch.lower()
    return out
