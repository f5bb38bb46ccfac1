"""The audit log: one event for every write Shunter makes to GitHub.

Who (actor, installation), what (action and target), why (delivery id, policy reason code
and sentence), when, and for which run. Every string is redacted before it is stored, so a
token that slipped into a payload or an error message never lands in the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select

from bot.store import tables as t
from bot.store.base import StoreBase, inserted_id
from bot.store.records import AuditEvent

_MAX_REASON = 2000


class AuditMixin(StoreBase):
    def record_audit(
        self,
        *,
        repo: str,
        actor: str,
        action: str,
        target_type: str,
        target_id: str | int | None = None,
        pr: int | None = None,
        run_id: int | None = None,
        installation_id: int | None = None,
        delivery_id: str | None = None,
        reason_code: str | None = None,
        reason: str | None = None,
        payload: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditEvent:
        """Store one event, e.g. ``action="check_run.update", target_type="check_run"``."""
        values = {
            "at": at or self.now(),
            "repo": repo,
            "pr": pr,
            "run_id": run_id,
            "installation_id": installation_id,
            "actor": self._clean(actor),
            "action": action,
            "target_type": target_type,
            "target_id": self._clean(None if target_id is None else str(target_id)),
            "delivery_id": delivery_id,
            "reason_code": reason_code,
            "reason": self._clean(reason[:_MAX_REASON] if reason else reason),
            "payload": self._clean(dict(payload or {})),
        }
        with self._write() as conn:
            event_id = inserted_id(conn.execute(t.audit_events.insert().values(**values)))
        return AuditEvent(id=event_id, **values)

    def audit_events(
        self,
        *,
        repo: str | None = None,
        pr: int | None = None,
        delivery_id: str | None = None,
        run_id: int | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 500,
    ) -> list[AuditEvent]:
        """Events matching every given filter, oldest first (the order things happened)."""
        c = t.audit_events.c
        query = select(t.audit_events)
        for column, value in (
            (c.repo, repo),
            (c.pr, pr),
            (c.delivery_id, delivery_id),
            (c.run_id, run_id),
            (c.action, action),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(c.at >= since)
        query = query.order_by(c.id.desc()).limit(limit)
        with self._read() as conn:
            rows = list(conn.execute(query))
        return [_event(row) for row in reversed(rows)]


def _event(row: Row[Any]) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=row.at,
        repo=row.repo,
        pr=row.pr,
        run_id=row.run_id,
        installation_id=row.installation_id,
        actor=row.actor,
        action=row.action,
        target_type=row.target_type,
        target_id=row.target_id,
        delivery_id=row.delivery_id,
        reason_code=row.reason_code,
        reason=row.reason,
        payload=dict(row.payload or {}),
    )
