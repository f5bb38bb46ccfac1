"""Safe, position-aware YAML parsing for ``.github/shunter.yml`` and the presets.

Config files come from repositories we do not control, so the parser builds plain Python
data straight from ruamel.yaml's *event stream* instead of using a constructor:

- no tags: nothing but maps, lists, strings, numbers, booleans and null can be built, so no
  tag can ever construct an object (``!!python/object`` and friends are simply errors);
- the event loop is iterative, so nesting is checked as it grows and a deeply nested file
  is refused at the depth limit instead of exhausting the stack later;
- aliases are counted by the size of what they expand to, so an alias/anchor "billion
  laughs" bomb is refused after a bounded amount of work;
- files over :data:`MAX_BYTES` are refused before any parsing.

YAML 1.2 rules apply (ruamel.yaml's default): ``on``, ``yes`` and ``no`` are strings, which
matters because ``on:`` is a key of every stage. Every key and value keeps its line and
column so schema errors can be reported at ``file:line:col``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.nodes import ScalarNode

from bot.errors import ConfigError

MAX_BYTES = 256 * 1024
MAX_DEPTH = 16
"""The schema is at most 5 levels deep; 16 leaves room for odd-but-valid layouts."""
MAX_NODES = 20_000
"""Total values after expanding aliases; a real config has a few hundred."""

Path = tuple[str | int, ...]
_CORE = "tag:yaml.org,2002:"
_CONSTRUCTED = {f"{_CORE}int", f"{_CORE}float", f"{_CORE}bool", f"{_CORE}null"}


@dataclass(frozen=True)
class Position:
    """1-based line and column of a key (for unknown keys) and of its value."""

    key_line: int
    key_column: int
    line: int
    column: int


@dataclass
class YamlDocument:
    """The parsed data plus where every key and value sits in the file."""

    data: Any
    positions: dict[Path, Position] = field(default_factory=dict)

    def locate(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Line and column for ``path``, or of its deepest known ancestor.

        Paths inside an aliased value point at the alias, and error locations that name
        fields the file never wrote (pydantic's ``loc`` may) point at the nearest parent.
        """
        probe = tuple(path)
        while probe:
            pos = self.positions.get(probe)
            if pos is not None:
                return (pos.key_line, pos.key_column) if key else (pos.line, pos.column)
            probe = probe[:-1]
        return self.positions.get((), Position(1, 1, 1, 1)).line, 1


class _Budget:
    def __init__(self, path: str) -> None:
        self.path = path
        self.nodes = 0

    def spend(self, count: int, line: int, column: int) -> None:
        self.nodes += count
        if self.nodes > MAX_NODES:
            raise _fail(
                self.path,
                line,
                column,
                f"the document holds more than {MAX_NODES} values (aliases counted expanded);"
                " refusing it as a possible alias bomb",
            )


def _fail(path: str, line: int, column: int, message: str) -> ConfigError:
    return ConfigError(f"{path}:{line}:{column}: {message}", [(line, column, message)], path=path)


@dataclass
class _Frame:
    """A mapping or sequence being built."""

    container: dict[str, Any] | list[Any]
    path: Path
    anchor: str | None
    nodes: int = 1
    pending_key: str | None = None
    key_pos: tuple[int, int] = (1, 1)
    keys: dict[str, tuple[int, int]] = field(default_factory=dict)


def parse_yaml(content: bytes | str, *, path: str = ".github/shunter.yml") -> YamlDocument:
    """Parse one YAML document into plain data with positions, or raise ``ConfigError``.

    The error's ``problems`` hold one ``(line, column, message)`` triple (1-based). An empty
    file is an empty mapping: a config that only relies on the defaults.
    """
    if isinstance(content, bytes):
        if len(content) > MAX_BYTES:
            raise _fail(path, 1, 1, f"the file is {len(content)} bytes; the limit is {MAX_BYTES}")
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _fail(path, 1, 1, f"the file is not UTF-8 text ({exc.reason})") from None
    else:
        text = content
        if len(text.encode("utf-8")) > MAX_BYTES:
            raise _fail(path, 1, 1, f"the file is larger than the limit of {MAX_BYTES} bytes")
    try:
        return _build(text, path)
    except ConfigError:
        raise
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        parts = [p for p in (exc.context, exc.problem) if p]
        message = "invalid YAML: " + ("; ".join(parts) if parts else "cannot parse")
        raise _fail(path, line, column, message) from None
    except YAMLError as exc:
        raise _fail(path, 1, 1, f"invalid YAML: {exc}") from None
    except RecursionError:  # pragma: no cover - the depth check runs first
        raise _fail(path, 1, 1, "the document is nested too deeply") from None
    except (ValueError, OverflowError) as exc:  # a backstop: bad content never escapes
        raise _fail(path, 1, 1, f"invalid YAML: {str(exc)[:200]}") from None


def _events(text: str) -> Iterator[Event]:
    yaml = YAML(typ="safe", pure=True)
    return yaml.parse(text)  # type: ignore[no-any-return]


def _scalar(event: ScalarEvent, path: str, constructor: SafeConstructor, resolver: Any) -> Any:
    tag = str(event.ctag) if event.ctag is not None else None
    if tag not in (None, "!", f"{_CORE}str"):
        tag = tag.replace(_CORE, "!!")
        line, column = event.start_mark.line + 1, event.start_mark.column + 1
        raise _fail(
            path,
            line,
            column,
            f"YAML tags are not allowed here ({tag}); write a plain value, quoted if needed",
        )
    if tag == f"{_CORE}str":
        return event.value
    resolved = str(resolver.resolve(ScalarNode, event.value, event.implicit))
    if resolved in _CONSTRUCTED:
        node = ScalarNode(resolved, event.value, event.start_mark, event.end_mark)
        try:
            return constructor.construct_object(node, deep=True)
        except (ValueError, OverflowError):
            # YAML 1.2's patterns accept what Python cannot build: `0x_`, a 5000-digit int
            line, column = event.start_mark.line + 1, event.start_mark.column + 1
            shown = event.value if len(event.value) <= 40 else event.value[:37] + "..."
            raise _fail(path, line, column, f"{shown!r} is not a number Shunter can read") from None
    return event.value  # strings, and timestamps kept as the text the user wrote


def _build(text: str, path: str) -> YamlDocument:
    yaml = YAML(typ="safe", pure=True)
    resolver = yaml.resolver
    constructor = SafeConstructor(loader=yaml)
    positions: dict[Path, Position] = {}
    anchors: dict[str, tuple[Any, int]] = {}
    budget = _Budget(path)
    stack: list[_Frame] = []
    root: Any = None
    documents = 0

    def here(event: Event) -> tuple[int, int]:
        return event.start_mark.line + 1, event.start_mark.column + 1

    def child_path() -> Path:
        frame = stack[-1]
        if isinstance(frame.container, list):
            return (*frame.path, len(frame.container))
        assert frame.pending_key is not None
        return (*frame.path, frame.pending_key)

    def place(value: Any, nodes: int, event: Event) -> None:
        """Attach a finished value to its parent (or make it the root)."""
        nonlocal root
        line, column = here(event)
        if not stack:
            root = value
            positions[()] = Position(line, column, line, column)
            return
        frame = stack[-1]
        frame.nodes += nodes
        if isinstance(frame.container, list):
            positions[child_path()] = Position(line, column, line, column)
            frame.container.append(value)
            return
        if frame.pending_key is None:
            if isinstance(value, dict | list):
                raise _fail(path, line, column, "complex (mapping or list) keys are not allowed")
            if not isinstance(value, str):
                raise _fail(
                    path,
                    line,
                    column,
                    f"keys must be text; quote {value!r} to use it as a key",
                )
            if value in frame.keys:
                first = frame.keys[value]
                raise _fail(
                    path,
                    line,
                    column,
                    f"duplicate key '{value}' (first defined at line {first[0]})",
                )
            frame.keys[value] = (line, column)
            frame.pending_key = value
            frame.key_pos = (line, column)
            return
        key_line, key_column = frame.key_pos
        positions[child_path()] = Position(key_line, key_column, line, column)
        assert isinstance(frame.container, dict)
        frame.container[frame.pending_key] = value
        frame.pending_key = None

    for event in _events(text):
        if isinstance(event, DocumentStartEvent):
            documents += 1
            if documents > 1:
                line, column = here(event)
                raise _fail(path, line, column, "only one YAML document is allowed per file")
        elif isinstance(event, MappingStartEvent | SequenceStartEvent):
            line, column = here(event)
            tag = str(event.ctag) if event.ctag is not None else None
            if tag not in (None, "!", f"{_CORE}map", f"{_CORE}seq"):
                short = str(tag).replace(_CORE, "!!")
                raise _fail(path, line, column, f"YAML tags are not allowed here ({short})")
            if len(stack) >= MAX_DEPTH:
                raise _fail(path, line, column, f"the document is nested deeper than {MAX_DEPTH} levels")
            budget.spend(1, line, column)
            if stack and isinstance(stack[-1].container, dict) and stack[-1].pending_key is None:
                raise _fail(path, line, column, "complex (mapping or list) keys are not allowed")
            own_path = child_path() if stack else ()
            if stack:
                # where the container starts (its key's position when it is a mapping value)
                frame = stack[-1]
                key_line, key_column = frame.key_pos if isinstance(frame.container, dict) else (line, column)
                positions[own_path] = Position(key_line, key_column, line, column)
            container: dict[str, Any] | list[Any] = {} if isinstance(event, MappingStartEvent) else []
            stack.append(_Frame(container, own_path, event.anchor, key_pos=(line, column)))
        elif isinstance(event, MappingEndEvent | SequenceEndEvent):
            frame = stack.pop()
            start = positions.get(frame.path)
            if frame.anchor is not None:
                anchors[frame.anchor] = (frame.container, frame.nodes)
            _place_container(frame, start, stack, positions, place, event)
        elif isinstance(event, ScalarEvent):
            line, column = here(event)
            budget.spend(1, line, column)
            value = _scalar(event, path, constructor, resolver)
            if event.anchor is not None:
                anchors[event.anchor] = (value, 1)
            place(value, 1, event)
        elif isinstance(event, AliasEvent):
            line, column = here(event)
            if event.anchor not in anchors:
                raise _fail(
                    path,
                    line,
                    column,
                    f"alias '*{event.anchor}' does not refer to a complete anchor defined"
                    " before it (recursive aliases are not allowed)",
                )
            value, nodes = anchors[event.anchor]
            budget.spend(nodes, line, column)
            place(copy.deepcopy(value), nodes, event)
    if root is None:
        root = {}
    if not isinstance(root, dict):
        raise _fail(path, 1, 1, f"the file must be a mapping of settings, not a {type(root).__name__}")
    return YamlDocument(root, positions)


def _place_container(
    frame: _Frame,
    start: Position | None,
    stack: list[_Frame],
    positions: dict[Path, Position],
    place: Any,
    event: Event,
) -> None:
    """Attach a closed container, keeping the position of where it *started*."""
    if not stack:
        place(frame.container, frame.nodes, event)
        positions[()] = start or Position(1, 1, 1, 1)
        return
    parent = stack[-1]
    parent.nodes += frame.nodes
    if isinstance(parent.container, list):
        parent.container.append(frame.container)
    else:
        assert parent.pending_key is not None
        parent.container[parent.pending_key] = frame.container
        parent.pending_key = None
    if start is not None:
        positions[frame.path] = start
