"""Where the parts of a Jupyter notebook sit among the lines of its JSON file.

GitHub shows, diffs and comments on a notebook as the raw lines of its ``.ipynb`` JSON,
while ruff reports a notebook's findings by cell and by row inside the cell's source, and
most of the file is not code at all: execution outputs (base64 images, PDFs, tables),
widget state and metadata. These pure functions read the JSON text once, token by token,
and say which file line holds each string and where it sits in the document, so that a
finding can be placed on the JSON line that holds its source line, and a scanner can tell
a cell's code from the data a kernel wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import NamedTuple

import orjson

NOTEBOOK_SUFFIX = ".ipynb"

# a JSON string (no raw line break can sit in one), a punctuation mark, or a bare literal
# (the string's loop unrolled: an alternation per character crawls over a base64 figure)
_TOKEN = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')

Key = str | int


def is_notebook(path: str) -> bool:
    return path.endswith(NOTEBOOK_SUFFIX)


class JsonString(NamedTuple):
    """A string of the document: ``where`` is the keys and indexes leading to it (a key's
    own ``where`` ends with the key), ``line`` the 1-based file line it starts on."""

    where: tuple[Key, ...]
    line: int
    value: str
    key: bool = False


@lru_cache(maxsize=8)
def json_strings(text: str) -> tuple[JsonString, ...] | None:
    """Every string of the JSON document ``text``, keys included, in file order; None when
    ``text`` is not a JSON object (a broken or half-merged notebook). Cached: the review
    stage asks for a notebook's layout for ruff, the TODO rule and the PR's size."""
    try:
        return tuple(_walk(text))
    except (ValueError, IndexError, orjson.JSONDecodeError):
        return None


def _walk(text: str) -> Iterator[JsonString]:
    keys: list[Key | None] = []  # per open container: the key or index now inside it
    objects: list[bool] = []  # per open container: an object (else an array)
    expecting: list[bool] = []  # per open container: its next string is a key
    line, at = 1, 0
    for match in _TOKEN.finditer(text):
        piece = match.group()
        first = piece[0]
        if first == '"':
            if not keys:
                raise ValueError("a string outside a container")
            start = match.start()
            line += text.count("\n", at, start)
            at = start
            value = piece[1:-1] if "\\" not in piece else orjson.loads(piece)
            key = expecting[-1]
            if key:
                keys[-1] = value
            yield JsonString(tuple(keys), line, value, key)  # type: ignore[arg-type]
        elif first == "{" or first == "[":
            keys.append(None if first == "{" else 0)
            objects.append(first == "{")
            expecting.append(first == "{")
        elif first == "}" or first == "]":
            if not objects or objects[-1] != (first == "}"):
                raise ValueError(f"unmatched {first!r}")
            keys.pop()
            objects.pop()
            expecting.pop()
        elif first == ":":
            if not objects or not objects[-1]:
                raise ValueError("':' outside an object")
            expecting[-1] = False
        elif first == ",":
            if not objects:
                raise ValueError("',' outside a container")
            if objects[-1]:
                expecting[-1] = True
            else:
                keys[-1] = int(keys[-1] or 0) + 1
    if keys or not text.lstrip("\ufeff \t\r\n").startswith("{"):
        raise ValueError("not one JSON object")


def source_lines(strings: Sequence[JsonString]) -> dict[int, list[int]]:
    """For each cell (numbered from 1 among all cells, as ruff numbers them), the file line
    holding each row of its source: ``[cell][row - 1]``.

    nbformat writes a source as a list of strings, one per row, each on its own line; a
    source written as one string (or a compact file) puts many rows on one file line.
    """
    out: dict[int, list[int]] = {}
    starting: dict[int, bool] = {}
    for s in strings:
        where = s.where
        if s.key or len(where) < 3 or where[0] != "cells" or where[2] != "source":
            continue
        if not isinstance(where[1], int):
            continue
        if len(where) == 3 or (len(where) == 4 and isinstance(where[3], int)):
            cell = where[1] + 1
            rows = out.setdefault(cell, [])
            pieces = s.value.split("\n")
            for k, piece in enumerate(pieces):
                if k:
                    starting[cell] = True  # the row before ended here
                if starting.get(cell, True) and (piece or k < len(pieces) - 1):
                    rows.append(s.line)
                    starting[cell] = False
    return out


def code_lines(strings: Sequence[JsonString]) -> frozenset[int]:
    """The file lines holding a cell's source (code or markdown): what a person wrote, as
    opposed to outputs, attachments, ids and metadata, which a kernel or an editor wrote."""
    return frozenset(
        s.line
        for s in strings
        if not s.key and len(s.where) >= 3 and s.where[0] == "cells" and s.where[2] == "source"
    )


def data_lines(strings: Sequence[JsonString]) -> frozenset[int]:
    """The file lines holding only strings no person wrote: outputs (images, PDFs, HTML,
    streams), attachments, ids and metadata such as widget state."""
    return frozenset(s.line for s in strings) - code_lines(strings)


def code_text(strings: Sequence[JsonString]) -> str:
    """The code cells' sources, one after another: what an import scan should read."""
    cells: dict[int, list[str]] = {}
    kinds: dict[int, str] = {}
    for s in strings:
        where = s.where
        if not s.key and len(where) >= 3 and where[0] == "cells" and isinstance(where[1], int):
            if where[2] == "source" and len(where) in (3, 4):
                cells.setdefault(where[1], []).append(s.value)
            elif where[2] == "cell_type" and len(where) == 3:
                kinds[where[1]] = s.value
    return "\n".join("".join(parts) for cell, parts in cells.items() if kinds.get(cell) == "code")


def readable_lines(strings: Sequence[JsonString]) -> dict[int, str]:
    """For each file line that holds only string values (a source row, an output's line),
    those values as the cell or the output has them: the JSON escapes its quotes, and
    ``KEY = \\"value\\"`` is not the ``KEY = "value"`` a secret scanner knows. Lines with
    a key keep their JSON text (``"password": "..."`` reads well as it is)."""
    values: dict[int, list[str]] = {}
    keyed: set[int] = set()
    for s in strings:
        if s.key:
            keyed.add(s.line)
        else:
            values.setdefault(s.line, []).append(s.value.rstrip("\r\n").replace("\r", " ").replace("\n", " "))
    return {line: " ".join(parts) for line, parts in values.items() if line not in keyed}
