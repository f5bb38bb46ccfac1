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
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.pool import StaticPool

from bot.errors import SettingsError
from bot.store.redaction import redact_secrets
from bot.store.urls import describe_url, normalise_database_url

BUSY_TIMEOUT_MS = 30_000
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
WRITE_OPTION = "shunter_write"


def build_engine(url: URL, *, schema: str | None = None) -> Engine:
    """An engine for a URL from :func:`normalise_database_url`; connects only for ``schema``.

    SQLAlchemy reports a URL it cannot use (a bad query argument, an unknown option) with a
    ValueError or ArgumentError; those are the operator's setting, so they become a
    SettingsError naming it instead of a traceback.
    """
    try:
        if url.get_backend_name() == "sqlite":
            if schema is not None:
                raise SettingsError("SHUNTER_DATABASE_URL", "SQLite stores have no schemas")
            return _sqlite_engine(url)
        return _postgres_engine(url, schema)
    except (ArgumentError, ValueError, TypeError) as exc:
        problem = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if url.password:
            problem = problem.replace(str(url.password), "***")
        problem = redact_secrets(problem)
        raise SettingsError("SHUNTER_DATABASE_URL", f"cannot be used: {problem}") from None


def database_engine(url: str) -> Engine:
    """Parse, normalise and build an engine for a ``SHUNTER_DATABASE_URL`` (no connection).

    Raises SettingsError naming the setting for anything wrong with the URL itself, so
    callers that only check it (start-up, ``shunter doctor``) see exactly what the store
    would see.
    """
    return build_engine(normalise_database_url(url))


def check_database_url(url: str) -> str:
    """Validate ``url`` at start-up without connecting; returns it without its password.

    ``serve`` and ``worker`` call this before anything else, so a bad setting stops them
    with one line instead of a warning (serve) or a first job that fails (worker). An
    unreachable database is not checked here: it may come up later.
    """
    engine = database_engine(url)
    try:
        return describe_url(engine.url)
    finally:
        engine.dispose()


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in {"", ":memory:"} or database.startswith("file::memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if in_memory:
        # One shared connection, or every checkout would see its own empty database.
        kwargs["poolclass"] = StaticPool
    else:
        parent = Path(database).expanduser().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SettingsError(
                "SHUNTER_DATABASE_URL",
                f"cannot create the directory {parent} for the SQLite file: {exc.strerror}",
                hint="set SHUNTER_DATA_DIR to a writable directory",
            ) from None
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event (below) emit BEGIN, not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if not in_memory:
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL (a persistent setting, so only the first opener changes it).

    The switch needs an exclusive lock and SQLite reports "database is locked" at once,
    without the busy handler, when another connection is open meanwhile; so retry briefly.
    """
    for attempt in range(100):
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            time.sleep(0.01 * (attempt + 1))
    cursor.execute("PRAGMA journal_mode=WAL")  # the last try reports its error


def _postgres_engine(url: URL, schema: str | None) -> Engine:
    if schema is not None and not _SCHEMA_NAME.match(schema):
        raise SettingsError("database schema", f"{schema!r} is not a plain lower-case identifier")
    engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10}, pool_size=5)
    if schema is None:
        return engine
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    except IntegrityError:
        pass  # IF NOT EXISTS is not atomic: a concurrent first start created it meanwhile

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f'SET search_path TO "{schema}"')
        cursor.close()
        dbapi_connection.commit()

    engine.dispose()  # connections opened before the listener lack the search_path
    return engine
