"""Token and cost estimates from LiteLLM's offline price table and bundled tokenizers.

Used by ``--dry-run`` (what a run would cost before anything is sent) and ``--max-cost``
(a call starts only if its worst case still fits the budget).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.providers.base import Request
from harness.providers.litellm_provider import load_litellm


@dataclass(frozen=True)
class Price:
    """US dollars per token."""

    input: float
    output: float


PRICE_TABLE = "model_prices_and_context_window_backup.json"


@lru_cache(maxsize=1)
def _price_table() -> dict[str, Any]:
    """LiteLLM's price table: its live ``model_cost`` when LiteLLM is loaded (it includes
    prices registered with ``litellm.register_model``), else the JSON file it ships, read
    without importing LiteLLM (which costs seconds)."""
    if "litellm" in sys.modules:
        return dict(load_litellm().model_cost)
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / PRICE_TABLE
    try:
        table: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return table


@lru_cache(maxsize=256)
def price(model: str) -> Price | None:
    """Unit prices of ``model`` (a LiteLLM model string) from LiteLLM's price table;
    None when the table does not know it. Linear in tokens: tiered prices above very long
    prompts are not modelled."""
    if model.startswith("local/"):
        return Price(0.0, 0.0)
    table = _price_table()
    provider, _, name = model.partition("/") if "/" in model else ("", "", model)
    for key in (model, name):
        entry = table.get(key)
        if not isinstance(entry, dict):
            continue
        if provider and key == name and entry.get("litellm_provider") not in (provider, None):
            continue  # same name, another provider's price
        cost_in, cost_out = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
        if isinstance(cost_in, (int, float)) and isinstance(cost_out, (int, float)):
            return Price(float(cost_in), float(cost_out))
    return None


@dataclass(frozen=True)
class Estimate:
    """What one call will take: prompt tokens counted, completion tokens bounded."""

    prompt_tokens: int
    max_completion_tokens: int
    min_cost: float | None  # the prompt alone
    max_cost: float | None  # the prompt plus a completion of max_tokens


DEFAULT_MAX_TOKENS = 4096  # assumed when a suite sets no max_tokens


def prompt_tokens(request: Request) -> int:
    """Tokens of the request's messages, with the model's own tokenizer where LiteLLM
    has it (tiktoken files ship inside LiteLLM; nothing is downloaded)."""
    litellm = load_litellm()
    model = request.model.split("/", 1)[1] if request.model.startswith("openai/") \
        else request.model
    try:
        return int(litellm.token_counter(model=model, messages=list(request.messages)))
    except Exception:  # an unusual model string: fall back to the default encoding
        return int(litellm.token_counter(messages=list(request.messages)))


def estimate(request: Request) -> Estimate:
    tokens = prompt_tokens(request)
    completion = int(request.params.get("max_tokens") or DEFAULT_MAX_TOKENS)
    unit = price(request.model)
    if unit is None:
        return Estimate(tokens, completion, None, None)
    low = tokens * unit.input
    return Estimate(tokens, completion, low, low + completion * unit.output)


def max_cost(request: Request) -> float | None:
    """The most one call can cost (for budgets), None when the model has no price."""
    return estimate(request).max_cost
