"""``/shunter queue`` lists the changes of the pull request the merge queue does not hold:
those waiting for ``/shunter approve`` (what they wait for, who may approve, until when),
and those an operator dropped with ``shunter queue drop``.

Before, a waiting change lived only in its record, so the listing said the queue held none
of the pull request's changes; and a dropped change left its record behind with nothing in
it saying so: ``/shunter queue`` did not list it and ``/shunter retry`` answered the merge
queue's "no merge-queue entry". Through the simulator, the real workers, the real CLI and
real Redis.
"""

from __future__ import annotations

from click.testing import CliRunner

from bot.cli import main
from bot.pipeline.patches import approvable_until
from bot.queue import pr_changes
from tests.pipeline.test_pipe_apply import ON_COMMAND, REPO, open_pr, replies, waiting_change

PROTECTED = ON_COMMAND + "  protected_paths: ['app.py']\n"


def ask(stack, number: int, text: str, user: str) -> str:
    stack.sim.comment(REPO, number, text, user=user)
    stack.sim.wait_for_deliveries()
    stack.work(("events",))  # the command only: a merge job, if any, has not run
    return replies(stack.sim, number)[-1].body


def operator_drops(redis_url: str, change_id: str) -> str:
    result = CliRunner().invoke(
        main, ["queue", "drop", change_id], env={"SHUNTER_REDIS_URL": redis_url}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_queue_lists_a_change_waiting_for_approval_until_it_is_approved(stack):
    number = open_pr(stack, config=PROTECTED)
    _, change_id = waiting_change(stack, number)
    [asked] = [
        e for e in stack.runtime.store.audit_events(repo=REPO, action="change.requested")
        if e.target_id == change_id
    ]
    body = ask(stack, number, "/shunter queue", "alice")
    assert "Waiting for `/shunter approve` from someone with maintain or admin permission" in body, body
    [line] = [line for line in body.splitlines() if change_id in line]
    assert "`app.py` is protected" in line, line  # what it waits for
    assert f"`/shunter approve {change_id}` until {approvable_until(asked.at)}." in line, line
    # the index expires with the record
    key = pr_changes.index_key("waiting", REPO, number)
    assert 0 < stack.runtime.redis.ttl(key) <= stack.runtime.redis.ttl(pr_changes.record_key(change_id)) + 1
    ask(stack, number, f"/shunter approve {change_id}", "mona")
    assert stack.runtime.redis.zscore(key, change_id) is None
    body = ask(stack, number, "/shunter queue", "alice")
    assert "Waiting for" not in body and f"| `{change_id}` |" in body, body  # in the merge queue now


def test_a_waiting_change_whose_record_expired_is_no_longer_listed(stack):
    number = open_pr(stack, config=PROTECTED)
    _, change_id = waiting_change(stack, number)
    assert f"(`{change_id}`)" in ask(stack, number, "/shunter queue", "alice")
    stack.runtime.redis.delete(pr_changes.record_key(change_id))  # 14 days later
    body = ask(stack, number, "/shunter queue", "alice")
    assert change_id not in body and "holds none of the changes" in body, body
    assert stack.runtime.redis.zscore(pr_changes.index_key("waiting", REPO, number), change_id) is None


def test_a_change_an_operator_dropped_is_said_to_be_dropped_by_queue_and_retry(stack, redis_url):
    number = open_pr(stack)
    queued = ask(stack, number, "/shunter apply", "alice")
    change_id = queued.split("(`")[1].split("`")[0]
    assert "queued for" in queued, queued
    assert "dropped" in operator_drops(redis_url, change_id)
    body = ask(stack, number, "/shunter queue", "alice")
    assert "Dropped from the merge queue, so they will not land" in body, body
    assert f"(`{change_id}`): dropped by an operator on " in body, body
    said = ask(stack, number, f"/shunter retry {change_id}", "alice")
    assert f"`{change_id}` was dropped from the merge queue by an operator on " in said, said
    assert "`/shunter apply`" in said, said
    # asked for again, the same change is queued again and no longer listed as dropped
    ask(stack, number, "/shunter apply", "alice")
    body = ask(stack, number, "/shunter queue", "alice")
    assert "Dropped" not in body and f"| `{change_id}` |" in body, body


def test_an_operator_can_drop_a_change_waiting_for_approval(stack, redis_url):
    number = open_pr(stack, config=PROTECTED)
    head = stack.sim.pull(REPO, number).head_sha
    _, change_id = waiting_change(stack, number)
    assert f"{change_id}: dropped (it waited for approval on {REPO}#{number})" in operator_drops(
        redis_url, change_id
    )
    body = ask(stack, number, "/shunter queue", "alice")
    assert "Waiting for" not in body and f"(`{change_id}`): dropped by an operator" in body, body
    said = ask(stack, number, f"/shunter approve {change_id}", "mona")
    assert "was dropped from the merge queue by an operator" in said, said
    stack.drain()
    assert stack.sim.pull(REPO, number).head_sha == head
