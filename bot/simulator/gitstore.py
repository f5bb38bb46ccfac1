"""Git data for the simulator: bare repositories, commits from file maps, PR diffs.

Pure pygit2 over bare repositories on disk; callers hold ``World.lock``. The diff of a pull
request is GitHub's three-dot diff: from the merge base of base and head to the head.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pygit2

Files = dict[str, str | bytes | None]  # path -> content (None deletes the path)
_Kind = TypeVar("_Kind", pygit2.Blob, pygit2.Tree, pygit2.Commit)

_STATUS = {
    pygit2.enums.DeltaStatus.ADDED: "added",
    pygit2.enums.DeltaStatus.DELETED: "removed",
    pygit2.enums.DeltaStatus.MODIFIED: "modified",
    pygit2.enums.DeltaStatus.RENAMED: "renamed",
    pygit2.enums.DeltaStatus.COPIED: "copied",
    pygit2.enums.DeltaStatus.TYPECHANGE: "changed",
}


def init_bare(path: Path, default_branch: str) -> pygit2.Repository:
    path.parent.mkdir(parents=True, exist_ok=True)
    repo = pygit2.init_repository(str(path), bare=True, initial_head=default_branch)
    # Pushing to refs/pull/* is refused by GitHub; fetching them is allowed.
    repo.config["receive.hideRefs"] = "refs/pull"
    repo.config["http.receivepack"] = True
    repo.config["uploadpack.allowReachableSHA1InWant"] = True
    return repo


def signature(name: str, email: str, when: datetime) -> pygit2.Signature:
    utcoffset = when.utcoffset()
    offset = int(utcoffset.total_seconds() // 60) if utcoffset else 0
    return pygit2.Signature(name, email, int(when.timestamp()), offset)


def lookup(repo: pygit2.Repository, oid: str | pygit2.Oid, kind: type[_Kind]) -> _Kind:
    """The object ``oid`` names, which the caller knows is in ``repo`` and is a ``kind``."""
    obj = repo.get(oid)
    assert isinstance(obj, kind), f"{oid} is not a {kind.__name__} in {repo.path}"
    return obj


def tree_with(repo: pygit2.Repository, base_tree: pygit2.Tree | None, files: Files) -> pygit2.Oid:
    """A new tree: ``base_tree`` with ``files`` written (or removed, for None)."""
    index = pygit2.Index()
    if base_tree is not None:
        index.read_tree(base_tree)
    for path, content in files.items():
        path = path.strip("/")
        if content is None:
            if path in index:
                index.remove(path)
            else:  # a directory: drop everything below it
                for entry in [e.path for e in index if e.path.startswith(path + "/")]:
                    index.remove(entry)
            continue
        data = content.encode() if isinstance(content, str) else content
        oid = repo.create_blob(data)
        index.add(pygit2.IndexEntry(path, oid, pygit2.enums.FileMode.BLOB))
    return index.write_tree(repo)


def tree_from_entries(
    repo: pygit2.Repository, base_tree: pygit2.Tree | None, entries: list[dict[str, object]]
) -> pygit2.Oid:
    """The Git Data API's tree creation: entries with ``sha`` or ``content`` (null deletes)."""
    index = pygit2.Index()
    if base_tree is not None:
        index.read_tree(base_tree)
    for entry in entries:
        path = str(entry["path"]).strip("/")
        mode = int(str(entry.get("mode", "100644")), 8)
        if "content" in entry and entry["content"] is not None:
            oid = repo.create_blob(str(entry["content"]).encode())
        elif entry.get("sha") is None:
            if path in index:
                index.remove(path)
            for sub in [e.path for e in index if e.path.startswith(path + "/")]:
                index.remove(sub)
            continue
        else:
            oid = pygit2.Oid(hex=str(entry["sha"]))
        if stat.S_ISDIR(mode) or entry.get("type") == "tree":
            sub_tree = repo.get(oid)
            if not isinstance(sub_tree, pygit2.Tree):
                raise TypeError(f"{oid} is not a tree")
            for sub in _walk(repo, sub_tree, path + "/"):
                index.add(sub)
        else:
            index.add(pygit2.IndexEntry(path, oid, pygit2.enums.FileMode(mode)))
    return index.write_tree(repo)


def _walk(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str) -> list[pygit2.IndexEntry]:
    out: list[pygit2.IndexEntry] = []
    for obj in tree:
        assert obj.name is not None  # a tree's entries are named
        if obj.type_str == "tree":
            out += _walk(repo, lookup(repo, obj.id, pygit2.Tree), prefix + obj.name + "/")
        else:
            out.append(pygit2.IndexEntry(prefix + obj.name, obj.id, obj.filemode))
    return out


def commit_files(
    repo: pygit2.Repository,
    branch: str,
    files: Files,
    message: str,
    author: pygit2.Signature,
    *,
    parent: str | None = None,
) -> str:
    """Commit ``files`` on top of ``branch`` (or ``parent``) and move the branch; returns sha."""
    ref_name = f"refs/heads/{branch}"
    parent_sha = parent
    if parent_sha is None and ref_name in repo.references:
        parent_sha = str(repo.references[ref_name].target)
    base_tree = lookup(repo, parent_sha, pygit2.Commit).tree if parent_sha else None
    tree = tree_with(repo, base_tree, files)
    parents = [pygit2.Oid(hex=parent_sha)] if parent_sha else []
    oid = repo.create_commit(None, author, author, message, tree, parents)
    repo.references.create(ref_name, oid, force=True)
    return str(oid)


def ref_sha(repo: pygit2.Repository, ref: str) -> str | None:
    try:
        return str(repo.references[ref].resolve().target)
    except (KeyError, pygit2.GitError):
        return None


def all_refs(repo: pygit2.Repository) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in repo.references:
        sha = ref_sha(repo, name)
        if sha is not None:
            out[name] = sha
    return out


def resolve(repo: pygit2.Repository, ref: str) -> pygit2.Commit | None:
    """A commit from a sha, branch, tag or full ref name; None when it does not exist."""
    for candidate in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}"):
        try:
            obj = repo.revparse_single(candidate)
        except (KeyError, ValueError, pygit2.GitError):
            continue
        try:
            return obj.peel(pygit2.Commit)
        except (pygit2.GitError, pygit2.InvalidSpecError):
            return None
    return None


def is_fast_forward(repo: pygit2.Repository, old: str, new: str) -> bool:
    return old == new or repo.descendant_of(pygit2.Oid(hex=new), pygit2.Oid(hex=old))


def merge_base(repo: pygit2.Repository, a: str, b: str) -> str | None:
    oid = repo.merge_base(pygit2.Oid(hex=a), pygit2.Oid(hex=b))
    return str(oid) if oid else None


def commits_between(repo: pygit2.Repository, base: str | None, head: str) -> list[pygit2.Commit]:
    """Commits reachable from head and not from base, oldest first."""
    walker = repo.walk(pygit2.Oid(hex=head), pygit2.enums.SortMode.TOPOLOGICAL)
    if base:
        walker.hide(pygit2.Oid(hex=base))
    return list(reversed(list(walker)))


@dataclass
class FileChange:
    filename: str
    status: str
    additions: int
    deletions: int
    patch: str
    sha: str
    previous_filename: str | None
    # commentable lines: (side, line) -> position in the file's patch (1-based)
    lines: dict[tuple[str, int], int] = field(default_factory=dict)
    hunks: list[tuple[int, int, str]] = field(default_factory=list)  # (first_pos, last_pos, header)


def _typechange_halves(
    repo: pygit2.Repository, delta: pygit2.DiffDelta
) -> tuple[list[pygit2.Patch], tuple[pygit2.Blob, pygit2.Blob]]:
    """A path that turned from a file into a symlink (or back), as git prints it: the old
    entry removed, then the new one added (libgit2's TYPECHANGE patch has no hunks at all).

    The patches point into the blobs without owning them (as in ``ruff_check.file_diff``):
    the caller holds the blobs returned with them for as long as it reads the patches.
    """
    old = lookup(repo, delta.old_file.id, pygit2.Blob)
    new = lookup(repo, delta.new_file.id, pygit2.Blob)
    paths = (delta.old_file.path, delta.new_file.path)
    halves = [pygit2.Patch.create_from(old, None, *paths), pygit2.Patch.create_from(None, new, *paths)]
    return halves, (old, new)


def diff(repo: pygit2.Repository, base: str, head: str) -> tuple[str, list[FileChange]]:
    """The unified diff text and per-file changes from ``base`` to ``head``.

    A typechange is one ``changed`` entry, as GitHub lists git's ``T`` status; the text is
    git's, where it is the path deleted and added again.
    """
    old_commit, new_commit = lookup(repo, base, pygit2.Commit), lookup(repo, head, pygit2.Commit)
    d = repo.diff(old_commit, new_commit, flags=pygit2.enums.DiffOption.INCLUDE_TYPECHANGE, context_lines=3)
    d.find_similar()
    text = d
    changes: list[FileChange] = []
    for patch in d:
        assert patch is not None  # libgit2 makes no patch only for unmodified deltas, not listed here
        delta = patch.delta
        parts = [patch]
        if delta.status == pygit2.enums.DeltaStatus.TYPECHANGE:
            parts, _held = _typechange_halves(repo, delta)
            if text is d:  # libgit2 prints only the modes for it: git's text splits it instead
                text = repo.diff(old_commit, new_commit, context_lines=3)
                text.find_similar()
        lines: dict[tuple[str, int], int] = {}
        hunks: list[tuple[int, int, str]] = []
        body: list[str] = []
        position = 0
        for hunk in (hunk for part in parts for hunk in part.hunks):
            header = hunk.header.rstrip("\n")
            if body:
                position += 1  # the hunk header line counts as a position after the first
            body.append(header)
            first = position + 1
            for line in hunk.lines:
                if line.origin not in "+- ":
                    continue
                position += 1
                body.append(line.origin + line.content.rstrip("\n"))
                if line.origin in "+ ":
                    lines[("RIGHT", line.new_lineno)] = position
                if line.origin in "- ":
                    lines[("LEFT", line.old_lineno)] = position
            hunks.append((first, position, header))
        additions = sum(part.line_stats[1] for part in parts)
        deletions = sum(part.line_stats[2] for part in parts)
        changes.append(
            FileChange(
                filename=delta.new_file.path,
                status=_STATUS.get(delta.status, "modified"),
                additions=additions,
                deletions=deletions,
                patch="\n".join(body),
                sha=str(
                    delta.new_file.id
                    if delta.status != pygit2.enums.DeltaStatus.DELETED
                    else delta.old_file.id
                ),
                previous_filename=(
                    delta.old_file.path if delta.status == pygit2.enums.DeltaStatus.RENAMED else None
                ),
                lines=lines,
                hunks=hunks,
            )
        )
    return text.patch or "", changes


def changed_paths(repo: pygit2.Repository, old: str | None, new: str) -> list[str]:
    old_tree = lookup(repo, old, pygit2.Commit).tree if old else None
    new_tree = lookup(repo, new, pygit2.Commit).tree
    d = old_tree.diff_to_tree(new_tree) if old_tree is not None else new_tree.diff_to_tree(swap=True)
    paths: list[str] = []
    for delta in d.deltas:
        paths.append(delta.new_file.path)
        if delta.old_file.path != delta.new_file.path:
            paths.append(delta.old_file.path)
    return paths


def commit_file_lists(repo: pygit2.Repository, commit: pygit2.Commit) -> dict[str, list[str]]:
    """A push payload's ``added``/``removed``/``modified`` paths of one commit (against its
    first parent; a rename is a removal plus an addition, as GitHub reports it)."""
    lists: dict[str, list[str]] = {"added": [], "removed": [], "modified": []}
    parent = commit.parents[0].tree if commit.parents else None
    d = parent.diff_to_tree(commit.tree) if parent is not None else commit.tree.diff_to_tree(swap=True)
    for delta in d.deltas:
        if delta.status == pygit2.enums.DeltaStatus.ADDED:
            lists["added"].append(delta.new_file.path)
        elif delta.status == pygit2.enums.DeltaStatus.DELETED:
            lists["removed"].append(delta.old_file.path)
        else:
            lists["modified"].append(delta.new_file.path)
    return lists


def read_path(repo: pygit2.Repository, commit: pygit2.Commit, path: str) -> pygit2.Object | None:
    path = path.strip("/")
    if not path:
        return commit.tree
    try:
        entry = commit.tree[path]
    except KeyError:
        return None
    return repo.get(entry.id)
