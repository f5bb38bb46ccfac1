"""A queued change whose merge-queue entry no longer reads (its JSON in Redis is garbage,
or was written to an older schema) is dropped alone, and its pull request is told so and
how to ask again: the reply said "queued" for ever. Through the simulator, the real workers
and real Redis; where to tell is decided by a pure function, tested on its own below."""

from __future__ import annotations

import json

import pytest
from structlog.testing import capture_logs

from bot.pipeline.patches import GitHubHooks, SetAsidePlace, set_aside_place
from bot.queue.merge import MergeQueue
from tests.pipeline.test_pipe_apply import REPO, open_pr, replies


def apply_with_the_entry_corrupted(stack, monkeypatch, number: int) -> str:
    """``/shunter apply``, with the queued entry's change request overwritten by garbage
    before the merge job reads it; returns the change's id."""
    enqueue = MergeQueue.enqueue
    ids: list[str] = []

    def corrupting(self, cr, policy):
        result = enqueue(self, cr, policy)
        self.redis.hset(self.keys.entry(cr.id), "cr", "{not json")
        ids.append(cr.id)
        return result

    monkeypatch.setattr(MergeQueue, "enqueue", corrupting)
    stack.sim.comment(REPO, number, "/shunter apply", user="alice")
    stack.drain()
    assert len(ids) == 1, ids
    return ids[0]


def test_the_pull_request_is_told_its_unreadable_queued_change_was_dropped(stack, monkeypatch):
    number = open_pr(stack)
    head = stack.sim.pull(REPO, number).head_sha
    change_id = apply_with_the_entry_corrupted(stack, monkeypatch, number)
    assert stack.sim.pull(REPO, number).head_sha == head  # nothing was pushed
    body = replies(stack.sim, number)[-1].body
    assert f"(`{change_id}`): queued for `feature`" in body  # the command's reply, edited ...
    assert f"Shunter dropped the queued change `{change_id}`" in body, body  # ... to say so
    assert "could not be read" in body and "comment `/shunter apply`" in body, body
    assert "drop it" not in body  # the operators' advice is not the author's
    assert MergeQueue(stack.runtime.redis).get(change_id).fields["dead_reason"] == "unreadable"
    dead = [e for e in stack.runtime.store.audit_events(repo=REPO) if e.action == "change.dead_letter"]
    assert [(e.target_id, e.reason) for e in dead] == [(change_id, "unreadable")]


def test_after_the_record_expired_the_stored_request_finds_its_pull_request_if_github_agrees(stack):
    """The record made when the change was queued lasts 14 days. After it, what of the stored
    request still reads names the pull request, but only a pull request whose branch the
    queue lands on is told (a fork's change names the fork, where the number means another
    pull request); with nothing to go by, the entry's key is logged for an operator."""
    number = open_pr(stack)
    hooks = GitHubHooks(stack.runtime)
    mq = MergeQueue(stack.runtime.redis)
    names_it = json.dumps({"id": "cr-old", "repo": REPO, "origin": {"pull_number": number}})
    cases = {"cr-old": ("feature", names_it), "cr-elsewhere": ("other", names_it), "cr-lost": ("feature", "{")}
    for change_id, (branch, stored) in cases.items():
        stack.runtime.redis.hset(mq.keys.entry(change_id), mapping={"cr": stored, "queue": f"{REPO}:{branch}"})
    before = len(stack.sim.comments(REPO, number))
    with capture_logs() as logs:
        for change_id, (branch, _) in cases.items():
            hooks.set_aside(f"{REPO}:{branch}", change_id, "the stored change request does not read as one")
    told = [c.body for c in stack.sim.comments(REPO, number)[before:]]
    assert len(told) == 1 and "Shunter dropped the queued change `cr-old`" in told[0], told
    untold = {e["key"] for e in logs if e.get("event", "").startswith("dropped an unreadable")}
    assert untold == {mq.keys.entry("cr-elsewhere"), mq.keys.entry("cr-lost")}


QUEUE = "octo/demo:feature"


@pytest.mark.parametrize(
    ("record", "stored", "place"),
    [
        # the record made when the change was queued says where, reply included
        (json.dumps({"repo": "octo/demo", "pr": 7, "reply_id": 99}), "garbage", SetAsidePlace("octo/demo", 7, 99)),
        (json.dumps({"repo": "octo/demo", "pr": 7, "reply_id": None}), None, SetAsidePlace("octo/demo", 7)),
        # the record expired: what of the stored request still reads, to be checked on GitHub
        (
            None,
            json.dumps({"repo": "octo/demo", "origin": {"pull_number": 7}, "title": 3}),
            SetAsidePlace("octo/demo", 7, unconfirmed=True),
        ),
        # nothing says which pull request it is: nothing is guessed
        (None, "{not json", None),
        (None, json.dumps({"repo": "octo/demo", "origin": {}}), None),
        (None, json.dumps({"repo": "octo/demo", "origin": {"pull_number": True}}), None),
        (None, json.dumps(["octo/demo", 7]), None),
        (None, json.dumps({"repo": "someone/else", "origin": {"pull_number": 7}}), None),
        ("{garbled", None, None),
        (json.dumps({"repo": "octo/demo", "pr": "7"}), None, None),
    ],
    ids=["record", "record-no-reply", "stored", "garbage", "no-pr", "bool-pr", "not-an-object",
         "other-repo", "garbled-record", "pr-not-a-number"],
)
def test_where_a_dropped_change_is_told(record, stored, place):
    assert set_aside_place(record, stored, QUEUE) == place
