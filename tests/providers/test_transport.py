"""The lean transport sends what LiteLLM would send, and reads back what LiteLLM would read."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from harness.providers.base import Completion, Provider, Request
from harness.providers.litellm_provider import LiteLLMProvider, load_litellm
from harness.providers.transport import LeanProvider
from tests.openai_server import OpenAIServer

MESSAGES = (
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Name a colour. Ünïcödé ✓ \"quotes\""},
)


def call(provider: Provider, request: Request) -> Completion:
    async def go() -> Completion:
        try:
            return await provider.complete(request)
        finally:
            closer = getattr(provider, "aclose", None)
            if closer is not None:
                await closer()

    return asyncio.run(go())


@pytest.mark.parametrize("model", ["openai/mock-a", "openai/gpt-4o-mini"])
@pytest.mark.parametrize("params", [
    {"temperature": 0.0, "max_tokens": 50, "seed": 0},
    {"temperature": 0.7, "top_p": 0.9, "max_tokens": 10},
    {},
])
def test_lean_request_body_equals_litellms(openai_server: OpenAIServer, model: str,
                                           params: dict[str, Any]) -> None:
    request = Request(model=model, messages=MESSAGES, params=params,
                      api_base=openai_server.base_url, timeout=5)
    via_litellm = call(LiteLLMProvider(), request)
    via_lean = call(LeanProvider(), request)
    assert via_litellm.error is None and via_lean.error is None
    sent_by_litellm, sent_by_lean = openai_server.requests
    assert sent_by_lean == sent_by_litellm
    assert via_lean.text == via_litellm.text
    assert (via_lean.prompt_tokens, via_lean.completion_tokens) == (
        via_litellm.prompt_tokens, via_litellm.completion_tokens)
    if model == "openai/gpt-4o-mini":  # priced in LiteLLM's table: both price it the same
        assert via_litellm.cost_usd is not None
        assert via_lean.cost_usd == pytest.approx(via_litellm.cost_usd, rel=1e-9)
    else:
        assert via_lean.cost_usd is None and via_litellm.cost_usd is None


def test_plain_route_does_not_import_litellm(openai_server: OpenAIServer) -> None:
    """A self-hosted model at an api_base needs no LiteLLM import (about 3 s per process)."""
    import subprocess

    code = (
        "import asyncio, sys\n"
        "from harness.providers.base import Request\n"
        "from harness.providers.transport import LeanProvider\n"
        "p = LeanProvider()\n"
        f"r = Request(model='openai/mock-a', messages=({{'role': 'user', 'content': 'hi'}},),"
        f" api_base={openai_server.base_url!r}, timeout=5)\n"
        "async def go():\n"
        "    c = await p.complete(r)\n"
        "    await p.aclose()\n"
        "    return c\n"
        "c = asyncio.run(go())\n"
        "print(c.text, 'litellm' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "echo: hi False"


def test_transport_can_be_switched_off(openai_server: OpenAIServer,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_TRANSPORT", "litellm")
    load_litellm()
    provider = LeanProvider()
    request = Request(model="openai/mock-a", messages=MESSAGES, api_base=openai_server.base_url)
    assert provider._route(request) is None  # every call goes through litellm.acompletion
    assert call(provider, request).text


def test_other_providers_take_the_full_litellm_path() -> None:
    provider = LeanProvider()
    for model in ("anthropic/claude-3-5-haiku-latest", "local/smollm2", "azure/gpt-4o-mini"):
        assert provider._route(Request(model=model, messages=MESSAGES)) is None
