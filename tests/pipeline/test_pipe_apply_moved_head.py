"""Changes computed on an older head of the PR, queued or waiting for approval while the
author pushed again: the dead-letter reply says in plain words how the branch moved (new
commits on top, or a force-push that dropped the fix's commit), from which commit to which,
and to apply the new head's fixes instead, never "(force-pushed?)". Through the simulator,
the real workers and real Redis."""

from __future__ import annotations

from tests.pipeline.test_pipe_apply import ON_COMMAND, REPO, open_pr, replies, waiting_change

REWRITE = {"app.py": "import re\n\n\ndef add(a, b):\n    return a + b\n"}
SAME_LINES = {"app.py": "import json\n\n\ndef add(a, b):\n    return a + b + 0\n"}


def dead_letter(sim, number) -> str:
    [body] = [r.body for r in replies(sim, number) if "could not apply" in r.body]
    return body


def test_a_queued_change_after_a_force_push_says_the_branch_was_force_pushed(stack):
    number = open_pr(stack)
    sim = stack.sim
    old = sim.pull(REPO, number).head_sha
    main = sim.ref(REPO, "refs/heads/main")
    sim.comment(REPO, number, "/shunter apply", user="alice")
    sim.wait_for_deliveries()
    stack.work(("events",))  # queued; the merge job has not run yet
    sim.commit(REPO, "feature", REWRITE, author="alice", parent=main)  # history rewritten
    stack.drain()
    new = sim.pull(REPO, number).head_sha
    body = dead_letter(sim, number)
    assert "force-pushed?" not in body and "(force-push?)" not in body, body
    assert f"`feature` was force-pushed since the fix was computed: it moved from `{old[:7]}` to `{new[:7]}`" in body, body
    assert f"whose history no longer has `{old[:7]}`" in body, body
    assert "**Apply fixes** on the new head's `shunter/review` check run" in body and "`/shunter apply review`" in body, body
    assert sim.pull(REPO, number).head_sha == new  # nothing landed on the rewritten branch


def test_a_change_approved_after_new_commits_conflict_says_new_commits_were_pushed(stack):
    number = open_pr(stack, config=ON_COMMAND + "  protected_paths: ['app.py']\n")
    sim = stack.sim
    old = sim.pull(REPO, number).head_sha
    _, change_id = waiting_change(stack, number)
    sim.commit(REPO, "feature", SAME_LINES, author="alice")  # on top of the old head
    stack.drain()
    new = sim.pull(REPO, number).head_sha
    sim.comment(REPO, number, f"/shunter approve {change_id}", user="mona")
    stack.drain()
    body = dead_letter(sim, number)
    assert "force" not in body, body
    assert f"New commits were pushed to `feature` since the fix was computed: it moved from `{old[:7]}` to `{new[:7]}`." in body, body
    assert "**Apply fixes**" in body and "`/shunter review` runs the stage again" in body, body
    assert sim.pull(REPO, number).head_sha == new
