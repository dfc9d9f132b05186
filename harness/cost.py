"""Token and cost estimates from LiteLLM's offline price table and bundled tokenizers.

Used by ``--dry-run`` (what a run would cost before anything is sent) and ``--max-cost``
(a call starts only if its worst case still fits the budget).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from harness.providers.base import Request
from harness.providers.litellm_provider import load_litellm


@dataclass(frozen=True)
class Price:
    """US dollars per token."""

    input: float
    output: float


@lru_cache(maxsize=256)
def price(model: str) -> Price | None:
    """Unit prices of ``model`` from LiteLLM's bundled table; None when it is not priced."""
    if model.startswith("local/"):
        return Price(0.0, 0.0)
    litellm = load_litellm()
    try:
        one_in, _ = litellm.cost_per_token(model=model, prompt_tokens=1, completion_tokens=0)
        _, one_out = litellm.cost_per_token(model=model, prompt_tokens=0, completion_tokens=1)
    except Exception:  # LiteLLM raises for models its table does not know
        return None
    return Price(float(one_in), float(one_out))


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
