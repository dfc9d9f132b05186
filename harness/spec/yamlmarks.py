"""YAML loading that remembers the line of every key and item.

The loader builds plain Python values and, beside them, a map from each value's path
(a tuple of dict keys and list indices) to its 1-based line, so any later error,
including pydantic's ``loc`` tuples, can be pointed at a line of the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Marked:
    """A loaded YAML document and the line of every node in it."""

    data: Any
    lines: dict[Path, int]

    def line_for(self, loc: Path) -> int | None:
        """The line of ``loc``, or of its nearest ancestor that has one."""
        probe = tuple(loc)
        while True:
            if probe in self.lines:
                return self.lines[probe]
            if not probe:
                return None
            probe = probe[:-1]


class YamlProblem(Exception):
    """A YAML syntax or structure problem, with the line it happened at."""

    def __init__(self, message: str, line: int | None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.hint = hint


class _Loader(yaml.SafeLoader):
    """SafeLoader; a separate class so our changes never leak into PyYAML's defaults."""


# libyaml parses about 7x faster than PyYAML's pure-Python parser (a 1,000-case suite:
# 0.08 s instead of 0.56 s) and builds the same nodes with the same marks. It is used
# for documents it accepts; anything it rejects is parsed again by the pure-Python
# loader, whose error messages (and its refusal of control characters) are the ones
# suite authors see.
_FastLoader: type[Any] | None = None
if getattr(yaml, "__with_libyaml__", False):
    class _CLoader(yaml.CSafeLoader):
        """CSafeLoader, kept apart from PyYAML's defaults like _Loader."""

    _FastLoader = _CLoader


def _scalar(loader: _Loader, node: yaml.ScalarNode) -> Any:
    return loader.construct_object(node, deep=True)


def _build(loader: _Loader, node: yaml.Node, path: Path, lines: dict[Path, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolve YAML merge keys (<<) first
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(loader, key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if key is None or isinstance(key, (list, dict)):
                raise YamlProblem(
                    "a mapping key must be a plain value (text or number)",
                    key_node.start_mark.line + 1,
                )
            if not isinstance(key, (str, int, float, bool)):
                key = str(key)
            if key in out:
                raise YamlProblem(
                    f"duplicate key {key!r}",
                    key_node.start_mark.line + 1,
                    "each key may appear once in a mapping; remove or rename one of them",
                )
            child: Path = (*path, key if isinstance(key, (str, int)) else str(key))
            out[key] = _build(loader, value_node, child, lines)
            # A key's line is where the key is written, not where its value starts.
            lines[child] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), lines) for i, item in enumerate(node.value)]
    return _scalar(loader, node)  # type: ignore[arg-type]


def load_marked(text: str) -> Marked:
    """Parse one YAML document, keeping the line of every node.

    Raises YamlProblem (never a PyYAML exception) for anything that is not valid YAML.
    """
    if _FastLoader is not None and not yaml.reader.Reader.NON_PRINTABLE.search(text):
        fast = _FastLoader(text)
        try:
            node = fast.get_single_node()
            if node is None:
                return Marked(None, {})
            lines_fast: dict[Path, int] = {}
            return Marked(_build(fast, node, (), lines_fast), lines_fast)
        except YamlProblem:
            raise  # found in the nodes, which both parsers build alike
        except Exception:  # any parse problem: explained by the pure-Python loader below
            pass
        finally:
            fast.dispose()
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader rejects control characters (NUL, ...) here
        node = loader.get_single_node()
        if node is None:
            return Marked(None, {})
        lines: dict[Path, int] = {}
        data = _build(loader, node, (), lines)
        return Marked(data, lines)
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        if exc.context_mark is not None and (mark is None or mark.index >= len(text)):
            # "the file ended": point at what was left open (a quote, a bracket)
            mark = exc.context_mark
            what = f"{exc.context}, {what}" if exc.context else what
        line = min(mark.line + 1, _last_line(text)) if mark is not None else None
        raise YamlProblem(
            f"invalid YAML: {what}",
            line,
            "check indentation, quoting and that every ':' in a value is quoted",
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise YamlProblem(
            f"invalid YAML: the control character U+{exc.character:04X} is not allowed",
            line,
            "remove control characters; save the suite as plain UTF-8 text",
        ) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"invalid YAML: {exc}", None) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # e.g. a timestamp PyYAML cannot build, or absurd nesting
        raise YamlProblem(f"invalid YAML value: {exc}", None) from None
    finally:
        if loader is not None:
            loader.dispose()


def _last_line(text: str) -> int:
    # PyYAML counts a mark after the final newline as one more line; no editor shows it.
    return max(1, len(text.splitlines()))
