"""The writes of "Apply fixes" whose answer GitHub lost (a 502 after the write, a dropped
connection): the suggestions review, the follow-up branch and pull request, the comment
reporting a landed change. What Shunter made is found and adopted, never made twice, and
the reply does not say it failed. Through the simulator's ``lost_response`` fault, the real
workers and real Redis."""

from __future__ import annotations

import pytest

from bot.changes.outcomes import LandingReport
from bot.pipeline.patches import GitHubHooks
from tests.pipeline.test_pipe_apply import BASE, CHANGED, ON_COMMAND, REPO, open_fork_pr, open_pr, replies

REVIEWS = "POST /repos/octo/demo/pulls/*/reviews"
REFS = "POST /repos/octo/demo/git/refs"
PULLS = "POST /repos/octo/demo/pulls"
COMMENTS = "POST /repos/octo/demo/issues/*/comments"
REF_UPDATES = "PATCH /repos/octo/demo/git/refs/*"
FOLLOW_UP = ON_COMMAND + "  push_to: pull_request\n"
BRANCH = "refs/heads/shunter/feature-fixes"


def suggestion_reviews(sim, number):
    return [r for r in sim.reviews(REPO, number) if "as suggestions" in (r.body or "")]


@pytest.mark.parametrize("drop", [False, True], ids=["502", "dropped"])
def test_a_suggestions_review_whose_answer_was_lost_is_posted_once(stack, drop):
    sim, _, number = open_fork_pr(stack, "dave")
    posts = sim.recorder.count(REVIEWS)
    sim.faults.lost_response(pattern=REVIEWS, times=1, drop=drop)
    sim.comment(REPO, number, "/shunter apply", user="mona")
    stack.drain()
    assert len(suggestion_reviews(sim, number)) == 1
    assert sim.recorder.count(REVIEWS) == posts + 1  # found, not sent again
    body = replies(sim, number)[-1].body
    assert "posted as 1 suggestion in a review" in body and "failed" not in body, body


@pytest.mark.parametrize("drop", [False, True], ids=["502", "dropped"])
def test_a_follow_up_branch_whose_answer_was_lost_is_adopted(stack, drop):
    number = open_pr(stack, config=FOLLOW_UP)
    sim = stack.sim
    head = sim.pull(REPO, number).head_sha
    sim.faults.lost_response(pattern=REFS, times=1, drop=drop)
    sim.comment(REPO, number, "/shunter apply", user="alice")
    stack.drain()
    body = replies(sim, number)[-1].body
    assert "failed" not in body and f"pull request #{number + 1}" in body, body
    fixes = sim.ref(REPO, BRANCH)
    assert fixes not in (None, head)  # the fixes landed on the adopted branch
    assert sim.recorder.count(REFS) == 1  # found, not sent again
    # asked again: the branch, ahead of the head now, is still Shunter's own
    sim.comment(REPO, number, "/shunter apply", user="alice")
    stack.drain()
    body = replies(sim, number)[-1].body
    assert "already landed" in body and "failed" not in body, body
    assert sim.ref(REPO, BRANCH) == fixes


def test_a_branch_of_that_name_shunter_did_not_make_is_not_taken_over(stack):
    number = open_pr(stack, config=FOLLOW_UP)
    sim = stack.sim
    sim.commit(REPO, "shunter/feature-fixes", {"notes.md": "someone else's work\n"}, author="bob")
    theirs = sim.ref(REPO, BRANCH)
    sim.comment(REPO, number, "/shunter apply", user="alice")
    stack.drain()
    body = replies(sim, number)[-1].body
    assert "already exists" in body and "shunter/feature-fixes" in body, body
    assert sim.ref(REPO, BRANCH) == theirs  # nothing pushed onto it


@pytest.mark.parametrize("drop", [False, True], ids=["502", "dropped"])
def test_a_follow_up_pull_request_whose_answer_was_lost_is_reported(stack, drop):
    number = open_pr(stack, config=FOLLOW_UP)
    sim = stack.sim
    sim.faults.lost_response(pattern=PULLS, times=1, drop=drop)
    sim.comment(REPO, number, "/shunter apply", user="alice")
    stack.drain()
    follow_ups = [p for p in sim.world.pulls_of(REPO) if p.head_ref == "shunter/feature-fixes"]
    assert [p.number for p in follow_ups] == [number + 1]
    assert f"pull request #{number + 1}" in replies(sim, number)[-1].body
    assert sim.recorder.count(PULLS) == 1


def test_a_landing_report_whose_answer_was_lost_is_posted_once(stack):
    sim = stack.sim
    sim.create_repo(REPO, {**BASE, ".github/shunter.yml": "version: 1\npatches:\n  auto_apply:\n    review: always\n"})
    sim.commit(REPO, "feature", CHANGED, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Change", user="alice")
    for _ in range(3):  # everything but the landing: the change waits in the merge queue
        sim.wait_for_deliveries()
        stack.work(("events", "stages"))
    assert not [c for c in sim.comments(REPO, number) if "Shunter pushed" in c.body]
    posts = sim.recorder.count(COMMENTS)
    sim.faults.lost_response(pattern=COMMENTS, times=1)
    stack.drain()
    reports = [c for c in sim.comments(REPO, number) if "Shunter pushed" in c.body]
    assert len(reports) == 1, [c.body for c in reports]
    assert sim.recorder.count(COMMENTS) == posts + 1  # found, not sent again


def test_a_follow_up_pull_request_github_says_exists_is_the_one_reported(stack):
    """Shunter forgot the follow-up PR it opened (a create whose outcome stayed unknown, an
    expired key): the next landing's create gets GitHub's 422 "already exists", and the PR
    with that head and base is the one the reply names."""
    number = open_pr(stack, config=FOLLOW_UP)
    sim = stack.sim
    sim.comment(REPO, number, "/shunter apply", user="alice")
    stack.drain()
    stack.runtime.redis.delete(f"shunter:followup-pr:{REPO}:shunter/feature-fixes")
    report = LandingReport(REPO, "shunter/feature-fixes", sim.ref(REPO, BRANCH), [], [], 1, 0, "git", None)
    text = GitHubHooks(stack.runtime)._follow_up_pull(report)
    assert text is not None and f"pull request #{number + 1}" in text
    assert sim.recorder.count(PULLS) == 2  # the second create was refused, nothing new opened
    assert [p.number for p in sim.world.pulls_of(REPO) if p.head_ref == "shunter/feature-fixes"] == [number + 1]


def test_a_ref_update_whose_connection_dropped_is_retried_and_recorded_as_landed_once(stack, caplog):
    """``push_method: api``: the connection drops after GitHub moved the branch. That is a
    transient failure the change backs off from (not an unexpected error with a traceback),
    and the retry finds its commit on the branch by its trailer: landed once, never pushed
    twice, and the reply says where it is."""
    import logging
    import time

    from bot.queue.merge import MergeQueue
    from tests.pipeline.test_pipe_apply import review_run
    from tests.pipeline.test_pipe_pull_request import release_scheduled

    number = open_pr(stack)
    sim = stack.sim
    head = sim.pull(REPO, number).head_sha
    sim.faults.lost_response(pattern=REF_UPDATES, times=1, drop=True)
    caplog.set_level(logging.INFO, logger="shunter.merge_worker")
    sim.click_button(review_run(sim, head).id, "apply", user="alice")
    stack.drain()
    landed = sim.pull(REPO, number).head_sha
    assert landed != head and "import os" not in sim.file(REPO, landed, "app.py")  # GitHub did move it
    assert not [r for r in caplog.records if r.name == "shunter.merge_worker" and r.levelno >= logging.ERROR]
    [entry] = [e for e in MergeQueue(stack.redis).entries() if e.state == "delayed"]
    assert "transient" in entry.fields.get("last_error", ""), dict(entry.fields)
    [(_, due_ms)] = stack.redis.zrange(f"shunter:mq:delayed:{REPO}:feature", 0, -1, withscores=True)
    time.sleep(max(0.0, due_ms / 1000 - time.time() + 1.0))  # as rq's scheduler would wait
    assert release_scheduled(stack, "merge") >= 1
    stack.drain()
    assert sim.pull(REPO, number).head_sha == landed  # no second commit
    assert sim.recorder.count(REF_UPDATES) == 1
    assert MergeQueue(stack.redis).get(entry.id).state == "landed"
    # the reply reads like any landing: Shunter's push, linked, with its files
    body = replies(sim, number)[-1].body
    assert f"Shunter pushed [{landed[:7]}](" in body and f"/{REPO}/commit/{landed})" in body, body
    assert f"(`{entry.id}`)" in body and "Files: `app.py`." in body, body
    assert "Confirmed on a retry" in body and "already on the branch" not in body, body
    events = [e for e in stack.runtime.store.audit_events(repo=REPO) if e.action == "change.landed"]
    assert len(events) == 1 and events[0].reason == landed  # the audit names the commit too


def test_a_follow_up_push_confirmed_on_a_retry_still_opens_its_pull_request(stack):
    import time

    from tests.pipeline.test_pipe_pull_request import release_scheduled

    number = open_pr(stack, config=FOLLOW_UP)
    sim = stack.sim
    sim.faults.lost_response(pattern=REF_UPDATES, times=1, drop=True)
    sim.comment(REPO, number, "/shunter apply", user="alice")
    stack.drain()
    fixes = sim.ref(REPO, BRANCH)
    assert fixes is not None  # the push went through; its answer was lost
    [(_, due_ms)] = stack.redis.zrange(f"shunter:mq:delayed:{REPO}:shunter/feature-fixes", 0, -1, withscores=True)
    time.sleep(max(0.0, due_ms / 1000 - time.time() + 1.0))  # as rq's scheduler would wait
    assert release_scheduled(stack, "merge") >= 1
    stack.drain()
    assert sim.ref(REPO, BRANCH) == fixes  # confirmed, not pushed again
    follow_ups = sim.world.pulls_with_head(REPO, "shunter/feature-fixes")
    assert len(follow_ups) == 1, follow_ups
    body = replies(sim, number)[-1].body
    assert f"pull request #{follow_ups[0].number}" in body, body
