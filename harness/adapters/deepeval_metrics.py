"""deepeval metrics scored by the run's judge: a ``DeepEvalBaseLLM`` whose calls go to
harness's judge, metrics run in deepeval's plain ``llm`` eval mode.

Imported only when a suite uses a ``deepeval:`` check. deepeval reads its settings at
import, so everything that could reach the network is switched off first: telemetry
(PostHog), the PyPI update check, Confident AI tracing, the hosted "System One" judge,
and the loading of ``.env`` files into the process.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from harness.adapters.bridge import JudgeBridge, snake
from harness.checks.registry import CheckInput

QUIET_ENV = {
    "DEEPEVAL_TELEMETRY_OPT_OUT": "1",
    "DEEPEVAL_TELEMETRY_ENABLED": "0",  # the deprecated alias: any OFF signal wins
    "DEEPEVAL_UPDATE_WARNING_OPT_IN": "0",  # "1" makes import ask PyPI for a newer version
    "DEEPEVAL_DISABLE_DOTENV": "1",  # no .env files read into harness's environment
    "CONFIDENT_TRACING_ENABLED": "NO",  # traces of judge calls would carry case data
    "DEEPEVAL_EVAL_MODE": "llm",  # hybrid/system_one call Confident AI's hosted judge
    "DEEPEVAL_GRPC_LOGGING": "0",
}


def _quiet() -> None:
    os.environ.update(QUIET_ENV)


_quiet()

import deepeval.metrics as _metrics  # noqa: E402  (the settings above are read at import)
from deepeval.models import DeepEvalBaseLLM  # noqa: E402
from deepeval.telemetry import NoopBackend, set_backend  # noqa: E402
from deepeval.test_case import LLMTestCase, SingleTurnParams  # noqa: E402

# deepeval may have been imported before harness set the switches above (its pytest
# plugin loads it at pytest start): its settings follow the environment, but its
# telemetry backend may already exist, so replace it with the no-op one.
set_backend(NoopBackend())


# Any when deepeval is not installed (misc); untyped hooks when it is (no-untyped-call).
class JudgeModel(DeepEvalBaseLLM):  # type: ignore[misc, no-untyped-call, unused-ignore]
    """deepeval's model interface, answered by one harness judge."""

    def __init__(self, bridge: JudgeBridge) -> None:
        self.bridge = bridge
        self.name = bridge.model
        self.model = self.load_model()

    def load_model(self, *args: Any, **kwargs: Any) -> JudgeModel:
        return self  # nothing to load: the judge is reached through harness

    def get_model_name(self, *args: Any, **kwargs: Any) -> str:
        return f"harness judge {self.bridge.model}"

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("harness scores deepeval metrics asynchronously")

    async def a_generate(self, prompt: Any, schema: type[BaseModel] | None = None,
                         **kwargs: Any) -> Any:
        if schema is None:
            raise TypeError("harness answers deepeval prompts that ask for a schema only")
        return await self.bridge.structured(prompt, schema)


def metrics() -> dict[str, type[Any]]:
    """deepeval's single-turn metric classes by lookup key (lower case, no underscores,
    no 'metric' suffix): ``hallucination``, ``geval``, ``answerrelevancy``..."""
    found: dict[str, type[Any]] = {}
    for name in getattr(_metrics, "__all__", []):
        cls = getattr(_metrics, name, None)
        # Jev metrics run on Confident AI's hosted model: judges stay the run's own.
        if inspect.isclass(cls) and issubclass(cls, _metrics.BaseMetric) \
                and cls is not _metrics.BaseMetric and not name.startswith("Jev"):
            found[name.lower().removesuffix("metric")] = cls
    return found


def names() -> list[str]:
    """Every deepeval metric name a suite may write after ``deepeval:``."""
    return sorted({snake(cls.__name__.removesuffix('Metric')) for cls in metrics().values()})


def find(name: str) -> type[Any] | None:
    """The class for ``hallucination``, ``HallucinationMetric``, ``g_eval`` or ``GEval``."""
    return metrics().get(name.replace("_", "").lower().removesuffix("metric"))


def _question(inp: CheckInput) -> str:
    users = [m.get("content", "") for m in inp.messages if m.get("role") == "user"]
    return users[-1] if users else ""


def params(names: list[str]) -> list[Any]:
    """G-Eval's evaluation params from their names (``input``, ``actual_output``...)."""
    known = {p.value: p for p in SingleTurnParams}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown G-Eval params {unknown}; known: {sorted(known)}")
    return [known[n] for n in names]


async def score(name: str, options: Mapping[str, Any], reference: str | None,
                inp: CheckInput, bridge: JudgeBridge) -> tuple[float, str | None]:
    """The metric's score of ``inp`` and its reason. ValueError when the metric cannot be
    built or fed from what harness has."""
    cls = find(name)
    if cls is None:
        raise ValueError(f"deepeval has no metric '{name}'")
    init = inspect.signature(cls.__init__).parameters
    kwargs: dict[str, Any] = dict(options)
    kwargs["model"] = JudgeModel(bridge)
    if "eval_mode" in init:
        kwargs["eval_mode"] = "llm"
    if "async_mode" in init:
        kwargs["async_mode"] = True
    if "evaluation_params" in kwargs:
        kwargs["evaluation_params"] = params(list(kwargs["evaluation_params"]))
    try:
        with warnings.catch_warnings():
            # deepeval 4 warns that hallucination now scores 1 = pass; harness says so in
            # the check's description and records the score as it is
            warnings.simplefilter("ignore", DeprecationWarning)
            metric = cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"deepeval metric '{name}': {exc}") from None
    case = LLMTestCase(
        input=_question(inp) or "(no user message)",
        actual_output=inp.output,
        expected_output=reference,
        context=list(inp.context) or None,
        retrieval_context=list(inp.context) or None,
    )
    await metric.a_measure(case, _show_indicator=False)
    if getattr(metric, "error", None):
        raise ValueError(f"deepeval metric '{name}' failed: {metric.error}")
    value = metric.score
    if value is None:
        raise ValueError(f"deepeval metric '{name}' gave no score")
    reason = getattr(metric, "reason", None)
    return float(value), str(reason) if reason else None
