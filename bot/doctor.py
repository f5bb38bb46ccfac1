"""``shunter doctor``: say what is missing before GitHub's deliveries start failing."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import click

from bot.errors import ShunterError
from bot.settings import Settings, load_settings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


NO_EMBEDDED = "no Shunter process runs the data dir's embedded Valkey yet (`shunter serve` starts one)"


def _state_url(settings: Settings) -> str | None:
    """Where the shared state is: SHUNTER_REDIS_URL, else the embedded Valkey a running
    ``shunter serve`` (or worker) started in the data dir, as ``shunter queue`` joins it."""
    if settings.redis_url:
        return settings.redis_url
    from bot.queue.connection import running_embedded

    return running_embedded(settings.data_dir)


def _redis(settings: Settings) -> Check:
    if not settings.redis_url:
        url = _state_url(settings)
        if url:
            detail = f"SHUNTER_REDIS_URL unset: the data dir's embedded Valkey answers at {url}"
            return Check("redis", True, detail)
        return Check("redis", True, "SHUNTER_REDIS_URL unset: an embedded Valkey will be started")
    from bot.queue.connection import check_reachable, redact_url

    try:
        check_reachable(settings.redis_url)
    except ShunterError as exc:
        return Check("redis", False, str(exc))
    return Check("redis", True, f"{redact_url(settings.redis_url)} answers PING")


def _redis_keeping(settings: Settings) -> list[Check]:
    """Not required: whether the shared Redis keeps what Shunter puts in it (eviction and
    persistence, as its INFO and CONFIG say). Nothing to say before there is one."""
    from redis import Redis
    from redis.exceptions import RedisError, ResponseError

    url = _state_url(settings)
    if not url:
        return []
    try:
        connection = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        try:
            memory = connection.info("memory")
            persistence = connection.info("persistence")
            try:
                save: str | None = str(connection.config_get("save").get("save", ""))
            except ResponseError:  # managed services disable CONFIG
                save = None
        finally:
            connection.close()
    except RedisError as exc:
        unread = f"cannot read its settings: {type(exc).__name__}"
        return [Check(EVICTION_CHECK, False, unread, required=False)]
    policy = str(memory.get("maxmemory_policy", "unknown"))
    return [
        eviction_check(policy, int(memory.get("maxmemory", 0) or 0)),
        persistence_check(bool(int(persistence.get("aof_enabled", 0) or 0)), save),
    ]


EVICTION_CHECK = "redis eviction"
PERSISTENCE_CHECK = "redis persistence"


def eviction_check(policy: str, maxmemory: int) -> Check:
    """Not required: Redis's ``maxmemory-policy``. rq needs ``noeviction``: under any other
    policy a full Redis drops keys, and queued jobs, the merge queue's changes and the
    delivery dedup records are keys; dropped, their work never happens and nothing says so.
    A full Redis under ``noeviction`` refuses writes instead, which Shunter reports (503 to
    GitHub, a failed job that is retried)."""
    if policy == "noeviction":
        ok, detail = True, "maxmemory-policy noeviction"
    elif maxmemory <= 0:
        ok, detail = True, (
            f"maxmemory-policy {policy}, but no maxmemory is set, so nothing is evicted; "
            "set maxmemory-policy noeviction before setting one"
        )
    else:
        ok, detail = False, (
            f"maxmemory-policy {policy} with maxmemory {maxmemory} bytes: a full Redis drops queued "
            "jobs and merge-queue changes without a word; set maxmemory-policy noeviction (rq needs it)"
        )
    return Check(EVICTION_CHECK, ok, detail, required=False)


def persistence_check(aof: bool, save: str | None) -> Check:
    """Not required: whether a Redis restart keeps queued work. ``save`` is the RDB
    snapshot rules (empty: none), None when CONFIG is not allowed (managed services)."""
    ok = True
    if aof:
        detail = "appendonly yes: a restart keeps queued jobs"
    elif save is None:
        detail = "CONFIG is not allowed, so its snapshot rules are unknown: make sure the service keeps data"
    elif save.strip():
        detail = (
            f"RDB snapshots only (save {save}): a restart loses what was queued since the last "
            "one; appendonly yes loses less"
        )
    else:
        ok, detail = False, (
            "nothing is kept on disk (appendonly no, no save rules): a restart loses every queued "
            "job and the merge queue's changes (lost stage runs are queued again within 10 min, "
            "lost Apply fixes are not); set appendonly yes"
        )
    return Check(PERSISTENCE_CHECK, ok, detail, required=False)


GITHUB_TIMEOUT = 5.0
"""Seconds doctor waits for GitHub to connect and to answer: the jobs' 30 s (and their
retries) would leave doctor silent for over half a minute behind a firewall that drops
packets or a server that accepts and never answers."""


def _app(settings: Settings, timeout: float = GITHUB_TIMEOUT) -> list[Check]:
    """The App's credentials, tried with GET /app; whenever GitHub answered with a ``Date``
    header (a 401 too), the host's clock offset as well (:func:`clock_check`)."""
    if not settings.has_app_credentials:
        return [
            Check(
                "app credentials",
                False,
                "SHUNTER_APP_ID and SHUNTER_PRIVATE_KEY(_PATH) are needed to call GitHub",
            )
        ]
    import httpx
    from githubkit.exception import RequestError, RequestFailed

    from bot.github.client import GitHubFactory, translate_errors
    from bot.queue.connection import redact_url

    shown = redact_url(settings.github_url)
    # the jobs' clients with doctor's short timeout and no retry: one quick answer
    factory = GitHubFactory(settings, timeout=timeout, retry=False)

    def clock() -> list[Check]:
        """GitHub's Date, as the App client learned it from whatever GitHub answered."""
        # Date is whole seconds, cut down: GitHub's time was half a second later on average
        return [clock_check(factory.clock.offset + 0.5)] if factory.clock.learned else []

    try:
        client = factory.app()  # hold it: githubkit's namespaces keep only a weak reference
        with translate_errors(f"calling GET /app on {shown}"):
            try:
                answer = client.rest.apps.get_authenticated()
            except RequestFailed:
                raise  # GitHub answered (a RequestError too): translate_errors says what it means
            except (RequestError, httpx.TransportError) as exc:
                return [Check("app credentials", False, unreachable(settings.github_url, exc, timeout))]
    except ShunterError as exc:
        from bot.github.hosts import api_path_hint

        # a 404 GitHub words for the App's credentials has its own hint (KEY_HINT)
        hint = None if exc.hint else api_path_hint(settings.github_url, getattr(exc, "status", None))
        said = f"{exc} ({hint})" if hint else str(exc)
        return [Check("app credentials", False, said), *clock()]
    app = answer.parsed_data
    slug = app.slug if app is not None else "?"
    authenticated = Check("app credentials", True, f"authenticated as App '{slug}' on {shown}")
    checks = [authenticated, *(clock() or [clock_check(None)])]
    if app is not None and app.slug:
        checks.append(bot_login_check(settings.bot_login, app.slug))
    return checks


def bot_login_check(configured: str | None, slug: str) -> Check:
    """Not required: ``SHUNTER_BOT_LOGIN`` against the login GitHub gives the App's bot
    (``<slug>[bot]``). Unset, Shunter learns it from GitHub (:mod:`bot.github.identity`);
    set to something else, Shunter would take other comments for its own and miss its own
    events."""
    expected = f"{slug}[bot]"
    if not configured:
        learned = f"{expected}, learned from GitHub (SHUNTER_BOT_LOGIN unset)"
        return Check("bot login", True, learned, required=False)
    if configured.casefold() == expected.casefold():
        return Check("bot login", True, f"SHUNTER_BOT_LOGIN is {expected}", required=False)
    return Check(
        "bot login",
        False,
        f"SHUNTER_BOT_LOGIN is {configured!r}; this App's bot is {expected}: set "
        f"SHUNTER_BOT_LOGIN={expected} or unset it, so Shunter recognises its own comments and events",
        required=False,
    )


CLOCK_TOLERANCE = 30.0
"""Seconds this host's clock may be off GitHub's before doctor warns: the App's JWT is
minted on GitHub's clock whatever the offset, but logs, run times and lease times are not."""


def clock_check(offset: float | None) -> Check:
    """Not required: this host's clock against GitHub's; ``offset`` is GitHub's time minus
    this host's (positive: the host is behind), None when GitHub's answer had no ``Date``.

    Shunter survives a skewed clock (the JWT follows GitHub's ``Date``), so this only
    informs; without a ``Date`` header it cannot compensate, which deserves a look too.
    """
    if offset is None:
        return Check(
            "clock",
            False,
            "GitHub's answer had no Date header (does a proxy drop it?): the App JWT is minted "
            "on this host's clock, so keep it synchronised (NTP)",
            required=False,
        )
    seconds = round(abs(offset))
    if abs(offset) < 1.5:  # Date's whole seconds and the answer's travel blur the last second
        return Check("clock", True, "in step with GitHub's (within about 1 s)", required=False)
    side = "behind" if offset > 0 else "ahead of"
    if abs(offset) <= CLOCK_TOLERANCE:
        return Check("clock", True, f"{seconds} s {side} GitHub", required=False)
    return Check(
        "clock",
        False,
        f"the host's clock is {seconds} s {side} GitHub's: fix NTP; Shunter compensates for the "
        "App JWT, but logs and run times will be off",
        required=False,
    )


def unreachable(url: str, exc: BaseException, timeout: float) -> str:
    """One line saying why GitHub at ``url`` could not be reached and what to check.

    githubkit reports every transport failure as ``RequestError``, which names no cause;
    the cause (refused, unresolvable host, TLS, timeout) is what tells a user whether to
    fix the URL, the DNS, the proxy or the firewall. The URL loses any password and the
    line passes through ``redact``: a token must never reach a terminal or a log.
    """
    from bot.engines.redaction import redact
    from bot.queue.connection import redact_url

    shown = redact_url(url)
    cause = network_cause(exc, timeout, urlsplit(url).hostname or url)
    return redact(f"cannot reach {shown}: {cause} (check SHUNTER_GITHUB_URL and the network)")


def network_cause(exc: BaseException, timeout: float, host: str) -> str:
    """The most specific cause in ``exc``'s chain (githubkit -> httpx -> httpcore -> OS)."""
    import socket
    import ssl

    import httpx

    chain = _exception_chain(exc)
    for link in chain:
        if isinstance(link, httpx.ConnectTimeout):
            return f"timed out connecting (no answer within {timeout:g} s)"
        if isinstance(link, httpx.TimeoutException | TimeoutError):
            return f"timed out (connected, but no answer within {timeout:g} s)"
    for link in chain:
        if isinstance(link, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {link.verify_message or link.reason}"
        if isinstance(link, ssl.SSLError):
            reason = str(link.reason or link).replace("_", " ").lower()
            return f"TLS error: {reason}"
        if isinstance(link, socket.gaierror):
            return f"cannot resolve host {host!r}"
        if isinstance(link, ConnectionRefusedError):
            return "connection refused"
        if isinstance(link, ConnectionResetError):
            return "connection reset"
        if isinstance(link, httpx.ProxyError):
            return f"proxy error: {link}"
        if isinstance(link, httpx.UnsupportedProtocol):
            return "not an http(s) URL"
        if isinstance(link, OSError) and link.strerror:
            return link.strerror[:1].lower() + link.strerror[1:]
    innermost = chain[-1]
    said = " ".join(str(innermost).split())
    return f"{type(innermost).__name__}: {said}"[:200] if said else type(innermost).__name__


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: githubkit keeps httpx's error in ``.exc``, httpx and
    httpcore chain theirs as ``__cause__``/``__context__``."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        wrapped = getattr(current, "exc", None)
        is_wrapper = isinstance(wrapped, BaseException)
        current = wrapped if is_wrapper else current.__cause__ or current.__context__
    return chain


def _sweeps(settings: Settings) -> Check:
    """Not required: the missed-delivery sweeps' last run, as the shared Redis remembers it."""
    import time

    from redis import Redis
    from redis.exceptions import RedisError

    from bot.github.redelivery import last_sweep

    name = "missed-delivery sweeps"
    url = _state_url(settings)
    if not url:
        return Check(name, True, NO_EMBEDDED, required=False)
    if settings.redeliver_every <= 0:
        off = "off (SHUNTER_REDELIVER_EVERY=0): run `shunter redeliver` by hand"
        return Check(name, False, off, required=False)
    try:
        connection = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
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


RETENTION_CHECK = "run history pruning"


def _retention(settings: Settings) -> Check:
    """Not required: the hourly prune's last run (``bot.store.retention``), as the shared
    Redis remembers it; a worker does it, so nothing else shows whether it happens."""
    import time

    from redis import Redis
    from redis.exceptions import RedisError

    from bot.queue.jobs import RETENTION_DUE_KEY
    from bot.store.retention import last_prune

    days = settings.retention_days
    if days <= 0:
        off = "off (SHUNTER_RETENTION_DAYS=0): run history is kept"
        return Check(RETENTION_CHECK, True, off, required=False)
    url = _state_url(settings)
    if not url:
        return Check(RETENTION_CHECK, True, NO_EMBEDDED, required=False)
    try:
        connection = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        last = last_prune(connection)
        due_ttl = connection.ttl(RETENTION_DUE_KEY)
        connection.close()
    except RedisError as exc:
        return Check(RETENTION_CHECK, False, f"cannot read its state: {type(exc).__name__}", required=False)
    return retention_check(days, last, due_ttl, time.time())


def retention_check(days: float, last: dict[str, str], due_ttl: int, now: float) -> Check:
    """What the last prune's record (``bot.store.retention.LAST_KEY``) says at ``now``.

    ``due_ttl`` is the TTL of the key serve sets when it enqueues a prune (negative when
    none was enqueued this hour): a prune enqueued well over a job's run time ago that never
    reported is a job no worker ran.
    """
    from bot.queue.jobs import RETENTION_EVERY

    def check(ok: bool, *said: str) -> Check:
        return Check(RETENTION_CHECK, ok, "; ".join(part for part in said if part), required=False)

    hint = "is `shunter serve` running, with a worker?"
    failure = ""
    if "failed_at" in last:
        ago = max(0, int(now - float(last["failed_at"])))
        failure = f"the last attempt failed {ago} s ago: {last.get('error')} (see the worker's log)"
    if "at" in last:
        kinds = sorted((k for k in last if k not in _NOT_COUNTS), key=lambda k: (_KINDS.get(k, 9), k))
        removed = ", ".join(f"{int(last[k])} {k}" for k in kinds) or "nothing"
        ago = max(0, int(now - float(last["at"])))
        late = ago > 3 * RETENTION_EVERY
        done = f"last ran {ago} s ago and removed {removed} (older than {days:g} days)"
        return check(not late and not failure, failure, done, f"expected hourly: {hint}" if late else "")
    if failure:
        return check(False, failure, "none has succeeded yet")
    enqueued_ago = RETENTION_EVERY - due_ttl if due_ttl > 0 else 0
    if enqueued_ago > _PRUNE_GRACE:
        return check(False, f"never ran: one was enqueued {enqueued_ago} s ago and no worker ran it: {hint}")
    return check(True, "none has run yet (`shunter serve` enqueues one hourly)")


_NOT_COUNTS = frozenset({"at", "failed_at", "error"})
_KINDS = {"runs": 0, "steps": 1, "processed_comments": 2}
"""The order doctor names the pruned tables in (others follow, by name)."""
_PRUNE_GRACE = 900
"""Seconds an enqueued prune may take to report (its job timeout is 600 s) before doctor
says no worker ran it."""


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


def run_checks(settings: Settings, github_timeout: float = GITHUB_TIMEOUT) -> list[Check]:
    secret_ok = settings.webhook_secret is not None
    checks = [
        Check(
            "webhook secret",
            secret_ok,
            "set" if secret_ok else "SHUNTER_WEBHOOK_SECRET is not set: serve cannot start",
        ),
        _redis(settings),
        *_redis_keeping(settings),
        *_app(settings, github_timeout),
    ]
    checks.append(_data_dir(settings))
    checks.append(_database(settings))
    checks.append(_sandbox())
    checks.append(_sweeps(settings))
    checks.append(_retention(settings))
    return checks


def _sandbox() -> Check:
    """Not required: without bubblewrap, untrusted PR code simply does not run."""
    from bot.sandbox.status import sandbox_status

    status = sandbox_status()
    return Check("sandbox", status.bubblewrap, status.detail, required=False)


FAILED, WARNED, PASSED = "✗", "⚠", "✓"


def mark(check: Check) -> str:
    """✓ passed; ✗ a required check failed (Shunter will not work, doctor exits 1); ⚠ an
    optional one found something worth a look (Shunter works; doctor still exits 0)."""
    if check.ok:
        return PASSED
    return FAILED if check.required else WARNED


def summary(failures: int, warnings: int) -> str:
    """doctor's last line: how many failures and warnings, and what each means."""
    from bot.wording import plural

    counts = f"{plural(failures, 'failure')}, {plural(warnings, 'warning')}"
    said = []
    if failures:
        said.append(f"{FAILED}: Shunter will not work until fixed")
    if warnings:
        said.append(f"{WARNED}: worth a look, Shunter still works")
    return f"{counts} ({'; '.join(said)})" if said else counts


@click.command()
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1, max=120),
    default=GITHUB_TIMEOUT,
    show_default=True,
    help="Seconds to wait for GitHub to connect and answer.",
)
def doctor(timeout: float) -> None:
    """Check settings, Redis, the App's credentials, the data dir and the database; print
    what is missing.

    Each line is marked ✓ (passed), ✗ (a required check failed: Shunter will not work) or
    ⚠ (an optional check found something worth a look: redis eviction and redis
    persistence, the clock, the bot login, the sandbox, the missed-delivery sweeps and run
    history pruning); the last line counts the failures and the warnings. Exit status 0
    when no required check fails (warnings or not), 1 otherwise.
    """
    try:
        settings = load_settings()
    except ShunterError as exc:
        click.echo(f"{FAILED} settings: {exc}")
        click.echo(summary(1, 0))
        raise SystemExit(1) from None
    click.echo(f"{PASSED} settings: all SHUNTER_* values parse")
    marks = []
    for check in run_checks(settings, timeout):
        marks.append(mark(check))
        click.echo(f"{marks[-1]} {check.name}: {check.detail}")
    failures = marks.count(FAILED)
    click.echo(summary(failures, marks.count(WARNED)))
    raise SystemExit(1 if failures else 0)
