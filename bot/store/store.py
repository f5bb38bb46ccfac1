"""``Store``: run history, audit log and PR state behind one object.

Open it once per process with :meth:`Store.open` (the settings' database URL) and share
it between threads; every method runs its own short transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import OperationalError

from bot.errors import ShunterError, TransientError
from bot.settings import Settings
from bot.store import tables as t
from bot.store.audit import AuditMixin
from bot.store.base import utc_now
from bot.store.comments import CommentsMixin
from bot.store.engine import build_engine
from bot.store.pull_state import PullStateMixin
from bot.store.redaction import Redactor, redact_secrets
from bot.store.retention import RetentionMixin
from bot.store.runs import RunsMixin
from bot.store.urls import describe_url, normalise_database_url

# Any constant works; it keeps concurrent first starts from racing on CREATE TABLE.
_PG_SCHEMA_LOCK = 0x5348554E


class Store(RunsMixin, AuditMixin, CommentsMixin, PullStateMixin, RetentionMixin):
    @classmethod
    def open(
        cls,
        url: str,
        *,
        redact: Redactor = redact_secrets,
        schema: str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> Store:
        """Connect, create the tables on first use, and check the schema version.

        ``url`` is a SQLAlchemy URL; ``postgres://`` and ``postgresql://`` use psycopg 3.
        ``schema`` (PostgreSQL only) keeps this store's tables in their own schema.
        Raises SettingsError for a bad URL, TransientError when the database is down.
        """
        parsed = normalise_database_url(url)
        engine = build_engine(parsed, schema=schema)
        store = cls(engine, redact=redact, clock=clock, description=describe_url(parsed))
        try:
            store._initialise()
        except BaseException:
            engine.dispose()
            raise
        return store

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls.open(settings.effective_database_url)

    def _initialise(self) -> None:
        try:
            with self._write() as conn:
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SCHEMA_LOCK})
                t.metadata.create_all(conn, checkfirst=True)
                self._check_version(conn)
        except OperationalError as exc:  # raised by create_all before _write maps it
            raise TransientError(f"database {self.description} unavailable: {exc.orig}") from exc

    def _check_version(self, conn: Connection) -> None:
        found = conn.execute(
            select(t.schema_version.c.version).where(t.schema_version.c.id == 1)
        ).scalar_one_or_none()
        if found is None:
            conn.execute(
                t.schema_version.insert().values(id=1, version=t.SCHEMA_VERSION, applied_at=self.now())
            )
            return
        if found > t.SCHEMA_VERSION:
            raise ShunterError(
                f"database {self.description} has schema version {found}, newer than this "
                f"Shunter understands ({t.SCHEMA_VERSION})",
                hint="upgrade Shunter, or point SHUNTER_DATABASE_URL at another database",
            )
        if found < t.SCHEMA_VERSION:  # pragma: no cover - no migration exists yet
            raise ShunterError(
                f"database {self.description} has schema version {found}; "
                f"no migration to {t.SCHEMA_VERSION} is known"
            )

    def schema_version(self) -> int:
        with self._read() as conn:
            return int(
                conn.execute(
                    select(t.schema_version.c.version).where(t.schema_version.c.id == 1)
                ).scalar_one()
            )

    @property
    def raw_engine(self) -> Engine:
        """For maintenance scripts and tests; application code uses the methods."""
        return self.engine
