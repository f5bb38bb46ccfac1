"""The web front door: verify, deduplicate, store, answer — in that order, fast.

GitHub wants a 2xx within 10 s and does not redeliver by itself, so the handler does the
least a durable front door can: check the HMAC over the raw body, then one atomic Redis
script that deduplicates and enqueues. 202 means "stored"; 503 means "not stored, mark it
failed so it can be redelivered" — never a 2xx for an event that was not stored; 400 means
"sending it again changes nothing" (bad headers, not JSON, or a payload without the fields
its handlers read, checked on the parsed dict by ``bot.events.shapes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis import Redis
from redis.exceptions import RedisError

from bot.events.shapes import problems
from bot.github.hosts import delivery_from_elsewhere
from bot.logs import get_logger
from bot.queue.jobs import (
    RETENTION_EVERY,
    Delivery,
    enqueue_lost_run_sweep,
    enqueue_redelivery_sweep,
    enqueue_retention,
)
from bot.web import runs
from bot.web.ingest import Ingestor, Stored
from bot.web.metrics import WebMetrics

MAX_BODY = 25 * 1024 * 1024
log = get_logger(__name__)

INGESTOR = web.AppKey("ingestor", Ingestor)
SECRET = web.AppKey("secret", bytes)
METRICS = web.AppKey("metrics", WebMetrics)
GITHUB_URL = web.AppKey("github_url", str)
FOREIGN_HOSTS_SEEN = web.AppKey("foreign_hosts_seen", set)
FIRST_SWEEP_AFTER = 30.0


def signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """Constant-time check of ``X-Hub-Signature-256``; SHA-1 signatures are not accepted."""
    if not header or not header.startswith("sha256="):
        return False
    given = header[len("sha256=") :].strip()
    if len(given) != 64 or not all(c in "0123456789abcdefABCDEF" for c in given):
        return False  # also keeps non-ASCII text away from compare_digest, which raises on it
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.lower().encode())


def _problem(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def _not_from_the_app(target_type: str | None) -> str | None:
    """Why a delivery that names no installation was refused, when GitHub says it came from a
    repository's or an organisation's own webhook rather than the App's: such payloads are
    GitHub's, only with no installation to act as (``installation: field required`` would
    blame the payload). None for the App's own deliveries (``integration``) or no header."""
    if not target_type or target_type == "integration":
        return None
    kind = target_type[:40] if target_type.isprintable() else "non-App"
    return (
        f"not a GitHub App delivery: it came from a {kind} webhook "
        "(X-GitHub-Hook-Installation-Target-Type), whose payloads name no App installation to act "
        "as; Shunter acts on its GitHub App's webhook only, so remove this webhook"
    )


async def webhook(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    event_name = request.headers.get("X-GitHub-Event", "")
    # an unsigned request names no event worth a metric series: anyone could make up names
    # and grow /metrics without bound; once the signature holds, GitHub named it
    metric_event = "unverified"

    def answer(status: int, outcome: str, message: str) -> web.Response:
        metrics.count(metric_event, outcome)
        return _problem(status, message)

    if (request.content_length or 0) > MAX_BODY:
        return answer(413, "too_large", "payload larger than 25 MB")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return answer(413, "too_large", "payload larger than 25 MB")

    signature = request.headers.get("X-Hub-Signature-256")
    if not signature_valid(request.app[SECRET], body, signature):
        reason = "missing X-Hub-Signature-256" if not signature else "signature mismatch"
        log.warning("rejected delivery", reason=reason, gh_event=event_name[:40])
        return answer(401, "bad_signature", f"invalid signature: {reason}")
    metric_event = event_name if event_name.isidentifier() and len(event_name) < 40 else "invalid"

    delivery_id = request.headers.get("X-GitHub-Delivery", "")
    if not event_name or not delivery_id:
        return answer(400, "bad_headers", "X-GitHub-Event and X-GitHub-Delivery are required")
    if len(delivery_id) > 128 or not delivery_id.isprintable():
        return answer(400, "bad_headers", "X-GitHub-Delivery is not a delivery id")
    if GITHUB_URL in request.app:
        elsewhere = delivery_from_elsewhere(
            request.app[GITHUB_URL], request.headers.get("X-GitHub-Enterprise-Host")
        )
        if elsewhere is not None and elsewhere.refused:
            log.warning(
                "rejected delivery", reason=elsewhere.message, delivery=delivery_id, gh_event=metric_event
            )
            return answer(400, "other_github", elsewhere.message)
        seen = request.app[FOREIGN_HOSTS_SEEN]
        if elsewhere is not None and elsewhere.host not in seen and len(seen) < 100:
            seen.add(elsewhere.host)  # once per host and process: a busy server sends many
            log.warning(elsewhere.message, delivery=delivery_id, gh_event=metric_event)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return answer(400, "bad_json", "body is not valid JSON")
    if not isinstance(payload, dict):
        return answer(400, "bad_json", "body must be a JSON object")

    if event_name == "ping":
        metrics.count("ping", "pong")
        return web.json_response({"message": "pong", "zen": payload.get("zen")})
    # a signed payload without the fields its handlers read would only crash the events
    # worker; the sender (or whoever holds the secret) learns which field is wrong instead
    problem = problems(event_name, payload)
    if problem is not None and "installation" not in payload:
        problem = _not_from_the_app(request.headers.get("X-GitHub-Hook-Installation-Target-Type")) or problem
    if problem is not None:
        log.warning("rejected delivery", reason=problem, delivery=delivery_id, gh_event=metric_event)
        return answer(400, "bad_payload", problem)

    delivery = Delivery.from_payload(event_name, delivery_id, payload)
    started = time.perf_counter()
    try:
        stored = await request.app[INGESTOR].store(delivery, body)
    except (RedisError, OSError) as exc:
        log.error("could not store delivery", delivery=delivery_id, error=type(exc).__name__)
        return answer(503, "redis_down", "queue unavailable; redeliver later")
    metrics.enqueue_latency.observe(time.perf_counter() - started)
    if stored is Stored.DUPLICATE:
        return answer(200, "duplicate", "duplicate delivery; already queued")
    metrics.count(metric_event, "enqueued")
    return web.Response(
        status=202,
        body=orjson.dumps({"message": "queued", "delivery": delivery_id}),
        content_type="application/json",
    )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        await request.app[INGESTOR].ping()
    except (RedisError, OSError) as exc:
        return web.json_response({"status": "unavailable", "redis": type(exc).__name__}, status=503)
    return web.json_response({"status": "ready"})


async def metrics_view(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    try:
        depths = await request.app[INGESTOR].queue_depths()
        metrics.show_redeliveries(await request.app[INGESTOR].redelivery_totals())
        metrics.show_retention(*await request.app[INGESTOR].retention_state())
    except (RedisError, OSError):
        # A depth read minutes ago would read as "the queue is fine" on a dashboard while
        # nothing can be queued: leave the depths out and say Redis is down. The totals are
        # counters and keep their last values, as counters of a restarted process would.
        metrics.queue_depth.clear()
        metrics.redis_up.set(0)
    else:
        for name, depth in depths.items():
            metrics.queue_depth.labels(name).set(depth)
        metrics.redis_up.set(1)
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _periodic(
    name: str, every: float, first_after: float, enqueue: Callable[[Redis], bool], redis_url: str, done: str
):
    """A cleanup context whose task calls ``enqueue`` ``first_after`` seconds after start-up,
    then every ``every`` seconds. Every web process runs one; ``enqueue`` sets a Redis key
    that lets one job through per period, whichever process gets there first."""

    def attempt() -> bool:
        connection = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
        try:
            return enqueue(connection)
        finally:
            connection.close()

    async def timer() -> None:
        await asyncio.sleep(min(first_after, every))
        while True:
            try:
                if await asyncio.to_thread(attempt):
                    log.info(done)
            except (RedisError, OSError) as exc:
                log.warning("could not enqueue a periodic job", job=name, error=type(exc).__name__)
            await asyncio.sleep(min(60.0, every / 2))  # the key decides; polling only finds out when

    async def context(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(timer(), name=name)
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context


def redelivery_timer(redis_url: str, every: float, first_after: float = FIRST_SWEEP_AFTER):
    """Missed-delivery sweeps: the first soon after start-up (deliveries that failed while
    this front door was down come back first), then every ``every`` seconds."""
    return _periodic(
        "redelivery-timer", every, first_after,
        lambda connection: enqueue_redelivery_sweep(connection, every),
        redis_url, "missed-delivery sweep enqueued",
    )


def lost_run_timer(redis_url: str, every: float, first_after: float = FIRST_SWEEP_AFTER):
    """Sweeps for stage runs whose jobs Redis lost (``bot.pipeline.lost_runs``): the first
    soon after start-up (a restart of everything is when Redis may have lost them), then
    every ``every`` seconds."""
    return _periodic(
        "lost-run-timer", every, first_after,
        lambda connection: enqueue_lost_run_sweep(connection, every),
        redis_url, "lost-run sweep enqueued",
    )


def retention_timer(
    redis_url: str, days: float, every: float = RETENTION_EVERY, first_after: float = FIRST_SWEEP_AFTER
):
    """Run history older than ``days`` pruned (``bot.store.retention``) soon after start-up,
    then every ``every`` seconds; without it the runs, steps and processed-comment tables
    would grow for ever."""
    return _periodic(
        "retention-timer", every, first_after,
        lambda connection: enqueue_retention(connection, days, every),
        redis_url, "run history prune enqueued",
    )


def create_app(
    secret: str,
    redis_url: str,
    *,
    store: Any = None,
    data_dir: Path | None = None,
    redeliver_every: float = 0,
    retention_days: float = 0,
    github_url: str | None = None,
    lost_runs_every: float = 0,
) -> web.Application:
    """The aiohttp app. ``secret`` is the webhook secret; ``redis_url`` where jobs go;
    ``store`` and ``data_dir`` serve the run pages behind check runs' "Details" links;
    ``redeliver_every`` > 0 has missed deliveries swept for that often (it needs the App's
    credentials in the workers); ``retention_days`` > 0 has older run history pruned hourly;
    ``github_url`` (``SHUNTER_GITHUB_URL``) has deliveries from another GitHub refused or
    logged (:mod:`bot.github.hosts`); ``lost_runs_every`` > 0 has stage runs whose jobs
    Redis lost queued again or concluded that often (it needs the App's credentials too)."""
    app = web.Application(client_max_size=MAX_BODY)
    app[SECRET] = secret.encode()
    app[METRICS] = WebMetrics()
    app[INGESTOR] = Ingestor(redis_url)
    if github_url is not None:
        app[GITHUB_URL] = github_url
        app[FOREIGN_HOSTS_SEEN] = set()

    async def close(app: web.Application) -> None:
        await app[INGESTOR].close()

    app.on_cleanup.append(close)
    if redeliver_every > 0:
        app.cleanup_ctx.append(redelivery_timer(redis_url, redeliver_every))
    if retention_days > 0:
        app.cleanup_ctx.append(retention_timer(redis_url, retention_days))
    if lost_runs_every > 0:
        app.cleanup_ctx.append(lost_run_timer(redis_url, lost_runs_every))
    app.router.add_post("/webhooks", webhook)
    app.router.add_post("/", webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    runs.install(app, store, data_dir, secret.encode())
    return app
