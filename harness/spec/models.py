"""The suite format, as pydantic models (the single source of the published JSON Schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SUITE_FORMAT_VERSION = 1


class _Strict(BaseModel):
    # Unknown keys are errors, so a typo never silently disables a setting.
    # allow_inf_nan=False: `timeout: .inf` or `temperature: .nan` is a typo, not a setting.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class Message(_Strict):
    """One chat message; ``content`` is a Jinja2 template rendered with the case's vars."""

    role: Literal["system", "user", "assistant"]
    content: str


class Defaults(_Strict):
    """Generation settings applied to every call unless a model overrides them."""

    system: str | None = Field(None, description="System prompt (Jinja2 template).")
    temperature: float | None = Field(0.0, ge=0, le=2)
    max_tokens: int | None = Field(256, ge=1, le=1_000_000)
    seed: int | None = 0
    top_p: float | None = Field(None, gt=0, le=1)
    timeout: float = Field(120.0, gt=0, description="Seconds allowed for one call.")


class ModelConfig(_Strict):
    """A model given with settings of its own. ``id`` is any LiteLLM model string."""

    id: str = Field(min_length=1, description="LiteLLM model string, e.g. openai/gpt-4o-mini")
    label: str | None = Field(None, description="Name shown in reports (defaults to id).")
    api_base: str | None = Field(None, description="Base URL of an OpenAI-compatible server.")
    api_key_env: str | None = Field(
        None,
        description="Name of the environment variable holding the key (never the key itself).",
    )
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    top_p: float | None = Field(None, gt=0, le=1)
    timeout: float | None = Field(None, gt=0)
    concurrency: int | None = Field(None, ge=1, le=1024)
    extra: dict[str, Any] = Field(
        default_factory=dict, description="Extra keyword arguments passed to LiteLLM."
    )

    @property
    def name(self) -> str:
        return self.label or self.id


# A check is written as a one-key mapping: {check_name: arguments}. The arguments are
# validated against the check registry by the loader, which knows every check's signature.
CheckSpec = dict[str, Any]


class ContextFile(_Strict):
    """A source document read from a file (UTF-8 text), relative to the suite file."""

    file: str = Field(min_length=1)


class Perturb(_Strict):
    """Metamorphic robustness: variants of a case with small meaning-preserving edits."""

    kinds: list[Literal["typos", "casing", "whitespace", "punctuation", "synonyms",
                        "reorder", "irrelevant"]] = Field(
        min_length=1, description="What to perturb; each kind gives up to n variants.")
    n: int = Field(5, ge=1, le=100, description="Variants per kind.")
    seed: int = Field(0, description="Same seed, same variants.")
    vars: list[str] | None = Field(
        None, description="The vars to perturb (default: every string var; without vars, "
        "the prompt). 'reorder' and 'irrelevant' work on the context documents.")
    shrink: int = Field(
        8, ge=0, le=100, description="Model calls allowed per failing case and model to "
        "shrink its smallest failing perturbation to a 1-minimal one (0: no shrinking).")


class Case(_Strict):
    """One task given to a model, and the properties a good answer has."""

    id: str = Field(min_length=1, pattern=r"^[^\s\[\]]+$")
    description: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    context: str | ContextFile | list[str | ContextFile] | None = Field(
        None, description="Source documents the answer must be grounded in: text, or "
        "{file: PATH} relative to the suite."
    )
    tags: list[str] = Field(default_factory=list)
    expect: list[CheckSpec] = Field(default_factory=list)
    prompt: str | None = Field(None, description="Overrides the suite's prompt for this case.")
    messages: list[Message] | None = None
    counterfactual: dict[str, str | list[str]] | None = Field(
        None, description="Expand the case into one variant per value of an attribute: "
        "{ATTR: LIST_NAME} names a shipped list (names.gender, names.ethnicity, pronouns, "
        "ages, religions, nationalities, disabilities), {ATTR: [v1, v2]} gives the values; "
        "several attributes give their cross product."
    )
    perturb: Perturb | None = Field(
        None, description="Also run the case with perturbed inputs (ids "
        "CASE[perturb=KIND#i]); its checks must hold for every variant."
    )

    @field_validator("tags")
    @classmethod
    def _tags_are_words(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not tag or any(c.isspace() for c in tag):
                raise ValueError(f"tag {tag!r} must be a non-empty word without spaces")
        return tags


class Dataset(_Strict):
    """Cases from a CSV or JSONL file: one case per row, the columns become vars."""

    path: str = Field(description="CSV or JSONL file, relative to the suite file.")
    format: Literal["csv", "jsonl"] | None = Field(
        None, description="Defaults to the file extension."
    )
    id: str | None = Field(
        None, description="Column holding the case id, or a Jinja2 template over the columns."
    )
    context: str | None = Field(None, description="Column holding the source document.")
    tags: list[str] = Field(default_factory=list)
    expect: list[CheckSpec] = Field(default_factory=list)
    limit: int | None = Field(None, ge=1)
    group: str | None = Field(
        None, description="Column whose equal values make one counterfactual set (rows "
        "compared by consistent_across, e.g. the two sentences of a WinoBias pair).")
    variant: str | None = Field(
        None, description="With 'group': the column naming each row's group label "
        "(pro_stereotyped, female, ...), which the bias statistics compare.")


# A prompt pattern is a name ("step_by_step") or a one-key mapping ({role: "..."}); the
# loader checks names and arguments against harness.patterns, so errors point at a line.
PatternSpec = str | dict[str, Any]
PATTERN_NAMES = ("role", "output_format", "few_shot", "step_by_step", "self_check")


class PromptVariant(_Strict):
    """A named prompt: its own template (inline, messages or a file), or another
    variant's (``base``), with patterns applied on top."""

    note: str | None = Field(None, description="What this variant changes, in a sentence.")
    prompt: str | None = Field(None, description="User prompt (Jinja2 template).")
    messages: list[Message] | None = Field(None, description="Chat messages (Jinja2 templates).")
    file: str | None = Field(
        None, description="Template file relative to the suite: plain text (the user "
        "prompt) or .yaml/.yml (a list of chat messages)."
    )
    base: str | None = Field(None, description="Start from another variant's messages.")
    patterns: list[PatternSpec] = Field(
        default_factory=list,
        description="Patterns applied in order: role, output_format, few_shot, "
        "step_by_step, self_check (see docs/prompts.md).",
        # for editors: the shipped names, bare or as a one-key mapping (the loader checks
        # arguments and says where a wrong one is)
        json_schema_extra={"items": {"anyOf": [
            {"enum": list(PATTERN_NAMES)},
            {"type": "object", "minProperties": 1, "maxProperties": 1,
             "propertyNames": {"enum": list(PATTERN_NAMES)}},
        ]}},
    )


class GateBudgets(_Strict):
    """What `harness gate` holds this suite's results to (command-line values win)."""

    min_pass_rate: float | None = Field(
        None, ge=0, le=1, description="Fail when a model passes less than this share (0-1).")
    max_cost: float | None = Field(
        None, ge=0, description="Fail when this suite's results cost more (USD, all models).")
    max_latency_p95: float | None = Field(
        None, gt=0, description="Fail when a model's p95 latency on this suite is above "
        "this (milliseconds).")


def _default_models() -> list[str | ModelConfig]:
    return ["local/smollm2"]


class Suite(_Strict):
    """A suite: a domain task, the models to try, and the cases with their checks."""

    suite: str = Field(min_length=1, description="Suite name.")
    description: str | None = None
    version: int = Field(SUITE_FORMAT_VERSION, ge=1, le=SUITE_FORMAT_VERSION)
    models: list[str | ModelConfig] = Field(default_factory=lambda: _default_models())
    judge: str | ModelConfig | list[str | ModelConfig] | None = Field(
        None,
        description="Judge model(s) for LLM-judged checks (judge, faithful); --judge on "
        "the command line overrides them.",
    )
    defaults: Defaults = Field(default_factory=Defaults)
    gate: GateBudgets | None = Field(
        None, description="Budgets `harness gate` applies to this suite (min_pass_rate, "
        "max_cost, max_latency_p95); the command line's values override them.")
    prompt: str | None = Field(None, description="User prompt (Jinja2 template).")
    messages: list[Message] | None = Field(None, description="Chat messages (Jinja2 templates).")
    prompts: dict[str, PromptVariant] | None = Field(
        None, description="Named prompt variants: every case runs with each of them "
        "(--prompt NAME selects)."
    )
    expect: list[CheckSpec] = Field(
        default_factory=list, description="Checks applied to every case."
    )
    cases: list[Case] = Field(default_factory=list)
    dataset: Dataset | list[Dataset] | None = None

    def model_configs(self) -> list[ModelConfig]:
        """The suite's models, each as a ModelConfig."""
        return [m if isinstance(m, ModelConfig) else ModelConfig(id=m) for m in self.models]

    def judge_configs(self) -> list[ModelConfig]:
        """The suite's judge models, each as a ModelConfig."""
        judges = [] if self.judge is None else (
            self.judge if isinstance(self.judge, list) else [self.judge])
        return [m if isinstance(m, ModelConfig) else ModelConfig(id=m) for m in judges]

    def datasets(self) -> list[Dataset]:
        if self.dataset is None:
            return []
        return self.dataset if isinstance(self.dataset, list) else [self.dataset]
