"""ragas metrics scored by the run's judge: ragas's modern ``collections`` metrics with an
``InstructorBaseRagasLLM`` whose calls go to harness's judge (never to OpenAI directly).

Imported only when a suite uses a ``ragas:`` check; telemetry is switched off first.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from harness.adapters.bridge import JudgeBridge, snake
from harness.checks.registry import CheckInput

M = TypeVar("M", bound=BaseModel)


def _quiet() -> None:
    # ragas posts usage events unless this is "true"; it caches the answer on first use,
    # so it must be set before ragas is imported (and the cache cleared if it already was).
    os.environ["RAGAS_DO_NOT_TRACK"] = "true"


_quiet()

from ragas import _analytics  # noqa: E402  (telemetry must be off before ragas loads)
from ragas.llms.base import InstructorBaseRagasLLM  # noqa: E402
from ragas.metrics import collections  # noqa: E402

_analytics.do_not_track.cache_clear()


class JudgeLLM(InstructorBaseRagasLLM):  # type: ignore[misc, unused-ignore]  # Any if missing
    """ragas's LLM interface, answered by one harness judge."""

    def __init__(self, bridge: JudgeBridge) -> None:
        self.bridge = bridge

    def generate(self, prompt: str, response_model: type[M]) -> M:
        raise NotImplementedError("harness scores ragas metrics asynchronously (ascore)")

    async def agenerate(self, prompt: str, response_model: type[M]) -> M:
        return await self.bridge.structured(prompt, response_model)


def metrics() -> dict[str, type[Any]]:
    """ragas's metric classes by lookup key (the class name, lower case, no underscores)."""
    found: dict[str, type[Any]] = {}
    for name in getattr(collections, "__all__", []):
        cls = getattr(collections, name, None)
        if inspect.isclass(cls) and issubclass(cls, collections.BaseMetric) \
                and cls is not collections.BaseMetric:
            found[name.lower()] = cls
    return found


def names() -> list[str]:
    """Every ragas metric name a suite may write after ``ragas:``."""
    return sorted({snake(cls.__name__) for cls in metrics().values()})


def find(name: str) -> type[Any] | None:
    """The metric class for ``faithfulness``, ``factual_correctness`` or ``Faithfulness``."""
    return metrics().get(name.replace("_", "").lower())


def _question(inp: CheckInput) -> str:
    users = [m.get("content", "") for m in inp.messages if m.get("role") == "user"]
    return users[-1] if users else ""


async def score(name: str, options: Mapping[str, Any], reference: str | None,
                inp: CheckInput, bridge: JudgeBridge) -> tuple[float, str | None]:
    """The metric's score of ``inp`` and its reason (when ragas gives one).

    ValueError when the metric cannot be built or fed from what harness has.
    """
    cls = find(name)
    if cls is None:
        raise ValueError(f"ragas has no metric '{name}'")
    init = inspect.signature(cls.__init__).parameters
    if "embeddings" in init:
        raise ValueError(f"ragas metric '{name}' needs an embedding model, which harness "
                         f"does not provide; use a metric that needs only an LLM")
    kwargs: dict[str, Any] = dict(options)
    if "llm" in init:
        kwargs["llm"] = JudgeLLM(bridge)
    try:
        metric = cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"ragas metric '{name}': {exc}") from None
    available: dict[str, Any] = {
        "user_input": _question(inp),
        "response": inp.output,
        "retrieved_contexts": list(inp.context),
        "reference": reference,
    }
    args: dict[str, Any] = {}
    for pname, param in inspect.signature(metric.ascore).parameters.items():
        if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        value = available.get(pname)
        if value in (None, "", []):
            if param.default is not inspect.Parameter.empty:
                continue
            raise ValueError(_missing(name, pname))
        args[pname] = value
    result = await metric.ascore(**args)
    value = float(getattr(result, "value", result))
    if math.isnan(value):
        raise ValueError(f"ragas metric '{name}' gave no score (NaN): nothing to judge in "
                         f"the output")
    reason = getattr(result, "reason", None)
    return value, str(reason) if reason else None


def _missing(name: str, param: str) -> str:
    where = {
        "retrieved_contexts": "give the case a 'context'",
        "reference": "give the check a 'reference' (or the case a 'reference' var)",
        "user_input": "the case's prompt has no user message",
        "response": "the output is empty",
    }.get(param, "harness has nothing to fill it with")
    return f"ragas metric '{name}' needs '{param}': {where}"
