"""A worker takes over rq's scheduler soon after the worker that ran it died.

Merge-queue wakes, retries after a backoff and patient summaries are scheduled jobs: while
no worker runs the scheduler they never reach a queue. rq moves the scheduler only in its
maintenance pass, which by default runs every 10 minutes, after an idle worker's 405 s
wait on the queues; Shunter's workers run it every ``SCHEDULER_TAKEOVER_SECONDS``.
"""

from __future__ import annotations

import time
from datetime import timedelta

import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer

from bot.queue.commands import SCHEDULER_TAKEOVER_SECONDS, build_worker
from bot.queue.jobs import ALL_QUEUES
from bot.runtime import set_runtime
from bot.settings import load_settings


def test_a_worker_takes_over_the_scheduler_of_one_that_died(tmp_path, redis_url):
    conn = redis.Redis.from_url(redis_url)
    for name in ALL_QUEUES:  # the scheduler's worker died holding rq's lock; it lapses in 3 s
        conn.set(RQScheduler.get_locking_key(name), "shunter-dead-worker", ex=3)
    job = Queue("events", connection=conn, serializer=JSONSerializer).enqueue_in(
        timedelta(seconds=1), "os.getpid", result_ttl=600
    )
    settings = load_settings(data_dir=tmp_path / "data", redis_url=redis_url)
    worker = build_worker(settings, redis_url, fork=False, takeover_seconds=2)
    started = time.monotonic()
    try:
        worker.work(burst=False, max_jobs=1, max_idle_time=40, with_scheduler=True, logging_level="WARNING")
    finally:
        set_runtime(None)
    waited = time.monotonic() - started
    assert Job.fetch(job.id, connection=conn, serializer=JSONSerializer).get_status() == JobStatus.FINISHED
    assert waited < 40  # ran, instead of idling until max_idle_time gave up


def test_shunters_workers_look_for_a_dead_scheduler_every_minute(tmp_path, redis_url):
    settings = load_settings(data_dir=tmp_path / "data", redis_url=redis_url)
    try:
        worker = build_worker(settings, redis_url, fork=False)
    finally:
        set_runtime(None)
    assert worker.maintenance_interval == SCHEDULER_TAKEOVER_SECONDS <= 60
    assert worker.dequeue_timeout <= SCHEDULER_TAKEOVER_SECONDS  # an idle worker wakes for it
