"""Bare mirrors of GitHub repositories, one per repository, fetched incrementally.

Mirrors live at ``<data_dir>/mirrors/<owner>/<repo>.git``. The remote URL is never stored in
the mirror's config: every fetch uses an anonymous remote, and tokens travel only through
libgit2's credential callback, so no token is written to disk or shows up in an error.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import pygit2

from bot.errors import TransientError, WorkspaceError
from bot.git.fetched_refs import destination_refs, record_fetch
from bot.git.locks import file_lock

_NAME_PART = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
MAX_CREDENTIAL_ATTEMPTS = 3
_TRANSIENT_FETCH = re.compile(
    r"timed out|timeout|failed to connect|connection (refused|reset)|could not resolve"
    r"|unexpected http status code: 5\d\d|early EOF|remote hung up",
    re.IGNORECASE,
)
_LOCKED = re.compile(r"failed to lock file '([^']+\.lock)'")
STALE_LOCK_SECONDS = 120.0
"""A git lock file older than this was left by a process that died mid-update (a ref
update holds its lock for milliseconds)."""
MAX_STALE_LOCKS = 8  # a killed fetch may leave a few (a ref's and packed-refs')
CONNECT_TIMEOUT_MS = 15_000
IO_TIMEOUT_MS = 120_000
TOKEN_USERNAME = "x-access-token"  # noqa: S105 (a fixed username, not a secret)
PROXY: Literal[True] = True
"""The proxy every libgit2 fetch and ``ls-remote`` is given: libgit2's own detection, which
reads git's ``http.proxy`` (and ``http.<url>.proxy``), else ``https_proxy``/``HTTPS_PROXY``,
and leaves out hosts in ``no_proxy``/``NO_PROXY``, as the git CLI does (it proxies
``https://`` remotes only). pygit2's default is no proxy at all, whatever the host is set up
with: behind a proxy that is the only way out, every fetch failed (``failed to resolve
address``) while the REST calls, which honour the variables, went through."""
T = TypeVar("T")


def split_full_name(full_name: str) -> tuple[str, str]:
    """``owner/repo`` as two path-safe parts, or a WorkspaceError for anything else."""
    owner, sep, name = full_name.partition("/")
    if (
        not sep
        or not _NAME_PART.match(owner)
        or not _NAME_PART.match(name)
        or owner.startswith(".")
        or name.startswith(".")
    ):
        raise WorkspaceError(f"not a repository name: {full_name!r}", hint="expected 'owner/repo'")
    return owner, name


def mirror_path(data_dir: Path, full_name: str) -> Path:
    owner, name = split_full_name(full_name)
    return Path(data_dir) / "mirrors" / owner / f"{name}.git"


def lock_path(mirror: Path) -> Path:
    return mirror.with_name(mirror.name + ".lock")


def mark_used(mirror: Path) -> None:
    """Note that a job is using ``mirror`` now (the lock file's time is its "last used",
    which clean-up checks again just before it deletes a mirror)."""
    with contextlib.suppress(OSError):  # a read-only data dir: clean-up uses the mirror's times
        lock_path(mirror).touch()


def pull_refspec(number: int) -> str:
    """The refspec that mirrors a pull request's head as ``refs/pull/N/head``."""
    if number < 1:
        raise WorkspaceError(f"not a pull request number: {number}")
    return f"+refs/pull/{number}/head:refs/pull/{number}/head"


def branch_refspec(branch: str) -> str:
    branch = branch.removeprefix("refs/heads/")
    if not branch or ".." in branch or branch.startswith("/") or any(c in branch for c in " ~^:?*["):
        raise WorkspaceError(f"not a branch name: {branch!r}")
    return f"+refs/heads/{branch}:refs/heads/{branch}"


def strip_credentials(url: str) -> tuple[str, str | None]:
    """Split ``https://user:secret@host/...`` into the bare URL and the secret (if any).

    A caller that passed a token inside the URL still gets a working fetch, and the token
    never reaches the log line or exception that mentions the URL.
    """
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    _user, _, secret = userinfo.partition(":")
    bare = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return bare, unquote(secret) if secret else None


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


@dataclass(frozen=True)
class FetchStats:
    """How much a fetch moved: small numbers on an up-to-date mirror show it is incremental."""

    received_objects: int
    indexed_objects: int
    local_objects: int
    received_bytes: int


class _TokenCallbacks(pygit2.RemoteCallbacks):
    """Answers HTTP auth challenges with the installation token, a bounded number of times."""

    def __init__(self, token: str | None) -> None:
        super().__init__()
        self._token = token
        self._attempts = 0

    def credentials(self, url: str, username_from_url: str | None, allowed_types: int):  # type: ignore[override]
        self._attempts += 1
        if self._token is None or self._attempts > MAX_CREDENTIAL_ATTEMPTS:
            raise WorkspaceError("the git server refused the credentials (or none were given)")
        if not allowed_types & pygit2.enums.CredentialType.USERPASS_PLAINTEXT:
            raise WorkspaceError("the git server asked for a credential type other than a token")
        return pygit2.UserPass(TOKEN_USERNAME, self._token)


def apply_network_timeouts() -> None:
    """Bound libgit2's connect and read waits so a silent server cannot hang a worker
    forever (libgit2 waits indefinitely by default). Values an operator set are kept."""
    if not pygit2.settings.server_connect_timeout:
        pygit2.settings.server_connect_timeout = CONNECT_TIMEOUT_MS
    if not pygit2.settings.server_timeout:
        pygit2.settings.server_timeout = IO_TIMEOUT_MS


def open_or_init(path: Path) -> pygit2.Repository:
    """Open the bare mirror at ``path``, creating it (under its lock) on first use."""
    if (path / "HEAD").exists():
        return pygit2.Repository(str(path))
    with file_lock(lock_path(path.resolve())):
        if not (path / "HEAD").exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            pygit2.init_repository(str(path), bare=True)
    return pygit2.Repository(str(path))


def _remove_stale_lock(mirror: Path, lock: Path) -> bool:
    """Remove ``lock`` if it is a git lock file inside ``mirror`` left long enough ago to
    be a dead process's (a worker killed mid-fetch: SIGKILL, OOM, rq's hard timeout); True
    when it was removed. Without this, every later fetch of the ref fails for good."""
    try:
        resolved = lock.resolve()
        if not resolved.is_relative_to(mirror.resolve()) or resolved.suffix != ".lock":
            return False
        if time.time() - os.lstat(resolved).st_mtime < STALE_LOCK_SECONDS:
            return False
        resolved.unlink()
    except OSError:
        return False
    return True


def past_stale_locks(repo_dir: Path, write: Callable[[], T]) -> T:
    """Run ``write`` (a fetch or a ref update into the repository at ``repo_dir``); when it
    fails on a git lock file a dead process left (:func:`_remove_stale_lock`), remove the
    lock and run it again, at most ``MAX_STALE_LOCKS`` times. Any other failure, a fresh
    lock (another process is updating that ref) included, is raised as it was."""
    removed = 0
    while True:
        try:
            return write()
        except (pygit2.GitError, OSError) as exc:
            locked = _LOCKED.search(str(exc))
            if not locked or removed >= MAX_STALE_LOCKS:
                raise
            if not _remove_stale_lock(repo_dir, Path(locked.group(1))):
                raise
            removed += 1  # a worker died mid-update and left its lock: write again


@contextlib.contextmanager
def writing(repo: pygit2.Repository, url: str, *, lock_timeout: float = 300.0) -> Iterator[Path]:
    """Hold the mirror's lock for a write into it (a fetch), and yield its path.

    Every writer takes it: two jobs fetching one branch at once would race for git's lock
    file on its ref (one fails with "failed to lock file"), and clean-up, which takes the
    lock to remove an idle mirror or prune its refs, would delete it under a writer.
    """
    mirror = Path(repo.path)
    with file_lock(lock_path(mirror.resolve()), timeout=lock_timeout):
        if not (mirror / "HEAD").exists():
            # clean-up removed the mirror while this job waited for the lock: the job's
            # retry opens (and re-creates) it
            raise TransientError(f"the mirror of {url} was removed by clean-up; retrying")
        yield mirror


def fetch(
    repo: pygit2.Repository,
    remote_url: str,
    refspecs: Sequence[str],
    *,
    token: str | None = None,
    lock_timeout: float = 300.0,
) -> FetchStats:
    """Fetch ``refspecs`` into ``repo``, one fetch at a time per mirror.

    libgit2 negotiates with what the mirror already has, so a second fetch only moves the
    new objects. The refs it writes are noted as fetched now (still under the lock), so
    clean-up keeps them while jobs use them and drops them once none has for a long time.
    """
    if not refspecs:
        raise WorkspaceError("nothing to fetch: no refspecs given")
    url, url_secret = strip_credentials(remote_url)
    token = token or url_secret
    apply_network_timeouts()
    with writing(repo, url, lock_timeout=lock_timeout) as mirror:
        remote = repo.remotes.create_anonymous(url)
        try:
            progress = past_stale_locks(
                mirror,
                lambda: remote.fetch(
                    list(refspecs),
                    callbacks=_TokenCallbacks(token),
                    prune=pygit2.enums.FetchPrune.NO_PRUNE,
                    proxy=PROXY,
                ),
            )
        except WorkspaceError as exc:
            raise WorkspaceError(f"fetch from {url} failed: {exc.message}") from None
        except (pygit2.GitError, OSError, KeyError, ValueError) as exc:
            detail = redact(redact(str(exc), token), url_secret)
            if _LOCKED.search(detail) or _TRANSIENT_FETCH.search(detail):
                # the server or the network hiccuped, or another process is updating
                # the same ref right now: rq retries the job with backoff
                raise TransientError(f"fetch from {url} failed: {detail}") from None
            raise WorkspaceError(f"fetch from {url} failed: {detail}") from None
        with contextlib.suppress(OSError):  # unrecorded refs still get the full age (cleanup)
            record_fetch(mirror, destination_refs(refspecs), time.time())
    return FetchStats(
        received_objects=progress.received_objects,
        indexed_objects=progress.indexed_objects,
        local_objects=progress.local_objects,
        received_bytes=progress.received_bytes,
    )
