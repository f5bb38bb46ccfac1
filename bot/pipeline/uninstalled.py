"""Repositories Shunter lost access to: the App uninstalled, or repositories taken out of
its installation. Shunter must not keep their code, nor try to land changes there.

Before, their git mirrors and the merge worker's repositories stayed on disk until the age
limit (``mirror_max_age_days``, 30 days by default): a private repository's full history,
kept after its owner removed the App. Now the event removes them from this worker's data
dir at once, and notes the repositories in Redis so every other data dir (workers on other
hosts) removes its copies at its next hourly maintenance (:func:`remove_forgotten`). A
repository a job holds at that moment is removed at the next round; one used after the
event (the App installed again) is kept. Changes still waiting in the merge queue for those
repositories are dropped, audited: their pushes could only fail.
"""

from __future__ import annotations

import fnmatch
import time
from typing import Any

from bot.errors import ShunterError
from bot.git.cleanup import remove_repositories
from bot.logs import get_logger
from bot.pipeline.closed_pulls import NOT_STARTED
from bot.queue.merge import MergeQueue

log = get_logger(__name__)

FORGOTTEN = "shunter:forgotten-repos"
"""Sorted set: ``owner/name`` (or ``owner/*``) -> when access to it was lost (Unix seconds)."""


def forget_repositories(runtime: Any, names: list[str], *, delivery_id: str | None) -> dict[str, int]:
    """Remove what Shunter holds of ``names`` here, note them for the other data dirs, and
    drop their changes not yet started; counts of each, for the delivery's log."""
    if not names:
        return {"repositories": 0, "changes": 0}
    now = time.time()
    runtime.redis.zadd(FORGOTTEN, {name: now for name in names})
    removed = remove_repositories(runtime.settings.data_dir, names, used_before=now)
    dropped = drop_changes(runtime, names, delivery_id)
    log.info("forgot repositories", names=names, removed=len(removed), changes=len(dropped))
    return {"repositories": len(removed), "changes": len(dropped)}


def remove_forgotten(runtime: Any, *, max_age_seconds: float) -> int:
    """At a data dir's maintenance: remove its copies of the repositories Shunter lost
    access to within ``max_age_seconds`` (older ones the age limit has removed already);
    how many were removed."""
    runtime.redis.zremrangebyscore(FORGOTTEN, "-inf", time.time() - max_age_seconds)
    removed = 0
    for raw, lost_at in runtime.redis.zrange(FORGOTTEN, 0, -1, withscores=True):
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        removed += len(remove_repositories(runtime.settings.data_dir, [name], used_before=lost_at))
    return removed


def _matches(repo: str, names: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(repo.lower(), name.lower()) for name in names)


def drop_changes(
    runtime: Any,
    names: list[str],
    delivery_id: str | None,
    *,
    reason_code: str = "access_lost",
    reason: str = "Shunter lost access to the repository before the change landed",
) -> list[str]:
    mq = MergeQueue(runtime.redis)
    dropped = []
    for entry in list(mq.entries()):
        if entry.state not in NOT_STARTED or entry.cr is None:
            continue
        proposed_on = entry.cr.origin.repo or entry.cr.repo  # a fork's change: the base's PR
        if not (_matches(entry.cr.repo, names) or _matches(proposed_on, names)):
            continue
        try:
            mq.drop(entry.id)
        except ShunterError:  # a worker holds it: its push fails on its own
            continue
        dropped.append(entry.id)
        runtime.store.record_audit(
            repo=proposed_on,
            pr=entry.cr.origin.pull_number,
            actor="shunter",
            action="change.dropped",
            target_type="change_request",
            target_id=entry.id,
            delivery_id=delivery_id,
            reason_code=reason_code,
            reason=reason,
        )
    return dropped
