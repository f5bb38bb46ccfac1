"""A pull request closed or merged: the changes Shunter still holds for it are dropped.

A fix queued by **Apply fixes** or ``auto_apply`` is built on the pull request's head and
lands on its branch. Once the pull request is merged, a commit there can never reach the
base; once it is closed, nobody asked for one. Landing it anyway leaves a commit by Shunter
on a dead branch (GitHub lists it under the merged pull request), and a change waiting for
``/shunter approve`` would wait, for nobody, until its record expired.

So the close drops what has not started: changes waiting or backing off in the merge queue,
and changes waiting for approval. A change a worker holds at that moment lands or fails as
it would have (its lease cannot be taken from it), and a dead letter stays for an operator
to read. Each drop is audited, and ``/shunter queue`` on a reopened pull request lists the
changes as dropped when it was closed, with how to ask for them again.
"""

from __future__ import annotations

from typing import Any

from bot.errors import ShunterError
from bot.logs import get_logger
from bot.pipeline.facts import Target
from bot.pipeline.patches import audit_change, proposed_here
from bot.queue import pr_changes
from bot.queue.merge import MergeQueue

log = get_logger(__name__)

NOT_STARTED = frozenset({"waiting", "delayed"})
"""Merge-queue states a close drops: no worker holds the change, and it is still to land."""


def drop_pending_changes(runtime: Any, target: Target, *, merged: bool, delivery_id: str | None) -> list[str]:
    """Drop the changes proposed on ``target``'s pull request that have not started to
    land; return their ids (the merge queue's first, then those waiting for approval)."""
    if target.number is None:
        return []
    cause: pr_changes.DropCause = "merged" if merged else "closed"
    now = runtime.store.now()
    mq = MergeQueue(runtime.redis)
    dropped: list[str] = []
    for entry in list(mq.entries()):
        if entry.state not in NOT_STARTED:
            continue
        record = proposed_here(runtime, entry.id, target)
        if record is None:
            continue
        try:
            mq.drop(entry.id)
        except ShunterError as exc:  # a worker claimed it meanwhile: it lands or fails as it will
            log.info("left a change a worker holds", change=entry.id, reason=str(exc))
            continue
        title = entry.cr.title if entry.cr is not None else ""
        pr_changes.mark_dropped(runtime.redis, entry.id, record, title=title, at=now, cause=cause)
        dropped.append(entry.id)
    for change_id, record in pr_changes.listed(runtime.redis, "waiting", target.repo, target.number, now):
        title = str((record.get("cr") or {}).get("title", ""))
        pr_changes.mark_dropped(runtime.redis, change_id, record, title=title, at=now, cause=cause)
        dropped.append(change_id)
    for change_id in dropped:
        why = f"the pull request was {cause} before the change landed"
        audit_change(
            runtime,
            target,
            "change.dropped",
            change_id,
            f"pull_request_{cause}",
            why,
            delivery_id=delivery_id,
        )
    if dropped:
        log.info("dropped changes of a closed pull request", cause=cause, changes=dropped)
    return dropped
