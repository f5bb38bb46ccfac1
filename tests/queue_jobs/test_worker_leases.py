"""A worker that runs jobs in its own process renews their leases, as a forking one does.

rq's ``SimpleWorker`` (``shunter worker --no-fork``, ``shunter serve --with-worker``) took
one lease for a job's whole timeout plus a minute: killed mid-stage, the job's check run
stayed ``in_progress`` for 16 minutes before rq's maintenance retried it. Now the lease is
the forking worker's (the monitoring interval plus a minute), renewed while the job runs.
"""

from __future__ import annotations

import threading
import time

import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from bot.queue.commands import build_worker
from bot.queue.leases import LeaseRenewingWorker
from bot.runtime import set_runtime
from bot.settings import load_settings


def test_a_no_fork_workers_job_holds_a_short_lease_renewed_while_it_runs(tmp_path, redis_url):
    conn = redis.Redis.from_url(redis_url)
    queue = Queue("stages", connection=conn, serializer=JSONSerializer)
    job = queue.enqueue("time.sleep", 4, job_timeout=900, result_ttl=600)  # a stage's timeout
    registry = StartedJobRegistry(queue=queue)
    settings = load_settings(data_dir=tmp_path / "data", redis_url=redis_url)
    try:
        worker = build_worker(settings, redis_url, ["stages"], fork=False)
    finally:
        set_runtime(None)
    assert isinstance(worker, LeaseRenewingWorker)
    worker.job_monitoring_interval = 1  # rq's knob (30 s by default), shortened for the test
    leases: list[tuple[float, float]] = []  # (when seen, until when the job's lease runs)
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for _, until in conn.zrange(registry.key, 0, -1, withscores=True):
                leases.append((time.time(), until))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        worker.work(burst=True, logging_level="WARNING")
    finally:
        stop.set()
        watcher.join()
    assert Job.fetch(job.id, connection=conn, serializer=JSONSerializer).get_status() == JobStatus.FINISHED
    assert leases, "the job was never seen in the started registry"
    # the lease is a minute and a beat, not the job's 900 s timeout plus a minute
    assert all(until - seen <= 62 for seen, until in leases), leases[:3]
    # and it was renewed while the job ran: a later sighting runs later
    assert len({until for _, until in leases}) >= 2, leases[:3]
    assert conn.zcard(registry.key) == 0  # nothing left behind once the job finished
