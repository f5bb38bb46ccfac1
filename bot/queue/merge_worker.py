"""The merge-queue worker: claim a batch, apply it on the branch's head, push with CAS.

``process_once`` is one unit of work and never raises for a bad entry: every claimed entry
ends landed, dead-lettered with a reason, or delayed for a retry, and whatever happens the
lease bookkeeping stays exact. ``run_worker`` loops over it; several processes (on several
hosts) may run it against the same Redis, because the queue's leases and the push's
compare-and-swap make them safe to race.

Why a landed change is never landed twice: before applying, the worker looks for the
``Shunter-Change: <id>`` trailer on the fetched branch. A worker that pushed and then died
before recording it left that trailer behind, so whoever takes the entry over records the
existing commit instead of making a second one; and two workers that race to push the same
entry cannot both win the compare-and-swap, so the loser's refetch finds the trailer.

Run several from a shell with ``python -m bot.queue.merge_worker --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import logging
import os
import signal
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pygit2
import redis

from bot.changes.model import ChangeRequest
from bot.changes.outcomes import DeadLetter, LandingReport
from bot.errors import AccessPaused, ShunterError, TransientError
from bot.git.apply import apply_batch, commit_message, create_commit, landed_changes, own_commit_files
from bot.git.fetched_refs import fetched_ref, record_fetch
from bot.git.locks import file_lock
from bot.git.mirror import lock_path
from bot.git.push import (
    ApiPusher,
    BranchPusher,
    GitCliPusher,
    GitHubKitRefUpdater,
    GitRemote,
    PushRejected,
    RefUpdater,
    fetch_branch,
)
from bot.policies.schema import Patches
from bot.queue.merge import PREFIX, Claim, MergeQueue, QueueSettings, knob_docs

log = logging.getLogger("shunter.merge_worker")

FALLBACK_SIGNATURE = ("Shunter", "shunter@noreply.invalid")
"""Author and committer when the App's bot user is unknown (no credentials, as for the
``--remote-root`` worker, or GitHub unreachable). GitHub links a commit to whichever
account owns its e-mail, so this one is in the reserved ``.invalid`` domain, which no
account can own; ``users.noreply.github.com`` addresses belong to real users."""

_fallback_logged = threading.Event()


def _commit_signature(signature: tuple[str, str] | None) -> tuple[str, str]:
    """``signature``, or the fallback, said once a process."""
    if signature is not None:
        return signature
    if not _fallback_logged.is_set():
        _fallback_logged.set()
        log.warning(
            "the App's bot user is unknown (no App credentials here, or GitHub did not answer): "
            "Shunter's commits are authored as %s <%s>, which GitHub links to no account",
            *FALLBACK_SIGNATURE,
        )
    return FALLBACK_SIGNATURE


@dataclass
class BatchOutcome:
    queue: str
    claimed: list[str]
    report: LandingReport | None = None
    dead: list[DeadLetter] = field(default_factory=list)
    retried: dict[str, str] = field(default_factory=dict)
    """Id -> error, for entries put back with backoff."""
    lost: list[str] = field(default_factory=list)
    """Ids whose lease was lost mid-way; another worker owns them now."""
    unreadable: dict[str, str] = field(default_factory=dict)
    """Id -> why, for stored entries that did not read as a change request: the claim
    dead-lettered them (``unreadable``) and the rest of the batch went on."""
    dropped: dict[str, str] = field(default_factory=dict)
    """Id -> why, for entries no longer wanted when their push was next
    (:meth:`MergeHooks.withdrawn`): deleted from the queue, never pushed."""


class MergeHooks(Protocol):
    """Where the GitHub side plugs in (replies, marking findings, audit). All optional."""

    def before_push(self, claim: Claim, commit_sha: str) -> None: ...

    def withdrawn(self, changes: list[ChangeRequest]) -> dict[str, str]:
        """Asked right before the push, the commit built: those of ``changes`` that are no
        longer wanted (their pull request was closed or merged meanwhile), id -> why. They
        are dropped, not pushed, and the rest is applied again without them. Raising puts
        the whole batch back for a retry: nothing is pushed on a doubt."""
        ...

    def dropped(self, change: ChangeRequest, why: str) -> None:
        """A change :meth:`withdrawn` named was deleted from the queue."""
        ...

    def after_push(self, claim: Claim, landed_sha: str) -> None: ...

    def landed(self, report: LandingReport) -> None: ...

    def dead_lettered(self, letter: DeadLetter) -> None: ...

    def set_aside(self, queue: str, change_id: str, detail: str) -> None:
        """An entry of ``queue`` that did not read was dead-lettered (``unreadable``)."""
        ...


class NoHooks:
    """The default: nothing beyond the queue's own records."""

    def before_push(self, claim: Claim, commit_sha: str) -> None:
        return None

    def withdrawn(self, changes: list[ChangeRequest]) -> dict[str, str]:
        return {}

    def dropped(self, change: ChangeRequest, why: str) -> None:
        return None

    def after_push(self, claim: Claim, landed_sha: str) -> None:
        return None

    def landed(self, report: LandingReport) -> None:
        return None

    def dead_lettered(self, letter: DeadLetter) -> None:
        return None

    def set_aside(self, queue: str, change_id: str, detail: str) -> None:
        return None


class RepoStore(Protocol):
    """Local repositories the worker may write objects into, and where their remotes are."""

    def landing(self, repo: str, branch: str) -> AbstractContextManager[pygit2.Repository]:
        """``repo``'s local repository, kept (and its ref for ``branch``) for the ``with``
        block: a landing reads what it fetched until it has pushed."""
        ...

    def remote(self, repo: str) -> GitRemote: ...


FETCH_NOTES_LOCK = "shunter-fetched-refs.lock"
"""Inside a repository: serialises the landings that share it while they note a ref."""


@dataclass
class LocalRepoStore:
    """A bare repository per GitHub repository under ``root``, shared by the merge workers
    of one machine (``<data_dir>/merge``).

    Objects only accumulate here (commits that lost a race are garbage); refs are the
    fetched branch heads. Hourly maintenance keeps these repositories within the mirrors'
    age and size limits and prunes their refs (``bot.git.cleanup``), under the lock beside
    each repository: a landing holds it shared, so landings on other branches of the same
    repository go on at once, while maintenance, which needs it exclusively, skips the
    repository until no landing uses it.
    """

    root: Path
    remotes: Callable[[str], GitRemote]

    def path(self, repo: str) -> Path:
        return self.root / (repo.replace("/", "__") + ".git")

    @contextlib.contextmanager
    def landing(self, repo: str, branch: str) -> Iterator[pygit2.Repository]:
        """The repository of ``repo``, created on first use, with ``branch``'s fetched ref
        noted as used now (ref pruning goes by that note, as in the mirrors)."""
        path = self.path(repo)
        with file_lock(lock_path(path.resolve()), shared=True):
            with file_lock(path / FETCH_NOTES_LOCK, touch=False):
                if not (path / "HEAD").exists():  # new, or maintenance removed it
                    pygit2.init_repository(str(path), bare=True)
                with contextlib.suppress(OSError):  # unnoted, the ref still gets the full age
                    record_fetch(path, [fetched_ref(branch)], time.time())
            yield pygit2.Repository(str(path))

    def remote(self, repo: str) -> GitRemote:
        return self.remotes(repo)


@dataclass(frozen=True)
class DirectoryRemotes:
    """Remotes that are bare repositories on disk: ``<root>/<owner>/<name>.git``."""

    root: Path

    def __call__(self, repo: str) -> GitRemote:
        return GitRemote(url=str(self.root / f"{repo}.git"))


PusherFactory = Callable[[str, Patches, GitRemote], BranchPusher]


def default_pushers(
    ref_updaters: Callable[[str], RefUpdater] | None = None,
) -> PusherFactory:
    """``patches.push_method`` picks the pusher; ``api`` needs a ``RefUpdater`` per repo.

    Without one (no GitHub App configured, e.g. a local bare remote), ``api`` falls back
    to ``git`` and the landing report's ``method`` says so.
    """

    def make(repo: str, policy: Patches, remote: GitRemote) -> BranchPusher:
        if policy.push_method == "api" and ref_updaters is not None:
            return ApiPusher(ref_updaters(repo))
        return GitCliPusher(remote)

    return make


@dataclass
class GitHubRepoStore:
    """Production remotes: each repository's ``clone_url`` from the REST API, fetched and
    pushed with the App installation's token (minted and shared by ``GitHubFactory``).

    The token is looked up per batch, so an hour-long token never goes stale in a worker.
    """

    factory: Any
    """A ``bot.github.client.GitHubFactory``."""
    root: Path
    _clone_urls: dict[str, str] = field(default_factory=dict)

    def landing(self, repo: str, branch: str) -> AbstractContextManager[pygit2.Repository]:
        return LocalRepoStore(self.root, self.remote).landing(repo, branch)

    def remote(self, repo: str) -> GitRemote:
        owner, name = repo.split("/", 1)
        installation_id, gh = self.factory.installation_for_repo(owner, name)
        if repo not in self._clone_urls:
            self._clone_urls[repo] = str(gh.rest.repos.get(owner, name).parsed_data.clone_url)
        token = self.factory.installation_token(installation_id)
        return GitRemote(url=self._clone_urls[repo], token=token)

    def pushers(self) -> PusherFactory:
        """``patches.push_method: api`` through the installation's githubkit client."""

        def updater(repo: str) -> RefUpdater:
            owner, name = repo.split("/", 1)
            _, gh = self.factory.installation_for_repo(owner, name)
            return GitHubKitRefUpdater(gh, owner, name)

        return default_pushers(updater)


class LeaseKeeper:
    """Renews a claim's lease in a thread while the slow part (git) runs."""

    def __init__(self, queue: MergeQueue, claim: Claim) -> None:
        self.queue = queue
        self.claim = claim
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        interval = max(0.05, self.queue.settings.lease_seconds / 3)
        while not self._stop.wait(interval):
            try:
                if not self.queue.renew(self.claim):
                    log.warning("lost the lease of %s", sorted(self.claim.lost))
            except Exception as exc:  # a Redis blip: the next tick tries again
                log.warning("lease renewal failed: %s", exc)


def process_once(
    redis_or_queue: redis.Redis | MergeQueue,
    repo_store: RepoStore,
    *,
    owner_id: str,
    pushers: PusherFactory | None = None,
    hooks: MergeHooks | None = None,
    settings: QueueSettings | None = None,
    push_attempts: int = 8,
    signature: tuple[str, str] | None = None,
) -> BatchOutcome | None:
    """Claim one batch and see every entry of it to an end state; None when idle.

    ``signature`` is the (name, e-mail) the commits are authored and committed by: the
    App's bot user (:func:`bot.github.identity.bot_signature`), else ``FALLBACK_SIGNATURE``."""
    queue = redis_or_queue if isinstance(redis_or_queue, MergeQueue) else MergeQueue(redis_or_queue, settings)
    claim = queue.claim(owner_id)
    if claim is None:
        return None
    outcome = BatchOutcome(queue=claim.queue, claimed=claim.ids, unreadable=dict(claim.unreadable))
    if claim.entries:
        who = _commit_signature(signature)
        _land_claim(queue, claim, outcome, repo_store, pushers, hooks, push_attempts, who)
    # after the landing, which holds leases: telling the authors waits on GitHub
    for change_id, detail in claim.unreadable.items():
        _safe_hook(hooks, "set_aside", claim.queue, change_id, detail)
    return outcome


def _land_claim(
    queue: MergeQueue,
    claim: Claim,
    outcome: BatchOutcome,
    repo_store: RepoStore,
    pushers: PusherFactory | None,
    hooks: MergeHooks | None,
    push_attempts: int,
    signature: tuple[str, str],
) -> None:
    """See every entry of ``claim`` to an end state, noting each in ``outcome``."""
    pending = {e.cr.id: e.cr for e in claim.entries}
    with LeaseKeeper(queue, claim), _unlocking(queue, claim):
        try:
            with repo_store.landing(claim.repo, claim.branch) as repo:
                _land(
                    queue,
                    claim,
                    pending,
                    outcome,
                    repo,
                    repo_store.remote(claim.repo),
                    pushers or default_pushers(),
                    hooks or NoHooks(),
                    push_attempts,
                    pygit2.Signature(*signature),
                )
        except (PushRejected, AccessPaused) as exc:
            # a branch rule, an archived repository, a suspended App: every attempt fails
            # the same way until a person changes it, so no retries
            reason = exc.reason if isinstance(exc, AccessPaused) else "push_rejected"
            for change_id in list(pending):
                cr = pending.pop(change_id)
                if queue.finish_dead(claim, change_id, reason, str(exc)):
                    letter = DeadLetter(cr, reason, exc.message, hint=exc.hint)
                    outcome.dead.append(letter)
                    _safe_hook(hooks, "dead_lettered", letter)
                else:
                    outcome.lost.append(change_id)
        except Exception as exc:
            kind = "transient" if isinstance(exc, TransientError) else type(exc).__name__
            if not isinstance(exc, ShunterError):
                log.exception("unexpected error while landing %s", sorted(pending))
            for change_id in list(pending):
                state = queue.finish_retry(claim, change_id, f"{kind}: {exc}")
                if state == "dead":
                    letter = DeadLetter(pending[change_id], "attempts_exhausted", str(exc))
                    outcome.dead.append(letter)
                    _safe_hook(hooks, "dead_lettered", letter)
                elif state == "delayed":
                    outcome.retried[change_id] = str(exc)
                else:
                    outcome.lost.append(change_id)


@contextlib.contextmanager
def _unlocking(queue: MergeQueue, claim: Claim) -> Iterator[None]:
    try:
        yield
    finally:
        with contextlib.suppress(ShunterError, redis.RedisError):
            queue.unlock(claim)


def _land(
    queue: MergeQueue,
    claim: Claim,
    pending: dict[str, ChangeRequest],
    outcome: BatchOutcome,
    repo: pygit2.Repository,
    remote: GitRemote,
    pushers: PusherFactory,
    hooks: MergeHooks,
    push_attempts: int,
    signature: pygit2.Signature,
) -> None:
    policy = claim.entries[0].policy  # every entry of a batch was queued under this one
    pusher = pushers(claim.repo, policy, remote)
    report = LandingReport(claim.repo, claim.branch, None, [], [], 0, 0, pusher.method, previous_head=None)

    def dead(change_id: str, reason: str, detail: str, head: str | None = None) -> None:
        cr = pending.pop(change_id)
        if queue.finish_dead(claim, change_id, reason, detail):
            moved = head is not None and head != cr.head_sha
            letter = DeadLetter(
                cr,
                reason,
                detail,
                branch_head=head if moved else None,
                rewritten=_rewritten(repo, cr.head_sha, head) if moved and head else None,
            )
            outcome.dead.append(letter)
            _safe_hook(hooks, "dead_lettered", letter)
        else:
            outcome.lost.append(change_id)

    def landed(change_id: str, sha: str, note: str) -> bool:
        cr = pending.pop(change_id)
        if queue.finish_landed(claim, change_id, sha, note):
            report.changes.append(cr)
            return True
        outcome.lost.append(change_id)
        return False

    def drop(change_id: str, why: str) -> None:
        cr = pending.pop(change_id)
        if queue.finish_dropped(claim, change_id):
            outcome.dropped[change_id] = why
            _safe_hook(hooks, "dropped", cr, why)
        else:
            outcome.lost.append(change_id)

    def drop_lost() -> None:
        for change_id in list(pending):
            if change_id in claim.lost:
                pending.pop(change_id)
                outcome.lost.append(change_id)

    for _ in range(push_attempts):
        drop_lost()
        if not pending:
            break
        head = fetch_branch(repo, remote, claim.branch)
        if head is None:
            for change_id in list(pending):
                dead(change_id, "branch_gone", f"branch {claim.branch} no longer exists")
            break
        report.previous_head = head
        for change_id, sha in landed_changes(repo, head, pending).items():
            if landed(change_id, sha, "found on the branch (landed by an earlier attempt)"):
                report.already_landed[change_id] = sha
                files = own_commit_files(repo, sha)
                if files is not None:
                    report.confirmed[sha] = files
        for change_id, cr in list(pending.items()):
            if not _on_branch(repo, cr.head_sha, head):
                dead(
                    change_id,
                    "base_missing",
                    f"the commit {cr.head_sha[:12]} the change was computed on is not in the "
                    f"history of {claim.branch}, now at {head[:12]}",
                    head,
                )
        if not pending:
            break
        batch = apply_batch(repo, head, list(pending.values()))
        for change_id, detail in batch.conflicts.items():
            dead(change_id, "conflict", detail.describe(head), head)
        for change_id in batch.already_present:
            if landed(change_id, head, "already present on the branch; nothing to commit"):
                report.already_present.append(change_id)
        if not batch.applied:
            break
        applied = [pending[i] for i in batch.applied]
        message = commit_message(policy.commit_message, applied)
        commit = create_commit(repo, head, batch.tree, message, signature)
        _safe_hook(hooks, "before_push", claim, commit)
        if claim.lost & set(batch.applied):
            continue
        # last look before the push: a pull request closed while this worker held its change
        # gets no commit (one that closes after the push closed on it, landed)
        withdrawn = {i: why for i, why in hooks.withdrawn(applied).items() if i in batch.applied}
        if withdrawn:
            for change_id, why in withdrawn.items():
                drop(change_id, why)
            continue  # the rest, if any, applied again without them
        result = pusher.push(repo, claim.branch, commit, head)
        report.pushes += 1
        if result.status == "refused":
            report.refused_pushes += 1
            log.info("push to %s refused (%s); re-applying", claim.queue, result.detail)
            continue
        landed_sha = result.commit_sha or commit
        _safe_hook(hooks, "after_push", claim, landed_sha)
        report.commit_sha = landed_sha
        report.files = sorted(set(batch.files))
        for change_id in batch.applied:
            if landed(change_id, landed_sha, ""):
                report.change_ids.append(change_id)
        break
    else:
        drop_lost()
        for change_id in list(pending):
            state = queue.finish_retry(
                claim, change_id, f"push refused {push_attempts} times: the branch kept moving"
            )
            cr = pending.pop(change_id)
            if state == "dead":
                letter = DeadLetter(cr, "attempts_exhausted", "the branch kept moving")
                outcome.dead.append(letter)
                _safe_hook(hooks, "dead_lettered", letter)
            else:
                outcome.retried[change_id] = "push refused repeatedly"
    if report.change_ids or report.already_landed or report.already_present:
        outcome.report = report
        _safe_hook(hooks, "landed", report)


def _on_branch(repo: pygit2.Repository, base: str, head: str) -> bool:
    """Whether ``base`` (the commit a change was computed on) is in the history of ``head``,
    the branch's head as just fetched.

    Asking whether ``base`` is merely in the local repository would make the answer depend
    on the worker: objects only accumulate in a worker's repository, so one that fetched (or
    made) ``base`` before the branch was force-pushed away from it would still hold it and
    3-way apply the change on the rewritten branch, while every other worker dead-letters
    it. The branch's history is the same for all of them.
    """
    if base == head:
        return True
    if base not in repo:
        return False
    return bool(repo.descendant_of(pygit2.Oid(hex=head), pygit2.Oid(hex=base)))


def _rewritten(repo: pygit2.Repository, base: str, head: str) -> bool:
    """Whether ``head``'s history lost ``base`` (a force-push) instead of growing on it.

    The branch was just fetched with all its history, so a ``base`` missing from the
    repository is not in it either; the reply tells the two kinds of push apart.
    """
    if base not in repo:
        return True
    return not repo.descendant_of(pygit2.Oid(hex=head), pygit2.Oid(hex=base))


def _safe_hook(hooks: MergeHooks | None, name: str, *args: Any) -> None:
    """Hooks are the caller's code; ``before_push`` may raise to abort, the others may not
    break the queue's bookkeeping."""
    if hooks is None:
        return
    if name == "before_push":
        hooks.before_push(*args)
        return
    try:
        getattr(hooks, name)(*args)
    except Exception:
        log.exception("merge hook %s failed", name)


@dataclass
class WorkerStats:
    batches: int = 0
    landed: int = 0
    dead: int = 0
    retried: int = 0
    pushes: int = 0


def run_worker(
    queue: MergeQueue,
    repo_store: RepoStore,
    *,
    owner_id: str,
    stop: threading.Event | None = None,
    idle_sleep: float = 0.2,
    exit_when_idle: float | None = None,
    **kwargs: Any,
) -> WorkerStats:
    """Loop over ``process_once`` until ``stop`` is set (or idle for ``exit_when_idle`` s)."""
    stop = stop or threading.Event()
    stats = WorkerStats()
    idle_since = time.monotonic()
    beat_at = 0.0
    while not stop.is_set():
        started = time.monotonic()
        if started - beat_at >= 5.0:
            beat_at = started
            info = {"pid": os.getpid(), "host": socket.gethostname(), **asdict(stats)}
            with contextlib.suppress(ShunterError):
                queue.heartbeat(owner_id, info)
        try:
            outcome = process_once(queue, repo_store, owner_id=owner_id, **kwargs)
        except ShunterError as exc:  # Redis down: wait and try again, do not die
            log.warning("merge worker: %s", exc)
            stop.wait(min(5.0, idle_sleep * 10))
            continue
        except Exception:  # a bug: the batch's leases expire and it is claimed again
            log.exception("merge worker: claim failed")
            stop.wait(min(5.0, idle_sleep * 10))
            continue
        if outcome is None:
            if exit_when_idle is not None and time.monotonic() - idle_since >= exit_when_idle:
                break
            stop.wait(idle_sleep)
            continue
        idle_since = time.monotonic()
        log.info(
            "%s: batch of %d in %.3f s: landed %d, dead %d, retried %d, dropped %d, unreadable %d",
            outcome.queue,
            len(outcome.claimed),
            idle_since - started,
            len(outcome.report.change_ids) if outcome.report else 0,
            len(outcome.dead),
            len(outcome.retried),
            len(outcome.dropped),
            len(outcome.unreadable),
        )
        stats.batches += 1
        stats.dead += len(outcome.dead) + len(outcome.unreadable)
        stats.retried += len(outcome.retried)
        if outcome.report:
            stats.landed += len(outcome.report.change_ids)
            stats.pushes += outcome.report.pushes
    return stats


def _load_hooks(spec: str | None) -> MergeHooks | None:
    if not spec:
        return None
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)()  # type: ignore[no-any-return]


def _knob_epilog(docs: dict[str, str], flagged: set[str]) -> str:
    """The ``QueueSettings`` knobs no flag sets, each with its default and docstring, so
    ``--help`` describes every knob the README sends operators to it for."""
    defaults = QueueSettings()
    lines = ["knobs without a flag (QueueSettings defaults):"]
    for name in (f.name for f in dataclasses.fields(QueueSettings) if f.name not in flagged):
        text = f"{name} ({getattr(defaults, name)!r}): {docs.get(name, '')}".rstrip(": ")
        lines += textwrap.wrap(text, width=88, initial_indent="  ", subsequent_indent="    ")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    docs, defaults = knob_docs(), QueueSettings()

    def knob(name: str) -> str:
        """A knob flag's help (argparse %-formats it): its docstring, then the default."""
        return docs.get(name, name).replace("%", "%%") + " (default: %(default)s)"

    parser = argparse.ArgumentParser(
        prog="python -m bot.queue.merge_worker",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keeps the epilog's lines
        epilog=_knob_epilog(
            docs, {"lease_seconds", "max_batch", "max_attempts", "backoff_base", "branch_lock"}
        ),
    )
    parser.add_argument(
        "--redis-url", required=True, help="the Redis holding the queue (redis://host:port/db)"
    )
    parser.add_argument("--workdir", type=Path, required=True, help="this worker's repos")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--remote-root", type=Path, help="bare remotes on disk (tests, demos)")
    where.add_argument(
        "--github", action="store_true", help="GitHub (or GHES, or the simulator) per SHUNTER_*"
    )
    parser.add_argument(
        "--owner",
        default=f"{socket.gethostname()}:{os.getpid()}",
        help="this worker's name on the leases it holds and in its heartbeat; must differ "
        "between workers (default: host:pid)",
    )
    parser.add_argument(
        "--lease-seconds", type=float, default=defaults.lease_seconds, help=knob("lease_seconds")
    )
    parser.add_argument("--max-batch", type=int, default=defaults.max_batch, help=knob("max_batch"))
    parser.add_argument("--max-attempts", type=int, default=defaults.max_attempts, help=knob("max_attempts"))
    parser.add_argument(
        "--backoff-base", type=float, default=defaults.backoff_base, help=knob("backoff_base")
    )
    parser.add_argument(
        "--exit-when-idle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop once the queue has been empty this long (batch runs, tests); "
        "by default the worker runs until SIGTERM",
    )
    parser.add_argument(
        "--idle-sleep",
        type=float,
        default=0.2,
        metavar="SECONDS",
        help="how long to wait before looking again when the queue is empty (default: %(default)s)",
    )
    parser.add_argument("--prefix", default=PREFIX, help="Redis key prefix of the queue")
    parser.add_argument(
        "--no-branch-lock",
        action="store_true",
        help="turn branch_lock off (it is on by default). " + docs.get("branch_lock", "").replace("%", "%%"),
    )
    parser.add_argument("--hooks", default=None, help="module:factory of a MergeHooks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = QueueSettings(
        lease_seconds=args.lease_seconds,
        max_batch=args.max_batch,
        max_attempts=args.max_attempts,
        backoff_base=args.backoff_base,
        branch_lock=not args.no_branch_lock,
    )
    client = redis.Redis.from_url(args.redis_url)
    stop = threading.Event()
    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    store: RepoStore
    pushers: PusherFactory | None = None
    if args.github:
        from bot.github.client import GitHubFactory
        from bot.settings import load_settings

        github = GitHubRepoStore(GitHubFactory(load_settings(), client), args.workdir)
        store, pushers = github, github.pushers()
    else:
        store = LocalRepoStore(args.workdir, DirectoryRemotes(args.remote_root))
    stats = run_worker(
        MergeQueue(client, settings, prefix=args.prefix),
        store,
        pushers=pushers,
        owner_id=args.owner,
        stop=stop,
        exit_when_idle=args.exit_when_idle,
        idle_sleep=args.idle_sleep,
        hooks=_load_hooks(args.hooks),
    )
    print(
        f"batches={stats.batches} landed={stats.landed} dead={stats.dead} "
        f"retried={stats.retried} pushes={stats.pushes}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
