"""Turning change requests into trees and commits, in a local pygit2 repository.

The post-image of a change request is built on the commit it was computed on (where its
hunks apply exactly, see ``bot.changes.unified``); moving it onto the branch's current head
is then a 3-way merge of whole trees (``Repository.merge_trees``) with the request's base as
the ancestor. That is what ``git cherry-pick`` does, so a patch that a human would see apply
cleanly applies cleanly here, and a conflict is reported with the paths and hunks involved.

Nothing here talks to a remote: fetching and pushing live in ``bot.git.push``.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field

import pygit2
from pygit2.enums import FileMode

from bot.changes.model import ChangeRequest
from bot.changes.unified import FilePatch, HunkMismatch, apply_hunks, parse_file_diff
from bot.changes.validation import MODE_FILE, TreeEntry
from bot.errors import PatchConflict, WorkspaceError

TRAILER_CHANGE = "Shunter-Change"
_TRAILER = re.compile(rf"^{TRAILER_CHANGE}:\s*(\S+)\s*$", re.MULTILINE)


class Pygit2BaseTree:
    """``bot.changes.BaseTree`` over a commit in a pygit2 repository."""

    def __init__(self, repo: pygit2.Repository, commit_sha: str) -> None:
        self._repo = repo
        self._tree = _commit(repo, commit_sha).tree

    def entry(self, path: str) -> TreeEntry | None:
        try:
            obj = self._tree[path]
        except KeyError:
            return None
        return TreeEntry(int(obj.filemode), str(obj.id))

    def read_blob(self, oid: str) -> bytes:
        blob = self._repo[oid]
        assert isinstance(blob, pygit2.Blob)
        return blob.data


@dataclass(frozen=True)
class ConflictDetail:
    """Why one change request did not apply: which paths, which of its hunks, where."""

    change_id: str
    paths: tuple[str, ...]
    hunks: tuple[str, ...]
    """``path: @@ ... @@`` for each of the request's hunks on a conflicting path that meets
    the lines the branch changed there (all of them when none does, or the branch deleted
    or replaced the file)."""
    regions: tuple[str, ...] = ()
    """``path:L<start>-L<end>`` of each conflict region in the 3-way merge result."""
    reasons: tuple[str, ...] = ()
    """What the branch did to each path that is not an edit of the same lines (a deletion,
    an add of its own, a file where a folder was, or the reverse): see ``_reason``."""

    def describe(self, head_sha: str) -> str:
        what = list(self.reasons)
        if self.regions or not what:
            where = ", ".join(self.regions) or ", ".join(self.paths)
            what.insert(0, f"the branch changed the same lines ({where})")
        return (
            f"conflict on {', '.join(self.paths)} against {head_sha[:12]}: {'; '.join(what)}; "
            f"conflicting hunks: {'; '.join(self.hunks)}"
        )

    def to_error(self, head_sha: str) -> PatchConflict:
        return PatchConflict(self.describe(head_sha), list(self.paths))


@dataclass
class BatchApply:
    """The outcome of applying a batch onto one head."""

    head_sha: str
    tree: str
    applied: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    """Requests whose change is already on the head (the merge changed nothing)."""
    conflicts: dict[str, ConflictDetail] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def _commit(repo: pygit2.Repository, sha: str) -> pygit2.Commit:
    try:
        obj = repo[sha]
    except (KeyError, ValueError):
        raise WorkspaceError(f"commit {sha[:12]} is not in the local repository") from None
    if not isinstance(obj, pygit2.Commit):
        raise WorkspaceError(f"{sha[:12]} is not a commit")
    return obj


def _tree(repo: pygit2.Repository, oid: pygit2.Oid) -> pygit2.Tree:
    tree = repo[oid]
    assert isinstance(tree, pygit2.Tree)
    return tree


def post_image_tree(repo: pygit2.Repository, cr: ChangeRequest) -> pygit2.Oid:
    """The tree of ``cr.head_sha`` with the request's diffs applied exactly."""
    base = _commit(repo, cr.head_sha).tree
    index = pygit2.Index()
    index.read_tree(base)
    for file in cr.files:
        patch = parse_file_diff(file.diff)
        source = file.old_path or file.path
        try:
            entry = base[source]
            content = repo[entry.id].data  # type: ignore[attr-defined]
            mode = int(entry.filemode)
        except KeyError:
            content, mode = b"", MODE_FILE
        try:
            result = apply_hunks(content, patch)
        except HunkMismatch as exc:
            raise PatchConflict(f"{source}: {exc}", [source]) from None
        if source != file.path or patch.deleted:
            index.remove(source)
        if patch.deleted:
            continue
        mode = _explicit_mode(patch, mode)
        index.add(pygit2.IndexEntry(file.path, repo.create_blob(result), FileMode(mode)))
    return index.write_tree(repo)


def _explicit_mode(patch: FilePatch, mode: int) -> int:
    """The file's mode after ``patch``: its new mode only when the diff changes it (a new
    file, or ``old mode``/``new mode``). ``index a..b 100644`` only states the mode the diff
    was computed with; taking it as an instruction would undo a later ``chmod``."""
    if patch.new_mode and patch.new_mode != patch.old_mode:
        return int(patch.new_mode, 8)
    return mode


def _collides(index: pygit2.Index, path: str) -> bool:
    """Whether adding a file at ``path`` would replace a directory or a file the index holds:
    a file at one of its parents (``tools`` for ``tools/run.py``) or entries below it
    (``notes/a.md`` for ``notes``). ``Index.add`` resolves either by silently dropping the
    other side, so such an add must go through the 3-way merge, which reports it."""
    parts = path.split("/")
    if any("/".join(parts[:depth]) in index for depth in range(1, len(parts))):
        return True
    prefix = path + "/"
    low, high = 0, len(index)
    while low < high:  # entries are sorted by path: find the first one >= prefix
        mid = (low + high) // 2
        if os.fspath(index[mid].path) < prefix:
            low = mid + 1
        else:
            high = mid
    return low < len(index) and os.fspath(index[low].path).startswith(prefix)


def _conflict_detail(repo: pygit2.Repository, cr: ChangeRequest, merged: pygit2.Index) -> ConflictDetail:
    paths: list[str] = []
    regions: list[str] = []
    reasons: list[str] = []
    rewritten: dict[str, list[tuple[int, int]]] = {}  # path -> base lines the branch rewrote
    for ancestor, ours, theirs in merged.conflicts or ():
        entry = ours or theirs or ancestor
        if entry is None:
            continue
        paths.append(entry.path)
        if ancestor is not None and ours is not None and theirs is not None:
            merged_file = repo.merge_file_from_index(ancestor, ours, theirs)
            text = getattr(merged_file, "contents", merged_file)
            regions.extend(_marker_regions(entry.path, str(text)))
            rewritten[ancestor.path] = _rewritten_lines(repo, ancestor, ours)
        else:
            reasons.append(_reason(entry.path, ancestor is not None, ours is not None, theirs is not None))
    wanted = set(paths)

    def involved(name: str | None) -> bool:  # the path itself, or a file/directory clash
        return name is not None and any(
            name == w or name.startswith(w + "/") or w.startswith(name + "/") for w in wanted
        )

    hunks: list[str] = []
    for f in cr.files:
        if not (involved(f.path) or involved(f.old_path)):
            continue
        own = parse_file_diff(f.diff).hunks
        ranges = rewritten.get(f.old_path or f.path)
        clashing = [h for h in own if ranges is None or _touches(_span_of(h.old_start, h.old_len), ranges)]
        hunks += [f"{f.path}: {h.header}" for h in clashing or own]
    return ConflictDetail(cr.id, tuple(sorted(set(paths))), tuple(hunks), tuple(regions), tuple(reasons))


def _span_of(start: int, count: int) -> tuple[int, int]:
    """The lines ``(first, last)`` a hunk side covers; an empty side sits between line
    ``start`` and the next, and touches both."""
    return (start, start + count - 1) if count else (start, start + 1)


def _touches(span: tuple[int, int], others: Iterable[tuple[int, int]]) -> bool:
    return any(span[0] <= last and first <= span[1] for first, last in others)


def _rewritten_lines(
    repo: pygit2.Repository, ancestor: pygit2.IndexEntry, ours: pygit2.IndexEntry
) -> list[tuple[int, int]]:
    """The ancestor's lines the branch changed (``(first, last)`` per change), so that a
    conflict names the change's hunks that meet them: the others would have applied, and
    listing every hunk of the file as conflicting sent people looking at lines nobody
    else touched."""
    old = repo[ancestor.id].peel(pygit2.Blob).data
    new = repo[ours.id].peel(pygit2.Blob).data
    patch = pygit2.Patch.create_from(old, new, context_lines=0)
    spans = [_span_of(h.old_start, h.old_lines) for h in patch.hunks]
    del patch, old, new  # the patch goes before the buffers it points into
    return spans


def _reason(path: str, in_base: bool, on_branch: bool, in_change: bool) -> str:
    """Why a path conflicts when it is not two edits of the same lines, in the words of the
    person who has to resolve it (the 3-way merge's sides: base, branch now, change)."""
    if in_base and not on_branch:
        return f"the branch deleted {path}, which the change edits"
    if in_base:
        return f"the change deletes {path}, which the branch has changed since"
    if on_branch and in_change:
        return f"the branch added {path} too, with other content"
    if in_change:  # only the change has the path: the branch has a folder there now
        return f"the change adds the file {path}, but the branch now has a folder {path}/"
    return f"the change adds files under {path}/, but the branch now has a file {path}"


def _marker_regions(path: str, merged_text: str) -> list[str]:
    regions: list[str] = []
    start = 0
    for number, line in enumerate(merged_text.splitlines(), start=1):
        if line.startswith("<<<<<<<"):
            start = number
        elif line.startswith(">>>>>>>") and start:
            regions.append(f"{path}:L{start}-L{number}")
            start = 0
    return regions


def _apply_in_place(repo: pygit2.Repository, index: pygit2.Index, cr: ChangeRequest) -> bool:
    """Apply ``cr`` straight onto ``index`` when every file it touches still holds its
    pre-image there (same blob, same mode) and no file it adds collides with a directory or a
    file at a parent path; False (index untouched) otherwise.

    That is the trivial case of the 3-way merge (ours equals the ancestor on every path the
    change touches, so the result is theirs), taken without building and merging trees.
    Anything less (a newer mode, a new directory where the change adds a file) goes to the
    merge, which keeps the newer side or reports a conflict.
    """
    base = _commit(repo, cr.head_sha).tree
    staged: list[tuple[str, str, bytes | None, int]] = []
    for file in cr.files:
        patch = parse_file_diff(file.diff)
        source = file.old_path or file.path
        try:
            entry: pygit2.IndexEntry | None = index[source]
        except KeyError:
            entry = None
        if file.pre_image_blob is None:
            if entry is not None:
                return False
            content, mode = b"", MODE_FILE
        else:
            if entry is None or not str(entry.id).startswith(file.pre_image_blob):
                return False
            try:
                base_mode = int(base[source].filemode)
            except KeyError:
                return False
            if int(entry.mode) != base_mode:  # e.g. chmod +x since: the merge keeps it
                return False
            content, mode = repo[entry.id].data, int(entry.mode)  # type: ignore[attr-defined]
        if file.path != source and file.path in index:
            return False
        if not patch.deleted and (entry is None or file.path != source) and _collides(index, file.path):
            return False
        try:
            result = apply_hunks(content, patch)
        except HunkMismatch:
            return False
        mode = _explicit_mode(patch, mode)
        staged.append((source, file.path, None if patch.deleted else result, mode))
    for source, path, data, mode in staged:
        if source != path or data is None:
            index.remove(source)
        if data is not None:
            index.add(pygit2.IndexEntry(path, repo.create_blob(data), FileMode(mode)))
    return True


def apply_batch(repo: pygit2.Repository, head_sha: str, changes: Sequence[ChangeRequest]) -> BatchApply:
    """Apply ``changes`` one after another onto ``head_sha``'s tree, each as a 3-way merge
    with its own base as the ancestor.

    A request that conflicts is left out (and described) without affecting the others; a
    request whose merge changes nothing is reported as already present.
    """
    head = _commit(repo, head_sha)
    index = pygit2.Index()
    index.read_tree(head.tree)
    result = BatchApply(head_sha=head_sha, tree=str(head.tree.id))
    for cr in changes:
        if _apply_in_place(repo, index, cr):
            result.applied.append(cr.id)
            result.files.extend(cr.paths)
            continue
        base = _commit(repo, cr.head_sha)
        try:
            theirs = post_image_tree(repo, cr)
        except PatchConflict as exc:
            result.conflicts[cr.id] = ConflictDetail(cr.id, tuple(exc.paths), (exc.message,))
            continue
        current = index.write_tree(repo)
        merged = repo.merge_trees(base.tree, _tree(repo, current), _tree(repo, theirs))
        if merged.conflicts is not None:
            result.conflicts[cr.id] = _conflict_detail(repo, cr, merged)
            continue
        merged_tree = merged.write_tree(repo)
        if merged_tree == current:
            result.already_present.append(cr.id)
            continue
        index = pygit2.Index()
        index.read_tree(_tree(repo, merged_tree))
        result.applied.append(cr.id)
        result.files.extend(cr.paths)
    result.tree = str(index.write_tree(repo))
    return result


def commit_message(template: str, changes: Sequence[ChangeRequest]) -> str:
    """The policy's template plus a body listing every request and the trailers.

    Placeholders: ``{title}``, ``{stage}``, ``{pr_number}``, ``{count}`` (what the policy
    schema offers) and ``{id}``, ``{requester}``; ``{{`` and ``}}`` are literal braces, as
    the schema's validator (``str.format`` syntax) promises. Only those names are
    substituted, as plain text (a conversion or format spec is ignored); anything else is
    left as written. The template comes from a repository's config and ``str.format``
    itself would let it reach into Python objects.
    """
    if not changes:
        raise ValueError("a commit needs at least one change request")
    first = changes[0]
    pulls = dict.fromkeys(str(c.origin.pull_number) for c in changes if c.origin.pull_number is not None)
    values = {
        "title": first.title if len(changes) == 1 else f"apply {len(changes)} changes",
        "stage": first.origin.stage.value if first.origin.stage else "patch",
        "pr_number": ",".join(pulls),
        "id": first.id if len(changes) == 1 else ",".join(c.id for c in changes),
        "requester": first.requester,
        "count": str(len(changes)),
    }
    rendered = _render(template, values).strip().splitlines()
    subject = rendered[0].strip() if rendered else f"shunter: {values['title']}"
    lines = [subject, ""]
    if len(changes) > 1:
        lines += [f"- {c.title} ({c.id})" for c in changes]
        lines.append("")
    lines += [f"{TRAILER_CHANGE}: {c.id}" for c in changes]
    seen: set[str] = set()
    for c in changes:
        # only with the address the event gave (``<id>+<login>@users.noreply...``): GitHub
        # credits a trailer to whoever owns its e-mail, and ``<login>@users.noreply.github.com``
        # is someone else's once the login is renamed (or, for auto-applies, the user "shunter")
        if c.requester_email is None:
            continue
        trailer = f"Co-authored-by: {c.requester} <{c.requester_email}>"
        if trailer not in seen and not c.requester.endswith("[bot]"):
            seen.add(trailer)
            lines.append(trailer)
    return "\n".join(lines) + "\n"


def _render(template: str, values: dict[str, str]) -> str:
    """``template`` with ``values`` substituted for their ``{name}`` fields and doubled braces
    unescaped; other fields stay as written. A template ``str.format`` cannot parse (the
    schema refuses those) is only searched for the plain ``{name}`` fields."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)
    out: list[str] = []
    for literal, name, spec, conversion in parts:
        out.append(literal)
        if name is None:
            continue
        if name in values:
            out.append(values[name])
        else:
            out.append(
                "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            )
    return "".join(out)


def create_commit(
    repo: pygit2.Repository,
    parent_sha: str,
    tree: str,
    message: str,
    signature: pygit2.Signature,
) -> str:
    """A commit object (no ref is moved: the push decides whether it lands)."""
    oid = repo.create_commit(
        None, signature, signature, message, pygit2.Oid(hex=tree), [pygit2.Oid(hex=parent_sha)]
    )
    return str(oid)


def landed_changes(
    repo: pygit2.Repository, head_sha: str, ids: Iterable[str], *, limit: int = 500
) -> dict[str, str]:
    """Which of ``ids`` already have a commit on ``head_sha``'s history (id -> commit sha).

    This is the guard against applying twice: a worker that pushed and then died before
    recording it leaves the trailer on the branch, and whoever retries finds it here.
    """
    wanted = set(ids)
    found: dict[str, str] = {}
    if not wanted:
        return found
    walker = repo.walk(pygit2.Oid(hex=head_sha), pygit2.enums.SortMode.TOPOLOGICAL)
    for count, commit in enumerate(walker):
        if count >= limit or len(found) == len(wanted):
            break
        for change in _TRAILER.findall(commit.message):
            if change in wanted and change not in found:
                found[change] = str(commit.id)
    return found


def below_own_commits(
    repo: pygit2.Repository, tip: str, *, pushed: Container[str], limit: int = 500
) -> tuple[int, str | None]:
    """How many of Shunter's own commits (single-parent, with a ``Shunter-Change`` trailer,
    and among the commits Shunter ``pushed`` there) sit on top of ``tip``'s first-parent
    line, and the first commit below them (None when the history ends, or ``limit`` is
    reached, inside them).

    Whoever rewrites a branch of Shunter's fixes asks this first: everything above the
    returned commit can be made again from the stages' patches; the commit itself, and what
    is below it, may be a person's work. The trailer alone proves nothing: ``git commit
    --amend``, a rebase or a cherry-pick of Shunter's fix keeps it on a person's commit.
    """
    commit = repo[pygit2.Oid(hex=tip)]
    for count in range(limit):
        assert isinstance(commit, pygit2.Commit)
        own = str(commit.id) in pushed and _TRAILER.search(commit.message)
        if len(commit.parent_ids) != 1 or not own:
            return count, str(commit.id)
        commit = commit.parents[0]
    return limit, None


def own_commit_files(repo: pygit2.Repository, sha: str) -> list[str] | None:
    """The paths commit ``sha`` changed when it is one of Shunter's own (single-parent, with
    a ``Shunter-Change`` trailer, as ``below_own_commits`` counts them), else None.

    A change found on the branch by its trailer is usually Shunter's earlier push whose
    answer GitHub lost; its landing reply names the files like any other landing's.
    """
    commit = repo[pygit2.Oid(hex=sha)]
    if not isinstance(commit, pygit2.Commit) or len(commit.parent_ids) != 1:
        return None
    if not _TRAILER.search(commit.message):
        return None
    diff = repo.diff(commit.parents[0].tree, commit.tree)
    paths = {p for d in diff.deltas for p in (d.old_file.path, d.new_file.path)}
    return sorted(paths)
