"""What a stage receives: the changed files of a pull request and read access to both trees.

This is the contract between the git workspace (``bot.git``), which builds a
``StageContext`` from a real repository, and the stages, which are pure functions
``run(ctx) -> StageResult``. Tests can build a ``StageContext`` from in-memory trees.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

FileStatus = Literal["added", "modified", "deleted", "renamed"]

Origin = Literal["pull_request", "local_run"]
"""What asked for the run: a pull request on GitHub, or ``shunter run`` on a local repository."""


@dataclass(frozen=True)
class ChangedFile:
    """One file of the merge-base diff, with the head line numbers the diff touches."""

    path: str
    status: FileStatus
    old_path: str | None = None
    added_lines: frozenset[int] = frozenset()
    """Head-side line numbers added or modified by the PR."""
    context_lines: frozenset[int] = frozenset()
    """Head-side line numbers inside the diff hunks but unchanged (reviewdog's diff_context)."""
    head_blob: str | None = None
    base_blob: str | None = None
    is_binary: bool = False
    patch: str = ""
    """The file's unified diff (hunks only, GitHub's ``patch`` field shape)."""
    executable: bool = False
    """Mode 100755 on the head side (ruff's EXE rules look at the file's mode)."""
    symlink: bool = False
    """A symbolic link, not a file: its blob is the link's target path, never content, so it
    has no line map and no patch, and the trees read no text for it. A path that is a link on
    one side and a file on the other is listed once, as the file: ``deleted`` (it became a
    link), ``added`` with every line added (it was one), or the rename that brought it."""

    ending_only_lines: frozenset[int] = frozenset()
    """Head lines the diff shows as changed whose only change is their line ending (CRLF
    to LF or back, as an editor or ``core.autocrlf`` makes it): counted in
    ``context_lines``, not ``added_lines``, so a file whose endings all changed does not
    make its old findings the PR's."""

    @property
    def diff_lines(self) -> frozenset[int]:
        return self.added_lines | self.context_lines


@dataclass(frozen=True)
class ChangedPath:
    """A file of the diff as the tree comparison names it, before any line is diffed."""

    path: str
    status: FileStatus
    executable: bool = False
    symlink: bool = False


class PendingFiles(ABC):
    """Changed files whose line maps are still to be computed (``bot.git.changes.DiffFiles``).

    Comparing two trees names the changed files in well under a millisecond; diffing their
    lines takes several. A stage that only needs the paths to start an engine (the review
    stage starts ruff) can have them at once and leave the line diff to run beside it.
    """

    @abstractmethod
    def paths(self) -> list[ChangedPath]:
        """Every changed file's path and status, in path order, without the line maps."""

    @abstractmethod
    def load(self) -> list[ChangedFile]:
        """The ``ChangedFile``s with their line maps, in path order."""


class _Files:
    """``StageContext.files``: a list, or ``PendingFiles`` that become one on first read.

    A descriptor rather than a property so that ``files`` stays an ordinary (required)
    dataclass field: ``StageContext(files=[...])`` and assignment keep working.
    """

    def __get__(self, ctx: Any, owner: object = None) -> list[ChangedFile]:
        if ctx is None:
            raise AttributeError("files")  # no class-level default: the field stays required
        value = ctx.__dict__["_files"]
        if isinstance(value, PendingFiles):
            value = ctx.__dict__["_files"] = value.load()
        return value  # type: ignore[no-any-return]

    def __set__(self, ctx: Any, value: list[ChangedFile] | PendingFiles) -> None:
        ctx.__dict__["_files"] = value


class SourceTree(Protocol):
    """Read access to one commit's tree."""

    def read(self, path: str) -> bytes | None:
        """The blob at ``path``, or None when the path is absent (or not a file)."""

    def paths(self) -> Iterable[str]:
        """Every file path in the tree."""

    def attribute(self, path: str, name: str) -> str | bool | None:
        """``path``'s git attribute ``name`` in this tree (None: unspecified, or unknown)."""


@dataclass
class MemoryTree:
    """A ``SourceTree`` over a dict, for tests and for ``shunter run`` on the working dir."""

    files: Mapping[str, bytes]

    def read(self, path: str) -> bytes | None:
        return self.files.get(path)

    def paths(self) -> Iterable[str]:
        return list(self.files)

    def attribute(self, path: str, name: str) -> str | bool | None:
        return None  # a dict of files has no .gitattributes rules to apply


def _never() -> bool:
    return False


@dataclass
class StageContext:
    """Everything a stage may look at. ``options`` is the stage's config section."""

    repo: str
    base_sha: str
    head_sha: str
    if TYPE_CHECKING:
        files: list[ChangedFile]
    else:
        files: _Files = _Files()  # a descriptor that raises on class access: no default
    """The changed files in path order; ``PendingFiles`` passed here load on first read."""
    head: SourceTree
    base: SourceTree
    options: object = None
    """The stage's config model (``bot.policies.schema.<Stage>StageConfig``) or None."""
    scratch_dir: Path | None = None
    """A private writable directory for materialising files analyzers need on disk."""
    cancelled: Callable[[], bool] = field(default=_never)
    """Checkpoint: stages call it between steps and stop early when it returns True."""
    pr_title: str = ""
    pr_body: str = ""
    author: str = ""
    trusted_author: bool = False
    """True when the PR author has write permission and the head is not a fork."""
    trust_lookup: Callable[[], bool] | None = None
    """Finds ``trusted_author`` out when that costs a GitHub request: asked at most once,
    and only by a stage about to run PR code (see :meth:`author_trusted`)."""
    origin: Origin = "pull_request"
    """What asked for the run; a stage that refuses to run the head's code says why in the
    terms of it (a PR's author and fork, or ``shunter run``'s ``--trusted``)."""

    def author_trusted(self) -> bool:
        """``trusted_author``, looked up on first use when a ``trust_lookup`` is given (most
        PRs give the tests stage nothing to run, and then nobody needs to ask GitHub)."""
        if self.trust_lookup is not None:
            lookup, self.trust_lookup = self.trust_lookup, None
            self.trusted_author = lookup()
        return self.trusted_author

    def changed_paths(self) -> list[ChangedPath]:
        """Path and status of every changed file, without waiting for line maps still pending."""
        value = self.__dict__["_files"]
        if isinstance(value, PendingFiles):
            return value.paths()
        return [ChangedPath(f.path, f.status, f.executable, f.symlink) for f in value]

    def changed(self, path: str) -> ChangedFile | None:
        for item in self.files:
            if item.path == path:
                return item
        return None

    def materialise(self, paths: Iterable[str], *, tree: Literal["head", "base"] = "head") -> Path:
        """Write the given files of a tree under ``scratch_dir/<tree>`` and return that root.

        Only what analyzers need is written, so large repositories stay cheap.
        """
        import tempfile

        if self.scratch_dir is None:
            self.scratch_dir = Path(tempfile.mkdtemp(prefix="shunter-stage-"))
        root = self.scratch_dir / tree
        source = self.head if tree == "head" else self.base
        for path in paths:
            data = source.read(path)
            if data is None:
                continue
            target = (root / path).resolve()
            if not target.is_relative_to(root.resolve()):
                continue  # a hostile path never escapes the scratch dir
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        root.mkdir(parents=True, exist_ok=True)
        return root
