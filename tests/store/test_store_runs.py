from __future__ import annotations

import pytest

from bot.errors import ShunterError
from bot.store import RunStatus, Store

SHA1 = "1" * 40
SHA2 = "2" * 40


def test_run_lifecycle(store: Store, clock) -> None:
    run = store.create_run("o/r", 5, SHA1, "review", delivery_id="d-1", installation_id=42, reason="opened")
    assert run.status is RunStatus.QUEUED
    assert run.created_at == clock.now
    store.set_check_run_id(run.id, 9001)
    clock.advance(seconds=2)
    assert store.start_run(run.id)
    clock.advance(seconds=3)
    assert store.finish_run(run.id, conclusion="failure", metrics={"ruff_seconds": 1.5}, findings_count=4)
    done = store.get_run(run.id)
    assert done is not None
    assert done.status is RunStatus.COMPLETED
    assert done.conclusion == "failure"
    assert done.check_run_id == 9001
    assert done.metrics == {"ruff_seconds": 1.5}
    assert done.findings_count == 4
    assert done.duration_seconds == 3.0
    assert done.delivery_id == "d-1" and done.installation_id == 42
    assert store.run_for_check_run(9001) == done


def test_an_ended_run_cannot_be_restarted_or_finished_twice(store: Store) -> None:
    run = store.create_run("o/r", 5, SHA1, "review")
    assert store.finish_run(run.id, conclusion="success")
    assert not store.start_run(run.id)
    assert not store.finish_run(run.id, conclusion="failure")
    ended = store.get_run(run.id)
    assert ended is not None and ended.conclusion == "success"
    # a run cancelled in the queue gets started_at = finished_at
    assert ended.duration_seconds == 0.0


def test_finish_needs_an_end_status(store: Store) -> None:
    run = store.create_run("o/r", 5, SHA1, "review")
    with pytest.raises(ShunterError, match="end status"):
        store.finish_run(run.id, conclusion="success", status=RunStatus.IN_PROGRESS)


def test_supersede_ends_active_runs_on_other_heads_only(store: Store) -> None:
    old_queued = store.create_run("o/r", 5, SHA1, "review")
    old_running = store.create_run("o/r", 5, SHA1, "security")
    store.start_run(old_running.id)
    old_done = store.create_run("o/r", 5, SHA1, "tests")
    store.finish_run(old_done.id, conclusion="success")
    new = store.create_run("o/r", 5, SHA2, "review")
    other_pr = store.create_run("o/r", 6, SHA1, "review")

    ended = store.supersede_runs("o/r", 5, new_head_sha=SHA2)

    assert [r.id for r in ended] == [old_queued.id, old_running.id]
    assert all(r.status is RunStatus.SUPERSEDED for r in ended)
    assert all(r.conclusion == "cancelled" and SHA2 in (r.reason or "") for r in ended)
    assert store.get_run(new.id).status is RunStatus.QUEUED
    assert store.get_run(other_pr.id).status is RunStatus.QUEUED
    assert store.get_run(old_done.id).conclusion == "success"
    # the worker that was running the superseded stage learns it lost
    assert not store.finish_run(old_running.id, conclusion="success")
    assert store.supersede_runs("o/r", 5, new_head_sha=SHA2) == []


def test_supersede_one_old_head_positionally(store: Store) -> None:
    first = store.create_run("o/r", 5, SHA1, "review")
    other = store.create_run("o/r", 5, "9" * 40, "review")
    ended = store.supersede_runs("o/r", 5, SHA1, SHA2)
    assert [r.id for r in ended] == [first.id]
    assert store.get_run(other.id).status is RunStatus.QUEUED
    with pytest.raises(ShunterError, match="new head SHA"):
        store.supersede_runs("o/r", 5, SHA1)


def test_supersede_one_stage(store: Store) -> None:
    review = store.create_run("o/r", 5, SHA1, "review")
    security = store.create_run("o/r", 5, SHA1, "security")
    ended = store.supersede_runs("o/r", 5, new_head_sha=SHA2, stage="review")
    assert [r.id for r in ended] == [review.id]
    assert store.get_run(security.id).status is RunStatus.QUEUED


def test_queries_for_pr_head_and_latest_per_stage(store: Store) -> None:
    first_review = store.create_run("o/r", 5, SHA1, "review")
    store.create_run("o/r", 5, SHA1, "security")
    second_review = store.create_run("o/r", 5, SHA2, "review")
    store.create_run("o/r", 9, SHA2, "review")
    merge_group = store.create_run("o/r", None, "3" * 40, "review")

    assert [r.id for r in store.runs_for_pr("o/r", 5)][0] == second_review.id
    assert len(store.runs_for_pr("o/r", 5)) == 3
    assert [r.id for r in store.runs_for_pr("o/r", 5, head_sha=SHA1)] == [
        first_review.id + 1,
        first_review.id,
    ]
    latest = store.latest_runs("o/r", 5)
    assert set(latest) == {"review", "security"}
    assert latest["review"].id == second_review.id
    assert set(store.latest_runs("o/r", 5, head_sha=SHA2)) == {"review"}
    assert store.latest_runs("o/r", 404) == {}
    assert store.runs_for_head("o/r", "3" * 40) == [merge_group]
    assert store.get_run(10**9) is None
    assert store.run_for_check_run(123) is None


def test_steps_are_traced_in_order(store: Store, clock) -> None:
    run = store.create_run("o/r", 5, SHA1, "review")
    with store.step(run.id, "fetch", ref="refs/pull/5/head") as detail:
        clock.advance(seconds=1)
        detail["objects"] = 12
    with pytest.raises(RuntimeError), store.step(run.id, "ruff"):
        raise RuntimeError(
            "git fetch https://x-access-token:ghs_0123456789abcdefABCDEF@github.com/o/r failed"
        )
    step_id = store.start_step(run.id, "publish")
    store.finish_step(step_id, status="skipped", detail={"why": "superseded"})

    steps = store.steps(run.id)
    assert [(s.name, s.status) for s in steps] == [
        ("fetch", "success"),
        ("ruff", "failure"),
        ("publish", "skipped"),
    ]
    assert steps[0].detail == {"ref": "refs/pull/5/head", "objects": 12}
    assert (steps[0].finished_at - steps[0].started_at).total_seconds() == 1
    error = steps[1].detail["error"]
    assert error.startswith("RuntimeError: git fetch https://x-access-token:***@github.com")
    assert "ghs_0123456789" not in error
    assert steps[2].detail == {"why": "superseded"}


def test_unknown_step_status_is_refused(store: Store) -> None:
    run = store.create_run("o/r", 5, SHA1, "review")
    step_id = store.start_step(run.id, "x")
    with pytest.raises(ShunterError, match="unknown step status"):
        store.finish_step(step_id, status="done")


def test_run_reason_and_metrics_are_redacted(store: Store) -> None:
    run = store.create_run("o/r", 5, SHA1, "review", reason="token ghp_abcdefghijklmnopqrstuvwx")
    store.finish_run(run.id, conclusion="neutral", metrics={"error": "github_pat_11AAAAAAAA_bbbb"})
    stored = store.get_run(run.id)
    assert stored.reason == "token ghp_***"
    assert stored.metrics == {"error": "github_pat_***"}


def test_recent_runs(store: Store) -> None:
    a = store.create_run("o/a", 1, SHA1, "review")
    b = store.create_run("o/b", 1, SHA1, "review")
    assert [r.id for r in store.recent_runs()] == [b.id, a.id]
    assert [r.id for r in store.recent_runs(repo="o/a")] == [a.id]
    assert len(store.recent_runs(limit=1)) == 1


def test_prune_keeps_active_runs_and_the_audit_log(store: Store, clock) -> None:
    old_done = store.create_run("o/r", 1, SHA1, "review")
    with store.step(old_done.id, "fetch"):
        pass
    store.finish_run(old_done.id, conclusion="success")
    old_active = store.create_run("o/r", 1, SHA1, "security")
    store.record_audit(repo="o/r", actor="a", action="x", target_type="t")
    store.mark_command_comment("o/r", 1, "/shunter review")
    clock.advance(days=40)
    cutoff = clock.now
    fresh = store.create_run("o/r", 1, SHA2, "review")
    store.finish_run(fresh.id, conclusion="success")

    removed = store.prune(cutoff)
    assert removed == {"steps": 1, "runs": 1, "processed_comments": 1}
    assert store.get_run(old_done.id) is None and store.steps(old_done.id) == []
    assert store.get_run(old_active.id) is not None
    assert store.get_run(fresh.id) is not None
    assert len(store.audit_events()) == 1
    assert store.prune(cutoff, audit=True)["audit_events"] == 1
    assert store.audit_events() == []
