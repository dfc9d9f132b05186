"""Fixtures shared by every test. Tests run offline: models are reached on loopback only."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.store import ResponseCache
from tests.openai_server import OpenAIServer


@pytest.fixture(autouse=True, scope="session")
def _offline_litellm() -> Iterator[None]:
    """LiteLLM must never fetch its price table (or anything else) from the network."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        mp.setenv("LITELLM_TELEMETRY", "False")
        yield


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A fresh loopback OpenAI-compatible server; script it through its attributes."""
    with OpenAIServer() as server:
        yield server
        assert server.errors == [], "the mock server itself failed:\n" + "\n".join(server.errors)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder (it has a pyproject.toml) as the working directory."""
    (tmp_path / "pyproject.toml").touch()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HARNESS_CACHE", raising=False)
    return tmp_path


@pytest.fixture
def fresh_cache(tmp_path: Path) -> Iterator[ResponseCache]:
    """An empty response cache in its own folder, closed after the test."""
    cache = ResponseCache(tmp_path / "cache" / "responses.sqlite")
    yield cache
    cache.close()


# Set at import too: a test module may import LiteLLM while pytest collects it.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
