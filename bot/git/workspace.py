"""The workspace a stage job runs in: a mirror, the PR's refs, and a ``StageContext``.

Typical use in a stage worker::

    ws = open_workspace(settings.data_dir, "octo/app", "https://github.com/octo/app.git",
                        token=installation_token)
    ws.fetch_pull_request(42, base_branch="main")
    ctx = ws.context_for("refs/heads/main", head_sha, options=config.stages.review)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from bot.errors import WorkspaceError
from bot.git.changes import pull_request_files, resolve_commit
from bot.git.fetched_refs import fetched_ref, record_fetch
from bot.git.mirror import (
    FetchStats,
    branch_refspec,
    fetch,
    mark_used,
    mirror_path,
    open_or_init,
    pull_refspec,
    split_full_name,
    strip_credentials,
    writing,
)
from bot.git.trees import CommitTree
from bot.stages.context import StageContext, _never
from bot.wording import plural


@dataclass
class Workspace:
    """One repository's mirror plus where to fetch it from (the token is held, never stored)."""

    full_name: str
    path: Path
    remote_url: str
    repo: pygit2.Repository
    token: str | None = field(default=None, repr=False)
    lock_timeout: float = 300.0

    def fetch(self, refspecs: Sequence[str]) -> FetchStats:
        return fetch(self.repo, self.remote_url, refspecs, token=self.token, lock_timeout=self.lock_timeout)

    def fetch_branch(self, branch: str) -> str | None:
        """Fetch ``branch`` into its private ref (:func:`bot.git.push.fetch_branch`) under
        the mirror's lock, as every fetch into the mirror, and note it as fetched now; its
        head, or None when the branch is gone."""
        from bot.git.push import GitRemote, fetch_branch  # GitHub's client: not for ``shunter run``

        remote = GitRemote(url=self.remote_url, token=self.token)
        with writing(self.repo, self.remote_url, lock_timeout=self.lock_timeout) as mirror:
            head = fetch_branch(self.repo, remote, branch)
            with contextlib.suppress(OSError):  # unrecorded, the ref still gets the full age
                record_fetch(mirror, [fetched_ref(branch)], time.time())
        return head

    def fetch_pull_request(self, number: int, *, base_branch: str) -> FetchStats:
        """Fetch ``refs/pull/N/head`` and the base branch in one negotiation."""
        return self.fetch([pull_refspec(number), branch_refspec(base_branch)])

    def has_commit(self, sha: str) -> bool:
        try:
            resolve_commit(self.repo, sha)
        except WorkspaceError:
            return False
        return True

    def context_for(
        self,
        base_ref_or_sha: str,
        head_sha: str,
        *,
        options: object = None,
        scratch_dir: Path | None = None,
        cancelled: Callable[[], bool] = _never,
        pr_title: str = "",
        pr_body: str = "",
        author: str = "",
        trusted_author: bool = False,
        trust_lookup: Callable[[], bool] | None = None,
    ) -> StageContext:
        """A ``StageContext`` for the PR diff ``merge-base(base, head)..head``.

        ``ctx.base_sha`` is the merge base (what the diff is against), so stages comparing
        "before" and "after" see exactly the PR's changes.
        """
        return build_context(
            self.repo,
            self.full_name,
            base_ref_or_sha,
            head_sha,
            options=options,
            scratch_dir=scratch_dir,
            cancelled=cancelled,
            pr_title=pr_title,
            pr_body=pr_body,
            author=author,
            trusted_author=trusted_author,
            trust_lookup=trust_lookup,
        )


def open_workspace(
    data_dir: Path | str,
    repo_full_name: str,
    remote_url: str,
    token: str | None = None,
    *,
    lock_timeout: float = 300.0,
) -> Workspace:
    """The workspace for ``owner/repo``, creating its bare mirror on first use."""
    split_full_name(repo_full_name)
    remote_url, url_secret = strip_credentials(remote_url)  # keep no secret in a field
    path = mirror_path(Path(data_dir), repo_full_name)
    try:
        repo = open_or_init(path)
    except pygit2.GitError as exc:
        raise WorkspaceError(f"cannot open the mirror of {repo_full_name}: {exc}") from None
    mark_used(path)
    return Workspace(
        full_name=repo_full_name,
        path=path,
        remote_url=remote_url,
        repo=repo,
        token=token or url_secret,
        lock_timeout=lock_timeout,
    )


def build_context(
    repo: pygit2.Repository,
    full_name: str,
    base_ref_or_sha: str,
    head_ref_or_sha: str,
    **context_fields: object,
) -> StageContext:
    base = resolve_commit(repo, base_ref_or_sha)
    head = resolve_commit(repo, head_ref_or_sha)
    start, files = pull_request_files(repo, base, head)
    return StageContext(
        repo=full_name,
        base_sha=str(start.id),
        head_sha=str(head.id),
        files=files,  # type: ignore[arg-type]  # pending: the line maps load on first read
        head=CommitTree(repo, head.tree, head.id),
        base=CommitTree(repo, start.tree, start.id),
        **context_fields,  # type: ignore[arg-type]
    )


def _open_local_repo(path: Path | str) -> pygit2.Repository:
    found = pygit2.discover_repository(str(path))
    if found is None:
        raise WorkspaceError(f"{path} is not inside a git repository")
    return pygit2.Repository(found)


def _local_commit(repo: pygit2.Repository, ref: str) -> pygit2.Commit:
    """``resolve_commit`` with advice for a local repository rather than a mirror."""
    if repo.head_is_unborn and not repo.listall_references():  # ``is_empty`` misses `main`
        raise WorkspaceError(
            f"{(repo.workdir or repo.path).rstrip('/')} has no commits yet",
            hint="commit the changes first: shunter run compares commits",
        )
    try:
        return resolve_commit(repo, ref)
    except WorkspaceError as exc:
        raise WorkspaceError(
            exc.message, hint="name a branch, tag or commit of this repository; `git branch -a` lists them"
        ) from None


def context_from_local_repo(
    path: Path | str, base: str, head: str = "HEAD", **context_fields: object
) -> StageContext:
    """A ``StageContext`` for commits of a local repository (``shunter run``)."""
    repo = _open_local_repo(path)
    _local_commit(repo, base)
    _local_commit(repo, head)
    name = Path(repo.workdir or repo.path).resolve().name.removesuffix(".git")
    return build_context(repo, f"local/{name}", base, head, **context_fields)


def local_repo_notes(path: Path | str, base: str, head: str) -> list[str]:
    """What a local run cannot see, said up front instead of leaving a user to wonder why
    the result looks empty or too big: uncommitted work (only commits are read), and a
    base with no common history with the head (a shallow clone, or unrelated branches),
    where the diff falls back to comparing the two trees."""
    repo = _open_local_repo(path)
    notes: list[str] = []
    base_commit, head_commit = _local_commit(repo, base), _local_commit(repo, head)
    if repo.merge_base(base_commit.id, head_commit.id) is None:
        if repo.is_shallow:
            notes.append(
                f"{base!r} and {head!r} share no commit in this shallow clone, so the diff "
                "compares their trees and also shows the base's own changes; fetch more "
                "history (`git fetch --unshallow`) for the branch's changes alone."
            )
        else:
            notes.append(
                f"{base!r} and {head!r} share no history, so the diff compares their trees "
                "directly."
            )
    if head == "HEAD" and not repo.is_bare:
        dirty = repo.status(untracked_files="no")
        if dirty:
            notes.append(
                f"{plural(len(dirty), 'file')} with uncommitted changes {'is' if len(dirty) == 1 else 'are'} "
                "not part of this run: "
                "shunter run reads commits (HEAD by default), not the working tree; commit "
                "them to include them."
            )
    return notes
