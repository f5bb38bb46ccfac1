"""Repository paths in change requests: normalisation, hostile-path refusal, glob matching.

A change request's paths come from stages that read untrusted pull-request content (and,
through an LLM engine, possibly from text an attacker wrote), so every path is treated as
hostile until it is proven to be a plain relative path inside the repository.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from bot.errors import ChangeRejected

MAX_PATH_BYTES = 4096
_GIT_DIR_NAMES = {".git"}


def normalise_path(path: str) -> str:
    """The canonical form of ``path``, or ChangeRejected saying what makes it unsafe.

    Refused: empty, absolute, backslashes, NUL and control characters, ``.``/``..`` or empty
    components, any ``.git`` component (also spelt ``.GIT``, ``.git.`` or ``.git `` which some
    filesystems fold to ``.git``), and Windows 8.3 aliases of it (``git~1``).
    """
    if not path:
        raise ChangeRejected("path_empty", "a file in the change has an empty path")
    shown = {"path": path[:120]}  # the author's: str() shows it with repr, a reply as code
    if "\0" in path or any(unicodedata.category(ch) == "Cc" for ch in path):
        raise ChangeRejected("path_control_char", "path {path} contains control characters", values=shown)
    if "\\" in path:
        raise ChangeRejected("path_backslash", "path {path} contains a backslash", values=shown)
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise ChangeRejected("path_absolute", "path {path} is absolute", values=shown)
    if len(path.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise ChangeRejected(
            "path_too_long", f"path {{path}}... is longer than {MAX_PATH_BYTES}", values=shown
        )
    parts = path.split("/")
    for part in parts:
        if part in ("", "."):
            raise ChangeRejected("path_not_normal", "path {path} has an empty or '.' component", values=shown)
        if part == "..":
            raise ChangeRejected("path_traversal", "path {path} climbs out with '..'", values=shown)
        folded = part.rstrip(". ").lower()
        if folded in _GIT_DIR_NAMES or folded.startswith("git~"):
            raise ChangeRejected("path_git_dir", "path {path} points into the .git directory", values=shown)
    return "/".join(parts)


@lru_cache(maxsize=512)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """gitignore-like globs: ``**`` spans directories, ``*``/``?`` stay inside one component.

    A pattern ending in ``/`` or ``/**`` matches everything below that directory.
    """
    pattern = pattern.strip().lstrip("/")
    if pattern.endswith("/"):
        pattern += "**"
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches_any(path: str, patterns: list[str]) -> bool:
    """True when ``path`` matches one of ``patterns`` (see ``_glob_regex``)."""
    return any(_glob_regex(p).match(path) for p in patterns if p.strip())
