"""A pull request closed or merged while Shunter still holds changes for it.

Before, nothing listened for ``pull_request.closed``: a fix queued by **Apply fixes** (or
by ``auto_apply``) before the author merged or closed the pull request landed afterwards, a
commit by Shunter on the branch of a merged pull request that could never reach the base;
and a change waiting for ``/shunter approve`` waited on, for nobody. Now the close drops
them, audited, and ``/shunter queue`` (on a reopened PR) says why. Through the simulator,
the real workers and real Redis.
"""

from __future__ import annotations

from bot.queue import pr_changes
from bot.queue.merge import MergeQueue
from tests.pipeline.test_pipe_apply import BASE, CHANGED, ON_COMMAND, REPO, open_pr, replies, waiting_change

PROTECTED = ON_COMMAND + "  protected_paths: ['app.py']\n"


def ask(stack, number: int, text: str, user: str) -> str:
    stack.sim.comment(REPO, number, text, user=user)
    stack.sim.wait_for_deliveries()
    stack.work(("events",))  # the command only: the merge job has not run
    return replies(stack.sim, number)[-1].body


def test_a_fix_queued_before_the_pull_request_closed_does_not_land(stack):
    number = open_pr(stack)
    head = stack.sim.pull(REPO, number).head_sha
    queued = ask(stack, number, "/shunter apply", "alice")
    assert "queued for" in queued, queued
    change_id = queued.split("(`")[1].split("`")[0]
    stack.sim.close_pull_request(REPO, number, user="alice")
    stack.drain()
    assert stack.sim.ref(REPO, "feature") == head  # nothing pushed after the close
    assert MergeQueue(stack.runtime.redis).get(change_id) is None
    [event] = stack.runtime.store.audit_events(repo=REPO, action="change.dropped")
    assert event.target_id == change_id and event.pr == number, event
    assert "closed" in (event.reason or ""), event
    stack.sim.reopen_pull_request(REPO, number, user="alice")
    stack.drain()
    body = ask(stack, number, "/shunter queue", "alice")
    assert f"(`{change_id}`): dropped when the pull request was closed" in body, body
    assert "dropped by an operator" not in body, body


def test_a_change_waiting_for_approval_is_dropped_when_the_pull_request_is_merged(stack):
    number = open_pr(stack, config=PROTECTED)
    _, change_id = waiting_change(stack, number)
    stack.sim.close_pull_request(REPO, number, user="mona", merged=True)
    stack.drain()
    key = pr_changes.index_key("waiting", REPO, number)
    assert stack.runtime.redis.zscore(key, change_id) is None
    record = pr_changes.read_record(stack.runtime.redis, change_id)
    assert "cr" not in record and record["dropped"]["cause"] == "merged", record
    [event] = stack.runtime.store.audit_events(repo=REPO, action="change.dropped")
    assert event.target_id == change_id and "merged" in (event.reason or ""), event


def _latest_runs(sim, head: str) -> dict:
    return {run.name: run for run in sim.check_runs(REPO, head_sha=head) if run.name.startswith("shunter/")}


def test_stage_jobs_of_a_pull_request_closed_before_they_ran_publish_nothing_and_a_reopen_runs_them(stack):
    """Before, the stage jobs queued for a pull request ran after it was closed: a review
    with inline comments and a summary comment nobody would read (and the tests stage could
    hold a worker for minutes). They are now concluded ``skipped``, saying why; reopening
    the pull request runs them on the same head."""
    sim = stack.sim
    base = dict(BASE)
    sim.create_repo(REPO, base)
    sim.set_permission(REPO, "alice", "write")
    sim.commit(REPO, "feature", CHANGED, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Change", user="alice")
    sim.wait_for_deliveries()
    stack.work(("events",))  # planned: check runs queued, stage jobs not run yet
    head = sim.pull(REPO, number).head_sha
    queued = _latest_runs(sim, head)
    assert queued and all(run.status == "queued" for run in queued.values()), queued
    sim.close_pull_request(REPO, number, user="alice")
    stack.drain()
    closed = _latest_runs(sim, head)
    assert set(closed) == set(queued)
    for run in closed.values():
        assert (run.status, run.conclusion) == ("completed", "skipped"), run
        assert run.title == "Skipped: the pull request was closed", run
        assert "Reopen the pull request" in (run.summary or ""), run
    assert sim.comments(REPO, number) == [] and sim.review_comments(REPO, number) == []
    skips = stack.runtime.store.audit_events(repo=REPO, action="check_run.skip")
    assert len(skips) == len(closed) and all(e.reason_code == "pull_request_closed" for e in skips), skips

    sim.reopen_pull_request(REPO, number, user="alice")
    stack.drain()
    reopened = _latest_runs(sim, head)
    review = reopened["shunter/review"]
    assert review.id != closed["shunter/review"].id, review
    assert review.status == "completed" and review.conclusion != "skipped", review
    assert any(c.body.startswith("<!-- shunter:summary -->") for c in sim.comments(REPO, number))


def test_a_merged_pull_request_stops_its_stage_jobs_without_asking_to_reopen(stack):
    sim = stack.sim
    sim.create_repo(REPO, dict(BASE))
    sim.set_permission(REPO, "alice", "write")
    sim.commit(REPO, "feature", CHANGED, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Change", user="alice")
    sim.wait_for_deliveries()
    stack.work(("events",))
    head = sim.pull(REPO, number).head_sha
    sim.close_pull_request(REPO, number, user="mona", merged=True)
    stack.drain()
    for run in _latest_runs(sim, head).values():
        assert (run.conclusion, run.title) == ("skipped", "Skipped: the pull request was merged"), run
        assert "Reopen" not in (run.summary or ""), run


def test_a_fix_a_merge_worker_holds_when_the_pull_request_closes_is_dropped_before_its_push(
    stack, monkeypatch
):
    """The close drops what has not started; before, a change a worker already held (its
    commit built, its push next) landed anyway, on the branch of the closed pull request.
    The worker now looks right before its push, and drops it as the close drops the rest."""
    from bot.pipeline.patches import GitHubHooks

    number = open_pr(stack)
    head = stack.sim.pull(REPO, number).head_sha
    queued = ask(stack, number, "/shunter apply", "alice")
    change_id = queued.split("(`")[1].split("`")[0]
    closed: list[str] = []

    def close_meanwhile(self, claim, commit_sha):  # the commit is built; the push is next
        closed.append(commit_sha)
        stack.sim.close_pull_request(REPO, number, user="alice")
        stack.sim.wait_for_deliveries()
        stack.work(("events",))  # the close is handled while the worker holds the change

    monkeypatch.setattr(GitHubHooks, "before_push", close_meanwhile)
    stack.drain()
    assert closed, "the merge worker never reached its push"
    assert stack.sim.ref(REPO, "feature") == head  # nothing pushed to the closed pull request
    assert MergeQueue(stack.runtime.redis).get(change_id) is None
    [event] = stack.runtime.store.audit_events(repo=REPO, action="change.dropped")
    assert (event.target_id, event.pr, event.reason_code) == (change_id, number, "pull_request_closed")
    assert event.reason == "the pull request was closed before the change landed", event
    assert stack.runtime.store.audit_events(repo=REPO, action="change.landed") == []
    # what ``/shunter queue`` lists on a reopened pull request (the test above reads it)
    record = pr_changes.read_record(stack.runtime.redis, change_id)
    assert record["dropped"]["cause"] == "closed" and record["pr"] == number, record
    [(listed, _)] = pr_changes.listed(stack.runtime.redis, "dropped", REPO, number, stack.runtime.store.now())
    assert listed == change_id
