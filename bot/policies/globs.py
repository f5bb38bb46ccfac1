"""Path globs as the config file means them (``paths``, ``protected_paths``, ...).

Semantics follow GitHub Actions' ``paths`` filters and gitignore, which maintainers already
know: ``*`` and ``?`` stay inside one path component, ``**`` spans directories (``**/x``
also matches ``x`` at the root), dot-files are matched like any other file, a leading ``/``
is ignored and a trailing ``/`` means "everything below". Matching is done by wcmatch, a
maintained implementation of exactly these rules, rather than a hand-rolled translator.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from wcmatch import fnmatch, glob

_PATH_FLAGS = glob.GLOBSTAR | glob.DOTGLOB
_NAME_FLAGS = 0


def _normalise(pattern: str) -> str:
    pattern = pattern.strip().lstrip("/")
    if pattern.endswith("/"):
        pattern += "**"
    return pattern


@lru_cache(maxsize=1024)
def _compiled(patterns: tuple[str, ...]) -> glob.WcMatcher | None:
    cleaned = [_normalise(p) for p in patterns if p.strip()]
    if not cleaned:
        return None
    return glob.compile(cleaned, flags=_PATH_FLAGS)


def path_matches(path: str, patterns: Sequence[str]) -> bool:
    """True when the repository path ``path`` matches any of ``patterns``."""
    matcher = _compiled(tuple(patterns))
    return matcher is not None and bool(matcher.match(path))


def path_selected(path: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """A stage's ``paths`` filter: included (an empty ``include`` means all) and not excluded."""
    return path_matches(path, include or ["**"]) and not path_matches(path, exclude)


def first_match(path: str, patterns: Sequence[str]) -> str | None:
    """The first pattern that matches ``path`` (for reasons people can read), or None."""
    for pattern in patterns:
        if path_matches(path, [pattern]):
            return pattern
    return None


def paths_matching(paths: Iterable[str], patterns: Sequence[str]) -> list[str]:
    return [p for p in paths if path_matches(p, patterns)]


def name_matches(name: str, patterns: Sequence[str]) -> bool:
    """Branch-name patterns: ``*`` matches anything, ``/`` included
    (``release/*`` matches ``release/1.2``)."""
    return any(fnmatch.fnmatch(name, p, flags=_NAME_FLAGS) for p in patterns if p)
