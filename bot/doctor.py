"""``shunter doctor``: say what is missing before GitHub's deliveries start failing."""

from __future__ import annotations

from dataclasses import dataclass

import click

from bot.errors import ShunterError
from bot.settings import Settings, load_settings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


def _redis(settings: Settings) -> Check:
    if not settings.redis_url:
        return Check("redis", True, "SHUNTER_REDIS_URL unset: an embedded Valkey will be started")
    from bot.queue.connection import check_reachable, redact_url

    try:
        check_reachable(settings.redis_url)
    except ShunterError as exc:
        return Check("redis", False, str(exc))
    return Check("redis", True, f"{redact_url(settings.redis_url)} answers PING")


def _app(settings: Settings) -> Check:
    if not settings.has_app_credentials:
        return Check(
            "app credentials",
            False,
            "SHUNTER_APP_ID and SHUNTER_PRIVATE_KEY(_PATH) are needed to call GitHub",
        )
    from bot.github.client import GitHubFactory, translate_errors

    factory = GitHubFactory(settings)
    try:
        client = factory.app()  # hold it: githubkit's namespaces keep only a weak reference
        with translate_errors(f"calling GET /app on {settings.github_url}"):
            app = client.rest.apps.get_authenticated().parsed_data
    except ShunterError as exc:
        return Check("app credentials", False, str(exc))
    slug = app.slug if app is not None else "?"
    return Check("app credentials", True, f"authenticated as App '{slug}' on {settings.github_url}")


def _sweeps(settings: Settings) -> Check:
    """Not required: the missed-delivery sweeps' last run, as the shared Redis remembers it."""
    import time

    from redis import Redis
    from redis.exceptions import RedisError

    from bot.github.redelivery import last_sweep

    name = "missed-delivery sweeps"
    if not settings.redis_url:
        return Check(name, True, "state lives in the embedded Valkey of the running process", required=False)
    if settings.redeliver_every <= 0:
        off = "off (SHUNTER_REDELIVER_EVERY=0): run `shunter redeliver` by hand"
        return Check(name, False, off, required=False)
    try:
        connection = Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
        last = last_sweep(connection)
        connection.close()
    except RedisError as exc:
        return Check(name, False, f"cannot read their state: {type(exc).__name__}", required=False)
    if last is None:
        return Check(name, True, "none has run yet (`shunter serve` enqueues them)", required=False)
    ago = max(0, int(time.time() - last["at"]))
    late = ago > 3 * settings.redeliver_every
    detail = (
        f"last ran {ago} s ago: {int(last['scanned'])} attempts read, {int(last['redelivered'])} "
        f"redelivered, {int(last['gave_up'])} given up, {int(last['errors'])} failed requests"
    )
    if late:
        detail += (
            f"; expected every {settings.redeliver_every:.0f} s: is `shunter serve` running, with a worker?"
        )
    return Check(name, not late and not last["errors"], detail, required=False)


def _data_dir(settings: Settings) -> Check:
    """The SQLite store, the embedded Valkey, the mirrors and the sandbox caches all write
    there: it must exist (it is created if missing) and take a file."""
    import tempfile

    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        detail = f"{path}: {exc.strerror} (set SHUNTER_DATA_DIR to a writable directory)"
        return Check("data dir", False, detail)
    return Check("data dir", True, f"{path} is writable")


def _database(settings: Settings) -> Check:
    """Open the database the way the store does (same URL normalisation and engine).

    A raw ``create_engine`` would reject ``postgres://`` URLs the store accepts, and report
    a bad URL as a connection failure; a bad setting gets its own line naming it instead.
    """
    from sqlalchemy import text

    from bot.errors import SettingsError
    from bot.store.engine import database_engine
    from bot.store.redaction import redact_secrets

    try:
        engine = database_engine(settings.effective_database_url)
    except SettingsError as exc:
        return Check("database", False, f"bad setting: {exc}")
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # any driver error is a finding, not a crash
        # one line: the driver's message without SQLAlchemy's "(Background on this error…)"
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        said = " ".join(line for line in lines if not line.startswith("(Background on this error"))
        found = redact_secrets(f"cannot connect: {type(exc).__name__}: {said}")
        return Check("database", False, found[:300])
    finally:
        engine.dispose()
    shown = "SQLite in the data dir" if not settings.database_url else "SHUNTER_DATABASE_URL"
    return Check("database", True, f"{shown} is reachable")


def run_checks(settings: Settings) -> list[Check]:
    secret_ok = settings.webhook_secret is not None
    checks = [
        Check(
            "webhook secret",
            secret_ok,
            "set" if secret_ok else "SHUNTER_WEBHOOK_SECRET is not set: serve cannot start",
        ),
        _redis(settings),
        _app(settings),
    ]
    checks.append(_data_dir(settings))
    checks.append(_database(settings))
    checks.append(_sandbox())
    checks.append(_sweeps(settings))
    return checks


def _sandbox() -> Check:
    """Not required: without bubblewrap, untrusted PR code simply does not run."""
    from bot.sandbox.status import sandbox_status

    status = sandbox_status()
    return Check("sandbox", status.bubblewrap, status.detail, required=False)


@click.command()
def doctor() -> None:
    """Check settings, Redis, the App's credentials, the data dir and the database; print
    what is missing.

    Exit status 0 when every required check passes, 1 otherwise (optional ones, the sandbox
    and the missed-delivery sweeps, only inform).
    """
    try:
        settings = load_settings()
    except ShunterError as exc:
        click.echo(f"✗ settings: {exc}")
        raise SystemExit(1) from None
    click.echo("✓ settings: all SHUNTER_* values parse")
    failed = False
    for check in run_checks(settings):
        click.echo(f"{'✓' if check.ok else '✗'} {check.name}: {check.detail}")
        failed |= check.required and not check.ok
    raise SystemExit(1 if failed else 0)
