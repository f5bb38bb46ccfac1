"""A bad SHUNTER_DATABASE_URL stops ``serve`` and ``worker`` with one line naming it.

It used to be a warning ("run pages disabled") for serve, and nothing at all for a worker,
which opens the store lazily: it printed "worker started" and every job then failed. An
unreachable database with a valid URL stays survivable (it may come back).
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.errors import SettingsError

BAD_URLS = [
    ("mysql://u:hunter2pw@db.example/shunter", "uses the unsupported database 'mysql'"),
    ("postgresql://postgres:hunter2pw@127.0.0.1:5432:x/test", "is not a database URL"),
    ("postgres://postgres:hunter2pw@127.0.0.1:99999/test", "has the port 99999"),
    ("postgresql://postgres:hunter2pw@127.0.0.1/", "names no database"),
]


def _one_line(output: str, expected: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith(f"shunter: SHUNTER_DATABASE_URL: {expected}"), output
    assert "hunter2pw" not in output
    assert "Traceback" not in output


@pytest.mark.parametrize(("url", "expected"), BAD_URLS)
def test_serve_refuses_a_bad_database_url(clean_env, monkeypatch, tmp_path, redis_url, url, expected):
    monkeypatch.setenv("SHUNTER_WEBHOOK_SECRET", "s")
    monkeypatch.setenv("SHUNTER_REDIS_URL", redis_url)
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHUNTER_DATABASE_URL", url)

    def serve_forever(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("serve went on with a bad SHUNTER_DATABASE_URL")

    monkeypatch.setattr("aiohttp.web.run_app", serve_forever)
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 2, result.output
    _one_line(result.output, expected)


@pytest.mark.parametrize(("url", "expected"), BAD_URLS)
def test_worker_refuses_a_bad_database_url(clean_env, monkeypatch, tmp_path, redis_url, url, expected):
    monkeypatch.setenv("SHUNTER_REDIS_URL", redis_url)
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHUNTER_DATABASE_URL", url)
    result = CliRunner().invoke(main, ["worker", "--burst", "--queues", "merge"])
    assert result.exit_code == 2, result.output
    assert "worker started" not in result.output
    _one_line(result.output, expected)


def test_serve_store_bad_setting_raises_but_unreachable_database_warns(clean_env, monkeypatch, tmp_path):
    from bot.settings import load_settings
    from bot.web.commands import _open_store

    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHUNTER_DATABASE_URL", "mysql://u@db.example/shunter")
    with pytest.raises(SettingsError, match="SHUNTER_DATABASE_URL"):
        _open_store(load_settings())
    monkeypatch.setenv("SHUNTER_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/test")
    assert _open_store(load_settings()) is None  # unreachable: run pages off, serving goes on
