"""The store's plumbing: transactions, error mapping, upserts and redaction.

The feature mixins (runs, audit, comments, pull state) only build statements; this base
decides how they run, so SQLite's locking and PostgreSQL's aborted-transaction rules are
handled in one place.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from bot.errors import ShunterError, TransientError
from bot.store.engine import WRITE_OPTION
from bot.store.redaction import Redactor, nul_free_json, redact_json


def utc_now() -> datetime:
    return datetime.now(UTC)


def inserted_id(result: CursorResult[Any]) -> int:
    """The autoincrement id of the row a single-row ``insert()`` (no ``returning()``) wrote."""
    key = result.inserted_primary_key
    assert key is not None  # SQLAlchemy fills it for every single-row insert of a table with an id
    return int(key[0])


class StoreBase:
    """Holds the engine, the clock and the redactor every feature mixin uses."""

    def __init__(
        self,
        engine: Engine,
        *,
        redact: Redactor,
        clock: Callable[[], datetime] = utc_now,
        description: str = "",
    ) -> None:
        self.engine = engine
        self._redact = redact
        self._clock = clock
        self.description = description or engine.url.render_as_string(hide_password=True)
        _forget_pool_after_fork(self)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> StoreBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"

    def now(self) -> datetime:
        return self._clock()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any exception."""
        with self._mapped_errors(), self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._mapped_errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            # Locked past the busy timeout, connection refused or dropped: worth a retry.
            problem = self._redact(_first_line(exc.orig))
            raise TransientError(f"database {self.description} unavailable: {problem}") from exc
        except DataError as exc:
            # A value the database refuses (too long, out of range, an encoding it cannot
            # hold): retrying cannot help, and a raw driver error would crash the job.
            problem = self._redact(_first_line(exc.orig))
            raise ShunterError(f"database {self.description} refused a value: {problem}") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise TransientError(f"database connection to {self.description} was lost") from exc
            raise

    def _insert(self, table: Table) -> Any:
        """An INSERT that supports ``on_conflict_do_nothing`` on either database."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def _insert_new(self, conn: Connection, table: Table, keys: list[str], values: dict[str, Any]) -> bool:
        """INSERT unless a row with the same ``keys`` exists; True when this call inserted.

        Decided by RETURNING: rowcount of INSERT ... ON CONFLICT is unreliable across drivers.
        """
        statement = (
            self._insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=keys)
            .returning(table.c[keys[0]])
        )
        return conn.execute(statement).first() is not None

    def _clean(self, value: Any) -> Any:
        """Redact a string or JSON-shaped value (and drop NULs) before it is stored.

        The column types drop NULs from every write anyway (see ``tables``); doing it here
        too keeps the records a write returns equal to what a later read gives back.
        """
        if value is None:
            return None
        return nul_free_json(redact_json(value, self._redact))


def _forget_pool_after_fork(store: StoreBase) -> None:
    """rq forks a work horse per job: a pooled connection must never serve two processes.

    The child drops the inherited pool without closing it (closing would close the
    parent's sockets too) and opens fresh connections on first use. In-memory SQLite is
    left alone, since a fresh connection would see an empty database.
    """
    database = store.engine.url.database or ""
    if store.engine.dialect.name == "sqlite" and database in {"", ":memory:"}:
        return
    ref = weakref.ref(store)

    def after_fork_in_child() -> None:
        alive = ref()
        if alive is not None:
            alive.engine.dispose(close=False)

    os.register_at_fork(after_in_child=after_fork_in_child)


def _first_line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
