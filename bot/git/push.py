"""Fetching a branch and landing a commit on it with compare-and-swap, never by force.

Two ways to land, selected by ``patches.push_method``:

- ``git``: ``git push --force-with-lease=refs/heads/<branch>:<expected> <url>
  <sha>:refs/heads/<branch>``. The lease names the exact head the commit was built on and the
  receiving side compares it under the ref lock, so the push lands only if the branch is still
  there. A fast-forward check alone is not enough: when the author force-pushes the branch
  *backwards* (dropping a commit, say one that leaked a secret) our commit, a child of the old
  head, is still a fast-forward of the rewound branch and would bring the dropped commit
  back. The git CLI is used for this one step because its receive-pack exchange is the
  reference implementation of that refusal.
- ``api``: the Git Data API (blobs, tree, commit, then ``PATCH /git/refs`` with
  ``force: false``); commits made this way are shown as Verified. ``PATCH /git/refs`` has no
  expected-sha parameter, so the ref is re-read just before the PATCH and the push is
  refused when it is not the expected head; ``force: false`` still refuses anything that is
  not a fast-forward. That narrows the rewind window to the gap between those two requests
  but cannot close it (GitHub offers no true compare-and-swap on this path; the ``git``
  method has one). ``RefUpdater`` is the narrow protocol that path needs, so it can be backed
  by githubkit, the simulator or a test server.

A refusal is not an error: the caller refetches, re-applies and tries again.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import pygit2

from bot.errors import GitHubError, TransientError, WorkspaceError
from bot.git.fetched_refs import fetched_ref
from bot.git.mirror import PROXY, past_stale_locks
from bot.git.push_refusals import remote_refusal, rule_advice
from bot.github.client import translate_errors


@dataclass(frozen=True)
class GitRemote:
    """Where a repository is fetched from and pushed to; the token never appears in repr."""

    url: str
    token: str | None = field(default=None, repr=False)

    def git_env(self, inherited: Mapping[str, str]) -> dict[str, str]:
        """Environment for the git CLI: ``inherited`` (the process's) with credentials as an
        HTTP header, never in argv or URL.

        The header travels as git config given in the environment (``GIT_CONFIG_COUNT``,
        ``GIT_CONFIG_KEY_n``, ``GIT_CONFIG_VALUE_n``), after any the operator set that way
        (``http.proxy``, ``http.sslCAInfo`` in a container): taking slot 0 and the count
        dropped them, and git could no longer reach a server behind a proxy."""
        env = {**inherited, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
        if self.token:
            count = inherited.get("GIT_CONFIG_COUNT", "0")
            slot = int(count) if count.isdigit() else 0  # git refuses a bogus count anyway
            basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
            env.update({
                "GIT_CONFIG_COUNT": str(slot + 1),
                f"GIT_CONFIG_KEY_{slot}": "http.extraHeader",
                f"GIT_CONFIG_VALUE_{slot}": f"Authorization: Basic {basic}",
            })
        return env

    def callbacks(self) -> pygit2.RemoteCallbacks | None:
        if not self.token:
            return None
        return pygit2.RemoteCallbacks(credentials=pygit2.UserPass("x-access-token", self.token))


def fetch_branch(repo: pygit2.Repository, remote: GitRemote, branch: str) -> str | None:
    """Fetch ``branch`` into a private ref and return its head, or None when it is gone.

    A lock file a killed worker left on the ref is removed (:func:`past_stale_locks`):
    without that, every later fetch of the branch failed."""
    local_ref = fetched_ref(branch)
    here = Path(repo.path)
    anon = repo.remotes.create_anonymous(remote.url)
    try:
        heads = {h.name: h for h in anon.list_heads(callbacks=remote.callbacks(), proxy=PROXY)}
    except pygit2.GitError as exc:
        raise TransientError(f"cannot list {_safe(remote.url)}: {exc}") from None
    advertised = heads.get(f"refs/heads/{branch}")
    if advertised is None:
        return None
    head = str(advertised.oid)
    if head in repo:  # nothing new to download; just remember where the branch is
        try:
            past_stale_locks(here, lambda: repo.references.create(local_ref, advertised.oid, force=True))
        except (pygit2.GitError, OSError) as exc:
            raise TransientError(f"cannot note where {branch} is: {exc}") from None
        return head
    try:
        refspec = f"+refs/heads/{branch}:{local_ref}"
        past_stale_locks(here, lambda: anon.fetch([refspec], callbacks=remote.callbacks(), proxy=PROXY))
    except (pygit2.GitError, OSError) as exc:
        raise TransientError(f"cannot fetch {branch} from {_safe(remote.url)}: {exc}") from None
    # the ref says where the fetch found the branch; mirror clean-up may drop it in the
    # meantime (bot.git.cleanup.prune_mirror_refs), and then the head advertised just before
    fetched = repo.references.get(local_ref)
    return head if fetched is None else str(fetched.target)


def _safe(url: str) -> str:
    from bot.queue.connection import redact_url

    return redact_url(url)


@dataclass(frozen=True)
class PushOutcome:
    """``landed`` with the commit now at the branch head, or ``refused`` (moved under us)."""

    status: Literal["landed", "refused"]
    commit_sha: str | None = None
    detail: str = ""


class BranchPusher(Protocol):
    """Lands ``commit_sha`` (whose parent is ``expected_sha``) on ``branch``, or is refused."""

    method: str

    def push(
        self, repo: pygit2.Repository, branch: str, commit_sha: str, expected_sha: str
    ) -> PushOutcome: ...


class PushRejected(GitHubError):
    """The remote refused the push for a reason retrying will not fix (e.g. branch rules);
    ``message`` quotes GitHub, ``hint`` says what to change (:func:`rule_advice`)."""


_CAS_REFUSALS = (
    "non-fast-forward",
    "fetch first",
    "stale info",
    "failed to lock",
    "cannot lock ref",
    "incorrect old value",
    "failed to update ref",
)


@dataclass
class GitCliPusher:
    """``git push`` of one commit to one branch, leased on ``expected_sha``: refused unless
    the branch is exactly where the commit was built (not merely an ancestor of it)."""

    remote: GitRemote
    timeout: float = 120.0
    method: str = "git"

    def push(self, repo: pygit2.Repository, branch: str, commit_sha: str, expected_sha: str) -> PushOutcome:
        commit = repo[commit_sha]
        if not isinstance(commit, pygit2.Commit) or [str(p) for p in commit.parent_ids] != [expected_sha]:
            # the lease would let anything else through as a forced, non-fast-forward push
            raise WorkspaceError(f"{commit_sha[:12]} is not a single-parent commit on {expected_sha[:12]}")
        return leased_push(repo, self.remote, branch, commit_sha, expected_sha, timeout=self.timeout)


def leased_push(
    repo: pygit2.Repository,
    remote: GitRemote,
    branch: str,
    sha: str,
    expected_sha: str,
    *,
    timeout: float = 120.0,
) -> PushOutcome:
    """Set ``branch`` to ``sha`` only if it is still at ``expected_sha``: git's lease is
    compared by the receiving side under the ref lock, a true compare-and-swap. ``sha`` need
    not descend from ``expected_sha``, so callers check what they may replace first."""
    refspec = f"{sha}:refs/heads/{branch}"
    lease = f"--force-with-lease=refs/heads/{branch}:{expected_sha}"
    env = remote.git_env(os.environ)
    try:
        proc = subprocess.run(
            ["git", "push", "--porcelain", "--no-verify", lease, "--", remote.url, refspec],
            cwd=repo.path,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TransientError(f"git push to {branch} timed out") from None
    output = proc.stdout + proc.stderr
    status_line = next((ln for ln in proc.stdout.splitlines() if ln.endswith(refspec) or "\t" in ln), "")
    if proc.returncode == 0:
        return PushOutcome("landed", sha, status_line.strip())
    lowered = output.lower()
    if any(reason in lowered for reason in _CAS_REFUSALS):
        return PushOutcome("refused", None, _last_line(output))
    if "[remote rejected]" in lowered or "protected branch" in lowered:
        said = remote_refusal(output, remote.token) or _last_line(output)
        raise PushRejected(f"the remote refused the push to {branch}:\n{said}", hint=rule_advice(said, "git"))
    raise TransientError(f"git push to {branch} failed: {_last_line(output)}")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and ln.strip() != "Done"]
    return lines[-1][:300] if lines else "no output"


@dataclass(frozen=True)
class TreeChange:
    """One entry of a Git Data API tree: a blob ``sha`` or inline UTF-8 ``content`` at
    ``path``; neither deletes the path."""

    path: str
    mode: str
    sha: str | None
    content: str | None = None

    def as_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"path": self.path, "mode": self.mode, "type": "blob"}
        if self.content is not None:
            entry["content"] = self.content
        else:
            entry["sha"] = self.sha
        return entry


class RefUpdater(Protocol):
    """The Git Data API calls the ``api`` push method needs."""

    def get_ref(self, branch: str) -> str | None:
        """Where ``heads/<branch>`` points now (no cached answer), or None when it is gone."""
        ...

    def create_blob(self, content: bytes) -> str: ...

    def create_tree(self, base_tree: str, changes: list[TreeChange]) -> str: ...

    def create_commit(self, message: str, tree: str, parents: list[str]) -> str: ...

    def update_ref(self, branch: str, sha: str) -> bool:
        """Move ``heads/<branch>`` to ``sha`` with ``force: false``; False when refused."""
        ...


@dataclass
class GitHubKitRefUpdater:
    """``RefUpdater`` over githubkit's sync client (``gh.rest.git.*``).

    Every failure is one of Shunter's errors (:func:`~bot.github.client.translate_errors`):
    a dropped connection or a 5xx is a :class:`TransientError` the merge queue retries, not
    an unexpected crash. A ``PATCH /git/refs`` whose answer was lost may have moved the ref;
    the retry finds the commit's ``Shunter-Change`` trailer on the branch and records it as
    landed instead of pushing it again.
    """

    gh: Any
    owner: str
    repo: str

    def get_ref(self, branch: str) -> str | None:
        try:
            with translate_errors(f"reading branch {branch}"):
                # no-cache: an HTTP cache answering from a minute ago would defeat the check
                resp = self.gh.rest.git.get_ref(
                    self.owner, self.repo, f"heads/{branch}", headers={"Cache-Control": "no-cache"}
                )
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise TransientError(str(exc)) from None
        return str(resp.parsed_data.object_.sha)

    def create_blob(self, content: bytes) -> str:
        with translate_errors("creating a blob"):
            resp = self.gh.rest.git.create_blob(
                self.owner,
                self.repo,
                content=base64.b64encode(content).decode(),
                encoding="base64",
            )
        return str(resp.parsed_data.sha)

    def create_tree(self, base_tree: str, changes: list[TreeChange]) -> str:
        entries = [c.as_entry() for c in changes]
        with translate_errors("creating a tree"):
            resp = self.gh.rest.git.create_tree(self.owner, self.repo, base_tree=base_tree, tree=entries)
        return str(resp.parsed_data.sha)

    def create_commit(self, message: str, tree: str, parents: list[str]) -> str:
        with translate_errors("creating a commit"):
            resp = self.gh.rest.git.create_commit(
                self.owner, self.repo, message=message, tree=tree, parents=parents
            )
        return str(resp.parsed_data.sha)

    def update_ref(self, branch: str, sha: str) -> bool:
        from githubkit.exception import RequestFailed

        try:
            with translate_errors(f"updating {branch}"):
                try:
                    self.gh.rest.git.update_ref(
                        self.owner, self.repo, f"heads/{branch}", sha=sha, force=False
                    )
                except RequestFailed as exc:
                    text = str(getattr(exc.response, "text", "") or "").lower()
                    if exc.response.status_code == 422 and ("fast forward" in text or "fast-forward" in text):
                        return False  # a refusal, not an error: the caller re-applies
                    raise
        except TransientError:
            raise
        except GitHubError as exc:
            raise PushRejected(
                f"updating {branch} was refused: {exc.message}",
                status=exc.status,
                hint=rule_advice(exc.message, "api") or exc.hint,
            ) from None
        return True


INLINE_LIMIT = 512 * 1024


def _inline_text(data: bytes) -> str | None:
    """The blob as text when the API's inline ``content`` reproduces it byte for byte."""
    if len(data) > INLINE_LIMIT or b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass
class ApiPusher:
    """Recreates a local commit through the Git Data API and moves the ref with CAS.

    Only files that differ from the parent are sent (text inline in the tree request, other
    content as blobs, since every mutating request counts against GitHub's secondary rate
    limit); the tree is built on the parent's tree and must come out identical to the local
    one. GitHub's commit has its own id (GitHub signs it), so the landed sha is GitHub's;
    the message and its trailers are the local commit's.
    """

    updater: RefUpdater
    method: str = "api"

    def push(self, repo: pygit2.Repository, branch: str, commit_sha: str, expected_sha: str) -> PushOutcome:
        commit = repo[commit_sha]
        if not isinstance(commit, pygit2.Commit) or len(commit.parents) != 1:
            raise WorkspaceError(f"{commit_sha[:12]} is not a single-parent commit")
        parent = commit.parents[0]
        if str(parent.id) != expected_sha:
            raise WorkspaceError("the commit to push does not sit on the expected head")
        changes: list[TreeChange] = []
        diff = repo.diff(parent.tree, commit.tree)
        for delta in diff.deltas:
            if delta.status == pygit2.enums.DeltaStatus.DELETED:
                changes.append(TreeChange(delta.old_file.path, "100644", None))
                continue
            if delta.status == pygit2.enums.DeltaStatus.RENAMED:
                changes.append(TreeChange(delta.old_file.path, "100644", None))
            blob = repo[delta.new_file.id]
            assert isinstance(blob, pygit2.Blob)
            mode = f"{int(delta.new_file.mode):o}"
            text = _inline_text(blob.data)
            if text is not None:  # one request fewer per file (mutations are rate limited)
                changes.append(TreeChange(delta.new_file.path, mode, None, text))
            else:
                sha = self.updater.create_blob(blob.data)
                changes.append(TreeChange(delta.new_file.path, mode, sha))
        tree = self.updater.create_tree(str(parent.tree.id), changes)
        if tree != str(commit.tree.id):
            raise WorkspaceError(
                f"the API built tree {tree[:12]}, the local commit has {str(commit.tree.id)[:12]}"
            )
        remote_commit = self.updater.create_commit(commit.message, tree, [expected_sha])
        # PATCH /git/refs only refuses non-fast-forwards: a branch rewound behind
        # expected_sha would accept our commit and get back what was dropped. Re-read it
        # right before moving it (the closest to compare-and-swap this API allows).
        current = self.updater.get_ref(branch)
        if current != expected_sha:
            where = current[:12] if current else "gone"
            return PushOutcome("refused", None, f"{branch} moved to {where} before PATCH /git/refs")
        if self.updater.update_ref(branch, remote_commit):
            return PushOutcome("landed", remote_commit, "PATCH /git/refs accepted")
        return PushOutcome("refused", None, "PATCH /git/refs refused: not a fast-forward")
