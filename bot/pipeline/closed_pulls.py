"""A pull request closed or merged: the changes Shunter still holds for it are dropped.

A fix queued by **Apply fixes** or ``auto_apply`` is built on the pull request's head and
lands on its branch. Once the pull request is merged, a commit there can never reach the
base; once it is closed, nobody asked for one. Landing it anyway leaves a commit by Shunter
on a dead branch (GitHub lists it under the merged pull request), and a change waiting for
``/shunter approve`` would wait, for nobody, until its record expired.

So the close drops what has not started: changes waiting or backing off in the merge queue,
and changes waiting for approval. A change a worker holds at that moment cannot be taken
from it (its lease), but the worker looks at the pull request right before it pushes
(:func:`withdrawn`) and drops the change there instead of landing it; one whose push came
first landed before the close. A dead letter stays for an operator to read. Each drop is
recorded and audited alike (:func:`record_dropped`), and ``/shunter queue`` on a reopened
pull request lists the changes as dropped when it was closed, with how to ask for them again.
"""

from __future__ import annotations

from typing import Any

from bot.changes.model import ChangeRequest
from bot.errors import ShunterError
from bot.logs import get_logger
from bot.pipeline import heads
from bot.pipeline.facts import Target
from bot.pipeline.patches import proposed_here
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
        record_dropped(
            runtime, entry.id, record, title=title, cause=cause, target=target, delivery=delivery_id
        )
        dropped.append(entry.id)
    for change_id, record in pr_changes.listed(runtime.redis, "waiting", target.repo, target.number, now):
        title = str((record.get("cr") or {}).get("title", ""))
        record_dropped(
            runtime, change_id, record, title=title, cause=cause, target=target, delivery=delivery_id
        )
        dropped.append(change_id)
    if dropped:
        log.info("dropped changes of a closed pull request", cause=cause, changes=dropped)
    return dropped


def withdrawn(runtime: Any, changes: list[ChangeRequest]) -> dict[str, str]:
    """Those of ``changes`` whose pull request was closed or merged (as the close recorded
    it: ``heads.mark_closed``), id -> ``closed`` or ``merged``: the merge worker asks right
    before it pushes, and drops them instead (``GitHubHooks.dropped``)."""
    out: dict[str, str] = {}
    for cr in changes:
        place = _place(runtime, cr)
        state = heads.closed_state(runtime.redis, place["repo"], place["pr"]) if place else None
        if state in ("closed", "merged"):
            out[cr.id] = state
    return out


def dropped_by_worker(runtime: Any, cr: ChangeRequest, cause: str) -> None:
    """The merge worker dropped ``cr`` before its push (:func:`withdrawn` said ``cause``):
    recorded and audited as the close drops the changes no worker held."""
    place = _place(runtime, cr)
    if place is None or cause not in ("closed", "merged"):
        log.warning("dropped a change whose pull request is unknown", change=cr.id, cause=cause)
        return
    drop_cause: pr_changes.DropCause = "merged" if cause == "merged" else "closed"
    record_dropped(runtime, cr.id, place, title=cr.title, cause=drop_cause)
    log.info("dropped a change of a closed pull request before its push", cause=cause, change=cr.id)


def record_dropped(
    runtime: Any,
    change_id: str,
    record: dict[str, Any],
    *,
    title: str,
    cause: pr_changes.DropCause,
    target: Target | None = None,
    delivery: str | None = None,
) -> None:
    """Keep ``change_id`` (proposed where ``record`` says) as dropped by its pull request's
    close, for ``/shunter queue``, and audit it."""
    now = runtime.store.now()
    pr_changes.mark_dropped(runtime.redis, change_id, record, title=title, at=now, cause=cause)
    runtime.store.record_audit(
        repo=record["repo"],
        pr=record["pr"],
        actor="shunter",
        action="change.dropped",
        target_type="change_request",
        target_id=change_id,
        installation_id=target.installation_id if target is not None else None,
        delivery_id=delivery,
        reason_code=f"pull_request_{cause}",
        reason=f"the pull request was {cause} before the change landed",
    )


def _place(runtime: Any, cr: ChangeRequest) -> dict[str, Any] | None:
    """The record of where ``cr`` was proposed (its repository and pull request), else what
    the change itself says; None when neither names a pull request."""
    record = pr_changes.read_record(runtime.redis, cr.id)
    if not (isinstance(record.get("repo"), str) and isinstance(record.get("pr"), int)):
        record = pr_changes.place_of(cr)
    return record or None
