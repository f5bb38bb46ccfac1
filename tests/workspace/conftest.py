"""Real git repositories built with pygit2: a bare "remote" on disk and commits on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pygit2
import pytest

SIG = pygit2.Signature("Test Author", "author@example.com", 1_700_000_000, 0)


def write_tree(repo: pygit2.Repository, files: Mapping[str, bytes]) -> pygit2.Oid:
    """A tree object for ``{"dir/file": content}`` (nested directories included)."""
    children: dict[str, dict[str, bytes]] = {}
    builder = repo.TreeBuilder()
    for path, data in files.items():
        head, sep, rest = path.partition("/")
        if sep:
            children.setdefault(head, {})[rest] = data
        else:
            builder.insert(head, repo.create_blob(data), pygit2.enums.FileMode.BLOB)
    for name, sub in children.items():
        builder.insert(name, write_tree(repo, sub), pygit2.enums.FileMode.TREE)
    return builder.write()


@dataclass
class Remote:
    """A bare repository standing in for GitHub; ``commit`` moves a ref like a push would."""

    repo: pygit2.Repository
    path: Path

    @property
    def url(self) -> str:
        return str(self.path)

    def commit(
        self, ref: str, files: Mapping[str, bytes], parents: list[str] | None = None, msg: str = "c"
    ) -> str:
        if parents is None:
            try:
                parents = [str(self.repo.references[ref].target)]
            except KeyError:
                parents = []
        tree = write_tree(self.repo, files)
        oid = self.repo.create_commit(None, SIG, SIG, msg, tree, [pygit2.Oid(hex=p) for p in parents])
        self.repo.references.create(ref, oid, force=True)
        return str(oid)

    def files_at(self, ref: str) -> dict[str, bytes]:
        commit = self.repo.revparse_single(ref).peel(pygit2.Commit)
        out: dict[str, bytes] = {}

        def walk(tree: pygit2.Tree, prefix: str) -> None:
            for entry in tree:
                if entry.type_str == "tree":
                    walk(self.repo[entry.id], f"{prefix}{entry.name}/")
                else:
                    out[f"{prefix}{entry.name}"] = self.repo[entry.id].data

        walk(commit.tree, "")
        return out


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    path = tmp_path / "remote.git"
    return Remote(pygit2.init_repository(str(path), bare=True), path)
