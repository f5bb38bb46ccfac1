"""``shunter worker``: an rq worker over Shunter's queues, JSON jobs only."""

from __future__ import annotations

import importlib
import os
import socket

import click
from redis import Redis
from rq import Worker
from rq.serializers import JSONSerializer
from rq.worker.base import BaseWorker

from bot.logs import configure, get_logger
from bot.queue.connection import check_reachable, open_redis
from bot.queue.jobs import ALL_QUEUES
from bot.queue.leases import LeaseRenewingWorker
from bot.runtime import Runtime, set_runtime
from bot.settings import Settings, load_settings

log = get_logger(__name__)

SCHEDULER_TAKEOVER_SECONDS = 60
"""How often an idle worker wakes to run rq's maintenance, where it takes over the
scheduler from a worker that died. rq's defaults (maintenance every 10 minutes, an idle
worker blocking 405 s on the queues) left merge-queue wakes, retries and patient summaries
unscheduled for up to 13 minutes after the scheduler's worker died, on every deploy that
restarts workers. rq's scheduler lock lapses 61 s after its holder stops."""


def build_worker(
    settings: Settings,
    redis_url: str,
    queues: tuple[str, ...] = ALL_QUEUES,
    *,
    fork: bool = True,
    name: str | None = None,
    takeover_seconds: int = SCHEDULER_TAKEOVER_SECONDS,
) -> BaseWorker:
    """An rq worker bound to this process's runtime.

    ``fork=False`` gives a ``SimpleWorker`` that renews its jobs' leases (jobs run in this
    process), used by ``worker --no-fork`` and ``serve --with-worker``; by default the worker
    forks one work horse per job so a crashing analyzer cannot take the worker down.
    """
    set_runtime(Runtime(settings, redis_url))
    connection = Redis.from_url(redis_url)
    if fork:
        failed = preload_job_code()
        if failed:
            log.warning("worker.preload_failed", modules=failed)
    worker_class: type[BaseWorker] = Worker if fork else LeaseRenewingWorker
    return worker_class(
        list(queues),
        connection=connection,
        serializer=JSONSerializer,
        name=name or f"shunter-{socket.gethostname()}-{os.getpid()}",
        maintenance_interval=takeover_seconds,
        # idle, a worker blocks on the queues for worker_ttl - 15 s before maintenance runs
        worker_ttl=takeover_seconds + 15,
    )


PRELOADED = ("bot.pipeline.stage_job", "bot.stages.review")
"""What every stage job runs: the job itself, with the pipeline and publisher it imports,
and the review stage, which runs on every pull request."""


def preload_job_code() -> list[str]:
    """Import the code stage jobs run, in a worker about to fork one work horse per job.

    A horse inherits what the worker had imported and loses what it imports itself when it
    exits, so without this each review job imported the pipeline, the stage and
    detect-secrets again: ~0.7 s of CPU on this project's 2-core machine, for a stage
    whose own work on a 40-file PR is ~25 ms. detect-secrets loads its plugins on its first
    scan, so one scan of a harmless line is made here. Returns what could not be loaded;
    the jobs that need it import it again and fail there, saying why."""
    failed: list[str] = []
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except Exception:  # a broken module must not keep the worker from serving the rest
            failed.append(name)
    try:
        from bot.engines.secrets_scan import scan_secrets

        scan_secrets({"preload.py": "x = 1\n"})
    except Exception:
        failed.append("detect-secrets")
    return failed


def name_taken(worker: BaseWorker) -> bool:
    """Whether a live worker already holds ``worker``'s name in rq's registry (rq refuses to
    start a second one, with a ValueError, once it is running)."""
    return bool(worker.connection.exists(worker.key)) and not worker.connection.hexists(worker.key, "death")


def run_worker(worker: BaseWorker, *, burst: bool = False) -> bool:
    return worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")


@click.command()
@click.option(
    "--queues",
    "-q",
    default=",".join(ALL_QUEUES),
    show_default=True,
    help="Comma-separated queues to take jobs from (events, stages, merge).",
)
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.option("--no-fork", is_flag=True, help="Run jobs in this process (no work horse).")
@click.option("--name", default=None, help="Worker name shown in rq's registries.")
def worker(queues: str, burst: bool, no_fork: bool, name: str | None) -> None:
    """Run an rq worker over Shunter's queues."""
    settings = load_settings()
    configure(settings.log_level, settings.log_format)
    chosen = tuple(q.strip() for q in queues.split(",") if q.strip())
    unknown = sorted(set(chosen) - set(ALL_QUEUES))
    if unknown or not chosen:
        raise click.BadParameter(
            f"unknown queue(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(ALL_QUEUES)}",
            param_hint="--queues",
        )
    from bot.store.engine import check_database_url

    # Jobs open the store lazily; without this a bad URL would start a worker whose every
    # job fails. An unreachable database is left to the jobs, which retry.
    check_database_url(settings.effective_database_url)
    handle = open_redis(settings)
    check_reachable(handle.url)
    try:
        w = build_worker(settings, handle.url, chosen, fork=not no_fork, name=name)
        if name_taken(w):
            raise click.BadParameter(
                f"a worker named {w.name!r} is already running on this Redis; give each worker its own name",
                param_hint="--name",
            )
        log.info("worker started", queues=chosen, embedded_redis=handle.embedded)
        run_worker(w, burst=burst)
    finally:
        handle.close()
