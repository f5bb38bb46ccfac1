"""``/shunter queue`` lists the changes proposed on this pull request that the merge queue
holds, wherever they land: the PR's branch, Shunter's follow-up branch
(``push_to: pull_request``) or a fork; never another pull request's. Through the
simulator, the real workers and real Redis."""

from __future__ import annotations

from tests.pipeline.test_pipe_apply import ON_COMMAND, REPO, open_fork_pr, open_pr, replies


def queued_then_listed(stack, number: int, user: str = "alice") -> str:
    """``/shunter apply`` queues the fixes (the merge job has not run yet), then
    ``/shunter queue`` answers; returns that answer."""
    sim = stack.sim
    sim.comment(REPO, number, "/shunter apply", user=user)
    sim.wait_for_deliveries()
    stack.work(("events",))
    assert "queued for" in replies(sim, number)[-1].body
    sim.comment(REPO, number, "/shunter queue", user=user)
    sim.wait_for_deliveries()
    stack.work(("events",))
    return replies(sim, number)[-1].body


def test_queue_lists_a_change_waiting_for_the_prs_branch(stack):
    number = open_pr(stack)
    body = queued_then_listed(stack, number)
    assert "| `feature` | waiting |" in body, body


def test_queue_lists_a_change_waiting_for_the_follow_up_branch(stack):
    number = open_pr(stack, config=ON_COMMAND + "  push_to: pull_request\n")
    body = queued_then_listed(stack, number)
    assert "holds none" not in body, body
    assert "| `shunter/feature-fixes` | waiting |" in body, body


def test_queue_lists_a_change_waiting_for_a_fork_and_not_another_prs(stack):
    sim, _, number = open_fork_pr(stack, "carol", maintainer_can_modify=True)
    body = queued_then_listed(stack, number, user="mona")
    assert "holds none" not in body, body
    assert "| `feature` | waiting |" in body, body
    [change_id] = [line.split("`")[1] for line in body.splitlines() if "| waiting |" in line]
    # a pull request of the base repository from its own `feature` branch lists nothing of it
    sim.set_permission(REPO, "alice", "write")
    sim.commit(
        REPO, "feature", {"app.py": "import re\n\n\ndef add(a, b):\n    return a + b\n"}, author="alice"
    )
    other = sim.open_pull_request(REPO, "feature", title="same branch name", user="alice")
    stack.drain()
    sim.comment(REPO, other, "/shunter queue", user="alice")
    sim.wait_for_deliveries()
    stack.work(("events",))
    answer = replies(sim, other)[-1].body
    assert change_id not in answer and "holds none of the changes proposed on this pull request" in answer, (
        answer
    )
