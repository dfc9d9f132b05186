"""Load a suite file into runnable cases, or explain every problem as ``path:line``."""

from __future__ import annotations

import hashlib
import json
import re
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from types import UnionType
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.checks.registry import (
    BoundCheck,
    CheckArgsError,
    build,
    get,
    missing_requirement,
    normalize_args,
)
from harness.errors import Problem, SuiteError, did_you_mean
from harness.spec.models import Case, ContextFile, Dataset, Defaults, ModelConfig, Suite
from harness.spec.templating import RenderError, render
from harness.spec.variants import Template, apply_variant, resolve_variants
from harness.spec.yamlmarks import Marked, YamlProblem, load_marked

if typing.TYPE_CHECKING:
    from harness.shrink import Shrinker

SUITE_SUFFIX = ".suite.yaml"
MAX_PROBLEMS = 25
ROOT_MARKERS = (".git", "pyproject.toml", "tox.ini", "harness.toml")


@dataclass(frozen=True)
class CaseSpec:
    """A case ready to run: rendered messages and built checks."""

    suite: str
    id: str
    messages: tuple[dict[str, str], ...]
    checks: tuple[BoundCheck, ...]
    vars: dict[str, Any] = field(default_factory=dict)
    context: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    source: str = ""  # "path:line" of the case, for failure messages
    # Counterfactual variants share ``group`` (the declaring case's id); ``variant`` is
    # {attribute, value, group}. Group checks (consistent_across) run over all variants
    # once they have finished, so they are kept apart from ``checks``.
    group: str | None = None
    variant: dict[str, str] = field(default_factory=dict)
    group_checks: tuple[BoundCheck, ...] = ()
    # The suite's prompt variant this case runs with (None: the suite declares none), and
    # what its patterns ask of the runner (harness/patterns.py).
    prompt: str | None = None
    answer_marker: str | None = None
    revise: str | None = None
    # A perturbed variant: how to build it again from fewer of its edits (harness/shrink.py)
    shrinker: Shrinker | None = field(default=None, compare=False, repr=False)

    @property
    def has_async_checks(self) -> bool:
        """Whether scoring must be awaited (an LLM judge, say)."""
        return any(b.is_async for b in self.checks)


@dataclass(frozen=True)
class LoadedSuite:
    """A validated suite: its settings and its cases."""

    name: str
    path: str
    description: str | None
    models: list[ModelConfig]
    defaults: Defaults
    cases: list[CaseSpec]
    fingerprint: str
    judges: list[ModelConfig] = field(default_factory=list)
    # Where a check needs a judge model; raised by the session when no judge is configured
    # (the command line's --judge is known only then).
    judge_problems: tuple[Problem, ...] = ()
    prompts: tuple[dict[str, Any], ...] = ()  # each variant's name, note, fingerprint
    gate: dict[str, float] = field(default_factory=dict)  # the suite's gate budgets

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "path": self.path,
            "description": self.description,
            "fingerprint": self.fingerprint,
            "cases": len(self.cases),
            "gate": dict(self.gate),
        }
        if self.prompts:
            out["prompts"] = list(self.prompts)
        return out


def find_suites(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders into suite files, in a stable order."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(path.rglob(f"*{SUITE_SUFFIX}")))
        elif path.is_file():
            found.append(path)
        else:
            raise SuiteError([Problem(str(path), None, "no such file or folder")])
    return found


def project_root(start: Path) -> Path:
    """The nearest folder above ``start`` that looks like a project root."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return folder
    return start


class _Collector:
    """Gathers problems for one file so a user sees all of them at once."""

    def __init__(self, path: str, marked: Marked | None = None) -> None:
        self.path = path
        self.marked = marked
        self.problems: list[Problem] = []
        self.judge_uses: dict[int | None, Problem] = {}  # by line: checks needing a judge

    def line(self, loc: tuple[str | int, ...]) -> int | None:
        return self.marked.line_for(loc) if self.marked else None

    def add(self, loc: tuple[str | int, ...] | int | None, message: str,
            hint: str | None = None) -> None:
        line = loc if isinstance(loc, int) or loc is None else self.line(loc)
        problem = Problem(self.path, line, message, hint)
        if problem not in self.problems and len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def raise_if_any(self) -> None:
        if self.problems:
            raise SuiteError(sorted(self.problems, key=lambda p: (p.path, p.line or 0)))


def load_suite(path: str | Path) -> LoadedSuite:
    """Load, validate and expand one suite file. Raises SuiteError with every problem."""
    file = Path(path)
    shown = _display(file)
    try:
        raw = file.read_bytes()
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise SuiteError([Problem(shown, None, "no such file")]) from None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SuiteError([Problem(shown, line, "the file is not valid UTF-8 text",
                                  "save the suite as UTF-8")]) from None
    except OSError as exc:
        raise SuiteError([Problem(shown, None, f"cannot read the file: {exc.strerror}")]) from None

    try:
        marked = load_marked(text)
    except YamlProblem as exc:
        raise SuiteError([Problem(shown, exc.line, exc.message, exc.hint)]) from None

    errors = _Collector(shown, marked)
    data = marked.data
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        errors.add(1, f"a suite must be a mapping with keys like 'suite' and 'cases'; found {kind}",
                   "start the file with 'suite: NAME' and list your cases under 'cases:'")
        errors.raise_if_any()
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        _pydantic_problems(exc, data, errors)
        errors.raise_if_any()
        raise  # unreachable: a ValidationError always has at least one error
    if suite.prompt is None and suite.messages is None and not suite.prompts and any(
        c.prompt is None and c.messages is None for c in suite.cases
    ):
        errors.add(("suite",), "the suite has no 'prompt' or 'messages'",
                   "add 'prompt: \"...\"' (a Jinja2 template over the case vars)")
    if suite.prompt is not None and suite.messages is not None:
        errors.add(("messages",), "give either 'prompt' or 'messages', not both")
    if not suite.cases and not suite.datasets():
        errors.add(("suite",), "the suite has no cases",
                   "add a 'cases:' list, or a 'dataset:' with a CSV/JSONL file")
    errors.raise_if_any()

    root = project_root(file.parent)
    hasher = hashlib.sha256(raw)
    variants = resolve_variants(suite, file, root, errors) if suite.prompts else []
    errors.raise_if_any()

    def expand(template: Template | None) -> list[CaseSpec]:
        cases: list[CaseSpec] = []
        for index, case in enumerate(suite.cases):
            if case.counterfactual is not None and case.perturb is not None:
                errors.add(("cases", index, "perturb"), f"case '{case.id}': give either "
                           "'counterfactual' or 'perturb', not both",
                           "split it into two cases, one for each")
                continue
            if case.counterfactual is not None:
                cases.extend(_variants(suite, case, ("cases", index), file, root, errors,
                                       template))
                continue
            if case.perturb is not None:
                cases.extend(_perturbed(suite, case, ("cases", index), file, root, errors,
                                        template))
                continue
            spec = _case_spec(suite, case, ("cases", index), file, root, errors,
                              extra_expect=[], template=template)
            if spec is not None:
                cases.append(_split_group_checks(spec, errors))
        for dindex, dataset in enumerate(suite.datasets()):
            loc: tuple[str | int, ...] = ("dataset", dindex) \
                if isinstance(suite.dataset, list) else ("dataset",)
            cases.extend(_dataset_cases(suite, dataset, loc, file, root, errors, hasher,
                                        template))
        return cases

    if not variants:
        cases = expand(None)
    else:
        # every case × every variant, a case's variants side by side (shards keep them)
        per_variant = [apply_variant(v, expand(v.template), errors) for v in variants]
        errors.raise_if_any()
        cases = [spec for row in zip(*per_variant, strict=True) for spec in row]
        for v in variants:
            hasher.update(v.fingerprint.encode())

    for spec in cases:  # documents read from files change what the suite means
        for doc in spec.context:
            hasher.update(doc.encode("utf-8"))
    seen: dict[tuple[str, str | None], str] = {}
    for spec in cases:
        if (spec.id, spec.prompt) in seen:
            where, _, line_text = spec.source.rpartition(":")
            errors.problems.append(Problem(
                where, int(line_text) if line_text.isdigit() else None,
                f"duplicate case id '{spec.id}' (first at {seen[(spec.id, spec.prompt)]})",
                "case ids must be unique within a suite"))
        seen.setdefault((spec.id, spec.prompt), spec.source)
    errors.raise_if_any()
    return LoadedSuite(
        name=suite.suite,
        path=shown,
        description=suite.description,
        models=suite.model_configs(),
        defaults=suite.defaults,
        cases=cases,
        fingerprint=hasher.hexdigest()[:16],
        judges=suite.judge_configs(),
        judge_problems=tuple(errors.judge_uses.values()),
        prompts=tuple(v.info() for v in variants),
        gate=suite.gate.model_dump(exclude_none=True) if suite.gate is not None else {},
    )


def _variants(
    suite: Suite, case: Case, loc: tuple[str | int, ...], file: Path, root: Path,
    errors: _Collector, template: Template | None = None,
) -> list[CaseSpec]:
    """One CaseSpec per declared counterfactual value, and nothing else. Several
    attributes give their cross product (``case[name=Emily,age=25]``)."""
    from itertools import product

    from harness.counterfactual import CounterfactualError, resolve

    assert case.counterfactual is not None
    where = (*loc, "counterfactual")
    axes: list[tuple[str, str, list[tuple[str, str]]]] = []  # attribute, list, values
    for attribute, values in case.counterfactual.items():
        if not re.fullmatch(r"[A-Za-z_]\w*", attribute):
            errors.add(where, f"case '{case.id}': counterfactual attribute '{attribute}' "
                       "must be a variable name")
            return []
        try:
            labelled = resolve(values)
        except CounterfactualError as exc:
            errors.add(where, f"case '{case.id}': counterfactual: {exc}", exc.hint)
            return []
        if len(case.counterfactual) > 1 and any("," in v for v, _ in labelled):
            errors.add(where, f"case '{case.id}': with several attributes, values may not "
                       f"contain ',' ({attribute})")
            return []
        axes.append((attribute, values if isinstance(values, str) else "inline", labelled))
    if not axes:
        errors.add(where, f"case '{case.id}': counterfactual names no attribute",
                   "e.g. counterfactual: {name: names.gender}")
        return []
    out: list[CaseSpec] = []
    for combo in product(*(labelled for _, _, labelled in axes)):
        chosen = {attribute: value for (attribute, _, _), (value, _) in
                  zip(axes, combo, strict=True)}
        bound = {**case.vars, **chosen}
        try:
            variant_vars = {k: render(v, bound) if isinstance(v, str) else v
                            for k, v in case.vars.items()}
        except RenderError as exc:
            errors.add((*loc, "vars"), f"case '{case.id}': {exc}", exc.hint)
            return []
        variant_vars.update(chosen)
        suffix = ",".join(f"{a}={v}" for a, v in chosen.items())
        variant = case.model_copy(update={
            "id": f"{case.id}[{suffix}]", "vars": variant_vars, "counterfactual": None})
        spec = _case_spec(suite, variant, loc, file, root, errors, extra_expect=[],
                          template=template)
        if spec is None:
            return []
        spec = _split_group_checks(spec, errors, grouped=True)
        # the list is part of the attribute: gender and ethnicity names are both 'name'
        tag = {"attribute": ",".join(a for a, _, _ in axes),
               "value": ",".join(v for v, _ in combo),
               "group": ",".join(label for _, label in combo),
               "list": ",".join(lst for _, lst, _ in axes)}
        if len(axes) > 1:  # each attribute's own value, for per-attribute statistics
            for (attribute, lst, _), (value, label) in zip(axes, combo, strict=True):
                tag.update({f"{attribute}.value": value, f"{attribute}.group": label,
                            f"{attribute}.list": lst})
        out.append(replace(spec, group=case.id, variant=tag))
    return out


def _perturbed(
    suite: Suite, case: Case, loc: tuple[str | int, ...], file: Path, root: Path,
    errors: _Collector, template: Template | None = None,
) -> list[CaseSpec]:
    """The case itself and its ``perturb:`` variants (see harness/perturb.py)."""
    from harness.perturb import Edit, Perturbed, PerturbError, apply, variants
    from harness.shrink import Shrinker

    perturb = case.perturb
    assert perturb is not None
    where = (*loc, "perturb")
    plain = case.model_copy(update={"perturb": None})
    original = _case_spec(suite, plain, loc, file, root, errors, extra_expect=[],
                          template=template)
    if original is None:
        return []
    names = perturb.vars if perturb.vars is not None else [
        k for k, v in case.vars.items() if isinstance(v, str)]
    bad = [n for n in names if not isinstance(case.vars.get(n), str)]
    if bad:
        known = [k for k, v in case.vars.items() if isinstance(v, str)]
        guess = did_you_mean(bad[0], known)
        errors.add((*where, "vars"), f"case '{case.id}': perturb: {bad} are not string "
                   "vars of the case", f"Did you mean '{guess}'?" if guess else
                   f"string vars: {', '.join(known) or 'none'}")
        return []
    # without vars the rendered user prompt itself is perturbed
    users = [i for i, m in enumerate(original.messages) if m["role"] == "user"]
    on_prompt = not names and bool(users)
    texts = [case.vars[n] for n in names] if names else (
        [original.messages[users[-1]]["content"]] if on_prompt else [])
    try:
        drawn = variants(perturb.kinds, perturb.n, perturb.seed, texts, original.context)
    except PerturbError as exc:
        errors.add(where, f"case '{case.id}': {exc}", exc.hint)
        return []
    tag = {"attribute": "perturb", "value": "original", "group": "original",
           "description": "unperturbed", "size": "0"}
    out = [replace(_split_group_checks(original, errors, grouped=True), group=case.id,
                   variant=tag)]

    def make(p: Perturbed, extra: dict[str, str]) -> CaseSpec | None:
        new_vars = {**case.vars, **dict(zip(names, p.texts, strict=True))} if names \
            else dict(case.vars)
        variant = plain.model_copy(update={
            "id": f"{case.id}[perturb={p.label}]", "vars": new_vars,
            "context": list(p.documents) if p.documents else case.context})
        spec = _case_spec(suite, variant, loc, file, root, errors, extra_expect=[],
                          template=template)
        if spec is None:
            return None
        if on_prompt and p.texts != tuple(texts):
            messages = list(spec.messages)
            messages[users[-1]] = {**messages[users[-1]], "content": p.texts[0]}
            spec = replace(spec, messages=tuple(messages))
        spec = _split_group_checks(spec, errors, grouped=True)
        return replace(spec, group=case.id, variant={
            "attribute": "perturb", "value": p.label, "group": p.kind,
            "description": p.description, "size": str(p.size), **extra})

    def rebuild(p: Perturbed, edits: tuple[Edit, ...], label: str,
                extra: dict[str, str]) -> CaseSpec | None:
        """The variant with only ``edits``; None when they change nothing."""
        new_texts, new_docs, said = apply(edits, texts, original.context)
        if not said or (new_texts, new_docs) == (tuple(texts), tuple(original.context)):
            return None
        return make(Perturbed(label, p.kind, f"{p.kind}: " + "; ".join(said), len(said),
                              new_texts, new_docs, edits), extra)

    for p in drawn:
        spec = make(p, {})
        if spec is None:
            return []
        if perturb.shrink and p.kind != "reorder" and len(p.edits) > 1:
            spec = replace(spec, shrinker=Shrinker(p.label, p.edits, perturb.shrink,
                                                   partial(rebuild, p)))
        out.append(spec)
    return out


def _split_group_checks(spec: CaseSpec, errors: _Collector, grouped: bool = False) -> CaseSpec:
    """Move group checks (consistent_across) out of the per-case checks."""
    from harness.checks.bias import GroupCheck

    group = tuple(b for b in spec.checks if isinstance(b.fn, GroupCheck))
    if not group:
        return spec
    if not grouped:
        path, _, line = spec.source.rpartition(":")
        errors.problems.append(Problem(
            path, int(line) if line.isdigit() else None,
            f"case '{spec.id}': check '{group[0].name}' compares counterfactual variants, "
            "but the case declares none",
            "add e.g. 'counterfactual: {name: names.gender}' to the case"))
    rest = tuple(b for b in spec.checks if not isinstance(b.fn, GroupCheck))
    return replace(spec, checks=rest, group_checks=group)


def _display(file: Path) -> str:
    try:
        return str(file.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(file)


def _case_spec(
    suite: Suite,
    case: Case,
    loc: tuple[str | int, ...],
    file: Path,
    root: Path,
    errors: _Collector,
    extra_expect: list[tuple[tuple[str | int, ...], dict[str, Any]]],
    source: str | None = None,
    problem_line: int | None = None,
    template: Template | None = None,
) -> CaseSpec | None:
    line = problem_line if problem_line is not None else errors.line(loc)
    where = source or f"{errors.path}:{line}"
    before = len(errors.problems)
    try:
        context = _as_docs(case.context, file, root)
    except _PathProblem as exc:
        errors.add(problem_line if problem_line is not None else errors.line((*loc, "context")),
                   f"case '{case.id}': context: {exc}")
        return None
    variables = {"context": "\n\n".join(context), "documents": list(context),
                 "case_id": case.id, **case.vars}

    def at(sub: tuple[str | int, ...]) -> int | None:
        return problem_line if problem_line is not None else errors.line((*loc, *sub))

    messages: list[dict[str, str]] = []
    system = suite.defaults.system
    template_messages: list[tuple[str, str, tuple[str | int, ...]]] = []
    if case.messages is not None or case.prompt is not None:
        if case.messages is not None:
            template_messages = [(m.role, m.content, ("messages", i))
                                 for i, m in enumerate(case.messages)]
        else:
            template_messages = [("user", case.prompt or "", ("prompt",))]
    elif template is not None:  # the prompt variant's (its own, a base's or the suite's)
        template_messages = list(template)
    elif suite.messages is not None:
        template_messages = [(m.role, m.content, ()) for m in suite.messages]
    else:
        template_messages = [("user", suite.prompt or "", ())]
    if system is not None and not any(role == "system" for role, _, _ in template_messages):
        template_messages.insert(0, ("system", system, ()))
    for role, content, sub in template_messages:
        try:
            messages.append({"role": role, "content": render(content, variables)})
        except RenderError as exc:
            errors.add(at(sub) if sub else line, f"case '{case.id}': {exc}", exc.hint)

    checks: list[BoundCheck] = []
    suite_expect = [(("expect", i), spec) for i, spec in enumerate(suite.expect)]
    own_expect = [((*loc, "expect", i), spec) for i, spec in enumerate(case.expect)]
    for spec_loc, spec in [*suite_expect, *extra_expect, *own_expect]:
        spec_line = problem_line if problem_line is not None else errors.line(spec_loc)
        built = _build_check(spec, variables, file, root, case.id, spec_line, errors)
        if built is not None:
            checks.append(built)
            judged = get(built.name).needs_judge or getattr(built.fn, "needs_judge", False)
            if judged and not built.args.get("judges"):
                errors.judge_uses.setdefault(spec_line, Problem(
                    errors.path, spec_line,
                    f"case '{case.id}': check '{built.name}' needs a judge model",
                    "add 'judge: MODEL' to the suite or pass --judge MODEL"))
    if len(errors.problems) > before:
        return None
    return CaseSpec(
        suite=suite.suite,
        id=case.id,
        messages=tuple(messages),
        checks=tuple(checks),
        vars=dict(case.vars),
        context=context,
        tags=tuple(case.tags),
        source=where,
    )


def _as_docs(
    context: str | ContextFile | list[str | ContextFile] | None, file: Path, root: Path
) -> tuple[str, ...]:
    """The case's documents as text; ``{file: PATH}`` entries are read from disk."""
    if context is None:
        return ()
    items = context if isinstance(context, list) else [context]
    docs = []
    for item in items:
        if isinstance(item, ContextFile):
            target = safe_path(item.file, file, root)
            try:
                docs.append(target.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                raise _PathProblem(f"cannot read '{item.file}': {exc}") from None
        else:
            docs.append(item)
    return tuple(docs)


def _build_check(
    spec: Any,
    variables: dict[str, Any],
    file: Path,
    root: Path,
    case_id: str,
    line: int | None,
    errors: _Collector,
) -> BoundCheck | None:
    if isinstance(spec, str):  # "- is_json" written without arguments
        spec = {spec: None}
    if not isinstance(spec, dict) or len(spec) != 1:
        keys = list(spec) if isinstance(spec, dict) else None
        errors.add(line, f"case '{case_id}': each item under 'expect' must be one check, "
                   f"written 'check_name: arguments'; found {keys or type(spec).__name__}",
                   "e.g. '- contains: {any: [refund]}' or '- max_words: 60'")
        return None
    (name, raw), = spec.items()
    name = str(name)
    try:
        definition = get(name)
        missing = missing_requirement(definition)
        if missing is not None:
            raise missing
        args, negate = normalize_args(definition, _render_args(raw, variables))
        args = {k: _resolve_path(v, file, root) if k in definition.path_args else v
                for k, v in args.items()}
        return build(name, {**args, "negate": negate} if negate else args)
    except CheckArgsError as exc:
        errors.add(line, f"case '{case_id}': {exc}", exc.hint)
    except (RenderError, _PathProblem) as exc:
        errors.add(line, f"case '{case_id}': check '{name}': {exc}")
    return None


def _render_args(raw: Any, variables: dict[str, Any]) -> Any:
    """Check arguments may use the case's vars (``equals: "{{ answer }}"``)."""
    if isinstance(raw, str):
        return render(raw, variables)
    if isinstance(raw, list):
        return [_render_args(v, variables) for v in raw]
    if isinstance(raw, dict):
        return {k: _render_args(v, variables) for k, v in raw.items()}
    return raw


class _PathProblem(ValueError):
    pass


def safe_path(relative: str, file: Path, root: Path) -> Path:
    """``relative`` resolved against the suite's folder, refusing to leave the project."""
    target = (file.parent / relative).resolve()
    if not target.is_relative_to(root.resolve()):
        raise _PathProblem(f"path '{relative}' leads outside the project root {root}")
    if not target.is_file():
        raise _PathProblem(f"no such file '{relative}' (looked at {_display(target)})")
    return target


def _resolve_path(value: Any, file: Path, root: Path) -> Any:
    """A string naming a JSON/YAML file is replaced by the file's parsed content."""
    if not isinstance(value, str):
        return value
    target = safe_path(value, file, root)
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _PathProblem(f"cannot read '{value}': {exc}") from None
    try:
        if target.suffix == ".json":
            return json.loads(text)
        marked = load_marked(text)
        return marked.data
    except (ValueError, YamlProblem) as exc:
        raise _PathProblem(f"cannot parse '{value}': {exc}") from None


def _dataset_cases(
    suite: Suite,
    dataset: Dataset,
    loc: tuple[str | int, ...],
    file: Path,
    root: Path,
    errors: _Collector,
    hasher: Any,
    template: Template | None = None,
) -> list[CaseSpec]:
    try:
        target = safe_path(dataset.path, file, root)
    except _PathProblem as exc:
        errors.add((*loc, "path"), str(exc))
        return []
    fmt = dataset.format or {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(
        target.suffix.lower()
    )
    if fmt is None:
        errors.add((*loc, "path"), f"cannot tell the format of '{dataset.path}'",
                   "use a .csv or .jsonl file, or set 'format: csv' / 'format: jsonl'")
        return []
    shown = _display(target)
    raw = target.read_bytes()
    hasher.update(raw)
    records: list[tuple[int, dict[str, Any]]] = []
    if fmt == "csv":
        import pandas as pd  # for CSV only: its import costs ~0.3 s, more with pyarrow

        try:
            frame = pd.read_csv(target, dtype=str, keep_default_na=False)
        except Exception as exc:  # pandas raises many kinds; all mean "not usable"
            errors.add((*loc, "path"),
                       f"cannot read dataset '{shown}': {str(exc).splitlines()[0]}")
            return []
        columns = [str(c) for c in frame.columns]
        # line 1 is the header (rows with quoted newlines shift later lines; rare)
        records = [(n + 2, {str(k): v for k, v in rec.items()})
                   for n, rec in enumerate(frame.to_dict(orient="records"))]
    else:
        # JSON lines are read with json itself: nested values and types stay as written
        # (pandas would turn missing keys into NaN and numbers into numpy scalars).
        seen_columns: dict[str, None] = {}
        # split on "\n" only: splitlines() would also break inside JSON strings at U+2028
        for number, text in enumerate(raw.decode("utf-8", "replace").split("\n"), 1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except ValueError as exc:
                errors.problems.append(Problem(shown, number, f"not valid JSON: {exc}"))
                continue
            if not isinstance(record, dict):
                errors.problems.append(Problem(shown, number, "each line must be a JSON object"))
                continue
            seen_columns.update(dict.fromkeys(str(k) for k in record))
            records.append((number, record))
        columns = list(seen_columns)
    if dataset.limit is not None:
        records = records[: dataset.limit]
    if (dataset.group is None) != (dataset.variant is None):
        errors.add(loc, f"dataset '{dataset.path}': give both 'group' and 'variant' (the "
                   "column that joins rows into a set, and the one naming each row's group)")
        return []
    for key in ("id", "context", "group", "variant"):
        column = getattr(dataset, key)
        if column is not None and "{" not in column and column not in columns:
            guess = did_you_mean(column, columns)
            errors.add((*loc, key), f"dataset '{dataset.path}' has no column '{column}'",
                       f"Did you mean '{guess}'?" if guess else f"columns: {', '.join(columns)}")
            return []
    expect = [((*loc, "expect", i), spec) for i, spec in enumerate(dataset.expect)]
    out: list[CaseSpec] = []
    stem = Path(dataset.path).stem.replace(" ", "_")
    for row_index, (row_line, record) in enumerate(records):
        row = {str(k): _plain(v) for k, v in record.items()}
        source = f"{shown}:{row_line}"
        if dataset.id is None:
            case_id = f"{stem}-{row_index + 1}"
        elif "{" in dataset.id:
            try:
                case_id = render(dataset.id, row)
            except RenderError as exc:
                errors.problems.append(Problem(shown, row_line, f"row id: {exc}"))
                continue
        else:
            value = row.get(dataset.id)
            case_id = "" if value is None else str(value)
        context = row.get(dataset.context) if dataset.context else None
        try:
            case = Case(id=case_id.strip().replace(" ", "_") or f"{stem}-{row_index + 1}",
                        vars=row, tags=dataset.tags,
                        context=None if context in (None, "") else str(context))
        except ValidationError as exc:
            errors.problems.append(Problem(shown, row_line, f"row: {exc.errors()[0]['msg']}"))
            continue
        sub = _Collector(shown, None)
        sub.problems = errors.problems  # share the list: one report for the suite and its data
        spec = _case_spec(suite, case, loc, file, root, sub, expect, source=source,
                          problem_line=row_line, template=template)
        if spec is not None and dataset.group is not None and dataset.variant is not None:
            label = str(row.get(dataset.variant, ""))
            out.append(replace(_split_group_checks(spec, errors, grouped=True),
                               group=str(row.get(dataset.group, "")), variant={
                                   "attribute": dataset.variant, "value": label,
                                   "group": label}))
        elif spec is not None:
            out.append(_split_group_checks(spec, errors))
    return out


def _plain(value: Any) -> Any:
    """pandas gives numpy scalars and NaN; suites want plain Python values."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def _fields_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """Field names of the pydantic model found at ``loc`` (for did-you-mean)."""
    models: list[type[BaseModel]] = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        nxt: list[type[BaseModel]] = []
        for m in models:
            info = m.model_fields.get(part)
            if info is not None:
                nxt.extend(_models_in(info.annotation))
        if not nxt:
            break
        models = nxt
    return sorted({name for m in models for name in m.model_fields})


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, UnionType, list, dict, tuple) or origin is not None:
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


# Errors that only say "this is not a <type>": one per branch of a union.
_TYPE_ERRORS = frozenset({
    "string_type", "list_type", "dict_type", "model_type", "model_attributes_type",
    "int_type", "int_parsing", "float_type", "float_parsing", "bool_type", "bool_parsing",
})


def _pydantic_problems(exc: ValidationError, data: Any, errors: _Collector) -> None:
    entries = [(_data_loc(err["loc"], data), err) for err in exc.errors()]
    # A union reports one error per branch. When one branch got further (a deeper or more
    # specific error), the "is not a string/list" errors of the other branches are noise.
    specific = [loc for loc, err in entries if err["type"] not in _TYPE_ERRORS]
    type_errors: dict[tuple[str | int, ...], list[str]] = {}
    for loc, err in entries:
        if err["type"] in _TYPE_ERRORS:
            if not any(other[: len(loc)] == loc for other in specific):
                expected = re.sub(r"a valid dictionary( or instance of \w+)?", "a mapping",
                                  err["msg"].replace("Input should be ", ""))
                type_errors.setdefault(loc, []).append(expected)
            continue
        _pydantic_problem(loc, err, errors)
    for loc, wanted in type_errors.items():
        found = _at(data, loc)
        shown = "" if isinstance(found, (dict, list)) else f" (found {found!r})"
        what = " or ".join(dict.fromkeys(wanted))
        errors.add(loc, f"{_dotted(loc) or 'suite'}: should be {what}{shown}")


def _at(data: Any, loc: tuple[str | int, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _pydantic_problem(loc: tuple[str | int, ...], err: Any, errors: _Collector) -> None:
    dotted = _dotted(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        guess = did_you_mean(key, _fields_at(Suite, loc[:-1]))
        where = f" in {_dotted(loc[:-1])}" if loc[:-1] else ""
        if key in ("api_key", "key", "token"):
            hint = ("keys never go in a suite: put it in an environment variable and name "
                    "the variable with 'api_key_env: MY_KEY'")
        elif guess:
            hint = f"Did you mean '{guess}'?"
        else:
            hint = f"allowed keys: {', '.join(_fields_at(Suite, loc[:-1]))}"
        errors.add(loc, f"unknown key '{key}'{where}", hint)
    elif kind == "missing":
        errors.add(loc[:-1], f"missing required key '{loc[-1]}'"
                   + (f" in {_dotted(loc[:-1])}" if loc[:-1] else ""))
    else:
        found = err.get("input")
        shown = "" if isinstance(found, (dict, list)) else f" (found {found!r})"
        errors.add(loc, f"{dotted or 'suite'}: {err['msg']}{shown}")


def _data_loc(loc: tuple[Any, ...], data: Any) -> tuple[str | int, ...]:
    """Drop pydantic's union tags from ``loc`` so it names a real place in the YAML."""
    out: list[str | int] = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part.isidentifier() \
                and part[0].islower() and part not in ("str", "int", "float", "list", "dict"):
            out.append(part)  # a missing key: keep it, the line is its parent's
            node = None
        # anything else is a union tag such as 'str' or 'ModelConfig': skip it
    return tuple(out)


def _dotted(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
