"""The store's schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

``SCHEMA_VERSION`` is recorded in ``shunter_schema``; a later release that changes a table
bumps it and migrates from the recorded version, and an older release refuses a newer
database instead of writing rows it does not understand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

SCHEMA_VERSION = 1


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite drops the zone on its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL ids get 64 bits.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

schema_version = Table(
    "shunter_schema",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

runs = Table(
    "shunter_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("repo", String(200), nullable=False),
    Column("pr", Integer, nullable=True),
    Column("head_sha", String(64), nullable=False),
    Column("stage", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("conclusion", String(20), nullable=True),
    Column("check_run_id", BigInteger, nullable=True),
    Column("delivery_id", String(100), nullable=True),
    Column("installation_id", BigInteger, nullable=True),
    Column("reason", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("metrics", JSONType, nullable=False, default=dict),
    Column("findings_count", Integer, nullable=False, default=0),
    Index("ix_shunter_runs_pr", "repo", "pr", "head_sha"),
    Index("ix_shunter_runs_check_run", "check_run_id"),
)

run_steps = Table(
    "shunter_run_steps",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("shunter_runs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("status", String(20), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("detail", JSONType, nullable=False, default=dict),
    Index("ix_shunter_run_steps_run", "run_id"),
)

audit_events = Table(
    "shunter_audit_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("repo", String(200), nullable=False),
    Column("pr", Integer, nullable=True),
    Column("run_id", Id, nullable=True),
    Column("installation_id", BigInteger, nullable=True),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target_type", String(50), nullable=False),
    Column("target_id", String(200), nullable=True),
    Column("delivery_id", String(100), nullable=True),
    Column("reason_code", String(100), nullable=True),
    Column("reason", Text, nullable=True),
    Column("payload", JSONType, nullable=False, default=dict),
    Index("ix_shunter_audit_pr", "repo", "pr"),
    Index("ix_shunter_audit_delivery", "delivery_id"),
)

summary_comments = Table(
    "shunter_summary_comments",
    metadata,
    Column("repo", String(200), primary_key=True),
    Column("pr", Integer, primary_key=True),
    Column("worker", String(200), nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("comment_id", BigInteger, nullable=True),
)

inline_comments = Table(
    "shunter_inline_comments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("repo", String(200), nullable=False),
    Column("pr", Integer, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("comment_id", BigInteger, nullable=True),
    Column("head_sha", String(64), nullable=False),
    Column("path", Text, nullable=False),
    Column("line", Integer, nullable=False),
    Column("resolved", Boolean, nullable=False, default=False),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("repo", "pr", "fingerprint", name="uq_shunter_inline_fingerprint"),
)

pr_state = Table(
    "shunter_pr_state",
    metadata,
    Column("repo", String(200), primary_key=True),
    Column("pr", Integer, primary_key=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("paused_by", String(200), nullable=True),
    Column("paused_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

commands = Table(
    "shunter_commands",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("repo", String(200), nullable=False),
    Column("pr", Integer, nullable=False),
    Column("verb", String(50), nullable=False),
    Column("args", Text, nullable=False, default=""),
    Column("user", String(200), nullable=False),
    Column("outcome", String(50), nullable=False),
    Column("detail", Text, nullable=True),
    Column("comment_id", BigInteger, nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_shunter_commands_pr", "repo", "pr"),
)

dismissed_findings = Table(
    "shunter_dismissed_findings",
    metadata,
    Column("repo", String(200), primary_key=True),
    Column("pr", Integer, primary_key=True),
    Column("fingerprint", String(64), primary_key=True),
    Column("by", String(200), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("at", UTCDateTime, nullable=False),
)

processed_comments = Table(
    "shunter_processed_comments",
    metadata,
    Column("repo", String(200), primary_key=True),
    Column("comment_id", BigInteger, primary_key=True),
    Column("text_hash", String(64), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
)
