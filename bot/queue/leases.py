"""A worker that runs jobs in its own process and still renews their leases.

rq's forking ``Worker`` watches its work horse and renews the job's lease in the started
registry every ``job_monitoring_interval`` (30 s), so a job whose worker died (SIGKILL, the
OOM killer, a lost host) lapses about 90 s later and the next maintenance retries it. rq's
``SimpleWorker`` runs the job in the calling thread, with no one left to renew: it takes
one lease for the job's whole timeout plus a minute instead. Killed mid-job, a
``shunter worker --no-fork`` or ``shunter serve --with-worker`` (the one-container
deployment) left the job's check run ``in_progress``, or a command's reply saying "Working
on it…", for 16 minutes for a stage and 3 for a command before the retry.

Here a thread renews the lease as the forking worker does while the job runs in the main
thread. Python code lets it run between bytecodes and the stages' subprocesses release the
GIL, so a job keeps its lease while it works, and loses it within 90 s when its process dies.
"""

from __future__ import annotations

import threading

from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.worker import BaseWorker, WorkerStatus

from bot.logs import get_logger

log = get_logger(__name__)


class LeaseRenewingWorker(SimpleWorker):
    """A ``SimpleWorker`` whose jobs hold short leases, renewed while they run."""

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        # the forking worker's lease (the monitoring interval plus a minute), not the
        # SimpleWorker's (the job's whole timeout plus a minute)
        return BaseWorker.get_heartbeat_ttl(self, job, working_time)

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        done = threading.Event()
        renewer = threading.Thread(
            target=self._renew_lease, args=(job, execution, done), name=f"rq-lease-{job.id}", daemon=True
        )
        renewer.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            done.set()
            renewer.join()
        self.set_state(WorkerStatus.IDLE)

    def _renew_lease(self, job: Job, execution: Execution, done: threading.Event) -> None:
        while not done.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job, execution)
            except RedisError as exc:  # Redis away for a moment: the next beat tries again
                log.warning("worker.lease_renewal_failed", job=job.id, error=str(exc))
