"""Telling code written for a newer Python from code that is not Python at all.

Shunter's own engines (bandit, its Python rules, the tests stage) parse with the running
interpreter's ``ast``, which rejects syntax added after it: PEP 695 generics and ``type``
aliases (3.12), PEP 701 f-strings (3.12), ``except A, B:`` (3.14). A file that fails there
may still be valid Python for the version its project targets. ruff's parser knows every
version: asked to check such files against the running version, it names each construct
as "syntax was added in Python 3.X", and reports plain parse errors for code that is
invalid in every version. Only files that ``ast`` already rejected are asked about, so
the ruff run costs nothing on the usual pull request.

``downgrade`` rewrites the common constructs (type parameters and aliases, unparenthesized
exception lists) line for line, so bandit and the rules still read such a file;
``needs_newer_python`` reads a project's ``requires-python`` for the tests stage.
"""

from __future__ import annotations

import ast
import io
import os
import platform
import re
import subprocess
import sys
import tempfile
import tokenize
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import orjson
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from bot.engines.ruff_check import INVALID_SYNTAX, SYNTAX_ERROR, ruff_binary
from bot.errors import EngineError

RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
"""The Python whose ``ast`` Shunter's engines parse with."""
_ADDED = re.compile(
    r"^(?P<what>.+? on Python 3\.\d+) \(syntax was added in Python (?P<version>3\.(?P<minor>\d+))\)$"
)
_SUFFIXES = (".py", ".pyi", ".pyw")


@dataclass(frozen=True)
class NewerSyntax:
    """Valid Python of ``version``, which the running Python cannot parse."""

    version: str
    """The newest Python version whose syntax the file uses, e.g. ``3.12``."""
    line: int
    """Where the first construct of that version is."""
    what: str
    """ruff's words for it, e.g. ``Cannot use type parameter lists on Python 3.11``."""

    def describe(self, name: str) -> str:
        """``name`` (already quoted) uses Python 3.X syntax the running Python cannot parse."""
        return (
            f"{name} uses Python {self.version} syntax that Shunter's Python {RUNNING} cannot parse "
            f"(line {self.line}: {self.what})"
        )


def newer_syntax(sources: Mapping[str, bytes | str], *, timeout: float = 20.0) -> dict[str, NewerSyntax]:
    """Of ``sources`` (path to content), the files that are valid Python of a later version
    than the running one. A file absent from the answer is invalid in every version, or
    could not be judged (ruff missing, failing or timing out): callers then say only that
    it could not be parsed, as before."""
    if not sources:
        return {}
    try:
        binary = ruff_binary()
    except EngineError:
        return {}
    names: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="shunter-syntax-") as scratch:
        root = Path(scratch)
        for index, (path, content) in enumerate(sources.items()):
            suffix = PurePosixPath(path).suffix
            name = f"f{index}{suffix if suffix in _SUFFIXES else '.py'}"
            data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
            (root / name).write_bytes(data)
            names[name] = path
        command = [
            binary,
            "check",
            "--isolated",
            "--no-cache",
            "--ignore",
            "ALL",
            "--target-version",
            f"py3{sys.version_info.minor}",
            "--output-format",
            "json",
            "--exit-zero",
            "--",
            *names,
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": scratch, "XDG_CONFIG_HOME": scratch}
        try:
            done = subprocess.run(
                command, cwd=root, env=env, capture_output=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return {}
    if done.returncode != 0:
        return {}
    try:
        diagnostics = orjson.loads(done.stdout)
    except orjson.JSONDecodeError:
        return {}
    return _verdicts(diagnostics if isinstance(diagnostics, list) else [], names)


def _verdicts(diagnostics: list[object], names: Mapping[str, str]) -> dict[str, NewerSyntax]:
    newer: dict[str, NewerSyntax] = {}
    invalid: set[str] = set()
    for item in diagnostics:
        if not isinstance(item, dict) or item.get("code") not in (INVALID_SYNTAX, SYNTAX_ERROR, None):
            continue
        path = names.get(PurePosixPath(str(item.get("filename", ""))).name)
        if path is None:
            continue
        found = _ADDED.match(str(item.get("message", "")))
        if found is None:
            invalid.add(path)  # an error no Python version accepts
            continue
        location = item.get("location")
        line = location.get("row", 0) if isinstance(location, dict) else 0
        here = NewerSyntax(found["version"], int(line), found["what"])
        seen = newer.get(path)
        if seen is None or int(found["minor"]) > int(seen.version.split(".")[1]):
            newer[path] = here
    return {path: found for path, found in newer.items() if path not in invalid}


def requires_python(pyproject: bytes) -> str | None:
    """A ``pyproject.toml``'s ``[project] requires-python``, or None (absent, unreadable)."""
    try:
        project = tomllib.loads(pyproject.decode("utf-8")).get("project")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    found = project.get("requires-python") if isinstance(project, dict) else None
    return found.strip() if isinstance(found, str) and found.strip() else None


def needs_newer_python(requires: str) -> bool:
    """``requires`` (a ``requires-python`` specifier) leaves out the running Python and
    admits a later minor version: the project's code and dependencies are for that
    Python, which pip would not install here. A project that caps the version below the
    running one is not counted, nor one asking for a later patch release: its code may
    still run."""
    try:
        spec = SpecifierSet(requires)
    except InvalidSpecifier:
        return False
    minor = sys.version_info.minor
    if any(spec.contains(v, prereleases=True) for v in (platform.python_version(), f"3.{minor}.99")):
        return False  # the running minor version will do, if not this very release
    return any(
        spec.contains(f"3.{later}.{patch}", prereleases=True)
        for later in range(minor + 1, minor + 12)
        for patch in (0, 99)
    )


def downgrade(text: str) -> str | None:
    """``text`` rewritten for the running Python, line for line, where only syntax a later
    one added keeps it from parsing: type parameter lists (``def f[T]``, ``class C[T]``)
    blanked, ``type X = ...`` made ``X = ...``, ``except A, B:`` given its parentheses.
    What bandit and the rules look for (calls, imports, strings) is untouched, and every
    finding keeps its line. None when the text needs no rewriting, or still does not parse
    (a 3.12 f-string, a syntax error)."""
    try:
        tokens = [
            t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type != tokenize.COMMENT
        ]
    except (tokenize.TokenError, SyntaxError):
        return None
    edits: list[tuple[int, int, int, str]] = []  # row, start column, end column, new text
    for index, token in enumerate(tokens):
        if token.type != tokenize.NAME:
            continue
        after = tokens[index + 1 : index + 3]
        if token.string in ("def", "class") and len(after) == 2 and after[1].string == "[":
            edits += _blank(tokens, index + 2)
        elif token.string == "type" and _alias(tokens, index):
            name = tokens[index + 1]
            if name.start[0] == token.start[0]:
                width = name.end[1] - token.start[1]
                edits.append((token.start[0], token.start[1], name.end[1], name.string.ljust(width)))
                if tokens[index + 2].string == "[":
                    edits += _blank(tokens, index + 2)
        elif token.string == "except":
            star = bool(after) and after[0].string == "*"  # except* A, B:
            edits += _parenthesize(tokens, index + 1 + int(star))
    if not edits:
        return None
    lines = text.splitlines(keepends=True)
    for row, start, end, new in sorted(edits, reverse=True):
        if row > len(lines):
            return None
        lines[row - 1] = lines[row - 1][:start] + new + lines[row - 1][end:]
    out = "".join(lines)
    try:
        ast.parse(out)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return out


_STATEMENT_START = frozenset(
    {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}
)


def _alias(tokens: list[tokenize.TokenInfo], index: int) -> bool:
    """``type`` at ``index`` starts a ``type X = ...`` (or ``type X[T] = ...``) statement."""
    before = tokens[index - 1] if index else None
    if before is not None and before.type not in _STATEMENT_START and before.string != ";":
        return False
    following = tokens[index + 1 : index + 3]
    return len(following) == 2 and following[0].type == tokenize.NAME and following[1].string in ("=", "[")


def _closing(tokens: list[tokenize.TokenInfo], index: int) -> int | None:
    """Where the bracket opened at ``index`` closes."""
    depth = 0
    for at in range(index, len(tokens)):
        if tokens[at].type != tokenize.OP:
            continue
        if tokens[at].string in "([{":
            depth += 1
        elif tokens[at].string in ")]}":
            depth -= 1
            if depth == 0:
                return at
    return None


def _blank(tokens: list[tokenize.TokenInfo], index: int) -> list[tuple[int, int, int, str]]:
    """Spaces over the one-line bracket opened at ``index`` (a type parameter list)."""
    end = _closing(tokens, index)
    if end is None or tokens[end].start[0] != tokens[index].start[0]:
        return []  # over several lines: left as it is, so the text does not parse
    row, start, stop = tokens[index].start[0], tokens[index].start[1], tokens[end].end[1]
    return [(row, start, stop, " " * (stop - start))]


def _parenthesize(tokens: list[tokenize.TokenInfo], index: int) -> list[tuple[int, int, int, str]]:
    """``except A, B:`` as ``except (A, B):``: the types from ``index`` to the colon."""
    depth, comma = 0, False
    for at in range(index, len(tokens)):
        token = tokens[at]
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        elif token.type == tokenize.OP and depth == 0 and token.string == ",":
            comma = True
        elif depth == 0 and (token.string == ":" or token.type == tokenize.NEWLINE):
            first = tokens[index]
            if not comma or at == index or token.string != ":" or first.start[0] != token.start[0]:
                return []
            row = first.start[0]
            return [(row, token.start[1], token.start[1], ")"), (row, first.start[1], first.start[1], "(")]
    return []
