"""RunLogs built by hand for the report tests: a few models and cases, a provider error,
a failed check, and model output (and ids, reasons, evidence) that tries to inject markup."""

from __future__ import annotations

from typing import Any

import pytest

from harness.results import (
    CaseResult,
    CheckRecord,
    ErrorRecord,
    ModelInfo,
    RunLog,
    SuiteInfo,
    Usage,
)

PAYLOAD = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
# a case id and a reason that try to break out of an attribute as well as out of text
EVIL_CASE = 'q&a-<b>"onmouseover="window.__pwned=3'
EVIL_REASON = 'expected "</td></tr></table><script>window.__pwned=4</script>"; found nothing'

MODELS = [
    ModelInfo(name="gpt-mini", id="openai/gpt-4o-mini"),
    ModelInfo(name="smollm2", id="local/smollm2"),
    ModelInfo(name="claude", id="anthropic/claude-3-5-haiku", api_base=None),
]
CASES = [
    ("marketing", "tagline", ["copy"]),
    ("marketing", EVIL_CASE, ["copy", "<i>tag</i>"]),
    ("legal", "nda-summary", ["pii", "grounding"]),
    ("legal", "policy-inject", ["injection"]),
]


def make_result(
    suite: str,
    case_id: str,
    model: str,
    *,
    status: str = "passed",
    output: str | None = "A fine answer.",
    checks: list[CheckRecord] | None = None,
    error: ErrorRecord | None = None,
    repeat: int = 0,
    tags: list[str] | None = None,
    **extra: Any,
) -> CaseResult:
    model_id = next((m.id for m in MODELS if m.name == model), model)
    if checks is None:
        checks = [
            CheckRecord(
                check="contains",
                args={"value": "answer"},
                passed=True,
                score=1.0,
                reason="found 'answer'",
            )
        ]
    return CaseResult.model_validate(
        {
            "suite": suite,
            "case_id": case_id,
            "model": model,
            "model_id": model_id,
            "repeat": repeat,
            "status": status,
            "tags": tags or [],
            "source": f"suites/{suite}.suite.yaml:{12 + len(case_id)}",
            "vars": {"product": "Acme <Widget>"},
            "messages": [
                {"role": "system", "content": "You write marketing copy. <keep it short>"},
                {"role": "user", "content": f"Write the {case_id} now."},
            ],
            "params": {"temperature": 0.2},
            "output": None if error else output,
            "error": error,
            "usage": Usage(prompt_tokens=42, completion_tokens=17),
            "cost_usd": 0.00012,
            "latency_ms": 830.0 + 10 * repeat,
            "checks": [] if error else checks,
            **extra,
        }
    )


def build_log() -> RunLog:
    results: list[CaseResult] = []
    for suite, case_id, tags in CASES:
        for model in MODELS:
            kwargs: dict[str, Any] = {"tags": tags}
            if case_id == "policy-inject" and model.name == "smollm2":
                kwargs["output"] = f"Sure! {PAYLOAD} See ![chart](https://evil.example/track.png)"
                kwargs["status"] = "failed"
                kwargs["checks"] = [
                    CheckRecord(
                        check="no_injection",
                        passed=False,
                        score=0.0,
                        reason="output contains a script tag the document smuggled in",
                        evidence={"match": PAYLOAD, "span": [6, 40]},
                    ),
                    CheckRecord(
                        check="contains",
                        args={"value": "policy"},
                        negate=True,
                        passed=True,
                        score=1.0,
                        reason="'policy' absent as required",
                    ),
                ]
            elif case_id == "tagline" and model.name == "smollm2":
                kwargs["output"] = "Buy stuff."
                kwargs["status"] = "failed"
                kwargs["checks"] = [
                    CheckRecord(
                        check="contains",
                        args={"value": ["refund", "30 days"]},
                        passed=False,
                        score=0.5,
                        reason="expected all of [refund, 30 days]; missing: [30 days]",
                        evidence={"missing": ["30 days"]},
                    ),
                ]
            elif case_id == EVIL_CASE and model.name == "gpt-mini":
                kwargs["status"] = "failed"
                kwargs["checks"] = [
                    CheckRecord(
                        check="is_json",
                        passed=False,
                        reason=EVIL_REASON,
                        evidence={"html": "<iframe src=//evil.example>"},
                    ),
                ]
            elif case_id == "nda-summary" and model.name == "claude":
                kwargs["status"] = "error"
                kwargs["error"] = ErrorRecord(
                    kind="RateLimitError",
                    message="429 <too many> requests",
                    attempts=3,
                    status=429,
                )
            results.append(make_result(suite, case_id, model.name, **kwargs))
    return RunLog(
        run_id="run-20240601-abc123",
        harness_version="0.1.0",
        created_at="2024-06-01T12:00:00+00:00",
        finished_at="2024-06-01T12:01:05+00:00",
        duration_s=65.2,
        suites=[
            SuiteInfo(
                name="marketing",
                path="suites/marketing.suite.yaml",
                description="Taglines & blurbs <for the spring launch>",
                fingerprint="f" * 64,
                cases=2,
            ),
            SuiteInfo(
                name="legal",
                path="suites/legal.suite.yaml",
                description=None,
                fingerprint="0123456789abcdef" * 4,
                cases=2,
            ),
        ],
        models=MODELS,
        settings={"concurrency": 4, "repeats": 1},
        results=results,
    ).with_summary()


@pytest.fixture
def run_log() -> RunLog:
    return build_log()


@pytest.fixture
def payload() -> str:
    """The markup a hostile model output carries: it must render as text, never run."""
    return PAYLOAD


@pytest.fixture
def evil_case() -> str:
    return EVIL_CASE


@pytest.fixture
def evil_reason() -> str:
    return EVIL_REASON


@pytest.fixture
def result_factory() -> Any:
    return make_result


FAIL = [
    CheckRecord(
        check="contains",
        args={"value": "refund"},
        passed=False,
        score=0.0,
        reason="expected 'refund'; found no mention of it",
    )
]
LONG_OUTPUT = "The policy, in full: " + "refunds within 30 days. " * 200 + "END-OF-OUTPUT"


def build_repeat_log() -> RunLog:
    """Three repeats, stopped early: flaky and steady cells, a retried and a cached call,
    an error among repeats, a planned cell that never ran, and an output too long to show
    whole."""
    plan: dict[tuple[str, str], list[str]] = {
        ("tagline", "gpt-mini"): ["passed", "passed", "passed"],
        ("tagline", "smollm2"): ["passed", "failed", "passed"],  # flaky
        ("nda-summary", "gpt-mini"): ["passed", "passed", "error"],  # not flaky: 2/2 judged
        ("nda-summary", "smollm2"): ["failed", "failed", "failed"],
        ("policy-inject", "gpt-mini"): ["passed", "failed", "failed"],  # flaky
        # ("policy-inject", "smollm2") was planned and never ran: the run was interrupted
    }
    results: list[CaseResult] = []
    for (case_id, model), statuses in plan.items():
        suite = "legal" if case_id != "tagline" else "marketing"
        for repeat, status in enumerate(statuses):
            kwargs: dict[str, Any] = {"status": status, "repeat": repeat}
            if status == "failed":
                kwargs["checks"] = FAIL
            if status == "error":
                kwargs["error"] = ErrorRecord(
                    kind="Timeout", message="no answer in 60 s", attempts=4
                )
                kwargs["attempts"] = 4
            if (case_id, model, repeat) == ("tagline", "gpt-mini", 1):
                kwargs["cached"] = True
                kwargs["attempts"] = 0
            if (case_id, model, repeat) == ("tagline", "gpt-mini", 2):
                kwargs["attempts"] = 3
            if (case_id, model, repeat) == ("nda-summary", "smollm2", 0):
                kwargs["output"] = LONG_OUTPUT
            results.append(make_result(suite, case_id, model, **kwargs))
    return RunLog(
        run_id="20240601-120000-c0ffee",
        harness_version="0.1.0",
        created_at="2024-06-01T12:00:00+00:00",
        finished_at="2024-06-01T12:03:10+00:00",
        duration_s=190.0,
        suites=[
            SuiteInfo(
                name="marketing", path="suites/marketing.suite.yaml", fingerprint="f" * 64, cases=1
            ),
            SuiteInfo(name="legal", path="suites/legal.suite.yaml", fingerprint="0" * 64, cases=2),
        ],
        models=MODELS[:2],
        settings={
            "status": "interrupted",
            "planned": 18,
            "concurrency": 4,
            "max_attempts": 4,
            "repeat": 3,
            "cache": True,
            "filters": [],
            "limit": None,
            "shard": None,
            "max_cost": None,
            "resumed": False,
        },
        results=results,
    )


@pytest.fixture
def repeat_log() -> RunLog:
    return build_repeat_log()


@pytest.fixture
def long_output() -> str:
    return LONG_OUTPUT
