"""A ``store`` fixture over both databases: a fresh SQLite file, and a private schema in
the machine's PostgreSQL (dropped afterwards) so parallel test runs never collide."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.store import Store


class Clock:
    """A controllable clock: tests move time instead of sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[tuple[str, str]]:
    schema = f"shunter_test_{uuid.uuid4().hex[:12]}"
    yield postgres_url, schema
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, str | None]]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}", None
    else:
        yield request.getfixturevalue("pg_schema")


@pytest.fixture
def store(db: tuple[str, str | None], clock: Clock) -> Iterator[Store]:
    url, schema = db
    opened = Store.open(url, schema=schema, clock=clock)
    yield opened
    opened.close()
