"""Keeping the mirror cache bounded: drop mirrors unused for too long, then the least
recently used ones until the cache fits its size budget; in the mirrors that stay, drop the
refs no job has fetched for as long (a closed pull request's head, a merged merge-queue
branch, refs under a retired naming).

The merge worker's own repositories (:func:`repositories`) count as mirrors here: they
grow the same way, one per repository served and a ref per branch landed on.

``plan_cleanup`` and ``plan_ref_prune`` decide (pure); ``cleanup_mirrors`` and
``prune_mirror_refs`` measure and delete, skipping any mirror whose lock is held so a
running fetch is never pulled out from under a worker.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pygit2

from bot.git.fetched_refs import FETCH_LOG_STAGING, plan_ref_prune, read_fetch_log, write_fetch_log
from bot.git.locks import file_lock
from bot.git.mirror import lock_path


@dataclass(frozen=True)
class MirrorInfo:
    path: Path
    size_bytes: int
    last_used: float
    """Epoch seconds of the last fetch or open (the lock file's mtime)."""


def plan_cleanup(
    mirrors: Iterable[MirrorInfo],
    *,
    now: float,
    max_age_seconds: float | None = None,
    max_total_bytes: int | None = None,
) -> list[MirrorInfo]:
    """Which mirrors to delete: the stale ones, then the oldest until the rest fit."""
    ordered = sorted(mirrors, key=lambda m: m.last_used)
    victims: list[MirrorInfo] = []
    keep: list[MirrorInfo] = []
    for mirror in ordered:
        if max_age_seconds is not None and now - mirror.last_used > max_age_seconds:
            victims.append(mirror)
        else:
            keep.append(mirror)
    if max_total_bytes is not None:
        total = sum(m.size_bytes for m in keep)
        for mirror in list(keep):
            if total <= max_total_bytes:
                break
            victims.append(mirror)
            total -= mirror.size_bytes
    return victims


def _size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).lstat().st_size
            except OSError:
                continue
    return total


def _last_used(mirror: Path) -> float:
    for candidate in (lock_path(mirror), mirror / "FETCH_HEAD", mirror):
        try:
            return candidate.stat().st_mtime
        except OSError:
            continue
    return 0.0


MERGE_REPOS = "merge"
"""``<data_dir>/merge`` holds the merge worker's repositories, ``<owner>__<name>.git``."""


def merge_repos_root(data_dir: Path) -> Path:
    return Path(data_dir) / MERGE_REPOS


def repositories(data_dir: Path) -> list[Path]:
    """Every bare repository Shunter keeps under ``data_dir``: the mirrors jobs read pull
    requests from (``mirrors/<owner>/<name>.git``) and the merge worker's, which it lands
    changes in (``merge/<owner>__<name>.git``). Both kinds grow with each repository served,
    so both fall under the same limits."""
    root = Path(data_dir)
    found = [*root.glob("mirrors/*/*.git"), *merge_repos_root(root).glob("*.git")]
    return sorted(path for path in found if path.is_dir())


def list_mirrors(data_dir: Path) -> list[MirrorInfo]:
    return [
        MirrorInfo(path=path, size_bytes=_size(path), last_used=_last_used(path))
        for path in repositories(data_dir)
    ]


def cleanup_mirrors(
    data_dir: Path,
    *,
    max_age_seconds: float | None = None,
    max_total_bytes: int | None = None,
    now: float | None = None,
) -> list[Path]:
    """Delete mirrors per the limits; returns the paths actually removed."""
    victims = plan_cleanup(
        list_mirrors(data_dir),
        now=time.time() if now is None else now,
        max_age_seconds=max_age_seconds,
        max_total_bytes=max_total_bytes,
    )
    removed: list[Path] = []
    for victim in victims:
        # listing every mirror takes a while: one a job opened since is not idle after all
        # (read before the lock, whose taking touches the file this time comes from)
        if _last_used(victim.path) > victim.last_used:
            continue
        with file_lock(lock_path(victim.path), blocking=False) as held:
            if not held:
                continue  # a worker is fetching it right now; try again next round
            shutil.rmtree(victim.path, ignore_errors=True)
            removed.append(victim.path)
    return removed


def prune_refs(mirror: Path, *, max_age_seconds: float, now: float | None = None) -> list[str] | None:
    """Delete the refs of ``mirror`` that :func:`plan_ref_prune` gives up; the names
    deleted, or None when a worker held the mirror (it is left for the next round).

    Under the mirror's lock, as fetches record what they fetched: a ref a job fetched was
    noted before the lock was released, so it is never deleted between that job's fetch and
    its read. Objects stay: a job may still read a commit by its sha.
    """
    with file_lock(lock_path(mirror.resolve()), blocking=False, touch=False) as held:
        if not held:
            return None
        for leftover in mirror.glob(f"{FETCH_LOG_STAGING}*"):  # a writer killed mid-write
            leftover.unlink(missing_ok=True)
        repo = pygit2.Repository(str(mirror))
        when = time.time() if now is None else now
        plan = plan_ref_prune(
            repo.listall_references(), read_fetch_log(mirror), now=when, max_age_seconds=max_age_seconds
        )
        deleted = []
        for name in plan.delete:
            try:
                repo.references.delete(name)
            except (KeyError, pygit2.GitError):
                plan.log[name] = when  # gone already, or fetch_branch is moving it: next round
                continue
            deleted.append(name)
        write_fetch_log(mirror, {k: v for k, v in plan.log.items() if k not in deleted})
        return deleted


def prune_mirror_refs(data_dir: Path, *, max_age_seconds: float, now: float | None = None) -> int:
    """Prune every mirror's refs (:func:`prune_refs`); how many refs were deleted."""
    deleted = 0
    for mirror in repositories(data_dir):
        if (mirror / "HEAD").exists():
            deleted += len(prune_refs(mirror, max_age_seconds=max_age_seconds, now=now) or ())
    return deleted


def _owner_and_name(path: Path) -> tuple[str, str]:
    """The ``owner/name`` a repository under the data dir holds, by its path's layout."""
    if path.parent.parent.name == "mirrors":
        return path.parent.name, path.name.removesuffix(".git")
    owner, _, name = path.name.removesuffix(".git").partition("__")
    return owner, name


def held_for(data_dir: Path, names: Iterable[str]) -> list[Path]:
    """The repositories under ``data_dir`` (mirrors and the merge worker's) holding one of
    ``names``: ``owner/name``, or ``owner/*`` for all of an account's. Logins and
    repository names are case-insensitive on GitHub, so the match is too."""
    wanted = {name.lower() for name in names}
    found = []
    for path in repositories(data_dir):
        owner, name = (part.lower() for part in _owner_and_name(path))
        if f"{owner}/{name}" in wanted or f"{owner}/*" in wanted:
            found.append(path)
    return found


def remove_repositories(data_dir: Path, names: Iterable[str], *, used_before: float) -> list[Path]:
    """Delete the repositories holding ``names`` (:func:`held_for`) that no job used since
    ``used_before``: Shunter lost access to them, so it must not keep their code. One a job
    holds right now, or used since (the App installed again), is left; returns the paths
    removed."""
    removed = []
    for path in held_for(data_dir, names):
        if _last_used(path) > used_before:
            continue
        with file_lock(lock_path(path.resolve()), blocking=False, touch=False) as held:
            if not held:
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
