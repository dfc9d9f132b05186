"""The runner end to end: real LiteLLM, a real loopback OpenAI server, real suites.

Every provider fault a real API produces is scripted on the server; the tests assert
what a user sees in the results (status, error kind, attempts, cache hits), and what
the server saw (how many calls, how many at once).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import runner
from harness.providers.base import RETRYABLE, Provider
from harness.providers.litellm_provider import LiteLLMProvider, load_litellm
from harness.providers.transport import LeanProvider
from harness.results import CaseResult, ModelInfo, RunLog, SuiteInfo
from harness.runner import RetryPolicy, RunSettings
from harness.spec.loader import LoadedSuite, load_suite
from harness.store import ResponseCache
from tests.openai_server import Fault, OpenAIServer

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=5)
SECRET = "sk-test-SECRET123456789abc"


@pytest.fixture(scope="module", autouse=True)
def _litellm_imported() -> None:
    """Import LiteLLM once up front, so no test's timing includes the import."""
    load_litellm()


PROVIDERS: dict[str, Callable[[], Provider]] = {
    "lean": LeanProvider,  # the default: LiteLLM routes over the shared aiohttp transport
    "litellm": LiteLLMProvider,  # litellm.acompletion for every call
}
_provider: list[Callable[[], Provider]] = [LeanProvider]


@pytest.fixture(autouse=True, params=sorted(PROVIDERS))
def transport(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every runner behaviour holds on both paths a call can take."""
    _provider[0] = PROVIDERS[request.param]
    yield request.param
    _provider[0] = LeanProvider


def case(case_id: str, question: str, *expect: Any) -> dict[str, Any]:
    return {"id": case_id, "vars": {"q": question}, "expect": list(expect)}


def make_suite(
    tmp_path: Path,
    server: OpenAIServer,
    cases: Sequence[dict[str, Any]],
    *,
    name: str = "runner",
    defaults: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
) -> LoadedSuite:
    """Write a suite file against ``server`` and load it the way the CLI does."""
    doc = {
        "suite": name,
        "models": [{"id": "openai/mock-a", "api_base": server.base_url, **(model or {})}],
        "defaults": {"timeout": 5, **(defaults or {})},
        "prompt": "{{ q }}",
        "cases": list(cases),
    }
    path = tmp_path / f"{name}.suite.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return load_suite(path)


def run(
    suite: LoadedSuite,
    *,
    retry: RetryPolicy = FAST,
    concurrency: int = 8,
    cache: ResponseCache | None = None,
) -> list[CaseResult]:
    settings = RunSettings(concurrency=concurrency, retry=retry, cache=cache)
    items = runner.plan([suite])
    return asyncio.run(_execute(items, settings))


async def _execute(items: list[runner.WorkItem], settings: RunSettings) -> list[CaseResult]:
    provider = _provider[0]()
    try:
        return (await runner.execute(items, provider, settings)).results
    finally:
        closer = getattr(provider, "aclose", None)
        if closer is not None:
            await closer()


def only(results: list[CaseResult]) -> CaseResult:
    assert len(results) == 1, results
    return results[0]


@pytest.fixture
def server(openai_server: OpenAIServer) -> OpenAIServer:
    return openai_server  # a shorter name for the shared fixture


# -- checks on real answers ------------------------------------------------------------------


def test_passing_and_failing_checks_give_status_and_reason(tmp_path, server):
    server.script = {"capital of France": "Paris is the capital."}
    suite = make_suite(tmp_path, server, [
        case("refund", "What is the refund window?", {"contains": "refund"}),
        case("days", "What is the refund window?", {"contains": {"all": ["refund", "30 days"]}}),
        case("paris", "What is the capital of France?", {"equals": "Paris is the capital."},
             {"max_words": 2}),
    ])
    results = {r.case_id: r for r in run(suite)}

    assert server.count == 3
    ok = results["refund"]
    assert ok.status == "passed"
    assert ok.output == "echo: What is the refund window?"
    assert ok.error is None and ok.cached is False
    assert ok.usage.prompt_tokens == 5 and ok.usage.completion_tokens == 6
    assert ok.checks[0].passed and "found: ['refund']" in ok.checks[0].reason

    bad = results["days"]
    assert bad.status == "failed"
    assert bad.checks[0].reason == (
        "expected all of ['refund', '30 days']; found: ['refund']; missing: ['30 days']"
    )
    paris = results["paris"]
    assert paris.status == "failed"
    assert [c.passed for c in paris.checks] == [True, False]
    assert paris.checks[1].reason == "expected at most 2 words; found 4"


# -- retries: what is retried, how long it waits, what is recorded --------------------------


@pytest.mark.parametrize("as_date", [False, True], ids=["seconds", "http-date"])
def test_429_waits_for_retry_after_then_passes(tmp_path, server, as_date):
    retry_after: float | str = 1
    if as_date:  # whole seconds only: a date 2 s ahead means a wait of 1-2 s
        retry_after = formatdate(time.time() + 2, usegmt=True)
    server.faults = [Fault.http(429, retry_after=retry_after)]
    suite = make_suite(tmp_path, server, [case("a", "hello", {"contains": "hello"})])
    started = time.monotonic()
    result = only(run(suite, retry=RetryPolicy(max_attempts=3, base_delay=0.01)))
    elapsed = time.monotonic() - started

    assert result.status == "passed"
    assert server.served == ["429", "ok"]
    assert elapsed >= 0.9, f"Retry-After: 1 was not honoured ({elapsed:.2f} s)"
    assert elapsed < 4


def test_retry_after_is_capped_by_max_delay(tmp_path, server):
    server.faults = [Fault.http(429, retry_after=30)]
    suite = make_suite(tmp_path, server, [case("a", "hello")])
    started = time.monotonic()
    result = only(run(suite, retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.2)))
    assert result.status == "passed"
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("fault", [
    "500", "503", "reset", "invalid_json", "empty_choices", Fault.http(429, retry_after=0),
    Fault.http(502, body="<html><body>502 Bad Gateway</body></html>"),
])
def test_transient_fault_is_retried_then_passes(tmp_path, server, fault):
    server.faults = [fault]
    suite = make_suite(tmp_path, server, [case("a", "hello", {"contains": "hello"})])
    result = only(run(suite))
    assert result.status == "passed", result.error
    assert result.output == "echo: hello"
    assert server.count == 2


@pytest.mark.parametrize(
    ("fault", "kinds"),
    [
        ("500", {"server_error"}),
        ("503", {"server_error"}),
        ("429", {"rate_limit"}),
        ("reset", {"connection", "bad_response"}),
        ("invalid_json", {"bad_response"}),
        ("empty_choices", {"bad_response"}),
        (Fault.http(502, body="<html>Bad Gateway</html>"), {"server_error"}),
    ],
)
def test_persistent_fault_ends_as_error_after_max_attempts(tmp_path, server, fault, kinds):
    server.faults = lambda n, body: fault
    suite = make_suite(tmp_path, server, [case("a", "hello", {"contains": "hello"})])
    result = only(run(suite, retry=RetryPolicy(max_attempts=3, base_delay=0.01)))

    assert result.status == "error"
    assert result.error is not None
    assert result.error.kind in kinds, result.error
    assert result.error.attempts == 3
    assert server.count == 3
    assert result.checks == [] and result.output is None
    if isinstance(fault, Fault) or fault.isdigit():
        assert result.error.status == Fault.parse(fault).status
    else:
        assert result.error.status is None  # no HTTP status was ever received


def test_hang_past_the_timeout_is_a_timeout(tmp_path, server):
    server.faults = lambda n, body: Fault.hang(30)
    suite = make_suite(tmp_path, server, [case("a", "hello", {"contains": "hello"})],
                       defaults={"timeout": 0.5})
    started = time.monotonic()
    result = only(run(suite, retry=RetryPolicy(max_attempts=2, base_delay=0.01)))
    elapsed = time.monotonic() - started

    assert result.status == "error"
    assert result.error is not None
    assert result.error.kind == "timeout", result.error
    assert result.error.attempts == 2
    assert server.count == 2
    assert 0.9 <= elapsed < 4, f"the 0.5 s timeout was not applied ({elapsed:.2f} s)"


def test_hang_once_then_an_answer_passes(tmp_path, server):
    server.faults = [Fault.hang(30)]
    suite = make_suite(tmp_path, server, [case("a", "hello", {"contains": "hello"})],
                       defaults={"timeout": 0.5})
    result = only(run(suite))
    assert result.status == "passed"
    assert server.served == ["hang", "ok"]


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, "auth"), (403, "auth"), (400, "bad_request"), (404, "not_found")],
)
def test_client_errors_are_not_retried(tmp_path, server, status, kind):
    server.faults = lambda n, body: Fault.http(status)
    suite = make_suite(tmp_path, server, [case("a", "hello", {"contains": "hello"})])
    result = only(run(suite))

    assert result.status == "error"
    assert result.error is not None
    assert (result.error.kind, result.error.status) == (kind, status), result.error
    assert result.error.attempts == 1
    assert server.count == 1


def test_missing_key_variable_is_an_auth_error_without_a_call(tmp_path, server, monkeypatch):
    monkeypatch.delenv("HARNESS_TEST_MISSING_KEY", raising=False)
    suite = make_suite(tmp_path, server, [case("a", "hello")],
                       model={"api_key_env": "HARNESS_TEST_MISSING_KEY"})
    result = only(run(suite))
    assert result.error is not None
    assert result.error.kind == "auth"
    assert "HARNESS_TEST_MISSING_KEY" in result.error.message
    assert server.count == 0


def test_every_case_is_present_despite_random_faults(tmp_path):
    faults = ("500", "503", "429", "reset", "invalid_json", "empty_choices")
    with OpenAIServer(fail_rate=0.2, seed=20240601, random_faults=faults) as server:
        cases = [case(f"c{i:02d}", f"question number {i}", {"contains": f"number {i}"})
                 for i in range(40)]
        suite = make_suite(tmp_path, server, cases)
        results = run(suite, retry=RetryPolicy(max_attempts=4, base_delay=0.01))
        served = list(server.served)
        assert server.errors == []

    assert [r.case_id for r in results] == [c["id"] for c in cases]  # all, in plan order
    assert {r.status for r in results} <= {"passed", "error"}
    assert any(s != "ok" for s in served), "the seeded fault rate produced no fault"
    # Each case stops at its first good answer, so good answers == passed cases.
    assert served.count("ok") == sum(r.status == "passed" for r in results)
    assert len(served) == server.count
    for r in results:
        if r.status == "error":
            assert r.error is not None and r.error.kind in RETRYABLE
            assert r.error.attempts == 4
        else:
            assert r.output == f"echo: {r.vars['q']}"


# -- concurrency ----------------------------------------------------------------------------


def test_calls_run_concurrently(tmp_path):
    with OpenAIServer(latency_ms=200) as server:
        suite = make_suite(tmp_path, server, [case(f"c{i}", f"q {i}") for i in range(8)])
        started = time.monotonic()
        results = run(suite, concurrency=8)
        elapsed = time.monotonic() - started
        assert server.max_in_flight <= 8

    assert [r.status for r in results] == ["passed"] * 8
    assert server.max_in_flight >= 4, "calls did not overlap"
    assert elapsed < 1.0, f"8 calls of 200 ms at concurrency 8 took {elapsed:.2f} s"


@pytest.mark.parametrize(("settings_limit", "model_limit", "expected"),
                         [(3, None, 3), (8, 2, 2)])
def test_concurrency_limit_is_respected(tmp_path, settings_limit, model_limit, expected):
    with OpenAIServer(latency_ms=100) as server:
        model = {"concurrency": model_limit} if model_limit else {}
        suite = make_suite(tmp_path, server, [case(f"c{i}", f"q {i}") for i in range(9)],
                           model=model)
        results = run(suite, concurrency=settings_limit)

    assert len(results) == 9
    assert server.count == 9
    assert server.max_in_flight == expected


# -- the response cache ---------------------------------------------------------------------


def test_second_run_is_served_from_the_cache(tmp_path, server, fresh_cache):
    cases = [case("a", "alpha", {"contains": "alpha"}), case("b", "beta", {"contains": "x"})]
    suite = make_suite(tmp_path, server, cases)
    first = run(suite, cache=fresh_cache)
    assert server.count == 2
    assert [r.cached for r in first] == [False, False]

    server.reset()
    second = run(suite, cache=fresh_cache)
    assert server.count == 0
    assert [r.cached for r in second] == [True, True]
    assert [(r.case_id, r.status, r.output) for r in second] == [
        (r.case_id, r.status, r.output) for r in first
    ]
    assert [r.usage for r in second] == [r.usage for r in first]
    assert second[1].checks[0].reason == first[1].checks[0].reason

    warmer = make_suite(tmp_path, server, cases, name="warmer", defaults={"temperature": 0.7})
    third = run(warmer, cache=fresh_cache)
    assert server.count == 2, "a different temperature must be a cache miss"
    assert [r.cached for r in third] == [False, False]
    assert [body["temperature"] for body in server.requests] == [0.7, 0.7]


def test_errors_are_not_cached(tmp_path, server, fresh_cache):
    server.faults = lambda n, body: "500"
    suite = make_suite(tmp_path, server, [case("a", "alpha", {"contains": "alpha"})])
    first = only(run(suite, cache=fresh_cache, retry=RetryPolicy(max_attempts=2,
                                                                 base_delay=0.01)))
    assert first.status == "error"

    server.faults = None
    server.reset()
    second = only(run(suite, cache=fresh_cache))
    assert second.status == "passed"
    assert second.cached is False
    assert server.count == 1


# -- secrets ------------------------------------------------------------------------------


def test_api_key_never_reaches_the_runlog_or_the_cache(tmp_path, server, monkeypatch):
    monkeypatch.setenv("HARNESS_TEST_API_KEY", SECRET)
    # A real API echoes a wrong key back in its 401 message; so does this one.
    server.faults = lambda n, body: (
        Fault.http(401, message="Incorrect API key provided: {auth}")
        if "leak" in str(body["messages"]) else None
    )
    suite = make_suite(tmp_path, server, [case("ok", "hello", {"contains": "hello"}),
                                          case("leak", "please leak")],
                       model={"api_key_env": "HARNESS_TEST_API_KEY"})
    cache = ResponseCache(tmp_path / "cache" / "responses.sqlite")
    try:
        results = run(suite, cache=cache)
    finally:
        cache.close()

    assert all(h["authorization"] == f"Bearer {SECRET}" for h in server.headers), \
        "the key from api_key_env was not sent"
    by_id = {r.case_id: r for r in results}
    assert by_id["ok"].status == "passed"
    leak = by_id["leak"]
    assert leak.error is not None and leak.error.kind == "auth"
    assert "Incorrect API key provided" in leak.error.message

    log = RunLog(
        run_id="test-run",
        harness_version="0",
        created_at="2026-01-01T00:00:00Z",
        suites=[SuiteInfo(**suite.summary())],
        models=[ModelInfo(name=m.name, id=m.id, api_base=m.api_base) for m in suite.models],
        settings={"api_key_env": "HARNESS_TEST_API_KEY"},
        results=results,
    )
    written = log.write(tmp_path / "runs" / "run.json")
    cache_files = sorted((tmp_path / "cache").iterdir())
    assert cache_files, "the cache wrote nothing"
    for path in [written, *cache_files]:
        data = path.read_bytes()
        assert SECRET.encode() not in data, f"the API key leaked into {path.name}"
        assert b"SECRET123456789" not in data, f"part of the API key leaked into {path.name}"
