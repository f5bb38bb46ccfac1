"""Run history, audit log and PR state (SQLAlchemy: SQLite by default, PostgreSQL by URL).

Use ``Store.open(settings.effective_database_url)`` (or ``Store.from_settings``) once per
process. Records come back as frozen dataclasses from ``bot.store.records``.
"""

from bot.store.records import (
    AuditEvent,
    CommandRecord,
    DismissedFinding,
    PostedComment,
    PullState,
    RunRecord,
    RunStatus,
    StepRecord,
)
from bot.store.redaction import redact_secrets
from bot.store.store import Store

__all__ = [
    "AuditEvent",
    "CommandRecord",
    "DismissedFinding",
    "PostedComment",
    "PullState",
    "RunRecord",
    "RunStatus",
    "StepRecord",
    "Store",
    "redact_secrets",
]
