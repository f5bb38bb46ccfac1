"""A change's record (``shunter:cr:<id>``, made when it was proposed) expires after 14
days, but a dead letter never does: ``/shunter queue`` hid such a change, and
``/shunter retry`` refused it, though it was still in the queue. Its landing report went to
the fork's issue of the same number. Through the simulator, the real workers and real
Redis; the record's expiry is simulated by deleting the key."""

from __future__ import annotations

import json

import pytest

from bot.changes.model import ChangeRequest
from bot.models import FileDiff, PatchDraft, StageName
from bot.pipeline.patches import SetAsidePlace, proposed_on, set_aside_place
from bot.queue.merge import MergeQueue
from tests.pipeline.test_pipe_apply import REPO, open_fork_pr, open_pr, replies

CONFLICT = {"app.py": "import json\n\n\ndef add(a, b):\n    return a + b + 0\n"}


def ask(stack, repo: str, number: int, text: str, user: str) -> str:
    """Comment ``text`` on the pull request; returns Shunter's reply."""
    stack.sim.comment(repo, number, text, user=user)
    stack.sim.wait_for_deliveries()
    stack.work(("events",))
    return replies(stack.sim, number)[-1].body


def dead_letter(stack, repo: str, number: int, user: str, branch_repo: str) -> str:
    """``/shunter apply``, then a conflicting push before the merge job runs: the change is
    dead-lettered. Returns its id."""
    ask(stack, repo, number, "/shunter apply", user)
    stack.sim.commit(branch_repo, "feature", CONFLICT, author="alice")
    stack.drain()
    [entry] = [e for e in MergeQueue(stack.runtime.redis).entries() if e.state == "dead"]
    return entry.id


def test_a_dead_letter_whose_record_expired_is_still_listed_and_retried(stack):
    number = open_pr(stack)
    change_id = dead_letter(stack, REPO, number, "alice", REPO)
    stack.runtime.redis.delete(f"shunter:cr:{change_id}")
    listed = ask(stack, REPO, number, "/shunter queue", "alice")
    assert f"| `{change_id}` |" in listed and "| dead |" in listed, listed
    retried = ask(stack, REPO, number, f"/shunter retry {change_id}", "alice")
    assert f"`{change_id}` is back in the queue" in retried, retried


def test_a_forks_dead_letter_whose_record_expired_is_listed_and_retried_on_its_pull_request_only(stack):
    sim, fork, number = open_fork_pr(stack, "carol", maintainer_can_modify=True)
    change_id = dead_letter(stack, REPO, number, "mona", fork.full_name)
    stack.runtime.redis.delete(f"shunter:cr:{change_id}")
    # another pull request of the repository does not see it, nor may retry it
    sim.set_permission(REPO, "alice", "write")
    sim.commit(REPO, "other", {"app.py": "import re\n\n\ndef add(a, b):\n    return a + b\n"}, author="alice")
    other = sim.open_pull_request(REPO, "other", title="another", user="alice")
    stack.drain()
    assert change_id not in ask(stack, REPO, other, "/shunter queue", "alice")
    assert "was proposed on this pull request" in ask(stack, REPO, other, f"/shunter retry {change_id}", "alice")
    listed = ask(stack, REPO, number, "/shunter queue", "mona")
    assert f"| `{change_id}` |" in listed and "| `feature` | dead |" in listed, listed
    retried = ask(stack, REPO, number, f"/shunter retry {change_id}", "mona")
    assert f"`{change_id}` is back in the queue" in retried, retried
    # the record lives again, with the entry, for the report of what the retry does
    assert stack.runtime.redis.ttl(f"shunter:cr:{change_id}") > 13 * 86400


def test_an_unreadable_dead_letter_is_listed_by_its_record(stack):
    number = open_pr(stack)
    change_id = dead_letter(stack, REPO, number, "alice", REPO)
    mq = MergeQueue(stack.runtime.redis)
    stack.runtime.redis.hset(mq.keys.entry(change_id), "cr", "{not json")
    listed = ask(stack, REPO, number, "/shunter queue", "alice")
    assert f"| `{change_id}` | (unreadable) | `feature` | dead |" in listed, listed


def old_change(repo: str, number: int | None, pull_repo: str | None) -> ChangeRequest:
    draft = PatchDraft(stage=StageName.REVIEW, title="t", files=[FileDiff(path="a.py", diff="")])
    return ChangeRequest.from_draft(
        draft, repo=repo, branch="feature", head_sha="0" * 40, requester="a", pull_number=number, pull_repo=pull_repo
    )


@pytest.mark.parametrize(
    ("cr", "here"),
    [
        (old_change(REPO, 1, REPO), True),
        (old_change("carol/demo", 1, REPO), True),  # a fork's change, on the fork's branch
        (old_change(REPO, 2, REPO), False),  # another pull request
        (old_change("carol/demo", 1, "carol/demo"), False),  # proposed on the fork's own #1
        (old_change(REPO, 1, None), True),  # queued before origin.repo was kept
        (old_change("carol/demo", 1, None), True),
        (old_change("eve/demo", 1, None), False),
        (old_change(REPO, None, None), False),
    ],
)
def test_where_a_change_says_it_was_proposed(cr, here):
    assert proposed_on(cr, REPO, 1, "carol/demo") is here



def test_a_forks_change_whose_record_expired_is_reported_on_its_pull_request(stack):
    sim, fork, number = open_fork_pr(stack, "carol", maintainer_can_modify=True)
    ask(stack, REPO, number, "/shunter apply review", "mona")
    [entry] = list(MergeQueue(stack.runtime.redis).entries())
    stack.runtime.redis.delete(f"shunter:cr:{entry.id}")
    sim.commit(fork.full_name, "feature", CONFLICT, author="carol")
    stack.drain()
    assert MergeQueue(stack.runtime.redis).get(entry.id).state == "dead"
    dead = [e for e in stack.runtime.store.audit_events() if e.action == "change.dead_letter"]
    assert [(e.repo, e.pr) for e in dead] == [(REPO, number)], [(e.repo, e.pr) for e in dead]
    told = [c.body for c in sim.comments(REPO, number) if entry.id in c.body and "could not" in c.body]
    assert told, [c.body for c in sim.comments(REPO, number)]


def test_a_stored_request_names_its_pull_requests_repository_not_the_forks():
    stored = json.dumps({"repo": "carol/demo", "origin": {"pull_number": 3, "repo": REPO}})
    assert set_aside_place(None, stored, "carol/demo:feature") == SetAsidePlace(REPO, 3, unconfirmed=True)
    assert set_aside_place(None, stored, f"{REPO}:feature") is None  # not the queue's change
