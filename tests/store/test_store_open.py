from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text, update

from bot.errors import SettingsError, ShunterError, TransientError
from bot.settings import load_settings
from bot.store import Store
from bot.store import tables as t
from bot.store.urls import normalise_database_url


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:p@db.example/shunter",
        "postgresql://u:p@db.example/shunter",
        "postgresql+psycopg://u:p@db.example/shunter",
    ],
)
def test_postgres_urls_use_psycopg3(url: str) -> None:
    parsed = normalise_database_url(url)
    assert parsed.drivername == "postgresql+psycopg"
    assert parsed.database == "shunter"
    assert parsed.password == "p"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("", "empty"),
        ("not a url", "not a database URL"),
        ("mysql://u@h/db", "unsupported database 'mysql'"),
        ("postgres://u@h", "names no database"),
        ("postgres://u:pw@127.0.0.1:5432:x/test", "not a database URL"),  # was a raw ValueError
        ("postgres://u:pw@127.0.0.1:0/test", "outside 1-65535"),
    ],
)
def test_bad_urls_name_the_setting(url: str, words: str) -> None:
    with pytest.raises(SettingsError) as caught:
        normalise_database_url(url)
    assert caught.value.setting == "SHUNTER_DATABASE_URL"
    assert words in str(caught.value)


def test_an_engine_sqlalchemy_refuses_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLAlchemy reports URLs it cannot use with ValueError/ArgumentError: still a setting."""
    import bot.store.engine as engine_module
    from bot.store.engine import check_database_url

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise ValueError("bad option for u:pw@host")

    monkeypatch.setattr(engine_module, "create_engine", refuse)
    with pytest.raises(SettingsError, match="SHUNTER_DATABASE_URL: cannot be used") as caught:
        check_database_url("postgresql://u:pw@h/db")
    assert "pw@" not in str(caught.value)


def test_default_is_a_wal_sqlite_file_in_the_data_dir(clean_env: None, data_dir: Path) -> None:
    settings = load_settings(data_dir=data_dir)
    with Store.from_settings(settings) as store:
        assert store.dialect == "sqlite"
        assert store.schema_version() == t.SCHEMA_VERSION
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    db_file = data_dir / "shunter.sqlite3"
    assert db_file.is_file()
    tables = {
        row[0]
        for row in sqlite3.connect(db_file).execute("select name from sqlite_master")
        if row[0].startswith("shunter_")
    }
    assert {"shunter_runs", "shunter_audit_events", "shunter_schema"} <= tables


def test_sqlite_parent_directories_are_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'store.sqlite3'}"
    with Store.open(url) as store:
        store.create_run("o/r", 1, "a" * 40, "review")
    assert (tmp_path / "a" / "b" / "store.sqlite3").is_file()


def test_in_memory_sqlite_keeps_its_tables() -> None:
    with Store.open("sqlite://") as store:
        run = store.create_run("o/r", 1, "a" * 40, "review")
        assert store.get_run(run.id) == run


def test_reopening_keeps_data_and_version(db: tuple[str, str | None]) -> None:
    url, schema = db
    with Store.open(url, schema=schema) as first:
        run = first.create_run("o/r", 7, "b" * 40, "security")
    with Store.open(url, schema=schema) as second:
        assert second.get_run(run.id) == run
        assert second.schema_version() == t.SCHEMA_VERSION


def test_a_newer_schema_is_refused(db: tuple[str, str | None]) -> None:
    url, schema = db
    with Store.open(url, schema=schema) as store, store.engine.begin() as conn:
        conn.execute(update(t.schema_version).values(version=t.SCHEMA_VERSION + 1))
    with pytest.raises(ShunterError, match="newer than this Shunter"):
        Store.open(url, schema=schema)


def test_unreachable_postgres_is_transient() -> None:
    with pytest.raises(TransientError) as caught:
        Store.open("postgresql://shunter:sekrit-pw@127.0.0.1:1/nowhere")
    assert "sekrit-pw" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)


def test_postgres_schema_is_private(pg_schema: tuple[str, str]) -> None:
    url, schema = pg_schema
    with Store.open(url, schema=schema) as store:
        store.create_run("o/r", 1, "c" * 40, "tests")
        with store.engine.connect() as conn:
            assert conn.execute(text("select current_schema()")).scalar() == schema
            found = conn.execute(
                text(
                    "select count(*) from information_schema.tables "
                    "where table_schema = :s and table_name like 'shunter_%'"
                ),
                {"s": schema},
            ).scalar()
    assert found == len(t.metadata.tables)


def test_bad_schema_name_is_refused(postgres_url: str) -> None:
    with pytest.raises(SettingsError, match="identifier"):
        Store.open(postgres_url, schema='x"; drop table y; --')


def _use_inherited_store(store: Store, out) -> None:
    run = store.create_run("o/r", 2, "e" * 40, "review")
    out.put(store.get_run(run.id).stage)


def test_a_forked_child_gets_its_own_connections(db: tuple[str, str | None]) -> None:
    """rq's work horses are forks of the worker; the inherited store must keep working."""
    import multiprocessing

    url, schema = db
    with Store.open(url, schema=schema) as store:
        store.create_run("o/r", 1, "d" * 40, "review")  # the parent's pool holds a connection
        context = multiprocessing.get_context("fork")
        out = context.Queue()
        child = context.Process(target=_use_inherited_store, args=(store, out))
        child.start()
        assert out.get(timeout=30) == "review"
        child.join(timeout=30)
        assert child.exitcode == 0
        assert len(store.runs_for_pr("o/r", 2)) == 1  # the parent still works afterwards
        assert len(store.runs_for_pr("o/r", 1)) == 1


def test_an_unwritable_sqlite_location_names_the_setting(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SettingsError, match="cannot create the directory"):
        Store.open(f"sqlite:///{blocker / 'sub' / 'db.sqlite3'}")
