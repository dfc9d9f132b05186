"""The one registry of checks, used by built-ins and plugins alike.

A check is a factory: called with its arguments from the suite, it returns the scoring
function. Arguments are validated against the factory's own signature (a pydantic model
is built from it), so a suite error points at the check's line and names the argument.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import typing
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from harness.errors import did_you_mean
from harness.failures import DEFAULT_MODE, FailureMode, is_mode

if TYPE_CHECKING:
    from harness.judge import JudgeClient

BUILTIN_MODULES = (
    "harness.checks.text",
    "harness.checks.format",
    "harness.checks.budget",
    "harness.checks.leak",
    "harness.checks.pii",
    "harness.checks.grounding",
    "harness.checks.judge",
    "harness.checks.bias",
    "harness.checks.choice",
    "harness.checks.adapters",
)
PLUGIN_GROUP = "harness.checks"


@dataclass(frozen=True)
class CheckInput:
    """What a check sees of one finished call."""

    output: str
    model: str = ""
    case_id: str = ""
    vars: Mapping[str, Any] = field(default_factory=dict)
    context: tuple[str, ...] = ()
    messages: tuple[Mapping[str, str], ...] = ()
    latency_ms: float | None = None
    cost_usd: float | None = None
    judge: JudgeClient | None = None  # set by the runner when the run has judge models


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check on one output. ``score`` is in [0, 1] or None.

    ``error`` is set when no verdict could be reached (a judge whose answer could not be
    parsed): ``passed`` is then meaningless and the runner marks the case as an error.
    """

    check: str
    passed: bool
    score: float | None
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "passed": self.passed,
            "score": self.score,
            "reason": self.reason,
            "evidence": self.evidence,
            "error": self.error,
        }


CheckFn = Callable[[CheckInput], CheckResult]
AsyncCheckFn = Callable[[CheckInput], Awaitable[CheckResult]]
Factory = Callable[..., CheckFn | AsyncCheckFn]


@dataclass(frozen=True)
class CheckDef:
    """A registered check: its factory and what the loader and reports need to know."""

    name: str
    factory: Factory
    description: str
    higher_is_better: bool
    shorthand: str | None
    path_args: tuple[str, ...]
    examples: tuple[dict[str, Any], ...]
    args_model: type[BaseModel]
    needs_judge: bool = False
    failure_mode: FailureMode = DEFAULT_MODE  # what its failure says (harness/failures.py)
    negated_failure_mode: FailureMode | None = None  # when negated; None: the same
    # Optional libraries the check imports when it runs, and the extra that installs them.
    requires: tuple[str, ...] = ()
    extra: str | None = None

    @property
    def params(self) -> list[str]:
        return [f.alias or n for n, f in self.args_model.model_fields.items()]


class CheckArgsError(ValueError):
    """Arguments a check cannot be built from; the message is for the suite author."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


_REGISTRY: dict[str, CheckDef] = {}
_loaded = False


@dataclass(frozen=True)
class Namespace:
    """Checks named ``PREFIX:NAME`` that are built on demand, such as a library's metrics
    (``ragas:answer_accuracy``). ``resolve`` returns the definition for NAME or raises
    CheckArgsError (with a did-you-mean); it is called only when a suite names such a check,
    so a library behind it is never imported to list or load other checks."""

    prefix: str
    resolve: Callable[[str], CheckDef]
    description: str
    example: str  # a name to show in listings: 'ragas:<metric>'


_NAMESPACES: dict[str, Namespace] = {}
_RESOLVED: dict[str, CheckDef] = {}


def namespace(prefix: str, resolve: Callable[[str], CheckDef], description: str,
              example: str) -> None:
    """Register a namespace: ``get('PREFIX:NAME')`` asks ``resolve(NAME)`` for any NAME
    not registered under its full name."""
    if ":" in prefix:
        raise ValueError(f"namespace {prefix!r} must not contain ':'")
    _NAMESPACES[prefix] = Namespace(prefix, resolve, description, example)


def namespaces() -> Mapping[str, Namespace]:
    """Every registered namespace, by prefix."""
    _ensure_loaded()
    return _NAMESPACES


def _args_model(name: str, factory: Factory) -> type[BaseModel]:
    hints = typing.get_type_hints(factory)
    fields: dict[str, Any] = {}
    for pname, param in inspect.signature(factory).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"check {name!r}: *args/**kwargs are not allowed in a factory")
        default = ... if param.default is inspect.Parameter.empty else param.default
        # Internal field names are prefixed so an argument called e.g. 'schema' cannot
        # shadow a BaseModel attribute; the alias is what the suite writes.
        fields[f"arg_{pname}"] = (hints.get(pname, Any), Field(default, alias=pname))
    model: type[BaseModel] = create_model(
        f"{name}_args",
        __config__=ConfigDict(extra="forbid", strict=False, allow_inf_nan=False),
        **fields,
    )
    return model


def check(
    name: str,
    *,
    shorthand: str | None = None,
    higher_is_better: bool = True,
    path_args: tuple[str, ...] = (),
    examples: tuple[dict[str, Any], ...] = ({},),
    needs_judge: bool = False,
    failure_mode: FailureMode = DEFAULT_MODE,
    negated_failure_mode: FailureMode | None = None,
    requires: tuple[str, ...] = (),
    extra: str | None = None,
) -> Callable[[Factory], Factory]:
    """Register a check factory under ``name`` (the YAML key).

    ``shorthand`` names the argument a bare value fills (``max_words: 60``);
    ``path_args`` are arguments that may name a file relative to the suite;
    ``examples`` are argument sets the contract test builds the check with;
    ``needs_judge`` makes the loader require a judge model for suites that use it;
    ``failure_mode`` is the kind of mistake its failure means (``harness.failures.MODES``;
    evidence may refine it), ``negated_failure_mode`` the kind when it is negated.
    ``requires`` names optional modules the check imports when it runs, installed by
    ``pip install 'harness[EXTRA]'`` (the loader reports a missing one with that hint).
    The factory may return an ``async def`` function (awaited by the runner).
    """

    def register(factory: Factory) -> Factory:
        if name in _REGISTRY and _REGISTRY[name].factory is not factory:
            raise ValueError(f"check {name!r} is already registered")
        for mode in (failure_mode, negated_failure_mode):
            if mode is not None and not is_mode(mode):
                raise ValueError(f"check {name!r}: unknown failure mode {mode!r}")
        _REGISTRY[name] = definition(
            name, factory, higher_is_better=higher_is_better, shorthand=shorthand,
            path_args=path_args, examples=examples, needs_judge=needs_judge,
            requires=requires, extra=extra, failure_mode=failure_mode,
            negated_failure_mode=negated_failure_mode)
        return factory

    return register


def definition(
    name: str,
    factory: Factory,
    *,
    higher_is_better: bool = True,
    shorthand: str | None = None,
    path_args: tuple[str, ...] = (),
    examples: tuple[dict[str, Any], ...] = ({},),
    needs_judge: bool = False,
    requires: tuple[str, ...] = (),
    extra: str | None = None,
    failure_mode: FailureMode = DEFAULT_MODE,
    negated_failure_mode: FailureMode | None = None,
) -> CheckDef:
    """A check definition for ``factory``, without registering it (a namespace's resolver
    builds its checks with this)."""
    doc = inspect.getdoc(factory) or ""
    return CheckDef(
        name=name,
        factory=factory,
        description=doc.split("\n\n")[0].replace("\n", " "),
        higher_is_better=higher_is_better,
        shorthand=shorthand,
        path_args=path_args,
        examples=examples,
        args_model=_args_model(name, factory),
        needs_judge=needs_judge,
        requires=requires,
        extra=extra,
        failure_mode=failure_mode,
        negated_failure_mode=negated_failure_mode,
    )


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    from importlib.metadata import entry_points

    for ep in entry_points(group=PLUGIN_GROUP):
        ep.load()  # a plugin module registers its checks with @check on import


def registry() -> Mapping[str, CheckDef]:
    """Every registered check, by name."""
    _ensure_loaded()
    return _REGISTRY


def get(name: str) -> CheckDef:
    """The check called ``name``; a KeyError with a did-you-mean otherwise."""
    checks = registry()
    if name in checks:
        return checks[name]
    prefix, sep, rest = name.partition(":")
    if sep and prefix in _NAMESPACES:
        if name not in _RESOLVED:
            if not rest.strip():
                raise CheckArgsError(f"check '{name}' names no metric",
                                     f"write it as {_NAMESPACES[prefix].example}")
            _RESOLVED[name] = _NAMESPACES[prefix].resolve(rest)
        return _RESOLVED[name]
    guess = did_you_mean(name, checks)
    hint = f"Did you mean '{guess}'?" if guess else "run 'harness checks' to list them"
    raise CheckArgsError(f"unknown check '{name}'", hint)


def missing_requirement(definition: CheckDef) -> CheckArgsError | None:
    """The error to report when a module ``definition`` requires is not installed.

    Looked up without importing it, so loading a suite stays quick; the check imports the
    module itself when it first runs.
    """
    from importlib.util import find_spec

    for module in definition.requires:
        try:
            found = find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package that fails, a broken entry
            found = False
        if not found:
            extra = definition.extra or module
            return CheckArgsError(
                f"check '{definition.name}' needs the optional package '{module}', "
                f"which is not installed", f"pip install 'harness[{extra}]'")
    return None


@dataclass(frozen=True)
class BoundCheck:
    """A check built with its arguments; ``args`` are recorded so it can be rebuilt."""

    name: str
    args: dict[str, Any]
    negate: bool
    fn: CheckFn | AsyncCheckFn
    is_async: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_async", inspect.iscoroutinefunction(self.fn))

    def __call__(self, inp: CheckInput) -> CheckResult:
        if self.is_async:
            # Outside the runner (a script, the contract test): run it on a loop of its own.
            return asyncio.run(self.run_async(inp))
        try:
            result = typing.cast(CheckFn, self.fn)(inp)
        except Exception as exc:  # a check bug must not sink the run; show it as a failure
            return self._raised(exc)
        return self._finish(result)

    async def run_async(self, inp: CheckInput) -> CheckResult:
        """The verdict, awaiting the check when it is async (sync checks call through)."""
        if not self.is_async:
            return self(inp)
        try:
            result = await typing.cast(AsyncCheckFn, self.fn)(inp)
        except Exception as exc:
            return self._raised(exc)
        return self._finish(result)

    def _raised(self, exc: Exception) -> CheckResult:
        return CheckResult(
            self.name, False, 0.0, f"check raised {type(exc).__name__}: {exc}",
            {"internal_error": True},
        )

    def finish(self, result: CheckResult) -> CheckResult:
        """``result`` with this check's negation applied (for verdicts computed elsewhere,
        such as a group check's)."""
        return self._finish(result)

    def _finish(self, result: CheckResult) -> CheckResult:
        # No verdict is no verdict either way round: an error is never negated into a pass.
        if not self.negate or result.error is not None:
            return result
        score = None if result.score is None else 1.0 - result.score
        return CheckResult(
            self.name, not result.passed, score, f"negated: {result.reason}", result.evidence
        )

    def spec(self) -> dict[str, Any]:
        args = dict(self.args)
        if self.negate:
            args["negate"] = True
        return {self.name: args}


def normalize_args(definition: CheckDef, raw: Any) -> tuple[dict[str, Any], bool]:
    """Turn what the suite wrote after the check name into (kwargs, negate)."""
    if raw is None:
        return {}, False
    if isinstance(raw, dict):
        args = dict(raw)
        negate = args.pop("negate", False)
        if not isinstance(negate, bool):
            raise CheckArgsError("'negate' must be true or false")
        return args, negate
    if definition.shorthand is None:
        raise CheckArgsError(
            f"check '{definition.name}' takes named arguments, not a bare value",
            f"write it as {{{definition.name}: {{{', '.join(definition.params) or ''}}}}}",
        )
    return {definition.shorthand: raw}, False


def build(name: str, raw: Any) -> BoundCheck:
    """Build the check ``name`` from the suite's raw arguments, validating them."""
    definition = get(name)
    args, negate = normalize_args(definition, raw)
    try:
        validated = definition.args_model.model_validate(args)
    except ValidationError as exc:
        raise _args_error(definition, exc) from None
    kwargs = {
        name.removeprefix("arg_"): getattr(validated, name)
        for name in definition.args_model.model_fields
    }
    try:
        fn = definition.factory(**kwargs)
    except (ValueError, TypeError) as exc:
        raise CheckArgsError(f"check '{name}': {exc}") from None
    recorded = {k: v for k, v in kwargs.items() if k in args}
    return BoundCheck(name=name, args=recorded, negate=negate, fn=fn)


def _args_error(definition: CheckDef, exc: ValidationError) -> CheckArgsError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        guess = did_you_mean(str(err["loc"][0]), [*definition.params, "negate"])
        hint = f"Did you mean '{guess}'?" if guess else None
        if hint is None:
            hint = f"'{definition.name}' takes: {', '.join(definition.params) or 'no arguments'}"
        return CheckArgsError(f"check '{definition.name}': unknown argument '{loc}'", hint)
    if err["type"] == "missing":
        return CheckArgsError(f"check '{definition.name}': missing argument '{loc}'")
    return CheckArgsError(f"check '{definition.name}': argument '{loc}': {err['msg']}")


def iter_names() -> Iterator[str]:
    yield from sorted(registry())
