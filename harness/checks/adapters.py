"""Checks backed by ragas and deepeval metrics, scored by the run's judge model.

``ragas:faithfulness``, ``ragas:factual_correctness``, ``deepeval:hallucination`` and
``deepeval:g_eval`` are registered by name; any other metric of theirs is reached as
``ragas:<metric>`` or ``deepeval:<MetricName or snake_name>`` through a namespace. The
libraries are optional extras (``pip install 'harness[ragas]'``) imported only when such a
check runs; their LLM calls go to harness's judge (the suite's ``judge:`` or ``--judge``)
through the same provider, retries, cache and cost accounting as the ``judge`` check.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Literal

from harness.checks.judge import _client, _combine
from harness.checks.registry import (
    AsyncCheckFn,
    CheckArgsError,
    CheckDef,
    CheckInput,
    CheckResult,
    check,
    definition,
    namespace,
)
from harness.errors import did_you_mean
from harness.judge import JudgeError, Verdict

Library = Literal["ragas", "deepeval"]
MODULES: dict[Library, str] = {
    "ragas": "harness.adapters.ragas_metrics",
    "deepeval": "harness.adapters.deepeval_metrics",
}


def install_hint(library: Library) -> str:
    return f"pip install 'harness[{library}]'"


def _load(library: Library) -> Any:
    """The bridge module for ``library`` (which imports the library itself)."""
    return importlib.import_module(MODULES[library])


def metric_check(library: Library, metric: str, threshold: float, judges: list[str] | None,
                 reference: str | None = None,
                 options: dict[str, Any] | None = None) -> AsyncCheckFn:
    """The scoring function for one library metric, run once per judge model."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError("'threshold' must be between 0 and 1")
    name = f"{library}:{metric}"
    opts = dict(options or {})

    async def run(inp: CheckInput) -> CheckResult:
        client = _client(inp, judges)
        if isinstance(client, str):
            return CheckResult(name, False, None, f"no verdict: {client}", error=client)
        try:
            module = _load(library)
        except ImportError as exc:
            message = (f"{library} is not installed or fails to import ({exc}); "
                       f"{install_hint(library)}")
            return CheckResult(name, False, None, f"no verdict: {message}", error=message)
        ref = reference if reference is not None else inp.vars.get("reference")
        from harness.adapters.bridge import JudgeBridge

        verdicts: list[Verdict] = []
        for model in client.models:
            bridge = JudgeBridge(client.with_models([model]))
            try:
                value, why = await module.score(metric, opts, None if ref is None else str(ref),
                                                inp, bridge)
            except JudgeError as exc:
                verdicts.append(bridge.verdict(error=str(exc)))
                continue
            except Exception as exc:  # the library's own failure: no verdict, said plainly
                verdicts.append(bridge.verdict(
                    error=f"{name} failed with judge {bridge.model}: "
                          f"{type(exc).__name__}: {exc}"))
                continue
            if not 0.0 <= value <= 1.0:  # a rubric metric scored 1..5: no share to compare
                verdicts.append(bridge.verdict(error=(
                    f"{name} scored {value:g}, outside 0..1; harness compares scores from 0 "
                    f"to 1 with 'threshold'")))
                continue
            verdicts.append(bridge.verdict({"score": value, "reason": why or ""}))
        result = _combine(name, verdicts, threshold, f"{name} score")
        if result.error is None:
            result.evidence["metric"] = {"library": library, "name": metric, **opts}
        return result

    return run


# Defaults follow the libraries' own (0.5): their scores are shares of supported claims
# or verdicts, so raise the threshold for stricter use.
@check("ragas:faithfulness", needs_judge=True, requires=("ragas",), extra="ragas",
       failure_mode="hallucination", examples=({}, {"threshold": 0.9}))
def ragas_faithfulness(threshold: float = 0.5, judges: list[str] | None = None) -> AsyncCheckFn:
    """ragas Faithfulness: the share of the output's statements that the case's context
    supports, as judged by the run's judge model (needs the ragas extra)."""
    return metric_check("ragas", "faithfulness", threshold, judges)


@check("ragas:factual_correctness", needs_judge=True, requires=("ragas",), extra="ragas",
       failure_mode="hallucination", examples=({"reference": "Paris is the capital of France."},))
def ragas_factual_correctness(
    reference: str | None = None,
    mode: Literal["precision", "recall", "f1"] = "f1",
    threshold: float = 0.5,
    judges: list[str] | None = None,
) -> AsyncCheckFn:
    """ragas FactualCorrectness: claims of the output against a reference answer
    (``reference``, or the case's ``reference`` var), as precision, recall or F1."""
    return metric_check("ragas", "factual_correctness", threshold, judges, reference,
                        {"mode": mode})


@check("deepeval:hallucination", needs_judge=True, requires=("deepeval",), extra="deepeval",
       failure_mode="hallucination", examples=({}, {"threshold": 0.8}))
def deepeval_hallucination(threshold: float = 0.5,
                           judges: list[str] | None = None) -> AsyncCheckFn:
    """deepeval Hallucination: the share of the case's context documents the output does
    not contradict (1 = none contradicted; deepeval 4 scores in this direction)."""
    return metric_check("deepeval", "hallucination", threshold, judges)


@check("deepeval:g_eval", shorthand="criteria", needs_judge=True, requires=("deepeval",),
       extra="deepeval", failure_mode="judge",
       examples=({"criteria": "The answer is polite."},))
def deepeval_g_eval(
    criteria: str | None = None,
    evaluation_steps: list[str] | None = None,
    params: list[str] | None = None,
    threshold: float = 0.5,
    judges: list[str] | None = None,
) -> AsyncCheckFn:
    """deepeval G-Eval: the judge writes evaluation steps from ``criteria`` (or takes
    ``evaluation_steps``) and scores the output against them."""
    if not (criteria or "").strip() and not evaluation_steps:
        raise ValueError("give 'criteria' (what a good output does) or 'evaluation_steps'")
    options: dict[str, Any] = {"name": "g_eval",
                               "evaluation_params": params or ["input", "actual_output"]}
    if criteria:
        options["criteria"] = criteria
    if evaluation_steps:
        options["evaluation_steps"] = list(evaluation_steps)
    return metric_check("deepeval", "g_eval", threshold, judges, options=options)


def _generic(library: Library, metric: str) -> Callable[..., AsyncCheckFn]:
    def factory(threshold: float = 0.5, judges: list[str] | None = None,
                reference: str | None = None,
                options: dict[str, Any] | None = None) -> AsyncCheckFn:
        """A metric of the library, scored by the run's judge; ``options`` are passed to
        the metric's constructor."""
        return metric_check(library, metric, threshold, judges, reference, options)

    return factory


def _resolver(library: Library) -> Callable[[str], CheckDef]:
    def resolve(metric: str) -> CheckDef:
        from importlib.util import find_spec

        try:
            installed = find_spec(library) is not None
        except (ImportError, ValueError):
            installed = False
        if installed:  # the name can be checked only against the installed library
            try:
                module = _load(library)
            except Exception as exc:
                raise CheckArgsError(f"check '{library}:{metric}': {library} fails to "
                                     f"import: {type(exc).__name__}: {exc}",
                                     install_hint(library)) from None
            if module.find(metric) is None:
                guess = did_you_mean(metric, module.names())
                hint = f"Did you mean '{library}:{guess}'?" if guess else \
                    f"{library} metrics: {', '.join(module.names())}"
                raise CheckArgsError(f"unknown check '{library}:{metric}': {library} has "
                                     f"no metric '{metric}'", hint)
        return definition(f"{library}:{metric}", _generic(library, metric), needs_judge=True,
                          requires=(library,), extra=library, failure_mode="judge")

    return resolve


namespace("ragas", _resolver("ragas"), "any other ragas metric by name, scored by the "
          "judge model (needs the ragas extra)", "ragas:<metric>")
namespace("deepeval", _resolver("deepeval"), "any other deepeval metric by name "
          "(MetricName or snake_name), scored by the judge model (needs the deepeval extra)",
          "deepeval:<metric>")
