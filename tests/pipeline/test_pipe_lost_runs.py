"""Stage runs whose jobs Redis lost (a restart without persistence, a failover, eviction)
are found from the database's run records and queued again, or concluded ``neutral`` with a
line saying what happened; before, their check runs stayed ``queued`` for good and a
required check blocked merging."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.pipeline.lost_runs import (
    MAX_RECOVERIES,
    QUEUED_GRACE,
    RUNNING_LIMIT,
    JobState,
    job_state,
    judge,
    sweep,
)
from bot.pipeline.planning import stage_job_id
from bot.stack import LocalStack
from bot.store.records import RunRecord, RunStatus
from tests.pipeline.test_pipe_pull_request import CHANGED, REPO, by_name, open_pr
from tests.throwaway_valkey import ThrowawayValkey


@pytest.fixture
def valkey() -> Iterator[ThrowawayValkey]:
    server = ThrowawayValkey()
    yield server
    server.stop()


@pytest.fixture
def lossy_stack(valkey: ThrowawayValkey, tmp_path: Path) -> Iterator[LocalStack]:
    with LocalStack(tmp_path / "stack", redis_url=valkey.url) as st:
        yield st


def later(stack: LocalStack) -> datetime:
    """The sweep's clock past the grace a queued run gets (no test waits for it)."""
    assert stack.runtime is not None
    return stack.runtime.store.now() + timedelta(seconds=QUEUED_GRACE + 1)


def planned(stack: LocalStack) -> int:
    """A pull request opened and planned (check runs queued, their jobs in Redis) whose
    stage jobs have not run yet; its number."""
    number = open_pr(stack.sim, {"app.py": CHANGED})
    stack.sim.wait_for_deliveries()
    stack.work(("events",))
    return int(number)


def test_redis_restarted_before_the_stage_jobs_ran_leaves_no_check_queued(lossy_stack, valkey) -> None:
    sim = lossy_stack.sim
    number = planned(lossy_stack)
    valkey.restart()
    lossy_stack.drain()
    runs = by_name(sim.check_runs(REPO))
    assert {r.status for r in runs.values()} == {"queued"}  # what users were left with

    counts = sweep(lossy_stack.runtime, later(lossy_stack))
    assert (counts["requeued"], counts["concluded"], counts["errors"]) == (3, 0, 0)
    lossy_stack.drain()
    runs = by_name(sim.check_runs(REPO))
    assert set(runs) == {"shunter/review", "shunter/security", "shunter/tests"}  # no second set
    assert {r.status for r in runs.values()} == {"completed"}
    assert runs["shunter/review"].conclusion == "failure"  # the stage really ran: breakpoint()
    records = lossy_stack.runtime.store.runs_for_pr(REPO, number)
    assert {r.status for r in records} == {RunStatus.COMPLETED}
    summaries = [c for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:summary -->")]
    assert len(summaries) == 1
    # nothing left to find
    assert sweep(lossy_stack.runtime, later(lossy_stack))["checked"] == 0


def test_a_run_lost_again_and_again_is_concluded_neutral_saying_how_to_rerun(lossy_stack, valkey) -> None:
    sim = lossy_stack.sim
    planned(lossy_stack)
    for _ in range(MAX_RECOVERIES):
        valkey.restart()
        assert sweep(lossy_stack.runtime, later(lossy_stack))["requeued"] == 3
    valkey.restart()  # MAX_RECOVERIES restarts wiped the counts too: lose it by eviction
    lossy_stack.redis.delete("rq:queue:stages")
    for run in lossy_stack.runtime.store.active_runs(later(lossy_stack)):
        lossy_stack.redis.set(f"shunter:lost-run:{run.id}", MAX_RECOVERIES)
    assert sweep(lossy_stack.runtime, later(lossy_stack))["concluded"] == 3
    runs = by_name(sim.check_runs(REPO))
    assert {(r.status, r.conclusion) for r in runs.values()} == {("completed", "neutral")}
    summary = runs["shunter/security"].summary or ""
    assert "lost this check's queued job" in summary
    assert "Re-run the check" in summary


def test_a_job_whose_queue_entry_was_evicted_counts_as_gone(lossy_stack) -> None:
    """allkeys-lru may evict the queue's list and keep the job's hash: no worker runs it."""
    planned(lossy_stack)
    run = lossy_stack.runtime.store.active_runs(later(lossy_stack))[0]
    job_id = stage_job_id(run.repo, run.head_sha, run.stage, run.id)
    assert job_state(lossy_stack.redis, job_id) is JobState.RUNNABLE
    lossy_stack.redis.delete("rq:queue:stages")
    assert lossy_stack.redis.exists(f"rq:job:{job_id}")
    assert job_state(lossy_stack.redis, job_id) is JobState.GONE


def _run(status: RunStatus, created: datetime, started: datetime | None = None) -> RunRecord:
    return RunRecord(
        id=1, repo=REPO, pr=1, head_sha="a" * 40, stage="review", status=status, conclusion=None,
        check_run_id=5, delivery_id="d", installation_id=1, reason=None, created_at=created,
        started_at=started, finished_at=None,
    )


def test_judge_waits_for_backlogs_and_for_horses_that_may_still_run() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    long_ago = now - timedelta(days=1)
    queued = _run(RunStatus.QUEUED, long_ago)
    assert not judge(queued, JobState.RUNNABLE, now).lost  # a long backlog is no loss
    assert judge(queued, JobState.GONE, now).lost
    assert not judge(_run(RunStatus.QUEUED, now - timedelta(seconds=10)), JobState.GONE, now).lost
    started = now - timedelta(seconds=RUNNING_LIMIT - 60)
    running = _run(RunStatus.IN_PROGRESS, long_ago, started)
    assert not judge(running, JobState.GONE, now).lost  # its horse may still be at work
    assert not judge(running, JobState.RUNNING, now).lost
    stuck = _run(RunStatus.IN_PROGRESS, long_ago, now - timedelta(seconds=RUNNING_LIMIT + 60))
    assert judge(stuck, JobState.RUNNING, now).lost
    assert judge(stuck, JobState.GONE, now).lost


def test_apply_fixes_after_redis_lost_the_drafts_says_so_and_lands_after_a_rerun(lossy_stack, valkey) -> None:
    """The check still shows "Apply fixes", but its drafts lived in Redis only: the reply said
    "No fixes to apply ... The stages offer fixes in their check runs when they have some"."""
    from tests.pipeline.test_pipe_apply import open_pr as open_apply_pr
    from tests.pipeline.test_pipe_apply import replies, review_run

    number = open_apply_pr(lossy_stack)
    sim = lossy_stack.sim
    head = sim.pull("octo/demo", number).head_sha
    valkey.restart()
    sim.click_button(review_run(sim, head).id, "apply", user="alice")
    lossy_stack.drain()
    said = replies(sim, number)[-1].body
    assert "no longer holds the fixes shunter/review offered" in said
    assert "Re-run the check" in said
    assert sim.pull("octo/demo", number).head_sha == head
    sim.rerequest_check_run(review_run(sim, head).id, user="alice")
    lossy_stack.drain()
    sim.click_button(review_run(sim, head).id, "apply", user="alice")
    lossy_stack.drain()
    assert sim.pull("octo/demo", number).head_sha != head  # the fix landed
    assert "Shunter pushed" in replies(sim, number)[-1].body


def test_the_sweep_serve_enqueues_runs_in_a_worker_and_finishes_the_checks(lossy_stack, valkey) -> None:
    from sqlalchemy import update

    from bot.queue.jobs import enqueue_lost_run_sweep
    from bot.store import tables as t

    sim = lossy_stack.sim
    planned(lossy_stack)
    valkey.restart()
    store = lossy_stack.runtime.store
    with store.engine.begin() as conn:  # planned 10 minutes ago, as far as the sweep can tell
        conn.execute(update(t.runs).values(created_at=store.now() - timedelta(minutes=10)))
    assert enqueue_lost_run_sweep(lossy_stack.redis, 300)
    assert not enqueue_lost_run_sweep(lossy_stack.redis, 300)  # one per period, whoever asks
    lossy_stack.drain()
    runs = by_name(sim.check_runs(REPO))
    assert {r.status for r in runs.values()} == {"completed"}


def test_a_merge_groups_lost_run_is_concluded_not_left_queued(lossy_stack, valkey) -> None:
    """A merge group's run cannot be rebuilt (its payload went with the job); its check run
    stayed queued, and GitHub's merge queue waited on it."""
    sim = lossy_stack.sim
    number = open_pr(sim, {"app.py": CHANGED})
    lossy_stack.drain()
    group_sha = sim.request_merge_group(REPO, number)
    sim.wait_for_deliveries()
    lossy_stack.work(("events",))
    valkey.restart()
    assert sweep(lossy_stack.runtime, later(lossy_stack))["concluded"] == 3
    group_runs = [r for r in sim.check_runs(REPO) if r.head_sha == group_sha]
    assert {(r.status, r.conclusion) for r in group_runs} == {("completed", "neutral")}
    assert all("lost this check's queued job" in (r.summary or "") for r in group_runs)


def test_a_lost_run_whose_pull_request_github_no_longer_shows_is_concluded_not_retried(lossy_stack, valkey) -> None:
    """A 404 for the PR (deleted, transferred, access lost) failed every sweep for good."""
    sim = lossy_stack.sim
    planned(lossy_stack)
    valkey.restart()
    sim.faults.error(404, pattern="GET /repos/*/pulls/*", times=None)
    counts = sweep(lossy_stack.runtime, later(lossy_stack))
    assert (counts["concluded"], counts["errors"]) == (3, 0)
    assert sweep(lossy_stack.runtime, later(lossy_stack))["checked"] == 0
    assert {(r.status, r.conclusion) for r in sim.check_runs(REPO)} == {("completed", "neutral")}
