"""Engines tuned for how Shunter shares its database.

SQLite: several worker processes write the same file, so it runs in WAL mode (readers never
block the writer), waits for locks instead of failing at once (``busy_timeout``), and takes
the write lock at ``BEGIN IMMEDIATE`` for write transactions, because a deferred transaction
that upgrades from read to write in WAL mode fails with SQLITE_BUSY without waiting.

PostgreSQL: an optional schema (created when missing) is put first on the ``search_path``,
which lets tests and multi-tenant operators keep several stores in one database.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import StaticPool

from bot.errors import SettingsError

BUSY_TIMEOUT_MS = 30_000
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
WRITE_OPTION = "shunter_write"


def build_engine(url: URL, *, schema: str | None = None) -> Engine:
    if url.get_backend_name() == "sqlite":
        if schema is not None:
            raise SettingsError("SHUNTER_DATABASE_URL", "SQLite stores have no schemas")
        return _sqlite_engine(url)
    return _postgres_engine(url, schema)


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in {"", ":memory:"} or database.startswith("file::memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if in_memory:
        # One shared connection, or every checkout would see its own empty database.
        kwargs["poolclass"] = StaticPool
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event (below) emit BEGIN, not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgres_engine(url: URL, schema: str | None) -> Engine:
    if schema is not None and not _SCHEMA_NAME.match(schema):
        raise SettingsError("database schema", f"{schema!r} is not a plain lower-case identifier")
    engine = create_engine(
        url, pool_pre_ping=True, connect_args={"connect_timeout": 10}, pool_size=5
    )
    if schema is None:
        return engine
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f'SET search_path TO "{schema}"')
        cursor.close()
        dbapi_connection.commit()

    engine.dispose()  # connections opened before the listener lack the search_path
    return engine
