"""The Python API: cases written in code, checked by the same registry, recorded in the
same RunLog as the YAML suites.

    from harness import assert_case

    def test_refund_policy(harness_model):      # the pytest plugin's fixture
        out = harness_model.complete("Summarise our refund policy: {policy}", policy=POLICY)
        assert_case(out, expect=[{"contains": "30 days"}, {"max_words": 80}])

Prompt templates here are Python format strings (``{policy}``, literal braces doubled as
``{{``), filled with the keyword arguments; YAML suites use Jinja2 instead. A call goes
through the runner like a suite's (response cache, retries with backoff, timeouts), and
its result rides along on the returned text (``out.result``). Under the pytest plugin,
every ``assert_case`` adds a result to the session's RunLog and report.

Nothing heavy is imported until a call or a check needs it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from harness.checks.registry import BoundCheck, CheckResult
    from harness.results import CaseResult, CheckRecord
    from harness.store import ResponseCache

__all__ = ["CallFailed", "Case", "Model", "Output", "assert_case"]

CheckSpec = Mapping[str, Any] | str  # {"contains": "refund"}, or a bare name: "is_json"
Documents = str | Sequence[str]
OUTPUT_PREVIEW = 500  # characters of the output quoted in an assertion message


@dataclass(frozen=True)
class Case:
    """A case written in code: a prompt template (Python format-style), its vars, the
    source documents, and the checks a good answer passes. Run it with
    ``harness_model.run(case)``."""

    id: str
    prompt: str
    vars: Mapping[str, Any] = field(default_factory=dict)
    context: Documents = ()
    expect: Sequence[CheckSpec] = ()
    tags: Sequence[str] = ()
    system: str | None = None


class Output(str):
    """A model's answer: the text itself, plus ``result`` (the call's CaseResult: model,
    messages, latency, tokens, cost, whether it came from the cache) and ``context`` (the
    documents of the case, which ``assert_case`` hands to the checks)."""

    result: CaseResult | None
    context: tuple[str, ...]

    def __new__(cls, text: str, result: CaseResult | None = None,
                context: Documents = ()) -> Output:
        out = super().__new__(cls, text)
        out.result = result
        out.context = _docs(context)
        return out

    @property
    def model(self) -> str | None:
        return self.result.model if self.result is not None else None


class CallFailed(RuntimeError):
    """A model call that still failed after its retries; ``result`` holds the error."""

    def __init__(self, message: str, result: CaseResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class RecordContext:
    """Where a result recorded now belongs: the running test."""

    suite: str
    case_id: str
    source: str = ""
    model: str | None = None
    tags: tuple[str, ...] = ()


class Recorder(Protocol):
    """What the pytest plugin offers the API: the running test, and a place for results."""

    def context(self) -> RecordContext | None: ...

    def record(self, result: CaseResult) -> None: ...

    def recorded_answer(self, model: str,
                        messages: list[dict[str, str]]) -> CaseResult | None: ...


# Set by the pytest plugin for the duration of its session (restored after, so a pytest
# run inside a test, as pytester makes, does not leak into the outer one).
_recorder: Recorder | None = None


def set_recorder(recorder: Recorder | None) -> Recorder | None:
    """Install ``recorder``; returns the one it replaces."""
    global _recorder
    previous, _recorder = _recorder, recorder
    return previous


def _docs(context: Documents | None) -> tuple[str, ...]:
    if context is None:
        return ()
    return (context,) if isinstance(context, str) else tuple(context)


def fill(template: str, values: Mapping[str, Any]) -> str:
    """``template`` with its ``{name}`` placeholders filled from ``values``."""
    try:
        return template.format_map(values)
    except KeyError as exc:
        given = ", ".join(sorted(values)) or "none"
        raise KeyError(f"the prompt template uses {{{exc.args[0]}}} but no value was given "
                       f"for it (given: {given}); write literal braces as {{{{ and }}}}") \
            from None
    except (IndexError, ValueError) as exc:
        raise ValueError(f"the prompt template is not a valid format string: {exc}; "
                         "write literal braces as {{ and }}") from None


def default_cache_path() -> str:
    return os.environ.get("HARNESS_CACHE") or ".harness/cache.sqlite"


class Model:
    """A model to call from code, through the same runner as a suite: response cache,
    retries with backoff and Retry-After, timeouts. ``name`` is any LiteLLM model string
    (or ``local/smollm2``); ``api_base`` points ``openai/...`` names at an
    OpenAI-compatible server. ``cache_path=None`` turns the cache off."""

    def __init__(
        self,
        name: str,
        *,
        api_base: str | None = None,
        system: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 256,
        seed: int | None = 0,
        timeout: float = 120.0,
        retries: int = 4,
        cache_path: str | Path | None = "",
        replay: bool = False,
    ) -> None:
        self.name = name
        self.api_base = None if name.startswith("local/") else api_base
        self.system = system
        self.params = {"temperature": temperature, "max_tokens": max_tokens, "seed": seed,
                       "timeout": timeout}
        self.retries = retries
        self.cache_path = default_cache_path() if cache_path == "" else cache_path
        self.replay = replay
        self._cache: ResponseCache | None = None

    def __repr__(self) -> str:
        return f"Model({self.name!r})"

    def complete(self, template: str, /, **values: Any) -> Output:
        """Fill ``template`` (Python format-style: ``{policy}``) with ``values``, send it as
        the user message, and return the answer. Raises CallFailed when the call fails
        after its retries (the failure is recorded in the RunLog first)."""
        import asyncio  # here: the plugin imports this module in every pytest session

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.acomplete(template, **values))
        raise RuntimeError("Model.complete() cannot run inside an event loop; "
                           "use 'await model.acomplete(...)' there")

    async def acomplete(self, template: str, /, **values: Any) -> Output:
        """``complete`` for async code."""
        return await self._complete(fill(template, values), ())

    def run(self, case: Case) -> Output:
        """Complete ``case`` and check the answer with ``case.expect`` (``assert_case``)."""
        __tracebackhide__ = True
        import asyncio

        prompt = fill(case.prompt, {"context": "\n\n".join(_docs(case.context)),
                                    **case.vars})
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            out = asyncio.run(self._complete(prompt, _docs(case.context), case.system))
        else:
            raise RuntimeError("Model.run() cannot run inside an event loop")
        assert_case(out, case.expect, case_id=case.id, vars=case.vars, tags=case.tags)
        return out

    async def _complete(self, prompt: str, context: tuple[str, ...],
                        system: str | None = None) -> Output:
        messages: list[dict[str, str]] = []
        if system or self.system:
            messages.append({"role": "system", "content": system or self.system or ""})
        messages.append({"role": "user", "content": prompt})
        if self.replay:
            result = self._replayed(messages)
        else:
            result = await self._call(tuple(messages))
        result = result.model_copy(update={"context": list(context)})
        if result.status == "error" or result.output is None:
            err = result.error
            why = f"{err.kind}: {err.message}" if err else "no output"
            _record(result, None)
            raise CallFailed(f"{self.name}: the call failed after {result.attempts} "
                             f"attempt{'s' if result.attempts != 1 else ''}: {why}", result)
        return Output(result.output, result, context)

    def _replayed(self, messages: list[dict[str, str]]) -> CaseResult:
        recorded = _recorder.recorded_answer(self.name, messages) if _recorder else None
        if recorded is None:
            import pytest

            pytest.skip(f"replay: no recorded answer of {self.name} to this prompt")
        return recorded.model_copy(update={"checks": [], "status": "passed",
                                           "failure_mode": None}) \
            if recorded.status != "error" else recorded

    async def _call(self, messages: tuple[dict[str, str], ...]) -> CaseResult:
        from harness.providers.transport import LeanProvider
        from harness.runner import RetryPolicy, RunSettings, WorkItem, execute
        from harness.spec.loader import CaseSpec, LoadedSuite
        from harness.spec.models import Defaults, ModelConfig

        config = ModelConfig(id=self.name, api_base=self.api_base)
        spec = CaseSpec(suite="python", id="call", messages=messages, checks=())
        defaults = Defaults(**self.params)
        suite = LoadedSuite(name="python", path="", description=None, models=[config],
                            defaults=defaults, cases=[spec], fingerprint="")
        settings = RunSettings(concurrency=1, cache=self._open_cache(),
                               retry=RetryPolicy(max_attempts=self.retries))
        provider = LeanProvider()
        try:
            outcome = await execute([WorkItem(suite, spec, config)], provider, settings)
        finally:
            await provider.aclose()
        if not outcome.results:  # only an interruption leaves nothing behind
            raise KeyboardInterrupt
        return outcome.results[0]

    def _open_cache(self) -> ResponseCache | None:
        if self.cache_path is None:
            return None
        if self._cache is None:
            from harness.store import ResponseCache

            self._cache = ResponseCache(self.cache_path)
        return self._cache

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None


def _build(spec: CheckSpec) -> BoundCheck:
    from harness.checks.registry import CheckArgsError, build

    if isinstance(spec, str):
        name, raw = spec, None
    elif isinstance(spec, Mapping) and len(spec) == 1:
        ((name, raw),) = spec.items()
    else:
        raise ValueError(f"each check is one 'name: arguments' pair, such as "
                         f"{{'contains': 'refund'}}; got {spec!r}")
    try:
        return build(str(name), raw)
    except CheckArgsError as exc:
        raise ValueError(str(exc) + (f" ({exc.hint})" if exc.hint else "")) from None


def assert_case(
    output: str,
    expect: Sequence[CheckSpec],
    *,
    context: Documents | None = None,
    case_id: str | None = None,
    vars: Mapping[str, Any] | None = None,
    tags: Sequence[str] = (),
) -> list[CheckResult]:
    """Check ``output`` with the checks in ``expect`` (the registry's names and arguments,
    as in a suite: ``[{"contains": "refund"}, {"max_words": 80}, "is_json"]``).

    Returns every verdict when all pass; otherwise raises AssertionError listing each
    failed check's reason. Under the pytest plugin the result is recorded in the session's
    RunLog either way. ``context`` (source documents) defaults to the case's, when
    ``output`` came from ``Model.run``. A bad check name or argument is a ValueError.
    """
    __tracebackhide__ = True  # pytest shows the test's line, not this function's body
    from harness.checks.registry import CheckInput
    from harness.results import CheckRecord

    checks = [_build(spec) for spec in expect]
    meta = output.result if isinstance(output, Output) else None
    docs = _docs(context) if context is not None else \
        (output.context if isinstance(output, Output) else ())
    ctx = _recorder.context() if _recorder is not None else None
    model = meta.model if meta is not None else (ctx.model if ctx and ctx.model else "python")
    text = str(output)
    inp = CheckInput(
        output=text, model=model, case_id=case_id or (ctx.case_id if ctx else ""),
        vars=dict(vars or {}), context=docs,
        messages=tuple(meta.messages) if meta is not None else (),
        latency_ms=meta.latency_ms if meta is not None else None,
        cost_usd=meta.cost_usd if meta is not None else None,
    )
    verdicts = [bound(inp) for bound in checks]
    records = [CheckRecord(check=b.name, args=b.args, negate=b.negate, passed=v.passed,
                           score=v.score, reason=v.reason, evidence=v.evidence)
               for b, v in zip(checks, verdicts, strict=True)]
    result = _checked(text, meta, model, records, docs, vars, tags)
    _record(result, case_id)
    if result.status != "passed":
        raise AssertionError(failure_message(result))
    return verdicts


def _checked(text: str, meta: CaseResult | None, model: str, records: list[CheckRecord],
             docs: tuple[str, ...], vars: Mapping[str, Any] | None,
             tags: Sequence[str]) -> CaseResult:
    """The CaseResult of a checked output: the call's result (when there was a call) with
    the verdicts, the documents and the vars added."""
    from harness.failures import classify
    from harness.results import CaseResult

    status = "passed" if all(r.passed for r in records) else "failed"
    update: dict[str, Any] = {"checks": records, "status": status, "context": list(docs),
                              "failure_mode": classify(status, records, text)}
    if vars is not None:
        update["vars"] = dict(vars)
    if tags:
        update["tags"] = list(tags)
    if meta is not None:
        return meta.model_copy(update=update)
    return CaseResult(suite="", case_id="", model=model, model_id=model, messages=[],
                      output=text, attempts=0, **update)


def _record(result: CaseResult, case_id: str | None) -> None:
    recorder = _recorder
    if recorder is None:
        return
    ctx = recorder.context()
    if ctx is None:
        return
    cid = ctx.case_id if case_id is None else f"{ctx.case_id}::{case_id}"
    recorder.record(result.model_copy(update={
        "suite": ctx.suite, "case_id": cid, "source": ctx.source,
        "tags": result.tags or list(ctx.tags)}))


def failure_message(result: CaseResult) -> str:
    """``N of M checks failed on MODEL``, one line per failed check's reason, and the start
    of the output, with personal data masked as the HTML report masks it."""
    shown, masked = masked_result(result)
    failed = [r for r in shown.checks if not r.passed]
    total = len(shown.checks)
    lines = [f"{len(failed)} of {total} check{'s' if total != 1 else ''} failed on "
             f"{shown.model}:"]
    for r in failed:
        label = f"not {r.check}" if r.negate else r.check
        lines.append(f"  - {label}: {r.reason}")
    text = shown.output or ""
    if len(text) > OUTPUT_PREVIEW:
        text = text[:OUTPUT_PREVIEW] + f"… ({len(text) - OUTPUT_PREVIEW} more characters)"
    lines.append(f"output{' (PII masked)' if masked else ''}: {text!r}")
    return "\n".join(lines)


def masked_result(result: CaseResult) -> tuple[CaseResult, bool]:
    """``result`` with personal data masked in everything a failure message shows (output,
    reasons, error, prompt) exactly as the HTML report masks it (``harness.report.masking``:
    structured identifiers always, names and places too where the case has a ``no_pii``
    check), and whether masking ran. Failure output lands in terminals and CI logs, which
    are shared like reports. Without the masking module the result comes back as it is."""
    try:
        from harness.report.masking import mask_log
        from harness.results import RunLog

        log = RunLog(run_id="failure", harness_version="", created_at="", suites=[],
                     models=[], results=[result])
        return mask_log(log).results[0], True
    except Exception:  # masking must never hide the failure being reported
        return result, False
