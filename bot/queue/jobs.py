"""rq queues and job entry points.

Jobs carry JSON only (rq's ``JSONSerializer``), never pickles, so a job written by one
Shunter version can be read, inspected or replayed by another and by operators.

Retries: a job that fails with a :class:`~bot.errors.TransientError` (network, GitHub 5xx,
rate limits) is retried with backoff; any other failure is permanent and lands in rq's
failed registry at once with its reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import uuid
from typing import Any

from pydantic import BaseModel, Field
from redis import Redis
from rq import Queue, Retry, get_current_job
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.errors import ShunterError, TransientError
from bot.logs import bind, get_logger

EVENTS = "events"
STAGES = "stages"
MERGE = "merge"
ALL_QUEUES = (EVENTS, STAGES, MERGE)

EVENT_JOB_TIMEOUT = 120
STAGE_JOB_TIMEOUT = 900
RETRY_INTERVALS = [5, 30, 120]
FAILURE_TTL = 7 * 24 * 3600
RESULT_TTL = 3600

log = get_logger(__name__)


class Delivery(BaseModel):
    """One webhook delivery as the web front door stored it."""

    event: str
    action: str | None = None
    delivery_id: str
    installation_id: int | None = None
    payload: dict[str, Any]
    received_at: float = Field(default_factory=time.time)

    @property
    def repo(self) -> str | None:
        repository = self.payload.get("repository")
        return repository.get("full_name") if isinstance(repository, dict) else None

    @property
    def sender(self) -> str | None:
        sender = self.payload.get("sender")
        return sender.get("login") if isinstance(sender, dict) else None

    @classmethod
    def from_payload(cls, event: str, delivery_id: str, payload: dict[str, Any]) -> Delivery:
        """The delivery of a signed payload, whatever its shape.

        Fields are taken only when they have GitHub's type and are None otherwise (as when
        missing): the front door must store any signed JSON object, and a validation error
        here would answer 500, which GitHub and the redelivery sweep ask again and again.
        """
        installation = payload.get("installation")
        action = payload.get("action")
        installation_id = installation.get("id") if isinstance(installation, dict) else None
        if not isinstance(installation_id, int) or isinstance(installation_id, bool):
            installation_id = None  # "abc", 1.5, [1], true: not an installation id
        return cls(
            event=event,
            action=action if isinstance(action, str) else None,
            delivery_id=delivery_id,
            installation_id=installation_id,
            payload=payload,
        )


def queue(name: str, connection: Redis) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


def safe_id(text: str) -> str:
    """``text`` reduced to what rq accepts in a job id (letters, digits, ``_``, ``-``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", text)[:80]
    if cleaned != text:
        cleaned += "-" + hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]
    return cleaned


def job_id_for(delivery_id: str) -> str:
    """Job ids name the delivery, so operators can find a delivery's job in rq."""
    return f"delivery-{safe_id(delivery_id)}-{uuid.uuid4().hex[:8]}"


def event_job(delivery: Delivery, connection: Redis) -> Job:
    """The rq job for a delivery, built without any I/O (the web stores it atomically)."""
    return Job.create(
        "bot.queue.jobs.handle_event",
        args=[delivery.model_dump(mode="json")],
        connection=connection,
        serializer=JSONSerializer,
        id=job_id_for(delivery.delivery_id),
        timeout=EVENT_JOB_TIMEOUT,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
        description=f"{delivery.event}.{delivery.action or ''} {delivery.delivery_id}",
    )


def enqueue_event(delivery: Delivery, connection: Redis) -> Job:
    """Enqueue a delivery with plain rq (CLI, simulator and tests; the web uses ingest.py)."""
    job = event_job(delivery, connection)
    return queue(EVENTS, connection).enqueue_job(job)


def give_up_unless_transient(exc: BaseException) -> None:
    """Stop rq's retries for failures that another attempt cannot fix."""
    if isinstance(exc, TransientError):
        return
    job = get_current_job()
    if job is not None:
        job.retries_left = 0


def handle_event(delivery_data: dict[str, Any]) -> dict[str, Any]:
    """Job: route one delivery to the feature handlers registered for it."""
    from bot.events.dispatch import dispatch

    delivery = Delivery.model_validate(delivery_data)
    with bind(delivery=delivery.delivery_id, repo=delivery.repo, gh_event=delivery.event):
        try:
            outcome = asyncio.run(dispatch(delivery))
        except BaseException as exc:
            give_up_unless_transient(exc)
            if isinstance(exc, ShunterError):
                log.warning("event failed", error=str(exc), kind=type(exc).__name__)
            else:
                log.exception("event handler crashed")
            raise
        return outcome


REDELIVERY_DUE_KEY = "shunter:redelivery:due"


def enqueue_redelivery_sweep(connection: Redis, every: float) -> bool:
    """Enqueue a missed-delivery sweep (``bot.github.redelivery``) unless one was enqueued
    less than ``every`` seconds ago by any process; True when this call enqueued it.

    The sweep goes to the front of the events queue: it is a few requests long, and the
    deliveries it brings back go to the back like any other, so a backlog of events (after
    an outage, exactly when deliveries were missed) does not hold up finding what is missing.
    """
    return _enqueue_periodic(
        connection, REDELIVERY_DUE_KEY, every, "bot.github.redelivery.sweep_job",
        description="redeliver missed webhook deliveries", at_front=True,
    )


def _enqueue_periodic(
    connection: Redis,
    due_key: str,
    every: float,
    func: str,
    *args: Any,
    description: str,
    at_front: bool = False,
) -> bool:
    """Enqueue ``func(*args)`` on the events queue unless ``due_key`` says one was enqueued
    less than ``every`` seconds ago by any process; True when this call enqueued it. Every
    web process runs the timers that call this, and the key lets one job through per period."""
    if not connection.set(due_key, 1, nx=True, ex=max(1, int(every))):
        return False
    queue(EVENTS, connection).enqueue(
        func,
        *args,
        job_timeout=600,
        result_ttl=24 * 3600,
        failure_ttl=FAILURE_TTL,
        description=description,
        at_front=at_front,
    )
    return True


LOST_RUNS_DUE_KEY = "shunter:lost-runs:due"
LOST_RUNS_EVERY = 300
"""Seconds between sweeps for stage runs whose jobs Redis lost."""


def enqueue_lost_run_sweep(connection: Redis, every: float) -> bool:
    """Enqueue a sweep for stage runs whose jobs Redis lost (``bot.pipeline.lost_runs``)
    unless one was enqueued less than ``every`` seconds ago; True when this call did. At the
    front: after a Redis restart the events queue may be long, and the lost runs' check
    runs have waited longest."""
    return _enqueue_periodic(
        connection, LOST_RUNS_DUE_KEY, every, "bot.pipeline.lost_runs.sweep_job",
        description="queue again the stage runs whose jobs Redis lost", at_front=True,
    )


RETENTION_DUE_KEY = "shunter:retention:due"
RETENTION_EVERY = 3600


def enqueue_retention(connection: Redis, days: float, every: float = RETENTION_EVERY) -> bool:
    """Enqueue a prune of history older than ``days`` (``bot.store.retention.prune_job``)
    unless one was enqueued less than ``every`` seconds ago by any process; True when this
    call enqueued it.

    Every web process runs the timer that calls this; the Redis key lets one prune through
    per period, so many front doors still cost the database one DELETE round an hour. It
    goes to the back of the events queue: nothing waits on it.
    """
    return _enqueue_periodic(
        connection, RETENTION_DUE_KEY, every, "bot.store.retention.prune_job", days,
        description=f"delete run history older than {days:g} days",
    )
