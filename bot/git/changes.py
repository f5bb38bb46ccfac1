"""The merge-base diff of a pull request as ``ChangedFile``s with head-side line maps.

GitHub shows a PR as the diff from the merge base of base and head to head (three-dot),
so that is what the stages see too: commits that landed on the base since the branch was
cut never show up as the author's changes.
"""

from __future__ import annotations

import pygit2
from pygit2.enums import DeltaStatus, DiffFind, FileMode

from bot.errors import WorkspaceError
from bot.stages.context import ChangedFile, ChangedPath, FileStatus, PendingFiles

CONTEXT_LINES = 3
RENAME_THRESHOLD = 50
_ZERO = "0" * 40

# No TYPECHANGE: without GIT_DIFF_INCLUDE_TYPECHANGE libgit2 splits a path that turns from
# a file into a symlink (or back) into a DELETED and an ADDED delta, and that split is what the
# stages need: the file's side keeps its own delta (an ADDED file has every line as an added
# line), the link's side is dropped by ``_one_per_path``. A TYPECHANGE delta would carry no
# hunks at all, and libgit2 splits one anyway when a rename lands on its new side.
_STATUS: dict[int, FileStatus] = {
    DeltaStatus.ADDED: "added",
    DeltaStatus.COPIED: "added",
    DeltaStatus.DELETED: "deleted",
    DeltaStatus.MODIFIED: "modified",
    DeltaStatus.RENAMED: "renamed",
}
_GITLINK = 0o160000

# libgit2 re-hashes (collision-detecting SHA-1) every object it reads, unlike git, which
# trusts its object store and checks hashes when objects arrive: then the fetch's indexer
# computed every id from the content (with the same collision detection). Re-hashing on
# read was half the cost of building a PR's context (~9 ms of ~17 for a 56-file diff plus
# reading its Python files) and guards only against the disk rotting under the mirror.
pygit2.settings.enable_strict_hash_verification(False)


def resolve_commit(repo: pygit2.Repository, ref_or_sha: str) -> pygit2.Commit:
    """A commit from a SHA, a ref name or any revision git understands."""
    try:
        obj = repo.revparse_single(ref_or_sha)
        commit = obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError) as exc:
        raise WorkspaceError(
            f"no commit {ref_or_sha!r} in {repo.path.rstrip('/')}",
            hint="fetch the pull request's head and base first",
        ) from exc
    return commit


def merge_base(repo: pygit2.Repository, base: pygit2.Commit, head: pygit2.Commit) -> pygit2.Commit:
    """The commit the PR's changes are measured from; the base itself when histories split."""
    oid = repo.merge_base(base.id, head.id)
    if oid is None:
        return base  # unrelated histories: compare trees directly, as a two-dot diff would
    return repo[oid].peel(pygit2.Commit)


def _blob_id(file: pygit2.DiffFile) -> str | None:
    value = str(file.id)
    return None if value == _ZERO else value


def _hunks_text(patch: pygit2.Patch) -> str:
    """The patch without its ``diff --git``/``---``/``+++`` header, like GitHub's ``patch``."""
    text = patch.text or ""
    start = text.find("\n@@")
    if text.startswith("@@"):
        return text
    return text[start + 1 :] if start >= 0 else ""


def _status(delta: pygit2.DiffDelta) -> FileStatus | None:
    """The entry's status, or None for entries stages cannot look at (submodule pointers)."""
    status = _STATUS.get(delta.status)
    if status is None or _GITLINK in (delta.new_file.mode, delta.old_file.mode):
        return None
    return status


def _changed_path(delta: pygit2.DiffDelta) -> ChangedPath | None:
    """The path, status and modes of one delta, or None when stages cannot look at it."""
    status = _status(delta)
    if status is None:
        return None
    return ChangedPath(
        delta.old_file.path if status == "deleted" else delta.new_file.path,
        status,
        status != "deleted" and delta.new_file.mode == FileMode.BLOB_EXECUTABLE,
        FileMode.LINK in (delta.old_file.mode, delta.new_file.mode),
    )


def _one_per_path(diff: pygit2.Diff) -> list[tuple[int, ChangedPath]]:
    """``(delta index, entry)`` for each path the diff changes, once each, in path order.

    A path whose type changed comes as two deltas (see ``_STATUS``), and when a rename lands
    on a link's old path, as a rename and the link's deletion. The file's delta is the one
    kept: a link is not content (its blob is the target's path), so the link half says
    nothing the stages could read, and keeping both would give two entries for one path.
    """
    chosen: dict[str, tuple[int, ChangedPath]] = {}
    for index, delta in enumerate(diff.deltas):
        entry = _changed_path(delta)
        if entry is None:
            continue
        held = chosen.get(entry.path)
        if held is None or (held[1].symlink and not entry.symlink):
            chosen[entry.path] = (index, entry)
    return sorted(chosen.values(), key=lambda item: item[1].path)


def changed_file(
    patch: pygit2.Patch, entry: ChangedPath | None = None, repo: pygit2.Repository | None = None
) -> ChangedFile | None:
    """One file's entry, or None for entries stages cannot look at (submodule pointers);
    ``entry`` is the patch's delta as ``_changed_path`` names it, when the caller has it.
    With ``repo``, lines whose only change is their ending (``_ending_only``) count as
    context, not as added.

    A symlink's entry has no line map and no patch: its one "line" is the target's path,
    which no analyzer should read as source.
    """
    delta = patch.delta
    if entry is None:
        entry = _changed_path(delta)
        if entry is None:
            return None
    status = entry.status
    added: list[int] = []
    context: list[int] = []
    endings: set[bytes] = set()  # how the changed lines end: CRLF, LF, or neither
    for hunk in () if entry.symlink else patch.hunks:
        for line in hunk.lines:
            origin = line.origin
            if origin == "+":
                added.append(line.new_lineno)
            elif origin == " ":
                context.append(line.new_lineno)
            if origin in "+-" and len(endings) < 2:
                raw = line.raw_content
                endings.add(b"\r\n" if raw.endswith(b"\r\n") else raw[-1:])
    ending_only: frozenset[int] = frozenset()
    if repo is not None and {b"\r\n", b"\n"} <= endings and status in ("modified", "renamed"):
        ending_only = _ending_only(repo, delta, frozenset(added))
    return ChangedFile(
        path=entry.path,
        status=status,
        old_path=delta.old_file.path if status == "renamed" else None,
        added_lines=frozenset(added) - ending_only,
        context_lines=frozenset(context) | ending_only,
        ending_only_lines=ending_only,
        head_blob=None if status == "deleted" else _blob_id(delta.new_file),
        base_blob=None if status == "added" else _blob_id(delta.old_file),
        is_binary=bool(delta.is_binary),
        patch="" if delta.is_binary or entry.symlink else _hunks_text(patch),
        executable=entry.executable,
        symlink=entry.symlink,
    )


def _ending_only(repo: pygit2.Repository, delta: pygit2.DiffDelta, added: frozenset[int]) -> frozenset[int]:
    """The added lines whose only change is their ending (CRLF to LF or back): what an
    editor or ``core.autocrlf`` did to a file, not what its author wrote. They are the added
    lines the same diff leaves out when CRLF is read as LF on both sides (which keeps every
    line's number: only the ``\\r`` before a ``\\n`` goes). GitHub's diff still shows them,
    so they stay commentable, as context lines."""
    try:
        old, new = repo[delta.old_file.id].data, repo[delta.new_file.id].data  # type: ignore[attr-defined]
    except (KeyError, ValueError):
        return frozenset()
    old, new = old.replace(b"\r\n", b"\n"), new.replace(b"\r\n", b"\n")
    plain = pygit2.Patch.create_from(old, new, context_lines=0)
    still = frozenset(line.new_lineno for hunk in plain.hunks for line in hunk.lines if line.origin == "+")
    del plain  # the patch goes before the buffers it points into
    return added - still


class DiffFiles(PendingFiles):
    """A tree diff whose entries are known and whose patches are made on ``load()``.

    libgit2 compares the trees (and finds renames) up front but reads and diffs blob
    contents only when a patch is asked for: for a 56-file PR that is ~0.3 ms against
    ~5 ms. ``paths()`` answers from the first part, so the review stage can start ruff
    before the line maps exist. Both name each path once (``_one_per_path``).
    """

    def __init__(self, diff: pygit2.Diff, repo: pygit2.Repository | None = None) -> None:
        self._diff = diff
        self._repo = repo
        self._entries = _one_per_path(diff)

    def paths(self) -> list[ChangedPath]:
        return [entry for _, entry in self._entries]

    def load(self) -> list[ChangedFile]:
        # a patch is None for an unmodified entry, never listed; the entries are named once
        pairs = ((self._diff[index], entry) for index, entry in self._entries)
        made = (changed_file(patch, entry, self._repo) for patch, entry in pairs if patch is not None)
        return [item for item in made if item is not None]


def diff_files(
    repo: pygit2.Repository,
    old: pygit2.Tree,
    new: pygit2.Tree,
    *,
    context_lines: int = CONTEXT_LINES,
    renames: bool = True,
) -> DiffFiles:
    """The changed files of ``old..new``, their line maps computed on ``load()``."""
    diff = old.diff_to_tree(new, context_lines=context_lines)  # what repo.diff does for trees
    if renames:
        diff.find_similar(flags=DiffFind.FIND_RENAMES, rename_threshold=RENAME_THRESHOLD)
    return DiffFiles(diff, repo)


def pull_request_files(
    repo: pygit2.Repository, base: pygit2.Commit, head: pygit2.Commit, **options: object
) -> tuple[pygit2.Commit, DiffFiles]:
    """The merge base and the files the PR changes relative to it (line maps on demand)."""
    start = merge_base(repo, base, head)
    return start, diff_files(repo, start.tree, head.tree, **options)  # type: ignore[arg-type]
