"""The pytest plugin: suites as test items, the ``harness_model`` fixture, one RunLog.

Registered as the ``pytest11`` entry point ``harness``, so installing harness enables it.
``pytest suites/`` collects every ``*.suite.yaml`` into one item per case × model (×
repeat): ``suites/legal.suite.yaml::nda-summary[local/smollm2]``. Case tags become marks
(``-m pii``), ``-k`` matches case ids and models.

Items do not call their model one by one: when the run phase starts, every selected item
is executed at once through the runner (concurrency, retries, response cache, run store),
and each item then reports its result. Under pytest-xdist a worker executes what it has
been handed whenever it finds an item without a result, and sends its RunLog to the
controller, which merges them. The session writes one RunLog and one HTML report, prints
pass rates per model, and may gate on a baseline RunLog.

This module is imported by every pytest run in an environment where harness is installed,
so it imports nothing heavy until a suite is collected or an option asks for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.errors import SuiteError

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr, TracebackStyle

    from harness.api import Model, RecordContext
    from harness.gate import GateResult
    from harness.replay import Recording
    from harness.results import CaseResult, ResultKey, RunLog
    from harness.runner import WorkItem
    from harness.session import Prepared
    from harness.spec.loader import LoadedSuite
    from harness.store import RunStore

SUITE_SUFFIX = ".suite.yaml"
DEFAULT_REPORT = "reports/pytest.json"
DEFAULT_FIXTURE_MODEL = "local/smollm2"
# Marks pytest gives a meaning of its own: a case tagged 'skip' must not be skipped.
# Such tags stay keywords (-k), they just do not become marks.
RESERVED_MARKS = frozenset({"skip", "skipif", "xfail", "parametrize", "usefixtures",
                            "filterwarnings", "tryfirst", "trylast", "harness"})
OUTPUT_LIMIT = 2000  # characters of output shown in a failure
EXCERPT_LIMIT = 40  # lines of a case's YAML shown in a failure
API_SUITE = "Python tests"  # the description of a test module's pseudo-suite in a RunLog

STATE = pytest.StashKey["HarnessSession"]()


# -- options -------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "harness: LLM evaluation suites (*.suite.yaml)")
    group.addoption("--harness-model", action="append", default=[], dest="harness_models",
                    metavar="MODEL", help="run suites on MODEL (repeatable; default: each "
                    "suite's models); also parametrises the harness_model fixture "
                    "(default local/smollm2). ini: harness_models")
    group.addoption("--harness-api-base", dest="harness_api_base", metavar="URL",
                    help="OpenAI-compatible server for the --harness-model models. "
                    "ini: harness_api_base")
    group.addoption("--harness-judge", action="append", default=[], dest="harness_judges",
                    metavar="MODEL", help="judge model for judge-based checks (repeatable). "
                    "ini: harness_judge")
    group.addoption("--harness-report", dest="harness_report", metavar="PATH",
                    help=f"RunLog to write (an HTML report is written beside it; default "
                    f"{DEFAULT_REPORT}). ini: harness_report")
    group.addoption("--harness-no-html", dest="harness_no_html", action="store_true",
                    default=None, help="write the RunLog only, no HTML report beside it. "
                    "ini: harness_html = false")
    group.addoption("--harness-baseline", dest="harness_baseline", metavar="RUNLOG",
                    help="fail the session when a case × model that passed in this RunLog "
                    "does not pass now. ini: harness_baseline")
    group.addoption("--harness-repeat", dest="harness_repeat", type=int, metavar="N",
                    help="sample each case N times (one item per repeat). ini: harness_repeat")
    group.addoption("--harness-replay", dest="harness_replay", metavar="RUNLOG",
                    help="call no model: re-check the outputs recorded in RUNLOG with the "
                    "current checks. ini: harness_replay")
    group.addoption("--harness-concurrency", dest="harness_concurrency", type=int,
                    metavar="N", help="model calls in flight at once (default 8). "
                    "ini: harness_concurrency")
    group.addoption("--harness-no-cache", dest="harness_no_cache", action="store_true",
                    default=None, help="call models even when the response cache has the "
                    "answer. ini: harness_cache = false")
    parser.addini("harness_models", "models to run suites on (default: the suites' own)",
                  type="args", default=[])
    parser.addini("harness_api_base", "OpenAI-compatible server for harness_models",
                  default="")
    parser.addini("harness_judge", "judge models for judge-based checks", type="args",
                  default=[])
    parser.addini("harness_report", f"RunLog path (default {DEFAULT_REPORT})", default="")
    parser.addini("harness_html", "write an HTML report beside the RunLog", type="bool",
                  default=True)
    parser.addini("harness_baseline", "baseline RunLog for the session gate", default="")
    parser.addini("harness_repeat", "samples per case", default="")
    parser.addini("harness_replay", "RunLog whose outputs are re-checked (no model calls)",
                  default="")
    parser.addini("harness_concurrency", "model calls in flight at once", default="")
    parser.addini("harness_cache", "use the response cache", type="bool", default=True)


@dataclass
class Settings:
    """The plugin's options, with paths resolved the pytest way: command-line paths
    against the invocation folder, ini paths against the ini file's folder."""

    models: list[str]
    api_base: str | None
    judges: list[str]
    report: Path
    html: bool
    baseline: Path | None
    repeat: int | None
    replay: Path | None
    concurrency: int
    cache: bool
    cache_path: str

    @property
    def report_html(self) -> Path:
        return self.report.with_suffix(".html")

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        here = config.invocation_params.dir
        ini_dir = config.inipath.parent if config.inipath else config.rootpath

        def path(option: str, ini: str) -> Path | None:
            given: str | None = config.getoption(option)
            if given:
                return (here / given).resolve()
            value = str(config.getini(ini) or "").strip()
            return (ini_dir / value).resolve() if value else None

        def number(option: str, ini: str, lowest: int) -> int | None:
            given = config.getoption(option)
            raw: Any = given if given is not None else (str(config.getini(ini)).strip() or None)
            if raw is None:
                return None
            try:
                value = int(raw)
            except ValueError:
                raise pytest.UsageError(f"{ini}: expected a whole number, got {raw!r}") \
                    from None
            if value < lowest:
                raise pytest.UsageError(f"{ini}: must be at least {lowest}, got {value}")
            return value

        report = path("harness_report", "harness_report") or \
            (config.rootpath / DEFAULT_REPORT).resolve()
        if report.suffix != ".json":
            report = report.with_suffix(".json") if report.suffix == ".html" \
                else report.with_name(report.name + ".json")
        cache = bool(config.getini("harness_cache")) and not config.getoption("harness_no_cache")
        return cls(
            models=list(config.getoption("harness_models") or config.getini("harness_models")),
            api_base=config.getoption("harness_api_base") or
            (str(config.getini("harness_api_base")).strip() or None),
            judges=list(config.getoption("harness_judges") or config.getini("harness_judge")),
            report=report,
            html=bool(config.getini("harness_html")) and not config.getoption("harness_no_html"),
            baseline=path("harness_baseline", "harness_baseline"),
            repeat=number("harness_repeat", "harness_repeat", 1),
            replay=path("harness_replay", "harness_replay"),
            concurrency=number("harness_concurrency", "harness_concurrency", 1) or 8,
            cache=cache,
            cache_path=os.environ.get("HARNESS_CACHE")
            or str(config.rootpath / ".harness" / "cache.sqlite"),
        )


def _read_log(path: Path, what: str) -> RunLog:
    from harness.results import RunLog

    try:
        return RunLog.read(path)
    except ValueError as exc:
        raise pytest.UsageError(f"{what}: {exc}") from None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "harness: an item collected from a harness suite")
    state = HarnessSession(config, Settings.from_config(config))
    config.stash[STATE] = state
    config.pluginmanager.register(state, "harness-session")


# -- collection ----------------------------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> SuiteFile | None:
    if file_path.name.endswith(SUITE_SUFFIX):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


class SuiteFile(pytest.File):
    """A ``*.suite.yaml`` file: one item per case × model (× repeat)."""

    def collect(self) -> Iterable[CaseItem]:
        state = self.config.stash[STATE]
        suite = state.load(self.path)
        repeat = state.repeat_for(suite)
        marks = state.marks_for(suite)
        from harness.results import case_label
        from harness.runner import WorkItem

        harness_mark = pytest.mark.harness
        for model in state.models_for(suite):
            for case in suite.cases:
                for r in range(repeat):
                    param = model.name if repeat == 1 else f"{model.name}-{r + 1}-{repeat}"
                    # a prompt variant shows in the id: case[prompt=few-shot][model]
                    label = case_label(case.id, case.prompt)
                    item = CaseItem.from_parent(self, name=f"{label}[{param}]",
                                                work=WorkItem(suite, case, model, r))
                    item.add_marker(harness_mark)
                    for tag in case.tags:
                        mark = marks.get(tag)
                        if mark is None:
                            item.extra_keyword_matches.add(tag)
                        else:
                            item.add_marker(mark)
                    yield item

    def repr_failure(  # type: ignore[override]  # as pytest.Collector's own
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str | TerminalRepr:
        # A bad suite is the user's to fix: path:line and a hint, never a traceback.
        if isinstance(excinfo.value, SuiteError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class CaseFailed(Exception):
    """A case whose checks failed or whose call errored; shown by CaseItem.repr_failure."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(f"{result.label} [{result.model}] {result.status}")
        self.result = result


class CaseItem(pytest.Item):
    """One case × model × repeat. Its result is computed with the others', not here."""

    def __init__(self, *, work: WorkItem, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.work = work

    def runtest(self) -> None:
        state = self.config.stash[STATE]
        result = state.result_for(self)
        work = self.work
        self.user_properties.extend([("suite", work.suite.name), ("case", work.case.id),
                                     ("model", work.model.name)])
        if result is None:
            pytest.skip(state.missing_reason(self))
        state.report(self, result)
        self.user_properties.append(("status", result.status))
        if result.failure_mode:  # pytest's own --junitxml shows it as a property
            self.user_properties.append(("failure_mode", result.failure_mode))
        if result.status != "passed":
            raise CaseFailed(result)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: TracebackStyle | None = None,
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, CaseFailed):
            verbose = self.config.get_verbosity() > 0
            return describe_failure(self.work, excinfo.value.result, verbose)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        path, line = _split_source(self.work.case.source)
        return (Path(path).resolve() if path else self.path,
                None if line is None else line - 1, self.name)


def _group_siblings(todo: list[CaseItem], done: dict[Any, Any],
                    deselected: list[CaseItem]) -> list[CaseItem]:
    """The not-yet-computed variants of the counterfactual groups ``todo`` touches (same
    model and repeat), so a group check sees every variant, even when ``-k`` or an xdist
    worker split the group (those siblings are computed but not reported here)."""
    # the prompt variant too: each variant's group is judged on its own (harness.groups)
    keys = {(i.work.suite.name, i.work.case.group, i.work.model.name, i.work.repeat,
             i.work.case.prompt)
            for i in todo if i.work.case.group is not None and i.work.case.group_checks}
    if not keys:
        return []
    chosen = {i.work.key for i in todo}
    siblings = []
    for item in [*todo[0].session.items, *deselected]:
        if not isinstance(item, CaseItem) or item.work.key in chosen \
                or item.work.key in done:
            continue
        chosen.add(item.work.key)
        w = item.work
        if (w.suite.name, w.case.group, w.model.name, w.repeat, w.case.prompt) in keys:
            siblings.append(item)
    return siblings


def _split_source(source: str) -> tuple[str, int | None]:
    path, _, line = source.rpartition(":")
    if not line.isdigit():
        return source, None
    return path, int(line)


# -- failure output ------------------------------------------------------------------------


def describe_failure(work: WorkItem, result: CaseResult, verbose: bool = False) -> str:
    """What a person needs to fix a failed case: where it is (its own YAML lines), what the
    model wrote and why each check failed, personal data masked as in the HTML report."""
    from harness.api import masked_result

    result, masked = masked_result(result)
    case = work.case
    failed = [c for c in result.checks if not c.passed]
    if result.error is not None:
        why = (f"the call failed after {result.error.attempts} attempt"
               f"{'s' if result.error.attempts != 1 else ''}")
    else:
        names = ", ".join(dict.fromkeys(_label(c.check, c.negate) for c in failed))
        total = len(result.checks)
        why = f"{len(failed)} of {total} check{'s' if total != 1 else ''} failed ({names})"
    lines = [f"{case.source}: case '{case.id}' on {result.model}: {why}"]
    lines += excerpt(case.source)
    if verbose:
        lines += ["", "prompt:"]
        for message in result.messages:
            lines.append(f"  [{message.get('role', '?')}]")
            lines += [f"    {text}" for text in message.get("content", "").splitlines()]
    if result.output is not None:
        shown = result.output
        if len(shown) > OUTPUT_LIMIT:
            shown = shown[:OUTPUT_LIMIT] + \
                f"… ({len(shown) - OUTPUT_LIMIT} more characters in the RunLog)"
        lines += ["", "output (PII masked):" if masked else "output:"]
        lines += [f"    {text}" for text in shown.splitlines() or [""]]
    lines.append("")
    if result.error is not None:
        lines.append(f"error: {result.error.kind}: {result.error.message}")
    else:
        lines.append("failed checks:")
        lines += [f"  - {_label(c.check, c.negate)}: {c.reason}" for c in failed]
    return "\n".join(lines)


def _label(check: str, negate: bool) -> str:
    return f"not {check}" if negate else check


def excerpt(source: str) -> list[str]:
    """The lines of the case at ``source`` ("path:line"), numbered: from its first line to
    the last line indented under it (comments and blank lines after it left out)."""
    path, start = _split_source(source)
    if start is None:
        return []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    lines = text.splitlines()
    if not 1 <= start <= len(lines):
        return []
    first = lines[start - 1]
    indent = len(first) - len(first.lstrip(" "))
    block = [start]
    for number in range(start + 1, len(lines) + 1):
        line = lines[number - 1]
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and \
                len(line) - len(line.lstrip(" ")) <= indent:
            break
        block.append(number)
    while len(block) > 1 and (not lines[block[-1] - 1].strip()
                              or lines[block[-1] - 1].strip().startswith("#")):
        block.pop()
    shown = block[:EXCERPT_LIMIT]
    width = len(str(shown[-1]))
    out = [f"  {n:>{width}} | {lines[n - 1]}".rstrip() for n in shown]
    if len(block) > len(shown):
        out.append(f"  {'':>{width}} | … {len(block) - len(shown)} more lines")
    return out


# -- the Python API's fixture --------------------------------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "harness_model" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if "harness_model" in names:
            return  # the test chose its own models
    models = metafunc.config.stash[STATE].fixture_models()
    metafunc.parametrize("harness_model", models, indirect=True, ids=models, scope="session")


@pytest.fixture(scope="session")
def harness_model(request: pytest.FixtureRequest) -> Model:
    """A model to call from a test: ``harness_model.complete("... {x}", x=...)``. The test
    runs once per ``--harness-model`` (default local/smollm2)."""
    state = request.config.stash[STATE]
    name = getattr(request, "param", None) or state.fixture_models()[0]
    return state.model(str(name))


# -- the session ---------------------------------------------------------------------------


@dataclass
class _Reported:
    position: int
    seq: int
    result: CaseResult


@dataclass(eq=False)  # pluggy keeps plugins in dicts: identity, not value, equality
class HarnessSession:
    """Per pytest session: the suites collected, results computed and reported, and the
    RunLog, report and gate at the end. Also the Python API's recorder."""

    config: pytest.Config
    settings: Settings
    session: pytest.Session | None = None
    suites: dict[str, LoadedSuite] = field(default_factory=dict)
    results: dict[ResultKey, CaseResult | None] = field(default_factory=dict)
    reported: list[_Reported] = field(default_factory=list)
    api_seen: dict[tuple[str, str, str], int] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    worker_outputs: list[dict[str, Any]] = field(default_factory=list)
    recording: Recording | None = None
    store: RunStore | None = None
    prepared: Prepared | None = None
    started: float = field(default_factory=time.monotonic)
    created_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    planned: int = 0
    prompt_changed: int = 0
    log: RunLog | None = None
    written: tuple[Path, Path | None] | None = None
    gate: GateResult | None = None
    _marks: dict[str, Any] = field(default_factory=dict)
    _answers: dict[tuple[str, str], CaseResult] | None = None
    _interactor: Any = None
    _previous_recorder: Any = None
    deselected: list[CaseItem] = field(default_factory=list)  # siblings for group checks

    def __post_init__(self) -> None:
        if self.settings.replay is not None:
            from harness.replay import Recording

            self.recording = Recording(_read_log(self.settings.replay, "--harness-replay"),
                                       str(self.settings.replay))
        baseline = self.settings.baseline
        if baseline is not None and not self.is_worker and not baseline.is_file():
            raise pytest.UsageError(f"--harness-baseline: no such file {baseline}")
        from harness import api

        self._previous_recorder = api.set_recorder(self)

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    @property
    def is_controller(self) -> bool:
        return self.config.pluginmanager.has_plugin("dsession")

    # -- collection --------------------------------------------------------------------------

    def load(self, path: Path) -> LoadedSuite:
        from harness.errors import Problem
        from harness.spec.loader import load_suite

        suite = load_suite(path)
        known = self.suites.get(suite.name)
        if known is not None and known.path != suite.path:
            raise SuiteError([Problem(suite.path, None, f"suite name '{suite.name}' is also "
                                      f"used by {known.path}; names must be unique")])
        self.suites[suite.name] = suite
        return suite

    def models_for(self, suite: LoadedSuite) -> list[Any]:
        from harness.runner import resolve_models

        names = list(self.settings.models)
        if not names and self.recording is not None:
            names = self.recording.models_for(suite.name)
        return resolve_models(suite, names, self.settings.api_base)

    def repeat_for(self, suite: LoadedSuite) -> int:
        if self.settings.repeat is not None:
            return self.settings.repeat
        return self.recording.repeats_for(suite.name) if self.recording is not None else 1

    def marks_for(self, suite: LoadedSuite) -> dict[str, Any]:
        """A mark per tag, registered first so pytest does not warn of unknown marks."""
        out: dict[str, Any] = {}
        for tag in dict.fromkeys(t for case in suite.cases for t in case.tags):
            if tag in RESERVED_MARKS or tag.startswith("_"):  # pytest refuses '_' marks
                continue
            if tag not in self._marks:
                registered = {line.split(":")[0].split("(")[0].strip()
                              for line in self.config.getini("markers")}
                if tag not in registered:  # a project may have registered it already
                    self.config.addinivalue_line(
                        "markers", f"{tag}: cases tagged '{tag}' in harness suites")
                self._marks[tag] = getattr(pytest.mark, tag)
            out[tag] = self._marks[tag]
        return out

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        self.deselected.extend(i for i in items if isinstance(i, CaseItem))

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.positions = {item.nodeid: n for n, item in enumerate(session.items)}

    # -- execution ---------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        option = self.config.option
        stopping = session.testsfailed and not option.continue_on_collection_errors
        if not (self.is_worker or option.collectonly or option.setuponly or option.setupplan
                or stopping):
            selected = [i for i in session.items if isinstance(i, CaseItem)]
            self.planned = len(selected)
            if selected:
                self.execute(selected)
        return (yield)

    def execute(self, items: list[CaseItem]) -> None:
        """Compute the results of ``items`` at once (concurrently, through the runner)."""
        todo = [i for i in items if i.work.key not in self.results]
        if not todo:
            return
        todo += _group_siblings(todo, self.results, self.deselected)
        if self.recording is not None:
            self._replay(todo)
            self._judge_groups(todo)
            return
        from harness.session import RunOptions, run, start
        from harness.store import RunStore

        works = [i.work for i in todo]
        if self.prepared is None:
            report_dir = self.settings.report.parent
            self.store = RunStore(report_dir / "runs.sqlite")
            options = RunOptions(
                paths=sorted({s.path for s in self.suites.values()}),
                models=self.settings.models, api_base=self.settings.api_base,
                concurrency=self.settings.concurrency, repeat=self.settings.repeat or 1,
                cache=self.settings.cache, cache_path=self.settings.cache_path,
                out=str(report_dir), name=self.settings.report.stem,
                judges=list(self.settings.judges))
            self.prepared = start(options, list(self.suites.values()), [], self.store)
        assert self.store is not None
        self._say(f"harness: {len(works)} model call{'s' if len(works) != 1 else ''} "
                  f"({', '.join(dict.fromkeys(w.model.name for w in works))})")
        clock = time.monotonic()
        finished = run(replace(self.prepared, items=works, remaining=works), self.store)
        cached = 0
        for result in finished.outcome.results:
            self.results[result.key] = result
            cached += result.cached
        self._judge_groups(todo)
        self._say(f"harness: {len(finished.outcome.results)} answers in "
                  f"{time.monotonic() - clock:.1f}s ({cached} from the cache)")
        if finished.outcome.stopped == "interrupted":
            raise KeyboardInterrupt

    def _judge_groups(self, todo: list[CaseItem]) -> None:
        """Attach group verdicts (consistent_across) to the variants just computed: a
        group's variants are always computed in one batch (``_group_siblings``)."""
        works = [i.work for i in todo if i.work.case.group_checks]
        if not works:
            return
        from harness.groups import apply_group_checks, group_judges, has_judged_groups

        judges = None
        if has_judged_groups(works) and self.recording is None:
            from harness.providers.transport import LeanProvider
            from harness.session import judge_models

            judges = group_judges(works, judge_models(self.settings.judges,
                                                      self.settings.api_base), LeanProvider())
        done = [r for w in works if (r := self.results.get(w.key)) is not None]
        for result in apply_group_checks(works, done, judges):
            self.results[result.key] = result

    def _replay(self, todo: list[CaseItem]) -> None:
        from harness.replay import prompt_changed

        assert self.recording is not None
        for item in todo:
            recorded = self.recording.get(item.work)
            self.results[item.work.key] = self.recording.rescore(item.work)
            if recorded is not None and prompt_changed(item.work, recorded):
                self.prompt_changed += 1

    def _say(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and self.config.get_verbosity() >= 0 and not self.is_worker:
            reporter.ensure_newline()
            reporter.write_line(line)

    def result_for(self, item: CaseItem) -> CaseResult | None:
        key = item.work.key
        if key not in self.results:
            # Under xdist (or when another plugin runs the loop): execute this item along
            # with every item this process has been handed and not yet run.
            self.execute([item, *self._queued(item.session)])
        return self.results.get(key)

    def _queued(self, session: pytest.Session) -> list[CaseItem]:
        """The items queued to run in this process after the current one."""
        if not self.is_worker:
            return [i for i in session.items if isinstance(i, CaseItem)
                    and i.work.key not in self.results]
        if self._interactor is None:
            # pytest-xdist keeps a worker's pending items in its WorkerInteractor; there
            # is no public API for them. Without it each item is executed on its own.
            self._interactor = next((p for p in self.config.pluginmanager.get_plugins()
                                     if type(p).__name__ == "WorkerInteractor"), False)
        interactor = self._interactor
        indices: list[int] = []
        try:
            if isinstance(interactor.nextitem_index, int):
                indices.append(interactor.nextitem_index)
            queue = interactor.torun
            if hasattr(queue, "lock"):  # xdist >= 3.6: a TestQueue
                with queue.lock() as pending:
                    indices += [i for i in pending if isinstance(i, int)]
            else:  # older: a plain deque
                indices += [i for i in list(queue) if isinstance(i, int)]
        except (AttributeError, TypeError):
            return []
        items = session.items
        chosen = [items[i] for i in indices if 0 <= i < len(items)]
        return [i for i in chosen if isinstance(i, CaseItem)]

    def missing_reason(self, item: CaseItem) -> str:
        if self.recording is not None:
            return (f"replay: {self.recording.path} holds no output of "
                    f"{item.work.case.id} on {item.work.model.name}")
        return "not run: the run was stopped before this call"

    def report(self, item: CaseItem, result: CaseResult) -> None:
        position = self.positions.get(item.nodeid, len(self.positions))
        self.reported.append(_Reported(position, 0, result))

    # -- the Python API's recorder -----------------------------------------------------------

    def model(self, name: str) -> Model:
        if name not in self.models:
            from harness.api import Model

            self.models[name] = Model(
                name, api_base=self.settings.api_base,
                cache_path=self.settings.cache_path if self.settings.cache else None,
                replay=self.recording is not None)
        return self.models[name]

    def fixture_models(self) -> list[str]:
        """--harness-model; in replay mode the recording's models; else local/smollm2."""
        if self.settings.models:
            return list(self.settings.models)
        if self.recording is not None:
            recorded = list(dict.fromkeys(r.model for r in self.recording.log.results))
            if recorded:
                return recorded
        return [DEFAULT_FIXTURE_MODEL]

    def _current_item(self) -> pytest.Item | None:
        current = os.environ.get("PYTEST_CURRENT_TEST")
        if not current:
            return None
        nodeid = current.rsplit(" (", 1)[0]
        position = self.positions.get(nodeid)
        items = self.session.items if self.session is not None else []
        if position is None or position >= len(items):
            return None
        return items[position]

    def context(self) -> RecordContext | None:
        from harness.api import RecordContext

        item = self._current_item()
        if item is None:
            return None
        path, line, _ = item.location
        callspec = getattr(item, "callspec", None)
        model = callspec.params.get("harness_model") if callspec is not None else None
        tags = tuple(dict.fromkeys(m.name for m in item.iter_markers()
                                   if m.name not in RESERVED_MARKS))
        return RecordContext(suite=path.replace(os.sep, "/"), case_id=item.name,
                             source=f"{path}:{(line or 0) + 1}",
                             model=None if model is None else str(model), tags=tags)

    def record(self, result: CaseResult) -> None:
        key = (result.suite, result.case_id, result.model)
        seen = self.api_seen.get(key, 0) + 1
        self.api_seen[key] = seen
        if seen > 1:
            result = result.model_copy(update={"case_id": f"{result.case_id}#{seen}"})
        item = self._current_item()
        position = self.positions.get(item.nodeid, 0) if item is not None else 0
        self.reported.append(_Reported(position, seen, result))

    def recorded_answer(self, model: str,
                        messages: list[dict[str, str]]) -> CaseResult | None:
        if self.recording is None:
            return None
        if self._answers is None:
            self._answers = {}
            for r in self.recording.log.results:
                self._answers.setdefault((r.model, _messages_key(r.messages)), r)
        return self._answers.get((model, _messages_key(messages)))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session

    # -- the end of the session --------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", None) or {}
        if "harness" in output:
            self.worker_outputs.append(json.loads(output["harness"]))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.config.option.collectonly:
            return
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        if self.is_worker:
            log = self._own_log(interrupted)
            if log is not None:
                workeroutput: dict[str, Any] = self.config.workeroutput  # type: ignore[attr-defined]
                workeroutput["harness"] = json.dumps({
                    "log": json.loads(log.model_dump_json()),
                    "positions": self._positions()})
            return
        log = self._merged_log() if self.is_controller else self._own_log(interrupted)
        if log is None:
            return
        self.log = log.with_summary()
        self.written = self._write(self.log)
        if self.settings.baseline is not None:
            from harness.gate import compare

            self.gate = compare(_read_log(self.settings.baseline, "--harness-baseline"),
                                self.log)
            if not self.gate.passed and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _positions(self) -> list[int]:
        return [r.position for r in sorted(self.reported, key=lambda r: (r.position, r.seq))]

    def _own_log(self, interrupted: bool) -> RunLog | None:
        """This process's RunLog: every result it reported (and, in a run stopped early,
        every result it computed), in collection order."""
        if not self.suites and not self.reported:
            return None
        reported = sorted(self.reported, key=lambda r: (r.position, r.seq))
        results = [r.result for r in reported]
        if interrupted and not self.is_worker:
            done = {r.key for r in results}
            results += [r for r in self.results.values() if r is not None and r.key not in done]
        return self._build_log(results, list(self.suites.values()), interrupted)

    def _build_log(self, results: list[CaseResult], suites: list[LoadedSuite],
                   interrupted: bool) -> RunLog:
        from harness import __version__
        from harness.results import ModelInfo, RunLog, SuiteInfo
        from harness.session import new_run_id

        infos = [SuiteInfo(**s.summary()) for s in suites]
        known = {s.name for s in suites}
        infos += self._api_suites([r for r in results if r.suite not in known])
        models: dict[str, ModelInfo] = {}
        configs = {m.name: m for s in suites for m in self.models_for(s)}
        for r in results:
            config = configs.get(r.model)
            models.setdefault(r.model, ModelInfo(
                name=r.model, id=r.model_id, api_base=config.api_base if config else None))
        option = self.config.option
        selection = [f"-k {option.keyword}"] if option.keyword else []
        selection += [f"-m {option.markexpr}"] if option.markexpr else []
        return RunLog(
            run_id=self.prepared.run_id if self.prepared is not None else new_run_id(),
            harness_version=__version__,
            created_at=self.created_at,
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
            duration_s=round(time.monotonic() - self.started, 3),
            suites=infos,
            models=list(models.values()),
            settings={
                "status": "interrupted" if interrupted else "finished",
                "runner": "pytest",
                "planned": self.planned or None,
                "concurrency": self.settings.concurrency,
                "repeat": self.settings.repeat or 1,
                "cache": self.settings.cache,
                "replay": str(self.settings.replay) if self.settings.replay else None,
                "judges": self.settings.judges,
                "filters": selection,
            },
            results=results,
        )

    def _api_suites(self, results: list[CaseResult]) -> list[Any]:
        """A SuiteInfo per test module whose tests recorded results."""
        from harness.results import SuiteInfo

        cases: dict[str, set[str]] = {}
        for r in results:
            cases.setdefault(r.suite, set()).add(r.case_id)
        infos = []
        for name, ids in cases.items():
            try:
                digest = hashlib.sha256((self.config.rootpath / name).read_bytes())
                fingerprint = digest.hexdigest()[:16]
            except OSError:
                fingerprint = "unknown"
            infos.append(SuiteInfo(name=name, path=name, description=API_SUITE,
                                   fingerprint=fingerprint, cases=len(ids)))
        return infos

    def _merged_log(self) -> RunLog | None:
        """The controller's RunLog: the workers' logs joined, in collection order."""
        from harness.results import RunLog, merge_logs

        if not self.worker_outputs:
            return None
        logs = [RunLog.model_validate(o["log"]) for o in self.worker_outputs]
        positions = [p for o in self.worker_outputs for p in o["positions"]]
        merged = merge_logs(logs)
        order = sorted(range(len(merged.results)), key=lambda n: positions[n])
        results = [merged.results[n] for n in order]
        # A worker counts only the Python-API cases it ran; count them over all workers.
        api = {i.name: i for i in self._api_suites(results)}
        suites = [api.get(s.name, s) if s.description == API_SUITE else s
                  for s in merged.suites]
        interrupted = any(log.settings.get("status") == "interrupted" for log in logs)
        return logs[0].model_copy(update={
            "run_id": merged.run_id,
            "created_at": self.created_at,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "duration_s": round(time.monotonic() - self.started, 3),
            "suites": suites,
            "models": merged.models,
            "results": results,
            "settings": {**logs[0].settings,
                         "status": "interrupted" if interrupted else "finished",
                         "planned": sum(log.settings.get("planned") or 0 for log in logs)
                         or len(results),
                         "workers": len(logs), "merged_from": [log.run_id for log in logs]},
        })

    def _write(self, log: RunLog) -> tuple[Path, Path | None]:
        json_path = log.write(self.settings.report)
        if not self.settings.html:
            return json_path, None
        try:
            from harness.report.html import write_html

            html_path: Path | None = write_html(log, self.settings.report_html)
        except Exception as exc:  # a broken report must not hide the test results
            self._say(f"harness: could not write the HTML report: {type(exc).__name__}: {exc}")
            html_path = None
        return json_path, html_path

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.log is None:
            return
        tr = terminalreporter
        tr.write_sep("=", "harness")
        header = f"{'model':32} {'pass rate':>9} {'passed':>7} {'failed':>7} {'errors':>7}"
        tr.write_line(header)
        for model, row in self.log.summary["models"].items():
            rate = "—" if row["pass_rate"] is None else f"{row['pass_rate']:.0%}"
            tr.write_line(f"{model[:32]:32} {rate:>9} {row['passed']:>7} {row['failed']:>7} "
                          f"{row['errors']:>7}")
        if self.prompt_changed:
            tr.write_line(f"replay: {self.prompt_changed} case(s) have a different prompt "
                          "now than when their output was recorded")
        if self.written is not None:
            json_path, html_path = self.written
            tr.write_line(f"RunLog: {_shown(json_path)}")
            if html_path is not None:
                tr.write_line(f"report: {_shown(html_path)}")
        if self.gate is not None:
            lines = self.gate.lines()
            tr.write_line(lines[0], red=not self.gate.passed, green=self.gate.passed,
                          bold=True)
            for line in lines[1:]:
                tr.write_line(line)

    @pytest.hookimpl(tryfirst=True)
    def pytest_unconfigure(self) -> None:
        from harness import api

        api.set_recorder(self._previous_recorder)
        for model in self.models.values():
            model.close()
        if self.store is not None:
            self.store.close()
        # pytest collects garbage twice after this hook; thousands of results it no longer
        # needs would only make that slower.
        self.results.clear()
        self.reported.clear()
        self.recording = self.log = self._answers = None


def _messages_key(messages: Iterable[dict[str, str]]) -> str:
    return json.dumps([dict(m) for m in messages], sort_keys=True, ensure_ascii=False)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)

