"""``shunter serve`` and ``shunter replay``."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import hmac
import json
import os
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

import click
import httpx
from aiohttp import web

from bot.errors import ShunterError
from bot.logs import configure, get_logger
from bot.queue.connection import check_reachable, open_redis
from bot.queue.jobs import LOST_RUNS_EVERY
from bot.settings import load_settings
from bot.web.app import create_app

log = get_logger(__name__)


class WebThread:
    """The aiohttp app on its own event loop in a background thread.

    Used when the main thread must run something that needs signals (the rq worker).
    """

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app, self.host, self.port = app, host, port
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.runner: web.AppRunner | None = None
        self.thread = threading.Thread(target=self._run, name="shunter-web", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.runner = web.AppRunner(self.app, access_log=None)
            self.loop.run_until_complete(self.runner.setup())
            site = web.TCPSite(self.runner, self.host, self.port)
            self.loop.run_until_complete(site.start())
            server: Any = site._server
            sockets = server.sockets if server is not None else []
            if sockets:
                self.port = sockets[0].getsockname()[1]
        except BaseException as exc:
            self.error = exc
            if self.runner is not None:  # stop the app's timers: nothing is left pending
                self.loop.run_until_complete(self.runner.cleanup())
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())

    def start(self) -> None:
        self.thread.start()
        self.ready.wait(30)
        if isinstance(self.error, OSError) and is_listen_error(self.error):
            raise cannot_listen(self.host, self.port, self.error) from None
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@click.command()
@click.option("--host", default=None, help="Address to bind (default SHUNTER_HOST).")
@click.option(
    "--port", default=None, type=click.IntRange(1, 65535), help="Port to bind (default SHUNTER_PORT)."
)
@click.option(
    "--with-worker", is_flag=True, help="Also run a worker in this process (small installs)."
)
def serve(host: str | None, port: int | None, with_worker: bool) -> None:
    """Run the webhook server: verify, deduplicate and enqueue GitHub deliveries."""
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = load_settings(**overrides)
    secret = settings.require_webhook_secret()
    configure(settings.log_level, settings.log_format)
    from bot.store.engine import check_database_url

    check_database_url(settings.effective_database_url)  # a bad URL stops start-up here
    handle = open_redis(settings)
    try:
        check_reachable(handle.url)
        sweeps = settings.redeliver_every if settings.has_app_credentials else 0
        app = create_app(
            secret,
            handle.url,
            store=_open_store(settings),
            data_dir=settings.data_dir,
            redeliver_every=sweeps,
            retention_days=settings.retention_days,
            github_url=settings.github_url,
            lost_runs_every=LOST_RUNS_EVERY if settings.has_app_credentials else 0,
        )
        where = webhook_url(settings.host, settings.port)
        if sweeps:
            log.info("missed deliveries are swept", every_seconds=sweeps)
        else:
            why = "SHUNTER_REDELIVER_EVERY is 0" if settings.has_app_credentials else "no App credentials"
            log.info("missed deliveries are not swept", reason=why)
        if not with_worker:
            log.info("serving", url=where, embedded_redis=handle.embedded)
            try:
                web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
            except OSError as exc:
                if not is_listen_error(exc):
                    raise
                raise cannot_listen(settings.host, settings.port, exc) from None
            return
        from bot.queue.commands import build_worker, run_worker

        server = WebThread(app, settings.host, settings.port)
        server.start()
        log.info("serving with a worker", url=where, embedded_redis=handle.embedded)
        try:
            run_worker(build_worker(settings, handle.url, fork=False))
        finally:
            server.stop()
    finally:
        handle.close()


_LISTEN_HINTS = {
    errno.EADDRINUSE: "another process listens there: stop it, or choose a port with --port or SHUNTER_PORT",
    errno.EADDRNOTAVAIL: "this host has no such address: choose one with --host or SHUNTER_HOST",
    errno.EACCES: "ports below 1024 need privileges: choose a higher one with --port or SHUNTER_PORT",
}


def is_listen_error(exc: OSError) -> bool:
    """Whether ``exc`` says the server could not bind its address (the operator's to fix).

    asyncio reports a failed bind as an OSError naming the address; an unresolvable host
    fails earlier, in getaddrinfo. Anything else is not about the address and stays an
    unexpected error with its traceback.
    """
    if isinstance(exc, socket.gaierror):
        return True
    return exc.errno in _LISTEN_HINTS and "bind" in str(exc)


def cannot_listen(host: str, port: int, exc: OSError) -> ShunterError:
    """One line naming the address and why it cannot be used, instead of a traceback."""
    if isinstance(exc, socket.gaierror):
        return ShunterError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="the host name does not resolve: choose an address with --host or SHUNTER_HOST",
        )
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return ShunterError(f"cannot listen on {host}:{port}: {reason}", hint=_LISTEN_HINTS.get(exc.errno or 0))


def _open_store(settings: Any) -> Any:
    """The run history for run pages; the front door works without it (pages say so).

    Only a database that cannot be reached (or refuses the schema) is survivable: it may
    come back. A bad setting is the operator's mistake and stops start-up, as every bad
    setting does, instead of hiding behind a warning while deliveries pile up.
    """
    from bot.errors import SettingsError, ShunterError
    from bot.store import Store

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return Store.open(settings.effective_database_url)
    except SettingsError:
        raise
    except ShunterError as exc:
        log.warning("run pages disabled: the store is unavailable", error=str(exc))
        return None


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# A server bound to every address is reached on this host's loopback.
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104


def webhook_url(host: str, port: int, *, reach: bool = False) -> str:
    """The webhook URL of a server bound to ``host``:``port``, an IPv6 address in brackets
    (``http://[::1]:8080/webhooks``); with ``reach``, a wildcard address as loopback."""
    if reach:
        host = _WILDCARDS.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/webhooks"


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--event", "-e", required=True, help="The X-GitHub-Event name, e.g. pull_request.")
@click.option("--url", default=None, help="Where to POST (default: this host's serve URL).")
@click.option("--delivery", default=None, help="Delivery id (default: a new UUID).")
def replay(file: Path, event: str, url: str | None, delivery: str | None) -> None:
    """Sign and POST a saved webhook payload to a running server, for debugging."""
    settings = load_settings()
    secret = settings.require_webhook_secret()
    body = file.read_bytes()
    try:
        json.loads(body)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{file} is not JSON: line {exc.lineno}: {exc.msg}") from None
    target = url or webhook_url(settings.host, settings.port, reach=True)
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(secret, body),
        "User-Agent": "Shunter-Replay",
    }
    try:
        response = httpx.post(target, content=body, headers=headers, timeout=15)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach {target}: {type(exc).__name__}") from None
    click.echo(f"{response.status_code} {response.text.strip()}")
    if response.status_code >= 400:
        raise SystemExit(1)


def _redeliver_label(guid: str, report: Any, dry_run: bool) -> str:
    if dry_run:
        return "would redeliver"
    if guid in report.redelivered:
        return "redelivered"
    return "failed" if guid in report.errors else "next sweep"


@click.command()
@click.option(
    "--within",
    type=click.FloatRange(min=0, min_open=True, max=72),
    default=None,
    help="Hours to look back, whatever earlier sweeps saw (default: since the last sweep).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be redelivered; ask for nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def redeliver(within: float | None, dry_run: bool, as_json: bool) -> None:
    """Ask GitHub to redeliver webhook deliveries that failed and were never stored.

    The web process does this on a timer (SHUNTER_REDELIVER_EVERY); run it by hand after an
    outage to see what was missed. Exit status 1 when some requests failed.
    """
    import json
    from datetime import timedelta

    from bot.github.redelivery import Verdict, sweep
    from bot.runtime import Runtime

    settings = load_settings()
    configure("WARNING", settings.log_format)
    settings.require_app_credentials()
    handle = open_redis(settings)
    try:
        check_reachable(handle.url)
        runtime = Runtime(settings, handle.url)
        report = sweep(
            runtime, within=timedelta(hours=within) if within else None, dry_run=dry_run
        )
    finally:
        handle.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    elif report.skipped:
        click.echo(f"nothing done: {report.skipped}")
    else:
        click.echo(f"looked at {report.scanned} delivery attempts since {report.since:%Y-%m-%d %H:%M:%S} UTC")
        for d in report.decisions:
            if d.verdict is Verdict.RECEIVED:
                continue
            label = d.verdict.value.replace("_", " ")
            if d.verdict is Verdict.REDELIVER:
                label = _redeliver_label(d.guid, report, dry_run)
            event = f"{d.latest.event}.{d.latest.action}" if d.latest.action else d.latest.event
            why = report.errors.get(d.guid, d.reason)
            click.echo(f"  {label:<16} {event:<32} {d.guid}  {why}")
        waiting = report.count(Verdict.REDELIVER) - len(report.redelivered) - len(report.errors)
        summary = f"{len(report.redelivered)} redelivered, {report.count(Verdict.GAVE_UP)} given up"
        if dry_run:
            summary = f"{report.count(Verdict.REDELIVER)} would be redelivered"
        elif waiting > 0:
            summary += f", {waiting} left for the next sweep"
        click.echo(summary)
    if report.errors:
        raise SystemExit(1)
