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
from sqlalchemy.types import TypeDecorator, TypeEngine

from bot.store.redaction import nul_free_json, without_nul

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


class NulFreeString(TypeDecorator[str]):
    """VARCHAR whose writes never carry a NUL (PostgreSQL refuses it: DataError).

    Every text column uses this (or :class:`NulFreeText`), so the rule holds for each write
    and each lookup in one place, whatever method builds the statement.
    """

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return without_nul(value) if isinstance(value, str) else value


class NulFreeText(NulFreeString):
    """TEXT with the same NUL rule, for free-form values (reasons, command arguments)."""

    impl = Text
    cache_ok = True


class NulFreeJSON(TypeDecorator[Any]):
    """JSON (JSONB on PostgreSQL) whose keys and strings never hold a NUL.

    PostgreSQL rejects ``\\u0000`` inside JSONB (UntranslatableCharacter), so a NUL in a
    step detail or audit payload would otherwise fail the whole write.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return nul_free_json(value)


JSONType = NulFreeJSON
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
    Column("repo", NulFreeString(200), nullable=False),
    Column("pr", Integer, nullable=True),
    Column("head_sha", NulFreeString(64), nullable=False),
    Column("stage", NulFreeString(40), nullable=False),
    Column("status", NulFreeString(20), nullable=False),
    Column("conclusion", NulFreeString(20), nullable=True),
    Column("check_run_id", BigInteger, nullable=True),
    Column("delivery_id", NulFreeString(100), nullable=True),
    Column("installation_id", BigInteger, nullable=True),
    Column("reason", NulFreeText, nullable=True),
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
    Column("name", NulFreeString(100), nullable=False),
    Column("status", NulFreeString(20), nullable=False),
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
    Column("repo", NulFreeString(200), nullable=False),
    Column("pr", Integer, nullable=True),
    Column("run_id", Id, nullable=True),
    Column("installation_id", BigInteger, nullable=True),
    Column("actor", NulFreeString(200), nullable=False),
    Column("action", NulFreeString(100), nullable=False),
    Column("target_type", NulFreeString(50), nullable=False),
    Column("target_id", NulFreeString(200), nullable=True),
    Column("delivery_id", NulFreeString(100), nullable=True),
    Column("reason_code", NulFreeString(100), nullable=True),
    Column("reason", NulFreeText, nullable=True),
    Column("payload", JSONType, nullable=False, default=dict),
    Index("ix_shunter_audit_pr", "repo", "pr"),
    Index("ix_shunter_audit_delivery", "delivery_id"),
)

summary_comments = Table(
    "shunter_summary_comments",
    metadata,
    Column("repo", NulFreeString(200), primary_key=True),
    Column("pr", Integer, primary_key=True),
    Column("worker", NulFreeString(200), nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("comment_id", BigInteger, nullable=True),
)

inline_comments = Table(
    "shunter_inline_comments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("repo", NulFreeString(200), nullable=False),
    Column("pr", Integer, nullable=False),
    Column("fingerprint", NulFreeString(64), nullable=False),
    Column("comment_id", BigInteger, nullable=True),
    Column("head_sha", NulFreeString(64), nullable=False),
    Column("path", NulFreeText, nullable=False),
    Column("line", Integer, nullable=False),
    Column("resolved", Boolean, nullable=False, default=False),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("repo", "pr", "fingerprint", name="uq_shunter_inline_fingerprint"),
)

pr_state = Table(
    "shunter_pr_state",
    metadata,
    Column("repo", NulFreeString(200), primary_key=True),
    Column("pr", Integer, primary_key=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("paused_by", NulFreeString(200), nullable=True),
    Column("paused_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

commands = Table(
    "shunter_commands",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("repo", NulFreeString(200), nullable=False),
    Column("pr", Integer, nullable=False),
    Column("verb", NulFreeString(50), nullable=False),
    Column("args", NulFreeText, nullable=False, default=""),
    Column("user", NulFreeString(200), nullable=False),
    Column("outcome", NulFreeString(50), nullable=False),
    Column("detail", NulFreeText, nullable=True),
    Column("comment_id", BigInteger, nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_shunter_commands_pr", "repo", "pr"),
)

dismissed_findings = Table(
    "shunter_dismissed_findings",
    metadata,
    Column("repo", NulFreeString(200), primary_key=True),
    Column("pr", Integer, primary_key=True),
    Column("fingerprint", NulFreeString(64), primary_key=True),
    Column("by", NulFreeString(200), nullable=False),
    Column("reason", NulFreeText, nullable=False, default=""),
    Column("at", UTCDateTime, nullable=False),
)

processed_comments = Table(
    "shunter_processed_comments",
    metadata,
    Column("repo", NulFreeString(200), primary_key=True),
    Column("comment_id", BigInteger, primary_key=True),
    Column("text_hash", NulFreeString(64), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
)
