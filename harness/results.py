"""The RunLog: the one artifact every report, comparison and gate reads.

It is versioned JSON with a published JSON Schema (``harness schema --runlog``). Nothing
downstream of the runner reads anything else, so a run can be re-reported without calling
a model again.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.failures import counts as failure_counts
from harness.stats import wilson_interval

RUNLOG_FORMAT = "harness.runlog"
RUNLOG_VERSION = 1

Status = Literal["passed", "failed", "error"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckRecord(_Record):
    check: str
    args: dict[str, Any] = Field(default_factory=dict)
    negate: bool = False
    passed: bool
    score: float | None = None
    reason: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None  # no verdict (a judge error): neither a pass nor a fail


class ErrorRecord(_Record):
    kind: str
    message: str
    attempts: int = 1
    status: int | None = None


class Usage(_Record):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class CaseResult(_Record):
    """One case × model × repeat: what was sent, what came back, and every check's verdict."""

    suite: str
    case_id: str
    model: str  # the label shown in reports
    model_id: str  # the LiteLLM model string
    repeat: int = 0
    status: Status
    tags: list[str] = Field(default_factory=list)
    source: str = ""  # path:line of the case in its suite
    vars: dict[str, Any] = Field(default_factory=dict)
    context: list[str] = Field(default_factory=list)
    messages: list[dict[str, str]]
    params: dict[str, Any] = Field(default_factory=dict)
    output: str | None = None
    error: ErrorRecord | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None  # of the model's call; judges are in judge_cost_usd
    judge_cost_usd: float | None = None  # of the judge calls this result's checks made
    latency_ms: float | None = None  # of the call that produced the output (kept when cached)
    cached: bool = False
    attempts: int = 1  # calls made for this result (0 when answered from the cache)
    finish_reason: str | None = None
    checks: list[CheckRecord] = Field(default_factory=list)
    # A counterfactual variant: the id its variants share, and {attribute, value, group}.
    group: str | None = None
    variant: dict[str, str] = Field(default_factory=dict)
    # What kind of mistake a failed or errored result made (harness/failures.py MODES).
    failure_mode: str | None = None
    # The suite's prompt variant (None when the suite declares no ``prompts:``).
    prompt: str | None = None
    # step_by_step: the final answer the checks judged (``output`` keeps the full reply);
    # None when nothing was extracted.
    answer: str | None = None
    # self_check: the later turns sent after ``messages`` (the first answer as the
    # assistant, then the revision request); ``output`` is the last turn's reply.
    turns: list[dict[str, str]] = Field(default_factory=list)

    @property
    def key(self) -> ResultKey:
        return (self.suite, self.case_id, self.model, self.repeat, self.prompt)

    @property
    def label(self) -> str:
        """``case`` or ``case[prompt=NAME]``: how ids and reports name the result."""
        return case_label(self.case_id, self.prompt)


# (suite, case_id, model, repeat, prompt)
ResultKey = tuple[str, str, str, int, str | None]


def case_label(case_id: str, prompt: str | None) -> str:
    """A case id with its prompt variant, the way ids and reports show it."""
    return case_id if prompt is None else f"{case_id}[prompt={prompt}]"


def model_label(model: str, prompt: str | None) -> str:
    """A model with its prompt variant, ``model · prompt``: how bias statistics and the
    report's matrix name what they score apart."""
    return model if prompt is None else f"{model} · {prompt}"


class PromptInfo(_Record):
    """A prompt variant of a suite, as it was when the run started."""

    name: str
    note: str | None = None
    fingerprint: str  # changes when the variant's template or patterns change
    patterns: list[str] = Field(default_factory=list)


class SuiteInfo(_Record):
    name: str
    path: str
    description: str | None = None
    fingerprint: str
    cases: int
    prompts: list[PromptInfo] = Field(default_factory=list)
    # the suite's `gate:` budgets (min_pass_rate, max_cost, max_latency_p95)
    gate: dict[str, float] = Field(default_factory=dict)


class ModelInfo(_Record):
    name: str
    id: str
    api_base: str | None = None


class RunLog(_Record):
    """A whole run. ``summary`` is derived from ``results`` when the log is written."""

    format: Literal["harness.runlog"] = "harness.runlog"
    version: Literal[1] = 1
    run_id: str
    harness_version: str
    created_at: str
    finished_at: str | None = None
    duration_s: float | None = None
    suites: list[SuiteInfo]
    models: list[ModelInfo]
    settings: dict[str, Any] = Field(default_factory=dict)
    results: list[CaseResult]
    summary: dict[str, Any] = Field(default_factory=dict)

    def with_summary(self) -> RunLog:
        return self.model_copy(update={"summary": summarize(self.results)})

    def write(self, path: str | Path) -> Path:
        """Write the log atomically (a crash mid-write never leaves half a file)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(self.with_summary().model_dump_json(indent=1), encoding="utf-8")
        tmp.replace(target)
        return target

    @classmethod
    def read(cls, path: str | Path) -> RunLog:
        """Read a RunLog; ValueError with a plain message when it is not one."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: cannot read: {exc}") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        if not isinstance(data, dict) or data.get("format") != RUNLOG_FORMAT:
            raise ValueError(f"{path}: not a harness RunLog (no \"format\": \"{RUNLOG_FORMAT}\")")
        if data.get("version") != RUNLOG_VERSION:
            raise ValueError(
                f"{path}: RunLog version {data.get('version')} is not supported "
                f"(this harness reads version {RUNLOG_VERSION})"
            )
        from pydantic import ValidationError

        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"{path}: invalid RunLog at {loc}: {err['msg']}") from None


def merge_logs(logs: list[RunLog]) -> RunLog:
    """One RunLog from several (the shards of a run, or runs of different suites).

    A suite present in several logs must have the same fingerprint in each, and no
    case × model × repeat may appear twice.
    """
    if not logs:
        raise ValueError("nothing to merge")
    suites: dict[str, SuiteInfo] = {}
    models: dict[str, ModelInfo] = {}
    seen: dict[ResultKey, str] = {}
    results: list[CaseResult] = []
    for log in logs:
        for suite in log.suites:
            known = suites.setdefault(suite.name, suite)
            if known.fingerprint != suite.fingerprint:
                raise ValueError(
                    f"suite '{suite.name}' differs between the logs (fingerprint "
                    f"{known.fingerprint} vs {suite.fingerprint}); merge runs of one suite "
                    "version")
        for model in log.models:
            models.setdefault(model.name, model)
        for result in log.results:
            if result.key in seen:
                raise ValueError(
                    f"{result.suite}/{result.label} [{result.model}] repeat {result.repeat}"
                    f" is in both run {seen[result.key]} and run {log.run_id}")
            seen[result.key] = log.run_id
            results.append(result)
    ids = "+".join(sorted({log.run_id for log in logs}))
    return RunLog(
        run_id="merged-" + hashlib.sha256(ids.encode()).hexdigest()[:10],
        harness_version=logs[0].harness_version,
        created_at=min(log.created_at for log in logs),
        finished_at=max((log.finished_at or "" for log in logs), default="") or None,
        suites=list(suites.values()),
        models=list(models.values()),
        settings={
            "merged_from": [log.run_id for log in logs],
            "sources": [{"run_id": log.run_id, "status": log.settings.get("status"),
                         "planned": log.settings.get("planned"),
                         "results": len(log.results)} for log in logs],
        },
        results=results,
    )


def counted(results: Iterable[CaseResult]) -> list[CaseResult]:
    """The results that count in pass rates, comparisons and the gate: the planned cases,
    without the shrink candidates a ``perturb:`` case adds after the run to find its
    minimal failing perturbation (diagnostics: they exist only where a variant already
    failed, and a different head run tries different ones)."""
    return [r for r in results if not is_shrunk(r)]


def is_shrunk(result: CaseResult) -> bool:
    """Whether a result is a shrink candidate rather than a planned case."""
    return "shrunk_from" in result.variant


def summarize(results: list[CaseResult]) -> dict[str, Any]:
    """Pass rates per model (with Wilson intervals) and per check, errors by kind, and
    the cases whose outcome varies between repeats (derived, never hand-kept). Shrink
    candidates are left out (``counted``)."""
    results = counted(results)
    per_model: dict[str, Counter[str]] = defaultdict(Counter)
    per_check: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    errors: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        per_model[r.model][r.status] += 1
        if r.error is not None:
            errors[r.model][r.error.kind] += 1
        for c in r.checks:
            label = f"not {c.check}" if c.negate else c.check
            per_check[r.model][label]["passed" if c.passed else "failed"] += 1
    models = {}
    for model, counts in per_model.items():
        judged = counts["passed"] + counts["failed"]
        low, high = wilson_interval(counts["passed"], judged)
        models[model] = {
            "total": sum(counts.values()),
            "passed": counts["passed"],
            "failed": counts["failed"],
            "errors": counts["error"],
            "pass_rate": counts["passed"] / judged if judged else None,
            "pass_rate_ci95": [round(low, 4), round(high, 4)] if judged else None,
        }
    return {
        "total": len(results),
        "passed": sum(1 for r in results if r.status == "passed"),
        "failed": sum(1 for r in results if r.status == "failed"),
        "errors": sum(1 for r in results if r.status == "error"),
        "models": models,
        "checks": {m: {c: dict(v) for c, v in checks.items()} for m, checks in per_check.items()},
        "error_kinds": {m: dict(k) for m, k in errors.items()},
        "failure_modes": failure_counts(results),
        "costs": cost_summary(results),
        "repeats": repeat_stats(results),
        **_prompt_summary(results),
    }


def spent(results: Iterable[CaseResult]) -> float:
    """What ``results`` cost, model calls and their judges together, as ``--max-cost`` and
    the gate's budgets count it (USD; an unpriced call counts 0)."""
    return sum((r.cost_usd or 0.0) + (r.judge_cost_usd or 0.0) for r in results)


def cost_summary(results: list[CaseResult]) -> dict[str, Any]:
    """What the run spent on model calls and on judge calls, in total and per model (USD;
    None where nothing was priced). ``--max-cost`` bounds the two together."""
    def sums(rows: list[CaseResult]) -> dict[str, float | None]:
        model = [r.cost_usd for r in rows if r.cost_usd is not None]
        judge = [r.judge_cost_usd for r in rows if r.judge_cost_usd is not None]
        both = model + judge
        return {"model_usd": sum(model) if model else None,
                "judge_usd": sum(judge) if judge else None,
                "total_usd": sum(both) if both else None}

    per_model: dict[str, list[CaseResult]] = defaultdict(list)
    for r in results:
        per_model[r.model].append(r)
    return {**sums(results), "models": {m: sums(rows) for m, rows in per_model.items()}}


def _prompt_summary(results: list[CaseResult]) -> dict[str, Any]:
    """Pass rate per prompt variant × model (only for runs with prompt variants)."""
    counts: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for r in results:
        if r.prompt is not None:
            counts[r.prompt][r.model][r.status] += 1
    if not counts:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for prompt, by_model in counts.items():
        for model, c in by_model.items():
            judged = c["passed"] + c["failed"]
            low, high = wilson_interval(c["passed"], judged)
            out.setdefault(prompt, {})[model] = {
                "total": sum(c.values()), "passed": c["passed"], "failed": c["failed"],
                "errors": c["error"], "pass_rate": c["passed"] / judged if judged else None,
                "pass_rate_ci95": [round(low, 4), round(high, 4)] if judged else None,
            }
    return {"prompts": out}


def repeat_stats(results: list[CaseResult]) -> list[dict[str, Any]]:
    """Per case × model with more than one repeat: pass rate, Wilson interval, flakiness.

    A case is flaky when, among its judged repeats, some passed and some failed.
    """
    groups: dict[tuple[str, str, str, str | None], list[CaseResult]] = defaultdict(list)
    for r in results:
        groups[(r.suite, r.case_id, r.model, r.prompt)].append(r)
    rows = []
    for (suite, case_id, model, prompt), group in groups.items():
        if len(group) < 2:
            continue
        passed = sum(r.status == "passed" for r in group)
        judged = sum(r.status != "error" for r in group)
        low, high = wilson_interval(passed, judged)
        rows.append({
            "suite": suite, "case_id": case_id, "model": model, "repeats": len(group),
            "passed": passed, "judged": judged,
            "pass_rate": passed / judged if judged else None,
            "ci95": [round(low, 4), round(high, 4)] if judged else None,
            "flaky": 0 < passed < judged,
            **({"prompt": prompt} if prompt is not None else {}),
        })
    return rows


def to_records(log: RunLog) -> list[dict[str, Any]]:
    """Flat, pandas-friendly rows: one per case result (``pandas.DataFrame(rows)``)."""
    rows = []
    for r in log.results:
        row: dict[str, Any] = {
            "run_id": log.run_id, "suite": r.suite, "case_id": r.case_id, "model": r.model,
            "repeat": r.repeat, "status": r.status, "tags": ",".join(r.tags),
            "latency_ms": r.latency_ms, "cost_usd": r.cost_usd,
            "judge_cost_usd": r.judge_cost_usd, "cached": r.cached,
            "prompt_tokens": r.usage.prompt_tokens,
            "completion_tokens": r.usage.completion_tokens,
            "error_kind": r.error.kind if r.error else None,
            "failure_mode": r.failure_mode,
        }
        if r.prompt is not None:
            row["prompt"] = r.prompt
        for c in r.checks:
            # a negated check is a different column; a check written twice in one case
            # passes only when every instance passed
            column = f"check.not {c.check}" if c.negate else f"check.{c.check}"
            row[column] = row.get(column, True) and c.passed
        rows.append(row)
    return rows
