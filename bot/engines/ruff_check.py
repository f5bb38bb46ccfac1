"""Running ruff on a materialised subset of a tree, and turning its safe fixes into diffs.

The shell part (``run_ruff``) runs the installed ruff binary with a scrubbed environment on
files a stage wrote to its scratch dir. Everything else is pure: parsing ruff's JSON,
applying fix edits to text, and building unified diffs and one-hunk suggestions.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import hashlib
import os
import posixpath
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import accumulate
from pathlib import Path, PurePosixPath
from typing import Any

import orjson
import pygit2

from bot.engines.line_breaks import has_lone_cr
from bot.errors import EngineError
from bot.models import Severity

CONFIG_NAMES = ("pyproject.toml", "ruff.toml", ".ruff.toml")
_INDEX_MODE = re.compile(r"^(index [0-9a-f]+\.\.[0-9a-f]+) \d{6}$", re.MULTILINE)
_INDEX_LINE = re.compile(r"^index [0-9a-f]+\.\.[0-9a-f]+$", re.MULTILINE)
SYNTAX_ERROR = "syntax-error"
# flake8's "stop the build" selection: code that cannot run or names that do not exist
_ERROR_PREFIXES = ("E9", "F63", "F7", "F82")


@dataclass(frozen=True)
class Edit:
    """Replace the text from (row, col) to (end_row, end_col), 1-based character columns."""

    row: int
    col: int
    end_row: int
    end_col: int
    content: str


@dataclass(frozen=True)
class Fix:
    applicability: str
    """``safe``, ``unsafe`` or ``display-only``, as ruff rates it."""
    message: str | None
    edits: tuple[Edit, ...]

    @property
    def safe(self) -> bool:
        return self.applicability == "safe" and bool(self.edits)


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    path: str
    """Relative to the root ruff ran in, POSIX separators (the repository path)."""
    row: int
    col: int
    end_row: int
    end_col: int
    fix: Fix | None = None
    url: str | None = None


def ruff_binary() -> str:
    """The ruff beside this interpreter, the one the ``ruff`` package ships, or on PATH."""
    beside = Path(sys.executable).with_name("ruff")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    try:
        from ruff.__main__ import find_ruff_bin

        return str(find_ruff_bin())
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("ruff")
    if found is None:
        raise EngineError("ruff is not installed", hint="pip install ruff")
    return found


def config_paths_for(paths: Iterable[str]) -> list[str]:
    """Every place a ruff config could sit for these files: their directories and ancestors."""
    dirs: set[PurePosixPath] = set()
    seen: set[str] = set()
    for path in paths:
        folder = posixpath.dirname(path)
        if folder in seen:
            continue  # its ancestors are in too
        seen.add(folder)
        parent = PurePosixPath(path).parent
        while True:
            dirs.add(parent)
            if parent == parent.parent:
                break
            parent = parent.parent
    return sorted(
        str(PurePosixPath(d) / name) if str(d) != "." else name for d in dirs for name in CONFIG_NAMES
    )


@dataclass
class Extends:
    """Where ruff configs point with ``extend``: inside the repository, or outside it."""

    inside: list[str]
    outside: list[str]
    """Configs whose ``extend`` leaves the repository (absolute, ``..``, ``~`` or ``$VAR``)."""
    unreadable: list[str] = field(default_factory=list)
    """Configs that may say ``extend`` but are not UTF-8 TOML 1.0 (Python's ``tomllib``):
    ruff's parser accepts more (TOML 1.1), so where they point cannot be checked."""


def config_extends(configs: Mapping[str, bytes]) -> Extends:
    """Follow ``extend`` in the given ruff configs (path to content).

    A PR controls these files, and ruff would read whatever path they name and quote it in
    its parse errors, so a config reaching outside the repository must not be used at all.
    """
    found = Extends([], [])
    for config, raw in configs.items():
        try:
            # universal newlines, as reading the file in text mode would give
            text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
        except UnicodeDecodeError:
            found.unreadable.append(config)
            continue
        if not _may_extend(text):
            continue
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            found.unreadable.append(config)  # never hand ruff a config we could not check
            continue
        if posixpath.basename(config) == "pyproject.toml":
            data = data.get("tool", {}).get("ruff", {})
        target = data.get("extend") if isinstance(data, dict) else None
        if not isinstance(target, str):
            continue
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(config), target))
        if (
            joined == ".."
            or joined.startswith("../")
            or posixpath.isabs(target)
            or target.startswith("~")
            or "$" in target
        ):
            found.outside.append(config)
        else:
            found.inside.append(joined)
    return found


# an ``extend`` key, bare, quoted or last in a dotted key, followed by its ``=``
_EXTEND_KEY = re.compile(r"extend[\"']?\s*=")


def _may_extend(text: str) -> bool:
    """False when no TOML key in ``text`` can be ``extend``, so parsing can be skipped.

    A key is written on one line before its ``=``; only a basic-string key with a unicode
    escape could spell the word otherwise, so any such escape means "parse it".
    """
    return bool(_EXTEND_KEY.search(text)) or "\\u" in text or "\\U" in text


_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+([A-Za-z_][\w.]*)[ \t]+import\b"
    r"|import[ \t]+([A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*))",
    re.MULTILINE,
)


# line breaks ``str.splitlines`` honours besides "\n"; a text without them can be cut at "\n"
_OTHER_BREAKS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
_RUFF_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def ruff_lines(text: str) -> list[str]:
    """``text`` cut where ruff (and Python's tokenizer) cuts lines, at ``\n``, ``\r\n`` and
    ``\r`` only, ends kept: the rows of ruff's edits are these lines.

    ``str.splitlines`` also cuts at a form feed, U+0085, U+2028 and others, which Python
    source may hold (a ^L page break between sections, such a character in a string or a
    comment); cut that way, every row below one pointed at another line, and the fix patch
    rewrote the wrong text."""
    if only_newlines(text):
        return text.splitlines(keepends=True)
    return _RUFF_LINE.findall(text)


def row_lines(text: str) -> list[int] | None:
    """The diff's line (``line_breaks.diff_lines``) of each of ruff's rows, by row - 1;
    None when they are the same, as they are unless ``text`` holds a lone ``\\r`` (an old
    Mac line end, or one left in a line), where ruff and Python start a row and git does
    not."""
    if not has_lone_cr(text):
        return None
    out: list[int] = []
    line = 1
    for row in ruff_lines(text):
        out.append(line)
        if row.endswith("\n"):
            line += 1
    return out


def lines_with(text: str, word: str) -> list[str]:
    """The lines of ``text`` (as ``str.splitlines`` cuts them) that contain ``word``.

    Finding the word and cutting out its line skips splitting a large file into thousands
    of lines when only its few import lines matter.
    """
    if not only_newlines(text):
        return [line for line in text.splitlines() if word in line]
    out: list[str] = []
    at = text.find(word)
    while at >= 0:
        end = text.find("\n", at)
        if end < 0:
            end = len(text)
        out.append(text[text.rfind("\n", 0, at) + 1 : end])
        at = text.find(word, end)
    return out


def imported_modules(text: str) -> set[str]:
    """Absolute module names a Python source imports, and their parent packages."""
    return _import_names([text])


def _import_names(sources: Iterable[str]) -> set[str]:
    """``imported_modules`` of all the sources: a name many files import (``os``,
    ``typing``, the package itself) is split into its parents once."""
    raw: set[str] = set()
    for text in sources:
        if "import" not in text:
            continue
        for match in _IMPORT.finditer("\n".join(lines_with(text, "import"))):
            if match.group(1):
                raw.add(match.group(1))
            else:
                raw.update(match.group(2).split(","))
    names: set[str] = set()
    for name in raw:
        parts = name.strip().split(".")
        names.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return names


def _dotted_suffixes(parts: Sequence[str]) -> Iterable[str]:
    return (".".join(parts[i:]) for i in range(len(parts)))


def module_skeleton(tree_paths: Iterable[str], sources: Iterable[str]) -> list[str]:
    """Files of the tree that ruff will look for when it sorts these sources' imports.

    ruff calls an import first-party when the module's file or directory exists under a
    source root, so the scratch copy needs stand-ins for the modules the changed files
    import (not for the whole tree: that would cost a file per module on every run).
    A module matches at any depth because the repository may set ``src`` to any folder.
    """
    wanted = _import_names(sources)
    if not wanted:
        return []
    # every dotted suffix of a path ends with its last part: most paths fail on that alone
    tails = {name.rpartition(".")[2] for name in wanted}
    out: list[str] = []
    dirs_done: set[str] = set()  # folders that match, each with a stand-in already
    not_wanted: set[str] = set()  # folders that do not match
    dirs_seen: set[str] = set()  # a second file of a folder finds nothing new up its chain
    for path in tree_paths:
        if not path.endswith((".py", ".pyi")):
            continue
        parts = path.rpartition(".")[0].split("/")
        if parts[-1] == "__init__":
            parts.pop()
        if parts and parts[-1] in tails and any(name in wanted for name in _dotted_suffixes(parts)):
            out.append(path)
            continue
        directory = path.rpartition("/")[0]
        if directory in dirs_seen:
            continue
        dirs_seen.add(directory)
        for depth in range(len(parts) - 1, 0, -1):  # a namespace package is just a folder
            folder = "/".join(parts[:depth])
            if folder in dirs_done:
                break
            if folder in not_wanted:
                continue
            if parts[depth - 1] in tails and any(name in wanted for name in _dotted_suffixes(parts[:depth])):
                dirs_done.add(folder)
                out.append(path)
                break
            not_wanted.add(folder)
    return out


PACKAGE_MARKERS = ("__init__.py", "__init__.pyi")


def package_markers(tree: Container[str], paths: Iterable[str]) -> list[str]:
    """The ``__init__`` files of the tree in the folders above ``paths``.

    ruff finds a file's package by walking up the folders that hold an ``__init__.py``:
    that decides INP001 (implicit namespace package) and the module a relative import is
    resolved against. A scratch copy with only the changed files would make every module
    whose ``__init__.py`` did not change look like one outside any package.
    """
    out: list[str] = []
    seen: set[str] = set()
    for path in paths:
        folder = path.rpartition("/")[0]
        while folder and folder not in seen:
            seen.add(folder)
            out.extend(marker for name in PACKAGE_MARKERS if (marker := f"{folder}/{name}") in tree)
            folder = folder.rpartition("/")[0]
    return out


def _safe_relative(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and ".." not in parts and "" not in parts


def write_files(root: Path, files: Mapping[str, bytes], executable: Container[str] = ()) -> None:
    """Write repository files under ``root``; paths that could escape it are skipped.
    Those in ``executable`` get mode 755, as git checks them out (ruff's EXE rules).

    Git tree paths are already normalised, so a string check replaces a ``resolve()`` per
    file (which costs a ``lstat`` per path component); plain ``os`` calls on strings spare
    the ``Path`` objects, which cost more than the writes on a RAM-backed scratch dir.
    """
    base = str(root)
    made: set[str] = set()
    for path, data in files.items():
        if not _safe_relative(path):
            continue
        target = f"{base}/{path}"
        _make_parent(target, made)
        mode = 0o755 if path in executable else 0o644
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)


def _make_parent(target: str, made: set[str]) -> None:
    parent = target.rpartition("/")[0]
    if parent not in made:
        os.makedirs(parent, exist_ok=True)
        made.add(parent)


def write_placeholders(root: Path, paths: Iterable[str]) -> int:
    """Create empty files for ``paths`` that are not materialised yet; returns how many."""
    base = str(root)
    made: set[str] = set()
    count = 0
    for path in paths:
        if not _safe_relative(path):
            continue
        target = f"{base}/{path}"
        _make_parent(target, made)
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            continue
        count += 1
    return count


def seal_root(root: Path, configs: Mapping[str, bytes] | None = None) -> bool:
    """Stop ruff's upward config search at ``root``; True when a stub had to be written.

    Without a config at the root, ruff would walk up from the scratch dir into whatever
    directories hold it and could pick up a stranger's settings. An empty ``ruff.toml`` means
    "ruff's defaults" and is only written when the repository has no root config of its own
    (a ``pyproject.toml`` without ``[tool.ruff]`` does not count, as for ruff itself).
    ``configs`` (path to content) are the configs written there, when the caller knows them.
    """
    if configs is None:
        configs = {
            name: (root / name).read_bytes() if name == "pyproject.toml" else b""
            for name in CONFIG_NAMES
            if (root / name).exists()
        }
    if "ruff.toml" in configs or ".ruff.toml" in configs:
        return False
    pyproject = configs.get("pyproject.toml")
    if pyproject is not None and "[tool.ruff" in pyproject.decode("utf-8", "replace"):
        return False
    (root / "ruff.toml").write_text("# shunter: ruff defaults (the repository has none)\n")
    return True


# what ruff (0.12 and later) names a syntax error; before, its code was null (SYNTAX_ERROR)
INVALID_SYNTAX = "invalid-syntax"


def severity_for(code: str) -> Severity:
    """Errors for code that cannot run (syntax, undefined names); style is a warning."""
    if code in (SYNTAX_ERROR, INVALID_SYNTAX) or code.startswith(_ERROR_PREFIXES):
        return Severity.ERROR
    return Severity.WARNING


def _edit(raw: dict[str, object]) -> Edit:
    start = raw["location"]
    end = raw["end_location"]
    assert isinstance(start, dict) and isinstance(end, dict)
    return Edit(start["row"], start["column"], end["row"], end["column"], str(raw["content"]))


LocationFilter = Callable[[str, int, int], bool]
_JSON_ARRAY = re.compile(rb"\s*\[")


def _relative(filename: str, base: Path) -> str | None:
    """``filename`` relative to ``base`` (resolved), or None when it lies outside.

    ruff prints ``base`` joined with the path it was given, so a string check settles the
    usual case; anything unusual (``..``, ``.``, doubled slashes, another prefix) goes
    through ``resolve()``, which costs a syscall per path component.
    """
    prefix = f"{base}{os.sep}"
    if os.sep == "/" and filename.startswith(prefix):
        rel = filename[len(prefix) :]
        # the stage writes only regular files and folders there, so no link to follow
        if _safe_relative(rel) and "." not in rel.split("/") and not os.path.islink(filename):
            return rel
    try:
        return Path(filename).resolve().relative_to(base).as_posix()
    except ValueError:
        return None


CellRows = Mapping[str, Mapping[int, Sequence[int]]]
"""For each notebook (by repository path), the file line of each row of each cell's source
(``notebooks.source_lines``): ruff counts a notebook's rows inside each cell."""


def parse_ruff_json(
    text: str | bytes, root: Path, keep: LocationFilter | None = None, cells: CellRows | None = None
) -> list[Diagnostic]:
    """Ruff's ``--output-format json`` (or ``json-lines``, which ruff writes faster) as
    ``Diagnostic``s with repository-relative paths.

    ``keep(path, start_row, end_row)`` drops diagnostics before they are built (most of a
    file's diagnostics are usually outside the PR's lines). ``cells`` places a notebook's
    diagnostics on the lines of its JSON file (``_Diagnostics.add`` says how).
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    found = _Diagnostics(root, keep, cells)
    try:
        found.add(orjson.loads(data) if _JSON_ARRAY.match(data) else _json_lines(data))
    except orjson.JSONDecodeError as exc:
        raise EngineError(f"ruff printed something that is not JSON: {exc}") from None
    return found.out


def _json_lines(data: bytes) -> list[dict[str, Any]]:
    """One object a line (JSON strings escape their newlines).

    The lines are read as one JSON array, a single ``orjson.loads`` instead of one per
    diagnostic (a fifth less time for ruff's ~500 lines on a 40-file PR, all of it spent
    after ruff has finished); output with blank lines, or that is not JSON, goes line by
    line, so what is read and the error raised are those of reading each line."""
    body = data.strip()
    if not body:
        return []
    try:
        found = orjson.loads(b"[" + body.replace(b"\n", b",") + b"]")
    except orjson.JSONDecodeError:
        pass
    else:
        if len(found) == body.count(b"\n") + 1:  # one value a line, as line by line
            return found  # type: ignore[no-any-return]
    return [orjson.loads(line) for line in data.split(b"\n") if line and not line.isspace()]


_UNSEEN: str | None = "\0unseen"  # a marker no path can equal (git paths hold no NUL)
_ORIGIN = {"row": 1, "column": 1}


def _cell_line(rows: Mapping[int, Sequence[int]], cell: int, row: int) -> int:
    """The file line of ``row`` of notebook cell ``cell`` (the cell's last source line for a
    row past its end); line 1 when the notebook's layout is unknown."""
    lines = rows.get(cell)
    if not lines:
        return 1
    return lines[min(max(row, 1), len(lines)) - 1]


class _Diagnostics:
    """``Diagnostic``s built from ruff's JSON objects, batch by batch as they arrive."""

    def __init__(self, root: Path, keep: LocationFilter | None, cells: CellRows | None = None) -> None:
        self.base = root.resolve()
        self.keep = keep
        self.cells = cells or {}
        self.relative: dict[object, str | None] = {}
        self.out: list[Diagnostic] = []

    def add(
        self, items: Iterable[dict[str, Any]], on_batch: Callable[[Sequence[Diagnostic]], None] | None = None
    ) -> None:
        """Build the items' diagnostics; ``on_batch`` gets the ones kept from this batch.

        A notebook's diagnostic (one with a ``cell``) is moved from its row in the cell to
        the line of the ``.ipynb`` file that holds that row, the line GitHub shows and
        comments on; its fix loses its edits, which are in the cell's text, not the JSON's
        (applied to the file's lines they would corrupt the notebook)."""
        base, keep, relative, out = self.base, self.keep, self.relative, self.out
        first = len(out)
        # most diagnostics fall outside the PR's lines: the loop drops them with as few
        # steps as it can (a few microseconds each add up over hundreds of them)
        for item in items:
            filename = item["filename"]
            rel = relative.get(filename, _UNSEEN)
            if rel is _UNSEEN:
                rel = relative[filename] = _relative(str(filename), base)
            if rel is None:
                continue  # not one of ours (cannot happen with explicit paths, but never trust it)
            start = item.get("location") or _ORIGIN
            end = item.get("end_location") or start
            row = int(start["row"])
            row = row if row > 1 else 1
            end_row = int(end["row"])
            cell = item.get("cell")
            if cell is not None:
                rows = self.cells.get(rel, {})
                row = _cell_line(rows, int(cell), row)
                end_row = _cell_line(rows, int(cell), end_row)
            end_row = end_row if end_row > row else row
            if keep is not None and not keep(rel, row, end_row):
                continue
            fix = None
            if item.get("fix"):
                raw = item["fix"]
                fix = Fix(
                    applicability=str(raw.get("applicability", "unsafe")),
                    message=raw.get("message"),
                    # a notebook's fix keeps its message (the finding's title), not its edits
                    edits=tuple(_edit(edit) for edit in raw.get("edits", [])) if cell is None else (),
                )
            out.append(
                Diagnostic(
                    code=item.get("code") or SYNTAX_ERROR,
                    message=str(item.get("message", "")),
                    path=rel,
                    row=row,
                    col=int(start["column"]),
                    end_row=end_row,
                    end_col=int(end["column"]),
                    fix=fix,
                    url=item.get("url"),
                )
            )
        if on_batch is not None and len(out) > first:
            on_batch(out[first:])



class RuffFailed(EngineError):
    """ruff ran but did not lint: it refused the repository's config, crashed or ran out
    of time. ``detail`` is ruff's own explanation without the scratch dir's paths;
    ``named`` the ``.toml`` files it names, in order (the one to blame is the first that
    is one of the repository's configs: ruff also names the missing file an ``extend``
    points at), and ``lines`` the line it points at in a file it could not parse."""

    def __init__(
        self,
        message: str,
        *,
        detail: str = "",
        named: Sequence[str] = (),
        lines: Mapping[str, int] | None = None,
        timed_out: bool = False,
    ) -> None:
        super().__init__(message)
        self.detail = detail or message
        self.named = tuple(named)
        self.lines = dict(lines or {})
        self.timed_out = timed_out

    def blamed(self, configs: Container[str]) -> tuple[str | None, int | None]:
        """The first of ``configs`` ruff names, and the line it points at there, if any."""
        config = next((path for path in self.named if path in configs), None)
        return config, None if config is None else self.lines.get(config)


# ruff quotes the offending line of a config under its "Cause:" lines, then says what is
# wrong with it; the quote itself (numbered lines and gutters) is left out of the report
_EXCERPT = re.compile(r"^\s*\d*\s*\|")
_PARSE_LINE = re.compile(r"TOML parse error at line (\d+)")
_TOML_PATH = re.compile(r"[^\s`'\"();,]+\.toml")
_FAILURE_CHARS = 600


def _scrub(text: str, roots: Iterable[Path | str]) -> str:
    """``text`` with the scratch copy's paths made repository-relative (ruff prints the
    directory it runs in as the kernel has it: a scratch dir reached through a symlink
    shows up resolved)."""
    for root in dict.fromkeys(str(r) for r in roots):
        # the root followed by a slash, or standing alone (not the start of a longer name)
        pattern = rf"{re.escape(root)}(?:/|(?![\w./-]))"
        text = re.sub(pattern, lambda m: "" if m.group(0).endswith("/") else ".", text)
    return text


def describe_failure(output: bytes, returncode: int, roots: Sequence[Path | str]) -> RuffFailed:
    """Why a ruff run that exited with ``returncode`` failed, from what it printed.

    ruff says it as a chain of ``Cause:`` lines, sometimes followed by a quote of the bad
    line and a last sentence saying what is wrong with it (``unknown variant `py27```);
    both the chain and that sentence are kept. Warnings (deprecated settings) are not the
    failure and are left out. ``Failed to parse X`` names the file that a TOML error's
    line belongs to.
    """
    text = _scrub(output.decode("utf-8", "replace"), roots)
    lines = [line.rstrip() for line in text.splitlines()]
    causes = [line.strip()[len("Cause:") :].strip() for line in lines if line.lstrip().startswith("Cause:")]
    last_quote = max((i for i, line in enumerate(lines) if _EXCERPT.match(line)), default=None)
    after = [] if last_quote is None else [line.strip() for line in lines[last_quote + 1 :] if line.strip()]
    if not causes:  # a crash, or an error ruff prints without a chain
        causes = [
            line.strip()
            for line in lines
            if line.strip() and not _EXCERPT.match(line) and not line.startswith(("warning:", " "))
            and line.strip() != "ruff failed"
        ]
    detail = "; ".join(causes[:4])
    if after:
        detail = f"{detail}: {' '.join(after[:2])}" if detail else " ".join(after[:2])
    if not detail:
        detail = f"ruff exited with status {returncode} and said nothing" if returncode > 0 else (
            f"ruff was killed by signal {-returncode}"
        )
    detail = detail[:_FAILURE_CHARS]
    parsed = re.search(r"Failed to parse (\S+?\.toml)", text)
    named = [parsed.group(1)] if parsed else []
    named += [match.group(0) for match in _TOML_PATH.finditer(" ".join(causes))]
    line = _PARSE_LINE.search(text)
    return RuffFailed(
        f"ruff failed: {detail}",
        detail=detail,
        named=list(dict.fromkeys(named)),
        lines={parsed.group(1): int(line.group(1))} if parsed and line else None,
    )


def _scrubbed_env(home: Path) -> dict[str, str]:
    """No tokens, no user-level ruff config: only what ruff needs to start."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    for name in ("LANG", "LC_ALL", "SYSTEMROOT"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _wait_exit(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait for ``process`` to exit; False when ``timeout`` seconds pass first.

    ``Popen.wait(timeout)`` polls with sleeps that start at 1 ms and double, so a ruff that
    exits just after a poll is noticed a millisecond or more late; a pidfd (Linux 5.3+)
    wakes the caller the moment the process exits.
    """
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # not Linux, an old kernel, or already reaped
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(timeout * 1000):
            return False
    finally:
        os.close(pidfd)
    process.wait()  # exited: reaps at once
    return True


class RuffRun:
    """A ruff process started in the background, so the caller can do other work (the
    line maps, the diff heuristics) on the other core while ruff lints; ``result()``
    waits for it.

    ruff writes its output in the last few milliseconds of its run, 8 KB at a time, on
    one core: ``result()`` parses each piece as it arrives, on the other. The pipe is
    widened so that ruff never waits for a reader while the caller is still busy, and
    ruff's stderr goes to an unlinked file in the scratch dir, which nothing has to drain.
    """

    PIPE_BYTES = 1 << 20

    def __init__(
        self,
        root: Path,
        paths: Sequence[str],
        *,
        isolated: bool = False,
        timeout: float = 120.0,
        binary: str | None = None,
        cells: CellRows | None = None,
    ) -> None:
        self.root = root
        self.timeout = timeout
        self.cells = cells
        self._started = time.monotonic()
        self._process: subprocess.Popen[bytes] | None = None
        if not paths:
            return
        command = [
            binary or ruff_binary(),
            "check",
            "--output-format",
            "json-lines",
            "--no-cache",
            "--force-exclude",
            "--exit-zero",
            "--no-fix",
        ]
        if isolated:
            command.append("--isolated")
        command += ["--", *paths]
        # closed by result() or cancel(): it outlives this call by design
        self._stderr = tempfile.TemporaryFile(dir=root.parent)  # noqa: SIM115
        try:
            self._process = subprocess.Popen(
                command,
                cwd=root,
                env=_scrubbed_env(root.parent),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
            )
        except OSError as exc:
            self._stderr.close()
            raise EngineError(f"ruff could not start: {exc.strerror}") from None
        assert self._process.stdout is not None
        with contextlib.suppress(AttributeError, OSError):  # Linux only, up to pipe-max-size
            fcntl.fcntl(self._process.stdout.fileno(), fcntl.F_SETPIPE_SZ, self.PIPE_BYTES)

    def _close(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        self._process.stdout.close()
        self._stderr.close()

    def cancel(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._close()

    def result(
        self,
        keep: LocationFilter | None = None,
        on_batch: Callable[[Sequence[Diagnostic]], None] | None = None,
    ) -> list[Diagnostic]:
        """All of ruff's diagnostics that ``keep`` lets through. ``on_batch`` sees them as
        they arrive, while ruff may still fail: a caller acting on them must be ready to
        throw its work away when this raises."""
        if self._process is None:
            return []
        assert self._process.stdout is not None
        deadline = time.monotonic() + max(1.0, self.timeout - (time.monotonic() - self._started))
        found = _Diagnostics(self.root, keep, self.cells)
        chunks: list[bytes] = []
        pending = b""
        broken: str | None = None
        poller = select.poll()
        fd = self._process.stdout.fileno()
        poller.register(fd, select.POLLIN)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not poller.poll(left * 1000):
                    self.cancel()
                    raise RuffFailed(f"ruff did not finish within {self.timeout:.0f}s", timed_out=True)
                chunk = os.read(fd, self.PIPE_BYTES)
                if not chunk:
                    break
                chunks.append(chunk)
                if broken is None:  # whole lines now, the rest with the next chunk
                    data = pending + chunk
                    cut = data.rfind(b"\n") + 1
                    pending = data[cut:]
                    try:
                        found.add(_json_lines(data[:cut]), on_batch)
                    except orjson.JSONDecodeError as exc:
                        broken = str(exc)
            # ruff closed its output: it is exiting
            if not _wait_exit(self._process, max(0.001, deadline - time.monotonic())):
                self.cancel()
                raise RuffFailed(f"ruff did not finish within {self.timeout:.0f}s", timed_out=True)
            self._stderr.seek(0)
            stderr = self._stderr.read()
        finally:
            self._close()
        if self._process.returncode != 0:
            raise describe_failure(
                stderr or b"".join(chunks), self._process.returncode, [self.root, self.root.resolve()]
            )
        if broken is None and pending.strip():
            try:
                found.add(_json_lines(pending), on_batch)
            except orjson.JSONDecodeError as exc:
                broken = str(exc)
        if broken is not None:
            raise EngineError(f"ruff printed something that is not JSON: {broken}")
        return found.out


def walked_files(root: Path, folders: Sequence[str], *, timeout: float = 30.0) -> set[str] | None:
    """The repository paths of the files ruff would lint when it walks ``folders`` (under
    ``root``): those its ``include`` (and ``extend-include``) take and its ``exclude`` leaves.

    Files named on ruff's command line are linted whatever ``include`` says, so a stage
    that names a notebook must first ask whether ruff would lint it at all: a repository
    with ``include = ["*.py"]`` keeps its notebooks out of ``ruff check .``. None when
    ruff cannot say (a config it refuses: the lint run reports that itself).
    """
    command = [ruff_binary(), "check", "--no-cache", "--force-exclude", "--show-files", "--", *folders]
    try:
        done = subprocess.run(
            command,
            cwd=root,
            env=_scrubbed_env(root.parent),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    base = root.resolve()
    found = (_relative(line, base) for line in done.stdout.decode("utf-8", "replace").splitlines() if line)
    return {rel for rel in found if rel is not None}


def run_ruff(
    root: Path,
    paths: Sequence[str],
    *,
    isolated: bool = False,
    timeout: float = 120.0,
    binary: str | None = None,
    keep: LocationFilter | None = None,
) -> list[Diagnostic]:
    """``ruff check`` on ``paths`` under ``root``, honouring the config files found there.

    ``--force-exclude`` keeps the repository's own ``exclude`` in force even though the
    files are named explicitly. ``--no-fix`` overrides a config's ``fix = true`` (Flask
    ships one): with it ruff would fix the scratch copies and report only what it could
    not fix, so every fixable finding, and the patch made of them, would vanish.
    """
    return RuffRun(root, paths, isolated=isolated, timeout=timeout, binary=binary).result(keep)


def _offsets(lines: Sequence[str]) -> list[int]:
    return list(accumulate(map(len, lines), initial=0))


def _index(starts: list[int], lines: Sequence[str], row: int, col: int) -> int:
    if row > len(lines):
        return starts[-1]
    return starts[row - 1] + min(col - 1, len(lines[row - 1]))


def apply_edits(text: str, edits: Iterable[Edit], lines: Sequence[str] | None = None) -> str:
    """``text`` with non-overlapping ``edits`` applied (positions refer to the original);
    ``lines`` is ``ruff_lines(text)`` when the caller has it already."""
    if lines is None:
        lines = ruff_lines(text)
    starts = _offsets(lines)
    spans = sorted(
        (_index(starts, lines, e.row, e.col), _index(starts, lines, e.end_row, e.end_col), e) for e in edits
    )
    out: list[str] = []
    cursor = 0
    for begin, end, edit in spans:
        if begin < cursor:
            raise EngineError("overlapping fix edits")
        out.append(text[cursor:begin])
        out.append(edit.content)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


BOM = "\ufeff"


def past_bom(fix: Fix) -> Fix:
    """``fix`` for the text of a file that starts with a byte order mark, BOM included.

    ruff reads past the mark and counts the first line's columns after it; the stage's
    text keeps it (the file's bytes are what the patch is made against). Unshifted, an
    edit on line 1 lands one character early: removing an unused first import also
    removed the mark, and an f-string fix there rewrote the wrong characters.
    """

    def shift(row: int, col: int) -> int:
        return col + 1 if row == 1 else col

    edits = tuple(
        Edit(e.row, shift(e.row, e.col), e.end_row, shift(e.end_row, e.end_col), e.content) for e in fix.edits
    )
    return Fix(fix.applicability, fix.message, edits)


def _span(fix: Fix) -> tuple[tuple[int, int], tuple[int, int]]:
    return min((e.row, e.col) for e in fix.edits), max((e.end_row, e.end_col) for e in fix.edits)


def choose_fixes(fixes: Sequence[Fix]) -> list[int]:
    """The indexes of the fixes to apply: as many as do not overlap, narrowest first.

    Ruff itself loops until nothing changes; one pass of non-overlapping fixes is what can
    be proven to match what the reviewer saw, and the next run picks up the rest.

    The spans taken so far are kept sorted and never overlap, so their ends rise with their
    starts: a new span overlaps one of them exactly when the last taken span starting
    before its end reaches past its start, which a bisection finds. Checking every taken
    span instead made a generated line with 12,000 f-string fixes cost 72 million
    comparisons.
    """
    taken: list[tuple[tuple[int, int], tuple[int, int]]] = []  # sorted, pairwise apart
    points: set[tuple[int, int]] = set()  # where taken insertions (empty spans) sit
    chosen: list[int] = []

    def narrow_first(i: int) -> tuple[int, tuple[int, int]]:
        (row, col), (end_row, _end_col) = _span(fixes[i])
        return end_row - row, (row, col)

    for index in sorted((i for i in range(len(fixes)) if fixes[i].edits), key=narrow_first):
        begin, end = _span(fixes[index])
        # taken[:before] start before ``end`` (one starting at ``end`` ends there or later,
        # so it sorts at or after (end, end))
        before = bisect.bisect_left(taken, (end, end))
        if before and begin < taken[before - 1][1]:
            continue
        if begin == end and begin in points:
            continue  # two insertions at one point: order would be a guess
        bisect.insort(taken, (begin, end))
        if begin == end:
            points.add(begin)
        chosen.append(index)
    return sorted(chosen)


def apply_fixes(text: str, fixes: Sequence[Fix], lines: Sequence[str] | None = None) -> tuple[str, list[int]]:
    """Apply the fixes ``choose_fixes`` picks; returns the text and their indexes."""
    chosen = choose_fixes(fixes)
    return apply_edits(text, [e for i in chosen for e in fixes[i].edits], lines), chosen


def unified_diff(path: str, before: str, after: str) -> str:
    """A git-style diff for one file (``git apply``, libgit2 and the merge queue accept it).

    libgit2's xdiff makes it; the mode is dropped from the ``index`` line because the
    stage does not know it and ``git apply`` would warn about a guessed one. The patch
    points into the two buffers without owning them, so they are held in locals until its
    text is out (temporaries freed early made ``patch.text`` read freed memory: a segfault).
    """
    old = before.encode("utf-8")
    new = after.encode("utf-8")
    patch = pygit2.Patch.create_from(old, new, old_as_path=path, new_as_path=path)
    text = patch.text or ""
    del patch, old, new  # the patch goes before the buffers it points into
    return _INDEX_MODE.sub(r"\1", text, count=1)


DIFF_CONTEXT = 3
_WINDOW_PAD = 8
"""Unchanged lines a window holds beyond the context, so that xdiff sees the same
neighbourhood as in the whole file when it slides a change to its usual place."""
_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@.*$", re.MULTILINE)
_FUNC_START = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$")
_GIT_SPACE = b" \t\n\v\f\r"
_FUNC_BYTES = 80


def _func_line(lines: Sequence[bytes], start: int, stop: int) -> str | None:
    """The hunk header's "function" text as libgit2 finds it for a file without a diff
    driver: the nearest line at or above index ``start`` (and above ``stop``) that begins
    with an ASCII letter, ``_`` or ``$``, right-trimmed, cut to 80 bytes on a character."""
    for index in range(start, stop, -1):
        line = lines[index].rstrip(_GIT_SPACE)
        if line and line[0] in _FUNC_START:
            return line[:_FUNC_BYTES].decode("utf-8", "ignore")
    return None


def _count(start: int, count: int) -> str:
    return f"{start}" if count == 1 else f"{start},{count}"


def _abbrev_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()[:7]


class _Headers:
    """Hunk headers of window diffs, renumbered to whole-file lines, with the context text
    xdiff finds in the whole file: it looks up from each hunk no further than the line the
    previous hunk's search started from, and keeps the previous text when it finds none."""

    def __init__(self, lines: Sequence[bytes]) -> None:
        self.lines = lines
        self.func: str | None = None
        self.searched = -1

    def renumber(self, match: re.Match[str], base: int, shift: int) -> str:
        old_start, old_count = int(match.group(1)) + base, int(match.group(2) or 1)
        new_start, new_count = int(match.group(3)) + base + shift, int(match.group(4) or 1)
        above = (old_start - 1 if old_count else old_start) - 1  # index of the line above
        found = _func_line(self.lines, above, self.searched)
        self.searched = above
        if found is not None:
            self.func = found
        header = f"@@ -{_count(old_start, old_count)} +{_count(new_start, new_count)} @@"
        return header if self.func is None else f"{header} {self.func}"


def _windows(fixes: Sequence[Fix], count: int, reach: int) -> list[tuple[int, int, list[Edit]]]:
    """``(first row, last row, edits)`` of the fixes grouped so that groups lie more than
    ``2 * reach`` rows apart; rows are clipped to the file's ``count`` lines."""
    spans = sorted(
        ((min(e.row for e in f.edits), max(e.end_row for e in f.edits), f) for f in fixes if f.edits),
        key=lambda item: (item[0], item[1]),
    )
    groups: list[tuple[int, int, list[Edit]]] = []
    for first, last, fix in spans:
        first, last = min(max(first, 1), count), min(max(last, 1), count)
        if groups and first - groups[-1][1] - 1 <= 2 * reach:
            g_first, g_last, g_edits = groups[-1]
            groups[-1] = (g_first, max(g_last, last), [*g_edits, *fix.edits])
        else:
            groups.append((first, last, list(fix.edits)))
    return groups


def fixes_diff(
    path: str, text: str, fixes: Sequence[Fix], blob_id: str | None = None, raw: bytes | None = None
) -> str | None:
    """``unified_diff(path, text, fixed)`` where ``fixed`` is ``text`` with ``fixes`` applied,
    or None when they change nothing; ``blob_id`` is ``text``'s git blob id and ``raw`` its
    UTF-8 bytes, if the caller has them.

    Diffing two whole files costs xdiff a pass over every line of both (~0.2 ms for a
    1000-line module, most of a review's patch step); the fixes say which rows they touch,
    so only a window around each group of them is diffed, and the hunks are renumbered
    and given the header context libgit2 would find in the whole file. Windows sit more
    than twice the context apart, so no hunk of the whole-file diff spans two of them.
    The fixed file's blob id is hashed from the original bytes and the new windows,
    without building the fixed text. Texts with line breaks other than ``\n`` (where
    ruff's rows and git's lines part ways) take the whole-file path.

    xdiff weighs how often each line occurs in the whole file when it aligns repeated
    lines (blank lines, closing brackets), so now and then a window's hunk places such a
    line differently from the whole-file diff; both apply to the same result.
    """
    edits = [e for fix in fixes for e in fix.edits]
    if not edits:
        return None
    if not text or not only_newlines(text):
        after = apply_edits(text, edits)
        return None if after == text else unified_diff(path, text, after)
    data = raw if raw is not None else text.encode("utf-8")
    reach = DIFF_CONTEXT + _WINDOW_PAD
    # split no further than the last window needs: fixes are often all near the top; in
    # UTF-8 a b"\n" is always a line break, so the rows of the bytes are the rows of the text
    needed = max(e.end_row for e in edits) + reach + 1
    lines = data.split(b"\n", needed)
    # when the file goes on past ``needed`` rows, no window reaches its end
    count = needed if len(lines) > needed else len(lines) - data.endswith(b"\n")
    windows = _windows(fixes, count, reach)
    headers = _Headers(lines)
    row, offset = 1, 0  # ``offset`` is where ``row`` starts in ``data``

    def start_of(target: int) -> int:
        nonlocal row, offset
        offset += sum(map(len, lines[row - 1 : target - 1])) + (target - row)
        row = target
        return min(offset, len(data))

    pieces: list[bytes] = []  # the fixed file, as slices of ``data`` and new windows
    hunks: list[str] = []
    done = 0  # how much of ``data`` is in ``pieces``
    shift = 0  # lines the earlier windows added (negative: removed)
    for first, last, group in windows:
        w_first, w_last = max(1, first - reach), min(count, last + reach)
        start, end = start_of(w_first), start_of(w_last + 1)
        old_bytes = data[start:end]
        old = old_bytes.decode("utf-8")
        base = w_first - 1
        moved = [Edit(e.row - base, e.col, e.end_row - base, e.end_col, e.content) for e in group]
        new = apply_edits(old, moved)
        if new == old:
            continue
        new_bytes = new.encode("utf-8")
        patch = pygit2.Patch.create_from(old_bytes, new_bytes, context_lines=DIFF_CONTEXT)
        body = patch.text or ""
        del patch  # the patch goes before the buffers it points into
        body = body[body.find("\n@@") + 1 :]
        hunks.append(_HUNK_HEADER.sub(partial(headers.renumber, base=base, shift=shift), body))
        pieces += [data[done:start], new_bytes]
        done = end
        shift += new_bytes.count(b"\n") - old_bytes.count(b"\n")
    if not hunks:
        return None
    pieces.append(data[done:])
    old_id = blob_id[:7] if blob_id else _abbrev_blob_id(data)
    return _file_header(path, old_id, _abbrev_blob_id(b"".join(pieces))) + "".join(hunks)


def _file_header(path: str, old_id: str, new_id: str) -> str:
    """``diff --git``, ``index``, ``---`` and ``+++`` lines, paths quoted as libgit2 does."""
    if path.isascii() and path.isprintable() and '"' not in path and "\\" not in path:
        return f"diff --git a/{path} b/{path}\nindex {old_id}..{new_id}\n--- a/{path}\n+++ b/{path}\n"
    sample = unified_diff(path, "a\n", "b\n")
    header = sample[: sample.find("\n@@") + 1]
    return _INDEX_LINE.sub(f"index {old_id}..{new_id}", header, count=1)


def only_newlines(text: str) -> bool:
    """True when ``\n`` is the only line break in ``text`` (as for nearly all source files),
    so that ``splitlines()`` and splitting at ``\n`` agree."""
    return not any(brk in text for brk in _OTHER_BREAKS)


def suggestion_for(
    text: str,
    fix: Fix,
    lines: Sequence[str] | None = None,
    *,
    plain: Sequence[str] | None = None,
    max_chars: int | None = None,
) -> tuple[int, int, str] | None:
    """``(start_line, end_line, replacement)``: the whole lines a fix rewrites, if it can be
    shown as one GitHub suggestion. An edit ending at column 1 of the next line eats the
    newline of its last line, so that line counts as the end. ``lines`` is
    ``ruff_lines(text)`` when the caller has it (one split per file, not
    one per fix); ``plain`` is ``text.splitlines()`` of a text ``only_newlines`` accepts,
    which serves as well without a second split. None too when those lines hold more than
    ``max_chars`` characters: told before the lines are copied, so that each of a long
    line's many fixes costs no copy of it.
    """
    if not fix.edits:
        return None
    (row, _col), (end_row, end_col) = _span(fix)
    if lines is None and plain is None:
        lines = ruff_lines(text)
    count = len(lines) if lines is not None else len(plain or ())
    last = end_row - 1 if end_col == 1 and end_row > row else end_row
    if last > count or row > count:
        return None
    if max_chars is not None and sum(map(len, (lines or plain or ())[row - 1 : last])) > max_chars:
        return None
    if lines is not None:
        region = "".join(lines[row - 1 : last])
    else:
        assert plain is not None
        ends = last < count or text.endswith("\n")
        region = "\n".join(plain[row - 1 : last]) + ("\n" if ends else "")
    shifted = [Edit(e.row - row + 1, e.col, e.end_row - row + 1, e.end_col, e.content) for e in fix.edits]
    try:
        replaced = apply_edits(region, shifted)
    except EngineError:
        return None
    return row, last, replaced.removesuffix("\n")
