"""The refs Shunter fetches into a bare repository, and when each was last fetched.

A mirror gains a ref for every pull request a job ever looked at (``refs/pull/N/head``), every
base branch and merge-queue branch (``refs/heads/...``) and every branch the merge queue or a
follow-up push fetched (``refs/shunter/fetched/...``). Nothing on the remote side removes
them: GitHub keeps ``refs/pull/N/head`` after the pull request closes. Left alone, they grow
without bound, and every fetch offers each of them to the server while it negotiates.

Git keeps no time for a ref (a fetch that finds it unchanged does not touch it), so the
mirror's writers note when they fetched each ref in a small JSON file inside the mirror,
while they hold its lock. Clean-up (:func:`bot.git.cleanup.prune_mirror_refs`), under the
same lock, drops the refs no fetch has named for as long as an unused mirror is kept.
The decision is :func:`plan_ref_prune`, pure; this module does no locking of its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

FETCH_NAMESPACE = "refs/shunter/fetched"
FETCH_LOG = "shunter-fetched-refs.json"
"""Inside the bare repository; git ignores files it does not know."""
FETCH_LOG_STAGING = ".fetched-refs-"
_CURRENT_SHAPE = re.compile(r"^[A-Za-z0-9_-]{0,60}-[0-9a-f]{16}$")


def fetched_ref(branch: str) -> str:
    """The private ref ``bot.git.push.fetch_branch`` keeps ``branch``'s head in.

    One flat name per branch, ending in a hash of the full branch name: ``fix`` and
    ``fix/typo`` cannot both be refs under one prefix (one would be a file, the other a
    directory of that name), and branches come and go on the remote while these refs stay.
    The readable part is only for whoever looks at the repository or the logs.
    """
    digest = hashlib.sha256(branch.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", branch)[:60]
    return f"{FETCH_NAMESPACE}/{readable}-{digest}"


def is_retired_name(ref: str) -> bool:
    """A ref under the naming ``fetch_branch`` used before its names were flat and hashed
    (``refs/shunter/fetched/<branch>``): no version reads or updates these any more."""
    rest = ref.removeprefix(FETCH_NAMESPACE + "/")
    return rest != ref and not _CURRENT_SHAPE.match(rest)


def destination_refs(refspecs: Sequence[str]) -> list[str]:
    """The local refs a fetch of ``refspecs`` writes (``+src:dst`` gives ``dst``)."""
    return [spec.partition(":")[2] for spec in refspecs if ":" in spec and spec.partition(":")[2]]


@dataclass(frozen=True)
class RefPrune:
    """What to delete, and the fetch log to keep for the refs that stay."""

    delete: list[str]
    log: dict[str, float]


def plan_ref_prune(
    refs: Iterable[str], log: Mapping[str, float], *, now: float, max_age_seconds: float
) -> RefPrune:
    """Which of a repository's ``refs`` to delete, given when each was last fetched.

    - a ref under the retired naming goes at once: nothing reads it;
    - a ref no fetch named for more than ``max_age_seconds`` goes (a closed pull request's
      head, a merge-queue branch long merged): the next job that needs it fetches it again;
    - a ref the log does not know (made before the log existed, a tag git followed, a ref
      ``fetch_branch`` moved without the lock) is noted as seen ``now``, so it gets the full
      age before it can go. That is what makes deleting safe under concurrent jobs: a job
      reads a ref by name only just after fetching it.
    """
    delete: list[str] = []
    kept: dict[str, float] = {}
    for ref in sorted(set(refs)):
        last = log.get(ref)
        if is_retired_name(ref) or (last is not None and now - last > max_age_seconds):
            delete.append(ref)
        else:
            kept[ref] = now if last is None else last
    return RefPrune(delete, kept)


def read_fetch_log(repo_path: Path) -> dict[str, float]:
    """The log of ``repo_path`` (empty when missing or unreadable: refs then start afresh)."""
    try:
        raw = json.loads((Path(repo_path) / FETCH_LOG).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {k: float(v) for k, v in raw.items() if isinstance(k, str) and isinstance(v, int | float)}


def write_fetch_log(repo_path: Path, log: Mapping[str, float]) -> None:
    """Replace the log in one step, so a reader never sees half of it. The caller holds the
    repository's lock (two writers would lose each other's entries)."""
    folder = Path(repo_path)
    fd, temp = tempfile.mkstemp(prefix=FETCH_LOG_STAGING, dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(dict(sorted(log.items())), out, separators=(",", ":"))
        os.replace(temp, folder / FETCH_LOG)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def record_fetch(repo_path: Path, refs: Iterable[str], now: float) -> None:
    """Note that ``refs`` were fetched at ``now`` (the caller holds the repository's lock)."""
    names = list(refs)
    if not names:
        return
    log = read_fetch_log(repo_path)
    log.update(dict.fromkeys(names, now))
    write_fetch_log(repo_path, log)
