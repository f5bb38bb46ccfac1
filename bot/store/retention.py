"""Retention: dropping history older than an operator's horizon.

Runs, steps and processed-comment records grow with every push; audit events are kept
unless asked, because an audit trail is only useful if it outlives the runs it explains.
Active runs are never pruned, whatever their age.

``shunter serve`` enqueues :func:`prune_job` hourly (one process at a time, by a Redis key:
see ``bot.queue.jobs.enqueue_retention``) with ``SHUNTER_RETENTION_DAYS``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from bot.store import tables as t
from bot.store.base import StoreBase

_ENDED = ("completed", "cancelled", "superseded")


class RetentionMixin(StoreBase):
    def prune(self, before: datetime, *, audit: bool = False) -> dict[str, int]:
        """Delete ended runs (with their steps) created before ``before``, and the
        processed-comment records seen before it; with ``audit=True`` audit events too.
        Returns how many rows each table lost."""
        removed: dict[str, int] = {}
        with self._write() as conn:
            old_runs = select(t.runs.c.id).where(t.runs.c.created_at < before, t.runs.c.status.in_(_ENDED))
            removed["steps"] = conn.execute(
                delete(t.run_steps).where(t.run_steps.c.run_id.in_(old_runs))
            ).rowcount
            removed["runs"] = conn.execute(
                delete(t.runs).where(t.runs.c.created_at < before, t.runs.c.status.in_(_ENDED))
            ).rowcount
            removed["processed_comments"] = conn.execute(
                delete(t.processed_comments).where(t.processed_comments.c.at < before)
            ).rowcount
            if audit:
                removed["audit_events"] = conn.execute(
                    delete(t.audit_events).where(t.audit_events.c.at < before)
                ).rowcount
        return removed


def prune_job(days: float) -> dict[str, int]:
    """The rq job: delete ended runs, steps and processed-comment records older than
    ``days`` from the worker's store. The audit log is never pruned here (README: it is
    kept). Returns the counts, which rq keeps as the job's result for operators."""
    from bot.logs import get_logger
    from bot.runtime import get_runtime

    if days <= 0:
        return {}
    store: Any = get_runtime().store
    removed: dict[str, int] = store.prune(store.now() - timedelta(days=days))
    get_logger(__name__).info("old run history deleted", older_than_days=days, **removed)
    return removed
