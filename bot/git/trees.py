"""``SourceTree``s that read blobs straight from a repository's object database.

Stages read only the files they analyse; nothing is checked out, so a worker can serve a
large repository without writing its tree to disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pygit2
from pygit2.enums import AttrCheck, FileMode, ObjectType


class CommitTree:
    """Read access to one commit's tree in a (bare or not) repository."""

    def __init__(self, repo: pygit2.Repository, tree: pygit2.Tree, commit: pygit2.Oid | None = None) -> None:
        self._repo = repo
        self._tree = tree
        self._commit = commit

    @property
    def tree_id(self) -> str:
        return str(self._tree.id)

    def read(self, path: str) -> bytes | None:
        try:
            entry = self._tree[path]
        except (KeyError, ValueError):
            return None
        if entry.type != ObjectType.BLOB or entry.filemode == FileMode.LINK:
            return None  # symlinks could point outside the tree; analyzers skip them
        # the raw object read: no ``Blob`` object to build (a third of the cost of a read)
        return self._repo.read(entry.id)[1]

    def paths(self) -> Iterator[str]:
        yield from _walk(self._repo, self._tree, "")

    def attribute(self, path: str, name: str) -> str | bool | None:
        """``path``'s git attribute ``name`` as the commit's ``.gitattributes`` files set
        it (True set, False unset, a string for a value, None unspecified), by git's own
        rules (libgit2). The worker's system-wide attributes and, in a repository with a
        working directory (``shunter run``), its files are left out: the commit decides."""
        if self._commit is None:
            return None
        flags = AttrCheck.INCLUDE_COMMIT | AttrCheck.INDEX_ONLY | AttrCheck.NO_SYSTEM
        try:
            value = self._repo.get_attr(path, name, flags=flags, commit=self._commit)
        except (pygit2.GitError, ValueError):
            return None
        return cast("str | bool | None", value)


def _walk(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str) -> Iterator[str]:
    # ``type_str`` is a plain string; ``type`` builds an enum member per entry, which cost
    # a third of walking a tree
    for entry in tree:
        kind = entry.type_str
        if kind == "tree":
            subtree = cast(pygit2.Tree, repo[entry.id])  # type_str said so; no isinstance
            yield from _walk(repo, subtree, f"{prefix}{entry.name}/")
        elif kind == "blob" and entry.filemode != FileMode.LINK:
            yield f"{prefix}{entry.name}"
