"""Finding stage runs whose rq job Redis no longer holds, and finishing them.

The planner creates a check run (``queued``) and a run record in the database, then puts
the stage's job in Redis. A Redis that loses data (restarted without persistence, a
failover to a replica that missed the last writes, keys evicted under ``maxmemory``)
takes the job with it while GitHub and the database still say ``queued``: the check run
would stay queued for good, and a required check that never completes blocks merging.

The sweep compares the database's active runs with the jobs Redis holds. A run whose job
is gone (or can no longer run: its queue entry or retry schedule gone) is queued again,
on the same check run, with the policy read anew; one lost too often, or one that cannot
be rebuilt, is concluded ``neutral`` saying what happened and how to re-run it.
``shunter serve`` enqueues :func:`sweep_job` every ``LOST_RUNS_EVERY`` seconds (5 min).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis import Redis

from bot.errors import GitHubError, ShunterError
from bot.github.client import translate_errors
from bot.logs import bind, get_logger
from bot.models import StageName
from bot.queue.jobs import STAGES
from bot.store.records import RunRecord, RunStatus

log = get_logger(__name__)

QUEUED_GRACE = 300
"""Seconds a queued run may go without a job in Redis before it counts as lost: the
planner writes the run a moment before the job, and an events job takes at most 120 s."""
RUNNING_LIMIT = 2 * 900 + 300
"""Seconds an in-progress run may go without finishing before its job counts as lost if
Redis holds no runnable one: twice the stage job's timeout (a worker's horse never runs
longer, and rq finds a killed worker's job within the timeout and a minute) and 5 min."""
GONE_STATUSES = frozenset({403, 404, 410})
"""GitHub's answers for a pull request Shunter can no longer read (deleted, transferred,
access taken away): the run cannot be rebuilt, so it is concluded."""
MAX_RECOVERIES = 2
"""Times one run is queued again before it is concluded ``neutral`` instead."""
LOST_MESSAGE = (
    "Shunter lost this check's queued job: its Redis was restarted without persistence, failed "
    "over or evicted keys (the operator's README, Deployment, says how to keep it)"
)


class JobState(enum.Enum):
    """What Redis says about a run's stage job."""

    RUNNABLE = "runnable"
    """Waiting in its queue, scheduled for a retry, or deferred: a worker will run it."""
    RUNNING = "running"
    """A worker took it (rq marks it ``started``)."""
    GONE = "gone"
    """No job, or one no worker will ever run (its queue entry or schedule lost, or it
    ended without concluding the run)."""


@dataclass(frozen=True)
class Verdict:
    lost: bool
    why: str


def judge(run: RunRecord, job: JobState, now: datetime) -> Verdict:
    """Whether ``run`` (an active run) lost its job, from what Redis says of it at ``now``.

    A runnable job is never lost, however long the backlog. An in-progress run may still be
    running in a horse whose job Redis forgot, so it is judged only after
    :data:`RUNNING_LIMIT`; a queued run with no job after :data:`QUEUED_GRACE`.
    """
    if job is JobState.RUNNABLE:
        return Verdict(False, "its job is waiting for a worker")
    if run.status is RunStatus.IN_PROGRESS or job is JobState.RUNNING:
        since = run.started_at or run.created_at
        if now - since < timedelta(seconds=RUNNING_LIMIT):
            return Verdict(False, "it may still be running")
        return Verdict(True, f"in progress since {since:%H:%M} UTC and its job is {job.value}")
    if now - run.created_at < timedelta(seconds=QUEUED_GRACE):
        return Verdict(False, "queued moments ago")
    return Verdict(True, f"queued since {run.created_at:%H:%M} UTC and its job is gone")


def job_state(redis: Redis, job_id: str, queue_name: str = STAGES) -> JobState:
    """Read the job's hash, and its place in the queue or the retry schedule, from Redis."""
    status = redis.hget(f"rq:job:{job_id}", "status")
    if status is None:
        return JobState.GONE
    said = status.decode() if isinstance(status, bytes) else str(status)
    if said == "queued":
        in_queue = redis.lpos(f"rq:queue:{queue_name}", job_id)
        return JobState.RUNNABLE if in_queue is not None else JobState.GONE
    if said == "scheduled":
        due = redis.zscore(f"rq:scheduled:{queue_name}", job_id)
        return JobState.RUNNABLE if due is not None else JobState.GONE
    if said == "deferred":
        return JobState.RUNNABLE
    if said == "started":
        return JobState.RUNNING
    return JobState.GONE  # finished, failed, stopped or canceled, yet the run is active


def sweep_job() -> dict[str, int]:
    """The rq job: check every active run older than the grace; returns the counts."""
    from bot.runtime import get_runtime

    runtime = get_runtime()
    return sweep(runtime, runtime.store.now())


def sweep(runtime: Any, now: datetime) -> dict[str, int]:
    """Requeue or conclude the runs whose jobs are lost; returns what it did, by outcome."""
    from bot.pipeline.planning import stage_job_id

    counts = {"checked": 0, "requeued": 0, "concluded": 0, "errors": 0}
    redis = runtime.redis
    for run in runtime.store.active_runs(now - timedelta(seconds=QUEUED_GRACE)):
        counts["checked"] += 1
        state = job_state(redis, stage_job_id(run.repo, run.head_sha, run.stage, run.id))
        verdict = judge(run, state, now)
        if not verdict.lost:
            continue
        with bind(repo=run.repo, pr=run.pr, run=run.id, stage=run.stage):
            log.warning("stage run lost its job", why=verdict.why)
            try:
                counts[recover(runtime, run)] += 1
            except ShunterError as exc:  # GitHub away: the next sweep tries again
                counts["errors"] += 1
                log.warning("could not recover a lost run", error=str(exc))
    if counts["requeued"] or counts["concluded"] or counts["errors"]:
        log.info("lost runs swept", **counts)
    return counts


def recover(runtime: Any, run: RunRecord) -> str:
    """Queue ``run``'s stage again on its check run, or conclude it; the outcome's name."""
    from bot.pipeline.publisher import Publisher

    attempts = _count_recovery(runtime.redis, run.id)
    try:
        target = _target_of(runtime, run)
    except GitHubError as exc:
        if exc.status not in GONE_STATUSES:
            raise
        target = None  # concluded below: asking every sweep again would never get further
    if target is None or run.check_run_id is None or attempts > MAX_RECOVERIES:
        shown = target or _commit_of(run)
        if run.check_run_id is not None and shown is not None:
            gh = runtime.github.installation(shown.installation_id)
            publisher = Publisher(gh, runtime, shown, delivery_id=run.delivery_id)
            lost_again = f" ({attempts - 1} times)" if attempts > 1 else ""
            publisher.fail_check(run.check_run_id, StageName(run.stage), LOST_MESSAGE + lost_again + ".")
        runtime.store.finish_run(run.id, conclusion="neutral")
        return "concluded"
    return _requeue(runtime, run, target)


def _count_recovery(redis: Redis, run_id: int) -> int:
    key = f"shunter:lost-run:{run_id}"
    pipe = redis.pipeline()
    pipe.incr(key)
    pipe.expire(key, 7 * 24 * 3600)
    return int(pipe.execute()[0])


def _commit_of(run: RunRecord) -> Any:
    """Enough of a Target to conclude the check run of a run that has no pull request (a
    merge group's: its payload, which a rebuild would need, went with the job), or None
    without an installation to act as."""
    from bot.pipeline.facts import Target

    if not run.installation_id:
        return None
    return Target(
        repo=run.repo, installation_id=run.installation_id, head_sha=run.head_sha, base_ref="",
        clone_url="", trigger="merge_group", number=run.pr,
    )


def _target_of(runtime: Any, run: RunRecord) -> Any:
    """The run's pull request as GitHub has it now (a Target), or None for a run that has
    none (a merge group's) or no installation recorded."""
    from bot.pipeline.facts import from_pull_request

    if run.pr is None or not run.installation_id:
        return None
    gh = runtime.github.installation(run.installation_id)
    owner, name = run.repo.split("/", 1)
    with translate_errors(f"reading {run.repo}#{run.pr}"):
        pr = gh.rest.pulls.get(owner, name, run.pr).json()
    base_repo = (pr.get("base") or {}).get("repo") or {"full_name": run.repo}
    payload = {"pull_request": pr, "repository": base_repo, "installation": {"id": run.installation_id}}
    return from_pull_request(payload, trigger="synchronize")


def _requeue(runtime: Any, run: RunRecord, target: Any) -> str:
    """The stage job again, for the same run and check run, with the policy read anew; or
    the run ended as the stage job would have if its head moved or its PR closed meanwhile."""
    from bot.events.dispatch import EventContext
    from bot.pipeline import heads
    from bot.pipeline.config_loader import load_config
    from bot.pipeline.decide import StageVerdict
    from bot.pipeline.planning import enqueue_stage
    from bot.pipeline.publisher import Publisher
    from bot.queue.jobs import Delivery

    assert run.check_run_id is not None
    stage = StageName(run.stage)
    gh = runtime.github.installation(target.installation_id)
    publisher = Publisher(gh, runtime, target, delivery_id=run.delivery_id)
    if target.state != "open":
        publisher.skip_closed(run.check_run_id, stage, target.state)
        runtime.store.finish_run(run.id, status=RunStatus.CANCELLED, conclusion="skipped")
        return "concluded"
    if target.head_sha != run.head_sha:
        publisher.cancel_check(run.check_run_id, stage, target.head_sha)
        runtime.store.finish_run(run.id, status=RunStatus.SUPERSEDED, conclusion="cancelled")
        return "concluded"
    heads.claim_stage(runtime.redis, run.repo, run.head_sha, run.stage, force=True)
    heads.record_check_run(runtime.redis, run.repo, run.head_sha, run.stage, run.check_run_id)
    config = load_config(runtime, gh, target).config
    reason = run.reason or "queued again: its job was lost"
    delivery = Delivery(event="shunter", delivery_id=run.delivery_id or f"lost-run-{run.id}", payload={})
    ctx = EventContext(delivery=delivery, runtime=runtime)
    verdict = StageVerdict(stage, True, "requeued", reason)
    enqueue_stage(runtime, target, stage, (run.id, run.check_run_id), config, verdict, ctx)
    return "requeued"
