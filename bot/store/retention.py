"""Retention: dropping history older than an operator's horizon.

Runs, steps and processed-comment records grow with every push; audit events are kept
unless asked, because an audit trail is only useful if it outlives the runs it explains.
Active runs are never pruned, whatever their age.

``shunter serve`` enqueues :func:`prune_job` hourly (one process at a time, by a Redis key:
see ``bot.queue.jobs.enqueue_retention``) with ``SHUNTER_RETENTION_DAYS``. Each prune leaves
its figures in Redis (:func:`record_prune`), where ``shunter doctor`` and ``/metrics`` read
them: pruning happens in a worker, out of an operator's sight otherwise.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from bot.store import tables as t
from bot.store.base import StoreBase

_ENDED = ("completed", "cancelled", "superseded")

LAST_KEY = "shunter:retention:last"
"""The last prune (a hash): ``at`` and the rows removed per table when it succeeded,
``failed_at`` and ``error`` (the exception's type) when the latest attempt failed."""
TOTALS_KEY = "shunter:retention:totals"
"""Running counts (a hash): ``prunes`` and ``failures``, and rows removed per table."""


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
    runtime = get_runtime()
    store: Any = runtime.store
    try:
        removed: dict[str, int] = store.prune(store.now() - timedelta(days=days))
    except Exception as exc:  # recorded for doctor, then failed as usual (rq keeps the traceback)
        record_prune(runtime.redis, None, time.time(), error=failure_summary(exc))
        raise
    get_logger(__name__).info("old run history deleted", older_than_days=days, **removed)
    record_prune(runtime.redis, removed, time.time())
    return removed


def record_prune(redis: Any, removed: dict[str, int] | None, at: float, *, error: str = "") -> None:
    """Leave a prune's outcome where operators look: the last prune for ``shunter doctor``,
    running totals for ``/metrics``. ``removed`` is None when the prune failed with ``error``;
    the last success's figures stay, so doctor can say both."""
    pipe = redis.pipeline()
    if removed is None:
        pipe.hset(LAST_KEY, mapping={"failed_at": str(at), "error": error or "error"})
        pipe.hincrby(TOTALS_KEY, "failures", 1)
    else:
        pipe.delete(LAST_KEY)
        pipe.hset(LAST_KEY, mapping={"at": str(at), **removed})
        pipe.hincrby(TOTALS_KEY, "prunes", 1)
        for kind, count in removed.items():
            pipe.hincrby(TOTALS_KEY, kind, count)
    pipe.execute()


def failure_summary(exc: BaseException) -> str:
    """One line for doctor: the error's type and message, no password, no SQL dump."""
    from bot.store.redaction import redact_secrets

    said = " ".join(str(exc).split("[SQL:")[0].split())
    return redact_secrets(f"{type(exc).__name__}: {said}" if said else type(exc).__name__)[:300]


def last_prune(redis: Any) -> dict[str, str]:
    """The last prune's hash (see :data:`LAST_KEY`), decoded; empty before the first."""
    raw = redis.hgetall(LAST_KEY)
    return {_text(k): _text(v) for k, v in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
