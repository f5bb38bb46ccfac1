"""Which Python project of a repository a file belongs to, and where its imports start.

A monorepo holds several projects (``packages/<name>/`` or ``libs/<name>/``), each with its
own ``pyproject.toml`` (or ``setup.py``/``setup.cfg``), its own tests and often its own
``src/`` folder. A file belongs to the project whose folder is its nearest ancestor holding
such a file; a repository with one project at the root has the single project ``""``.
Everything here is pure: the caller passes the head tree's paths.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

PROJECT_FILES = frozenset({"pyproject.toml", "setup.py", "setup.cfg"})
"""Files that make their folder a Python project (what pip and build accept as one)."""


NOT_PROJECT_DIRS = frozenset(
    {"tests", "test", "testing", "fixtures", "testdata", "examples", "example", "docs", "doc"}
)
"""Folders whose projects are data, not packages of the repository: pdm-backend's
``tests/fixtures/projects/demo-*/pyproject.toml`` are what its tests build, and an
example's ``setup.py`` shows how to use the package."""


def project_roots(tree_paths: Iterable[str]) -> frozenset[str]:
    """The folders of the tree that hold a project file (``""`` for the repository root),
    except those in a test, fixture, example or docs folder (``NOT_PROJECT_DIRS``)."""
    roots: set[str] = set()
    for path in tree_paths:
        folder, _, name = path.rpartition("/")
        if name in PROJECT_FILES and folder not in roots and NOT_PROJECT_DIRS.isdisjoint(folder.split("/")):
            roots.add(folder)
    return frozenset(roots)


def project_of(path: str, roots: Collection[str]) -> str:
    """The project folder ``path`` belongs to: its nearest ancestor in ``roots``, else ``""``."""
    folder = path.rpartition("/")[0]
    while folder:
        if folder in roots:
            return folder
        folder = folder.rpartition("/")[0]
    return ""


def within(path: str, folder: str) -> bool:
    """``path`` lies in ``folder`` (``""`` holds everything)."""
    return not folder or path.startswith(f"{folder}/")


def covers(test_project: str, source_project: str) -> bool:
    """A test of ``test_project`` can stand for a change in ``source_project``: the same
    project, or one enclosing it (a monorepo's root ``tests/`` exercising its packages),
    never a sibling package's tests."""
    return test_project == source_project or within(source_project, test_project)


def source_root(path: str, roots: Collection[str]) -> str:
    """The folder imports of ``path`` start from: its project's ``src/`` when the file lies
    there (the src layout), else the project's folder (``""``: the repository root)."""
    project = project_of(path, roots)
    src = f"{project}/src" if project else "src"
    return src if within(path, src) else project


def import_roots(tree_paths: Iterable[str], first: Sequence[str] = (), limit: int = 64) -> list[str]:
    """Each project's import folder (its ``src/`` in the src layout, else its own folder),
    those of the files in ``first`` leading (a test imports its own package before a
    same-named one elsewhere), at most ``limit``; the repository root itself is not listed.
    What a workspace install puts on ``sys.path``: a package's tests import its own
    modules, and often its sibling packages'."""
    paths = list(tree_paths)
    roots = project_roots(paths)
    with_src: set[str] = set()
    for path in paths:
        at = path.find("src/")
        while at >= 0:
            if at == 0 or path[at - 1] == "/":
                project = path[: max(at - 1, 0)]
                if project in roots or not project:
                    with_src.add(project)
            at = path.find("src/", at + 1)
    found = [source_root(path, roots) for path in first]
    for project in sorted(roots | with_src):
        src = f"{project}/src" if project else "src"
        found.append(src if project in with_src else project)
    return [root for root in dict.fromkeys(found) if root][:limit]


def by_project(paths: Iterable[str], roots: Collection[str]) -> list[list[str]]:
    """``paths`` grouped by their project, in order of first appearance: each group is
    one pytest session, as each package's own CI runs it."""
    groups: dict[str, list[str]] = {}
    for path in paths:
        groups.setdefault(project_of(path, roots), []).append(path)
    return list(groups.values())
