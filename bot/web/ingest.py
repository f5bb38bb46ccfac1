"""Store a verified delivery as an rq job in one atomic, non-blocking Redis round trip.

A Lua script does the dedup check (``SET NX EX`` on the delivery id) and, only when the id
is new, writes the rq job hash, pushes its id on the ``events`` queue and registers the
queue — exactly what ``rq.Queue.enqueue_job`` writes, built by rq's own ``Job.to_dict``,
but without rq's several synchronous round trips on the event loop. The web process
answers 202 only after this script returned.
"""

from __future__ import annotations

import hashlib
import json
from enum import Enum
from typing import Any

import redis.asyncio as aioredis
from redis import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.job import JobStatus
from rq.utils import now, utcformat
from rq.version import VERSION as rq_version

from bot.queue.jobs import EVENTS, Delivery, event_job, job_id_for

DEDUP_TTL_SECONDS = 3 * 24 * 3600
DEDUP_PREFIX = "shunter:delivery:"
RECONNECT_RETRIES = 2
"""Fresh connections tried after a command failed on its connection (Redis restarted)."""

# KEYS: dedup key, job key, queue key, rq's queue set, the job-hash template
# ARGV: dedup TTL, job id, then the fields that differ per delivery (name, value, ...)
_STORE = """
if redis.call('EXISTS', KEYS[5]) == 0 then
  return -1
end
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[1]) == false then
  return 0
end
redis.call('HSET', KEYS[2], unpack(redis.call('HGETALL', KEYS[5])))
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
redis.call('RPUSH', KEYS[3], ARGV[2])
redis.call('SADD', KEYS[4], KEYS[3])
return 1
"""


class Stored(Enum):
    NEW = "enqueued"
    DUPLICATE = "duplicate"


class Ingestor:
    """Holds the async client, the registered script and rq's job-hash template.

    The template is the mapping rq's own ``Job.to_dict`` produces for an event job. It is
    kept in Redis (one hash per rq version), so each delivery sends only what differs: its
    timestamps, description and ``data`` — rq's JSON job tuple with the delivery's raw body
    spliced in as the payload. The 28 KB body is never re-serialised on the event loop,
    and not compressed either (rq reads uncompressed job data as it is).
    """

    def __init__(self, redis_url: str) -> None:
        # After a Redis restart (a deploy, a failover) each pooled connection fails its next
        # command with "Connection closed by server": without a retry on a fresh connection
        # the first deliveries after Redis came back were answered 503, which GitHub does
        # not redeliver by itself. The store script is safe to send twice: a delivery
        # stored by the first try is a duplicate to the second. Timeouts are not retried:
        # GitHub gives the whole answer 10 s.
        self.redis = aioredis.Redis.from_url(
            redis_url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=10,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), RECONNECT_RETRIES),
            retry_on_error=[RedisConnectionError],
        )
        # rq's Job needs a connection object to exist; it is never used for I/O here.
        self._sync_stub = Redis.from_url(redis_url)
        self._script = self.redis.register_script(_STORE)
        sample = event_job(
            Delivery(event="ping", delivery_id="template", payload={}), self._sync_stub
        )
        sample.origin = EVENTS
        sample.enqueued_at = now()
        template = sample.to_dict()
        template["status"] = JobStatus.QUEUED.value
        for varying in ("created_at", "enqueued_at", "data", "description"):
            template.pop(varying, None)
        self._template = template
        shape = json.dumps(sorted(template.items()), default=str).encode()
        digest = hashlib.sha1(shape, usedforsecurity=False)
        self._template_key = f"shunter:rq-job-template:{rq_version}:{digest.hexdigest()[:12]}"
        self._func = json.dumps(sample.func_name)

    def _job_data(self, delivery: Delivery, body: bytes) -> bytes:
        head = json.dumps(
            {
                "event": delivery.event,
                "action": delivery.action,
                "delivery_id": delivery.delivery_id,
                "installation_id": delivery.installation_id,
                "received_at": delivery.received_at,
            }
        )
        return f"[{self._func}, null, [{head[:-1]}, \"payload\": ".encode() + body + b"}], {}]"

    async def store(self, delivery: Delivery, body: bytes | None = None) -> Stored:
        """Dedup and enqueue; ``body`` is the raw JSON the payload was parsed from."""
        if body is None:
            body = json.dumps(delivery.payload).encode()
        job_id = job_id_for(delivery.delivery_id)
        stamp = utcformat(now())
        varying: list[str | bytes] = [
            "created_at", stamp,
            "enqueued_at", stamp,
            "data", self._job_data(delivery, body),
            "description", f"{delivery.event}.{delivery.action or ''} {delivery.delivery_id}",
        ]  # fmt: skip
        keys = [
            DEDUP_PREFIX + delivery.delivery_id,
            f"rq:job:{job_id}",
            f"rq:queue:{EVENTS}",
            "rq:queues",
            self._template_key,
        ]
        result = await self._script(keys=keys, args=[DEDUP_TTL_SECONDS, job_id, *varying])
        if result == -1:  # a new Redis (or a flushed one): put the template back, once
            await self.redis.hset(self._template_key, mapping=self._template)
            result = await self._script(keys=keys, args=[DEDUP_TTL_SECONDS, job_id, *varying])
        return Stored.NEW if result == 1 else Stored.DUPLICATE

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    async def queue_depths(self) -> dict[str, int]:
        from bot.queue.jobs import ALL_QUEUES

        pipe = self.redis.pipeline(transaction=False)
        for name in ALL_QUEUES:
            pipe.llen(f"rq:queue:{name}")
        counts = await pipe.execute()
        return dict(zip(ALL_QUEUES, (int(c) for c in counts), strict=True))

    async def redelivery_totals(self) -> dict[str, int]:
        from bot.github.redelivery import TOTALS_KEY

        return _counts(await self.redis.hgetall(TOTALS_KEY))

    async def retention_state(self) -> tuple[dict[str, int], float | None]:
        """The prunes' running totals and when the last one succeeded (None before any)."""
        from bot.store.retention import LAST_KEY, TOTALS_KEY

        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(TOTALS_KEY)
        pipe.hget(LAST_KEY, "at")
        totals, at = await pipe.execute()
        return _counts(totals), None if at is None else float(at)

    async def close(self) -> None:
        await self.redis.aclose()
        self._sync_stub.close()


def _counts(raw: dict[Any, Any]) -> dict[str, int]:
    """A Redis hash of running counts, decoded."""
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
