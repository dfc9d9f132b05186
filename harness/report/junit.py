"""JUnit XML from a RunLog, for CI systems that show test results (GitHub, GitLab, Jenkins,
Azure, CircleCI all read it).

One ``<testsuite>`` per suite and one ``<testcase>`` per case × model (× repeat):
``classname`` is the suite, ``name`` is ``case_id[model]`` (``case_id[model][r2]`` for
repeat 2 when the run repeats cases). A failed result has one ``<failure>`` whose message
names the failed checks and whose text lists each one's reason; a provider error is an
``<error>`` typed by its kind. Latency, cost, tokens, the model string and the case's
source line are ``<property>`` elements; the output of a result that did not pass is in
``<system-out>``.

Model output, reasons and ids are untrusted. ElementTree escapes markup, and characters
that XML 1.0 cannot carry at all (control characters, lone surrogates), which it would
write as they are, are replaced by a visible ``\\x1b``-style escape first, so the file is
always well-formed. Personal data is masked as in the HTML report unless ``show_pii``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.results import CaseResult, RunLog, counted

__all__ = ["render_junit", "write_junit"]

_MESSAGE_LIMIT = 1000  # characters of the failure message attribute; the text has all
_OUTPUT_LIMIT = 20_000  # characters of output in <system-out>
# Everything XML 1.0 forbids (tab, newline and carriage return are allowed).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit:,} more)"


def _seconds(result: CaseResult) -> str:
    return f"{(result.latency_ms or 0.0) / 1000:.3f}"


def _test_name(result: CaseResult, repeated: bool) -> str:
    name = f"{result.label}[{result.model}]"
    return f"{name}[r{result.repeat}]" if repeated else name


def _properties(parent: ET.Element, values: dict[str, object]) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in values.items():
        if value is not None:
            ET.SubElement(props, "property", name=name, value=_clean(str(value)))


def _testcase(parent: ET.Element, r: CaseResult, repeated: bool) -> None:
    case = ET.SubElement(parent, "testcase", classname=_clean(r.suite),
                         name=_clean(_test_name(r, repeated)), time=_seconds(r))
    _properties(case, {
        "model_id": r.model_id,
        "repeat": r.repeat,
        "source": r.source or None,
        "latency_ms": None if r.latency_ms is None else f"{r.latency_ms:.0f}",
        "cost_usd": None if r.cost_usd is None else f"{r.cost_usd:.6f}",
        "prompt_tokens": r.usage.prompt_tokens,
        "completion_tokens": r.usage.completion_tokens,
        "cached": "true" if r.cached else None,
        "attempts": r.attempts,
        "failure_mode": r.failure_mode,
    })
    if r.error is not None:
        err = ET.SubElement(case, "error", type=_clean(r.error.kind),
                            message=_clean(_clip(r.error.message, _MESSAGE_LIMIT)))
        status = f" (HTTP {r.error.status})" if r.error.status else ""
        err.text = _clean(f"{r.error.kind}{status} after {r.error.attempts} attempt"
                          f"{'s' if r.error.attempts != 1 else ''}: {r.error.message}")
    elif r.status == "failed":
        failed = [c for c in r.checks if not c.passed]
        labels = [f"not {c.check}" if c.negate else c.check for c in failed]
        message = "; ".join(f"{label}: {c.reason}" for label, c in zip(labels, failed,
                                                                        strict=True))
        if r.failure_mode:
            message = f"[{r.failure_mode}] {message}"
        failure = ET.SubElement(
            case, "failure", type=_clean(", ".join(labels) or "failed"),
            message=_clean(_clip(message or "failed", _MESSAGE_LIMIT)))
        failure.text = _clean("\n".join(f"{label}: {c.reason}" for label, c in
                                        zip(labels, failed, strict=True)) or "failed")
    if r.status != "passed" and r.output:
        ET.SubElement(case, "system-out").text = _clean(_clip(r.output, _OUTPUT_LIMIT))


def render_junit(log: RunLog, *, show_pii: bool = False) -> str:
    """The JUnit XML document for ``log``, as text."""
    if not show_pii:
        from harness.report.masking import mask_log

        log = mask_log(log)
    # suites in the order of the log (one with no result still gets its <testsuite>)
    by_suite: dict[str, list[CaseResult]] = {s.name: [] for s in log.suites}
    # one test per planned case × model; shrink candidates are diagnostics (HTML, RunLog)
    planned = counted(log.results)
    for r in planned:
        by_suite.setdefault(r.suite, []).append(r)
    repeated = any(r.repeat > 0 for r in planned)
    root = ET.Element("testsuites", name=_clean(f"harness {log.run_id}"),
                      tests=str(len(planned)),
                      failures=str(sum(r.status == "failed" for r in planned)),
                      errors=str(sum(r.status == "error" for r in planned)),
                      time=f"{log.duration_s or 0.0:.3f}")
    for name, results in by_suite.items():
        suite = ET.SubElement(
            root, "testsuite", name=_clean(name), tests=str(len(results)),
            failures=str(sum(r.status == "failed" for r in results)),
            errors=str(sum(r.status == "error" for r in results)), skipped="0",
            time=f"{sum((r.latency_ms or 0.0) for r in results) / 1000:.3f}",
            timestamp=_clean(log.created_at))
        _properties(suite, {"run_id": log.run_id, "harness_version": log.harness_version})
        for r in results:
            _testcase(suite, r, repeated)
    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") \
        + "\n"


def write_junit(log: RunLog, path: str | Path, *, show_pii: bool = False) -> Path:
    """Write the JUnit XML of ``log`` to ``path`` (its folder is created) and return it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_junit(log, show_pii=show_pii), encoding="utf-8")
    return target
