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
from tests.pipeline.test_pipe_apply import ON_COMMAND, REPO, open_pr, replies, waiting_change

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
