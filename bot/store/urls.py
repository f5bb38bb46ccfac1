"""Turning ``SHUNTER_DATABASE_URL`` into a SQLAlchemy URL Shunter can open.

Operators paste URLs from their hosting provider (``postgres://...``, ``postgresql://...``);
SQLAlchemy would pick psycopg2 for those, which is not installed, so they are rewritten to
the psycopg 3 driver that is.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from bot.errors import SettingsError

_SETTING = "SHUNTER_DATABASE_URL"
_POSTGRES_ALIASES = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg3"}


def normalise_database_url(url: str) -> URL:
    """Parse ``url`` and pick the driver Shunter ships; a SettingsError says what is wrong."""
    text = url.strip()
    if not text:
        raise SettingsError(_SETTING, "is empty", hint="unset it to use SQLite in the data dir")
    try:
        parsed = make_url(text)
        port = parsed.port
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise SettingsError(
            _SETTING,
            "is not a database URL",
            hint="use postgresql+psycopg://user:password@host/db or sqlite:///path",
        ) from None
    if port is not None and not 0 < port < 65536:
        raise SettingsError(_SETTING, f"has the port {port}, outside 1-65535")
    if parsed.drivername in _POSTGRES_ALIASES:
        if not parsed.database:
            raise SettingsError(_SETTING, "names no database (expected .../dbname)")
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in {"sqlite", "sqlite+pysqlite"}:
        return parsed.set(drivername="sqlite+pysqlite")
    raise SettingsError(
        _SETTING,
        f"uses the unsupported database {parsed.drivername!r}",
        hint="Shunter stores runs in PostgreSQL (postgresql+psycopg://) or SQLite (sqlite:///)",
    )


def describe_url(url: URL) -> str:
    """The URL without its password, for logs and error messages."""
    return url.render_as_string(hide_password=True)
