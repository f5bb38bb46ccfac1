"""``shunter worker``: an rq worker over Shunter's queues, JSON jobs only."""

from __future__ import annotations

import os
import socket

import click
from redis import Redis
from rq import SimpleWorker, Worker
from rq.serializers import JSONSerializer
from rq.worker.base import BaseWorker

from bot.logs import configure, get_logger
from bot.queue.connection import check_reachable, open_redis
from bot.queue.jobs import ALL_QUEUES
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

    ``fork=False`` gives a ``SimpleWorker`` (jobs run in this process), used by
    ``serve --with-worker`` and ``demo``; the standalone worker forks one work horse per job
    so a crashing analyzer cannot take the worker down.
    """
    set_runtime(Runtime(settings, redis_url))
    connection = Redis.from_url(redis_url)
    worker_class: type[BaseWorker] = Worker if fork else SimpleWorker
    return worker_class(
        list(queues),
        connection=connection,
        serializer=JSONSerializer,
        name=name or f"shunter-{socket.gethostname()}-{os.getpid()}",
        maintenance_interval=takeover_seconds,
        # idle, a worker blocks on the queues for worker_ttl - 15 s before maintenance runs
        worker_ttl=takeover_seconds + 15,
    )


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
        log.info("worker started", queues=chosen, embedded_redis=handle.embedded)
        run_worker(w, burst=burst)
    finally:
        handle.close()
