"""Writes GitHub carried out but whose answer it lost (a 502 after the write, a dropped
connection): what Shunter created is found and adopted, never posted a second time. Through
the simulator's ``lost_response`` fault, the real worker and real Redis."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.publishing.inline import fingerprint_in_comment
from tests.pipeline.test_pipe_publish import FAILS, summaries
from tests.pipeline.test_pipe_pull_request import CHANGED, REPO, open_pr, release_scheduled

STAGES = {"shunter/review", "shunter/security", "shunter/tests"}


def settle(stack):
    """Run every job, retries included, until nothing is left."""
    for _ in range(4):
        stack.drain()
        release_scheduled(stack, "events")
        release_scheduled(stack, "stages")
    stack.drain()


def head_runs(sim, number):
    head = sim.pull(REPO, number).head_sha
    return sim.check_runs(REPO, head_sha=head)


def test_a_summary_whose_answer_was_lost_is_adopted_not_posted_twice(stack):
    sim = stack.sim
    number = open_pr(sim, {"app.py": CHANGED})
    fault = sim.faults.lost_response(pattern="POST /repos/octo/demo/issues/*/comments", times=1)
    settle(stack)
    assert fault.fired == 1
    [summary] = summaries(sim, number)
    assert stack.runtime.store.get_summary_comment_id(REPO, number) == summary.id
    assert all(stage in summary.body for stage in STAGES)
    assert sim.recorder.count("POST /repos/octo/demo/issues/*/comments") == 1  # never re-sent


def test_without_shunter_bot_login_a_lost_summary_is_still_recognised_as_shunters(stack):
    """The operator did not set SHUNTER_BOT_LOGIN: the login is learned from GET /app, so the
    summary GitHub made before losing its answer is found as Shunter's own (before, with no
    login to compare, the search matched nothing and a second summary was posted)."""
    stack.runtime.settings = stack.runtime.settings.model_copy(update={"bot_login": None})
    sim = stack.sim
    number = open_pr(sim, {"app.py": CHANGED})
    fault = sim.faults.lost_response(pattern="POST /repos/octo/demo/issues/*/comments", times=1)
    settle(stack)
    assert fault.fired == 1
    assert len(summaries(sim, number)) == 1
    assert sim.recorder.count("GET /app") == 1  # learned once, then shared


def test_inline_comments_whose_review_answer_was_lost_are_not_posted_twice(stack):
    sim = stack.sim
    number = open_pr(sim, {"app.py": CHANGED})
    sim.faults.lost_response(pattern="POST /repos/octo/demo/pulls/*/reviews", times=1)
    settle(stack)
    mine = [c for c in sim.review_comments(REPO, number) if c.user == sim.bot_login]
    fingerprints = Counter(fingerprint_in_comment(c.body) for c in mine)
    assert mine and set(fingerprints.values()) == {1}, fingerprints
    assert len(sim.reviews(REPO, number)) == 1
    stored = {c.fingerprint: c.comment_id for c in stack.runtime.store.inline_comments(REPO, number)}
    assert stored == {fingerprint_in_comment(c.body): c.id for c in mine}  # adopted with their ids


@pytest.mark.parametrize("drop", [False, True], ids=["502", "dropped"])
def test_a_check_run_whose_answer_was_lost_is_adopted_not_left_queued(stack, drop):
    sim = stack.sim
    number = open_pr(sim, {"app.py": CHANGED})
    sim.faults.lost_response(pattern="POST /repos/octo/demo/check-runs", times=1, drop=drop)
    settle(stack)
    runs = head_runs(sim, number)
    assert sorted(r.name for r in runs) == sorted(STAGES)  # one each, no twin
    assert {r.status for r in runs} == {"completed"}
    assert [r for r in stack.runtime.store.latest_runs(REPO, number).values() if r.status == "queued"] == []


def test_a_check_run_create_whose_outcome_stayed_unknown_is_adopted_by_the_retry(stack):
    sim = stack.sim
    number = open_pr(sim, {"app.py": CHANGED})
    sim.faults.lost_response(pattern="POST /repos/octo/demo/check-runs", times=1, drop=True)
    # and looking for it fails too: the planning job ends, its retry must look again
    looks = sim.faults.error(502, "GET /repos/octo/demo/commits/*/check-runs", times=FAILS)
    settle(stack)
    runs = head_runs(sim, number)
    assert sorted(r.name for r in runs) == sorted(STAGES)
    assert {r.status for r in runs} == {"completed"}
    assert looks.fired == FAILS  # the first attempt's look failed: the retry's found it

