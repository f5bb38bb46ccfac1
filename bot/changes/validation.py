"""Checks a change request must pass before it may enter the merge queue.

This is the gate between "a stage proposed a patch" and "Shunter will write to someone's
branch". It is a pure function of the request, the base tree it was computed on, the
repository's patch policy and the App's granted permissions, so every refusal is
reproducible and each carries a machine-readable ``reason`` code (``ChangeRejected.reason``)
that the PR reply and ``shunter queue`` show.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bot.changes.model import ChangeRequest
from bot.changes.paths import matches_any, normalise_path
from bot.changes.unified import (
    DiffFormatError,
    FilePatch,
    HunkMismatch,
    apply_hunks,
    parse_file_diff,
    split_lines,
)
from bot.errors import ChangeRejected
from bot.policies.schema import PERMISSION_RANK, Patches

WORKFLOWS_GLOB = ".github/workflows/**"
MODE_FILE = 0o100644
MODE_EXEC = 0o100755
MODE_LINK = 0o120000
MODE_TREE = 0o040000
MODE_GITLINK = 0o160000
_FILE_MODES = {"100644", "100755"}
_SHA = re.compile(r"^[0-9a-f]{40}$")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/(?!\.\.?$)[A-Za-z0-9_.-]+$")
_BAD_REF = re.compile(r"(^[-/.])|(\.\.)|(//)|(@\{)|([\x00-\x20~^:?*\[\\\x7f])|(\.lock$)|([/.]$)")


def _rejected(reason: str, message: str, **values: str) -> ChangeRejected:
    """A refusal whose ``{field}``s name what the change's author chose (see
    :class:`~bot.errors.ChangeRejected`): the PR reply shows each as code."""
    return ChangeRejected(reason, message, values=values)


@dataclass(frozen=True)
class TreeEntry:
    mode: int
    oid: str


class BaseTree(Protocol):
    """Read access to the tree of the commit a change request was computed on."""

    def entry(self, path: str) -> TreeEntry | None:
        """The entry at ``path`` (file, link, tree or gitlink), or None when absent."""

    def read_blob(self, oid: str) -> bytes:
        """The content of blob ``oid``."""


def git_blob_id(content: bytes) -> str:
    """The id git gives a blob with this content (SHA-1 of ``blob <len>\\0<content>``)."""
    header = f"blob {len(content)}\0".encode()
    return hashlib.sha1(header + content, usedforsecurity=False).hexdigest()


@dataclass
class MemoryBaseTree:
    """A ``BaseTree`` over plain dicts, for the pure checks' tests and dry runs."""

    files: Mapping[str, bytes]
    symlinks: Mapping[str, str] = field(default_factory=dict)

    def _blobs(self) -> dict[str, bytes]:
        blobs = {git_blob_id(data): data for data in self.files.values()}
        blobs.update({git_blob_id(t.encode()): t.encode() for t in self.symlinks.values()})
        return blobs

    def entry(self, path: str) -> TreeEntry | None:
        if path in self.files:
            return TreeEntry(MODE_FILE, git_blob_id(self.files[path]))
        if path in self.symlinks:
            return TreeEntry(MODE_LINK, git_blob_id(self.symlinks[path].encode()))
        prefix = path + "/"
        if any(p.startswith(prefix) for p in [*self.files, *self.symlinks]):
            return TreeEntry(MODE_TREE, "0" * 40)
        return None

    def read_blob(self, oid: str) -> bytes:
        return self._blobs()[oid]


@dataclass(frozen=True)
class ValidationReport:
    """What passed: sizes for the queue listing and which protected paths were approved."""

    files: int
    lines: int
    protected_paths: tuple[str, ...] = ()
    patches: tuple[FilePatch, ...] = ()


def validate_change(
    cr: ChangeRequest,
    base: BaseTree,
    policy: Patches,
    app_permissions: Mapping[str, str],
) -> ValidationReport:
    """Every check, cheapest first; the first failure raises ``ChangeRejected``.

    ``app_permissions`` is the installation's granted permissions as GitHub reports them
    (``{"contents": "write", "workflows": "write", ...}``).
    """
    _check_target(cr)
    if not cr.files:
        raise ChangeRejected("empty_change", "the change request has no files")
    # the policy offers these limits to a maintainer's `/shunter approve` (may_apply_change);
    # the safety checks below (paths, modes, pre-images, workflows) hold for everyone
    waived = _approved_by_maintainer(cr)
    if len(cr.files) > policy.max_files and not waived:
        raise ChangeRejected(
            "too_many_files",
            f"the change touches {len(cr.files)} files; patches.max_files is {policy.max_files}",
        )
    seen: set[str] = set()
    paths: list[str] = []
    for file in cr.files:
        for raw in [file.path, *([file.old_path] if file.old_path is not None else [])]:
            clean = normalise_path(raw)
            if clean != raw:
                raise _rejected("path_not_normal", "path {path} is not in normal form", path=raw)
        for name in {file.path, file.old_path or file.path}:
            if name in seen:
                raise _rejected("duplicate_path", "path {path} appears twice", path=name)
            seen.add(name)
            paths.append(name)
    not_allowed = [p for p in paths if not matches_any(p, policy.allowed_paths)]
    if not_allowed and not waived:
        raise _rejected(
            "path_not_allowed",
            "{path} is outside patches.allowed_paths {allowed}",
            path=not_allowed[0],
            allowed=", ".join(policy.allowed_paths),
        )
    parsed = [_parse(file.path, file.diff) for file in cr.files]
    total = sum(p.changed_lines for p in parsed)
    if total > policy.max_lines and not waived:
        raise ChangeRejected(
            "too_many_lines",
            f"the change adds or removes {total} lines; patches.max_lines is {policy.max_lines}",
        )
    protected = _check_protected(cr, paths, policy, app_permissions)
    for file, patch in zip(cr.files, parsed, strict=True):
        _check_file(file.path, file.old_path, file.pre_image_blob, patch, base)
    return ValidationReport(len(cr.files), total, tuple(protected), tuple(parsed))


def _check_target(cr: ChangeRequest) -> None:
    if not _REPO.match(cr.repo):
        raise _rejected("bad_repo", "repository {repo} is not owner/name", repo=cr.repo[:100])
    if not cr.branch or _BAD_REF.search(cr.branch) or len(cr.branch) > 255:
        raise _rejected("bad_branch", "branch {branch} is not a valid ref name", branch=cr.branch[:100])
    if not _SHA.match(cr.head_sha):
        raise _rejected("bad_sha", "head SHA {sha} is not 40 hex digits", sha=cr.head_sha[:50])


def _parse(path: str, diff: str) -> FilePatch:
    try:
        patch = parse_file_diff(diff)
    except DiffFormatError as exc:
        raise _rejected("malformed_diff", "{path}: {problem}", path=path, problem=str(exc)) from None
    if patch.binary:
        raise _rejected("binary_patch", "{path}: binary patches are not accepted", path=path)
    for mode in patch.modes:
        if mode == "120000":
            raise _rejected("symlink_created", "{path}: the patch creates a symbolic link", path=path)
        if mode == "160000":
            raise _rejected("submodule", "{path}: the patch changes a submodule", path=path)
        if mode not in _FILE_MODES:
            raise _rejected("bad_mode", "{path}: file mode {mode} is not allowed", path=path, mode=mode)
    return patch


def _approved_by_maintainer(cr: ChangeRequest) -> bool:
    approval = cr.approval
    return approval is not None and PERMISSION_RANK.get(approval.permission, 0) >= PERMISSION_RANK["maintain"]


def _check_protected(
    cr: ChangeRequest, paths: list[str], policy: Patches, app_permissions: Mapping[str, str]
) -> list[str]:
    workflows = [p for p in paths if matches_any(p, [WORKFLOWS_GLOB])]
    if workflows and app_permissions.get("workflows") != "write":
        raise ChangeRejected(
            "workflows_permission",
            "{path} is a workflow file and the App lacks the 'workflows' permission",
            hint="grant the App 'Workflows: write', or apply this change by hand",
            values={"path": workflows[0]},
        )
    protected = [p for p in paths if p in workflows or matches_any(p, policy.protected_paths)]
    if protected:
        approval = cr.approval
        rank = PERMISSION_RANK.get(approval.permission, 0) if approval else 0
        if approval is None or rank < PERMISSION_RANK["maintain"]:
            who = {"approver": approval.approver, "permission": approval.permission} if approval else {}
            raise _rejected(
                "approval_required",
                "{path} is protected and needs '/shunter approve' from someone with maintain or admin"
                + (" ({approver} has {permission})" if who else ""),
                path=protected[0],
                **who,
            )
    return protected


def _check_file(
    path: str, old_path: str | None, pre_image: str | None, patch: FilePatch, base: BaseTree
) -> None:
    source = old_path or path
    for name in {path, source}:
        _check_parents(name, base)
    header_old = patch.renamed_from or patch.old_path
    header_new = patch.renamed_to or patch.new_path
    mismatch = "{path}: the diff header names {header}"
    if header_new is not None and header_new != path:
        raise _rejected("path_mismatch", mismatch, path=path, header=header_new)
    if header_old is not None and header_old != source:
        raise _rejected("path_mismatch", mismatch, path=source, header=header_old)
    if path != source:
        target = base.entry(path)
        if target is not None:
            raise _rejected("rename_target_exists", "{path} already exists in the base", path=path)
    current = base.entry(source)
    if current is not None and current.mode == MODE_LINK:
        raise _rejected("symlink_target", "{path} is a symbolic link in the base tree", path=source)
    if current is not None and current.mode in (MODE_TREE, MODE_GITLINK):
        raise _rejected("not_a_file", "{path} is a directory or submodule in the base", path=source)
    if pre_image is None:
        if current is not None:
            raise _rejected(
                "pre_image_mismatch", "{path} is new in the change but exists in the base", path=source
            )
        content = b""
    else:
        if current is None:
            raise _rejected("pre_image_mismatch", "{path} does not exist in the base", path=source)
        if len(pre_image) < 7 or not current.oid.startswith(pre_image.lower()):
            raise _rejected(
                "pre_image_mismatch",
                f"{{path}}: pre-image blob {{blob}} is not the base's {current.oid[:12]}",
                path=source,
                blob=pre_image[:12],
            )
        if patch.created:
            raise _rejected("pre_image_mismatch", "{path}: a new-file diff for a file", path=source)
        content = base.read_blob(current.oid)
    if patch.deleted:
        _check_deletion(source, content, patch)
    try:
        apply_hunks(content, patch)
    except HunkMismatch as exc:
        raise _rejected("hunk_mismatch", "{path}: {problem}", path=source, problem=str(exc)) from None


def _check_deletion(source: str, content: bytes, patch: FilePatch) -> None:
    """A deletion removes the whole file, so its hunks must remove every line of it:
    otherwise a diff showing one removed line (and counted as one against
    ``patches.max_lines``) would delete a file of any size."""
    lines = len(split_lines(content))
    if patch.removed_lines != lines or patch.added_lines:
        raise _rejected(
            "incomplete_deletion",
            f"{{path}}: the diff deletes the file but its hunks remove {patch.removed_lines} of "
            f"its {lines} lines; a deletion must remove every line",
            path=source,
        )


def _check_parents(path: str, base: BaseTree) -> None:
    parts = path.split("/")
    for depth in range(1, len(parts)):
        parent = "/".join(parts[:depth])
        entry = base.entry(parent)
        if entry is None:
            return
        if entry.mode == MODE_LINK:
            raise _rejected(
                "symlink_parent",
                "{path}: its parent {parent} is a symbolic link in the base",
                path=path,
                parent=parent,
            )
        if entry.mode != MODE_TREE:
            raise _rejected(
                "not_a_directory", "{path}: its parent {parent} is not a directory", path=path, parent=parent
            )
