"""A change waiting for ``/shunter approve`` lives only in its record
(``shunter:cr:<id>``), which expires after 14 days. The waiting reply said nothing of it,
and after it ``/shunter approve`` answered "No change waits for approval" as if the id were
wrong. Now the reply says until when the change can be approved, and approve (or retry)
says it expired and how to ask again. Through the simulator, the real workers and real
Redis; the record's expiry is simulated by deleting the key."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.pipeline.patches import approvable_until
from tests.pipeline.test_pipe_apply import ON_COMMAND, REPO, open_pr, replies, waiting_change

PROTECTED = ON_COMMAND + "  protected_paths: ['app.py']\n"


def ask(stack, number: int, text: str, user: str) -> str:
    stack.sim.comment(REPO, number, text, user=user)
    stack.drain()
    return replies(stack.sim, number)[-1].body


def test_the_waiting_reply_says_until_when_and_an_expired_change_says_how_to_ask_again(stack):
    number = open_pr(stack, config=PROTECTED)
    head = stack.sim.pull(REPO, number).head_sha
    body, change_id = waiting_change(stack, number)
    [asked] = [
        e for e in stack.runtime.store.audit_events(repo=REPO, action="change.requested")
        if e.target_id == change_id
    ]
    until = approvable_until(asked.at)
    assert f"`/shunter approve {change_id}` until {until}." in body, body
    stack.runtime.redis.delete(f"shunter:cr:{change_id}")  # 14 days later
    for verb, user in (("approve", "mona"), ("retry", "alice")):
        said = ask(stack, number, f"/shunter {verb} {change_id}", user)
        assert f"`{change_id}` could be approved until {until}" in said and "has expired" in said, said
        assert "`/shunter apply`" in said and "**Apply fixes**" in said, said
    assert stack.sim.pull(REPO, number).head_sha == head
    # an id never proposed here is still "not found"
    assert "No change `cr-0000000000000000` waits for approval" in ask(
        stack, number, "/shunter approve cr-0000000000000000", "mona"
    )
    # asking again gives the same change, waiting again with a record, and approval lands it
    _, again = waiting_change(stack, number)
    assert again == change_id
    ask(stack, number, f"/shunter approve {change_id}", "mona")
    assert stack.sim.pull(REPO, number).head_sha != head


def test_the_date_is_fourteen_days_after_the_request_in_utc():
    assert approvable_until(datetime(2026, 3, 1, 9, 5, tzinfo=UTC)) == "2026-03-15 09:05 UTC"
    assert approvable_until(datetime(2026, 3, 1, 9, 5)) == "2026-03-15 09:05 UTC"  # naive: UTC
