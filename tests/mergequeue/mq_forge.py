"""Real git for merge-queue tests: a bare repository on disk plays the remote ("GitHub"),
and helpers make change requests against it the way a stage would (difflib diffs with
pre-image blob ids)."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pygit2

from bot.changes.model import ChangeRequest, Priority
from bot.git.apply import Pygit2BaseTree
from bot.models import FileDiff, PatchDraft, StageName

REPO = "acme/widgets"
BRANCH = "main"
HUMAN = pygit2.Signature("Hu Man", "human@example.com")
TRAILER = re.compile(r"^Shunter-Change: (\S+)$", re.MULTILINE)


def module_text(i: int) -> bytes:
    body = "".join(f"def f{i}_{j}(x):\n    return x + {j}\n\n\n" for j in range(6))
    return f'"""Module {i}."""\n\n\n{body}'.encode()


class Forge:
    """The remote side: a bare repository with a ``main`` branch."""

    def __init__(self, root: Path) -> None:
        self.remote_root = root / "remotes"
        self.path = self.remote_root / f"{REPO}.git"
        self.path.parent.mkdir(parents=True)
        self.repo = pygit2.init_repository(str(self.path), bare=True)
        files = {f"src/mod{i}.py": module_text(i) for i in range(60)}
        files["README.md"] = b"# widgets\n\nA project.\n"
        files[".github/workflows/ci.yml"] = b"on: push\njobs: {}\n"
        files["docs/guide.md"] = b"# Guide\n\nline one\nline two\nline three\n"
        index = pygit2.Index()
        for path, data in files.items():
            index.add(pygit2.IndexEntry(path, self.repo.create_blob(data), 0o100644))
        index.add(pygit2.IndexEntry("linkdir", self.repo.create_blob(b"src"), 0o120000))
        tree = index.write_tree(self.repo)
        self.repo.create_commit("refs/heads/main", HUMAN, HUMAN, "initial", tree, [])
        self.repo.set_head("refs/heads/main")

    def refresh(self) -> pygit2.Repository:
        self.repo = pygit2.Repository(str(self.path))
        return self.repo

    def head(self) -> str:
        return str(self.refresh().references[f"refs/heads/{BRANCH}"].target)

    def read(self, path: str, sha: str | None = None) -> bytes:
        commit = self.refresh()[sha or self.head()]
        return self.repo[commit.tree[path].id].data

    def human_commit(self, changes: dict[str, bytes | None], message: str = "human edit") -> str:
        """A person pushes to the branch (moves the ref directly, as a push would); None
        deletes the path."""
        repo = self.refresh()
        parent = repo[self.head()]
        index = pygit2.Index()
        index.read_tree(parent.tree)
        for path, data in changes.items():
            if data is None:
                index.remove(path)
            else:
                index.add(pygit2.IndexEntry(path, repo.create_blob(data), 0o100644))
        tree = index.write_tree(repo)
        oid = repo.create_commit(None, HUMAN, HUMAN, message, tree, [parent.id])
        repo.references[f"refs/heads/{BRANCH}"].set_target(oid)
        return str(oid)

    def history(self) -> list[pygit2.Commit]:
        repo = self.refresh()
        return list(repo.walk(repo[self.head()].id, pygit2.enums.SortMode.TOPOLOGICAL))

    def trailer_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for commit in self.history():
            for change_id in TRAILER.findall(commit.message):
                counts[change_id] = counts.get(change_id, 0) + 1
        return counts

    def base_tree(self, sha: str | None = None) -> Pygit2BaseTree:
        return Pygit2BaseTree(self.refresh(), sha or self.head())

    def diff_for(self, path: str, new: bytes, sha: str | None = None) -> FileDiff:
        sha = sha or self.head()
        try:
            old = self.read(path, sha)
            blob = str(self.repo[sha].tree[path].id)
        except KeyError:
            old, blob = b"", None
        lines = difflib.unified_diff(
            old.decode().splitlines(keepends=True),
            new.decode().splitlines(keepends=True),
            fromfile=f"a/{path}" if blob else "/dev/null",
            tofile=f"b/{path}",
        )
        return FileDiff(path=path, diff="".join(lines), pre_image_blob=blob)

    def change(
        self,
        edits: dict[str, bytes],
        *,
        title: str = "fix",
        sha: str | None = None,
        requester: str = "alice",
        priority: Priority = Priority.REQUESTED,
        requester_email: str | None = None,
    ) -> ChangeRequest:
        sha = sha or self.head()
        draft = PatchDraft(
            stage=StageName.REVIEW,
            title=title,
            files=[self.diff_for(p, data, sha) for p, data in edits.items()],
            finding_fingerprints=["f" * 16],
        )
        return ChangeRequest.from_draft(
            draft,
            repo=REPO,
            branch=BRANCH,
            head_sha=sha,
            requester=requester,
            requester_email=requester_email,
            priority=priority,
        )


def edited(i: int, tag: str = "edited") -> bytes:
    """Module ``i`` with its third function changed (a one-hunk patch)."""
    return module_text(i).replace(b"return x + 2\n", f"return x + 2  # {tag}\n".encode())
