"""The missed-delivery decisions: attempts in, decisions out, no fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.github.redelivery import (
    MAX_REDELIVERIES,
    Attempt,
    Requested,
    Verdict,
    decide,
    group_attempts,
    plan,
    unanswered,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
_ids = iter(range(1, 10_000))


def attempt(guid: str, minutes_ago: float, code: int, *, status: str = "", redelivery: bool = False) -> Attempt:
    return Attempt(
        id=next(_ids),
        guid=guid,
        delivered_at=NOW - timedelta(minutes=minutes_ago),
        status_code=code,
        status=status or ("OK" if 200 <= code < 300 else "failed"),
        event="pull_request",
        action="opened",
        redelivery=redelivery,
    )


def verdict(*attempts: Attempt, stored: bool = False, requested: Requested | None = None) -> Verdict:
    group = sorted(attempts, key=lambda a: a.delivered_at)
    return decide(group, now=NOW, stored=stored, requested=requested).verdict


def test_a_failed_delivery_never_stored_is_redelivered() -> None:
    assert verdict(attempt("a", 30, 0, status="Failed to connect to host")) is Verdict.REDELIVER
    assert verdict(attempt("a", 30, 503)) is Verdict.REDELIVER
    assert verdict(attempt("a", 30, 401)) is Verdict.REDELIVER  # a rotated secret: a redelivery is re-signed


def test_a_2xx_anywhere_means_received() -> None:
    assert verdict(attempt("a", 30, 503), attempt("a", 20, 202, redelivery=True)) is Verdict.RECEIVED
    assert verdict(attempt("a", 30, 200)) is Verdict.RECEIVED  # a duplicate answer is a 200


def test_stored_by_shunter_is_left_alone() -> None:
    """GitHub gave up after 10 s, but the front door had stored it: asking again would only
    produce a duplicate."""
    assert verdict(attempt("a", 30, 0, status="Timed out"), stored=True) is Verdict.STORED


@pytest.mark.parametrize("code", [400, 413, 422])
def test_payload_refusals_are_not_redelivered(code: int) -> None:
    decision = decide([attempt("a", 30, code)], now=NOW, stored=False, requested=None)
    assert decision.verdict is Verdict.REFUSED
    assert f"HTTP {code}" in decision.reason


def test_a_pending_attempt_is_given_time() -> None:
    assert verdict(attempt("a", 0.5, 0, status="pending")) is Verdict.IN_FLIGHT
    assert verdict(attempt("a", 5, 0, status="pending")) is Verdict.REDELIVER


def test_a_requested_redelivery_not_yet_listed_is_in_flight() -> None:
    first = attempt("a", 30, 503)
    asked = Requested(count=1, last=NOW - timedelta(seconds=30), attempt_id=first.id)
    assert verdict(first, requested=asked) is Verdict.IN_FLIGHT
    # once its attempt is listed, it is judged on that attempt, even within the same second
    later = attempt("a", 0.5, 503, redelivery=True)
    assert verdict(first, later, requested=asked) is Verdict.REDELIVER
    # and a request that never produced an attempt is made again after a while
    stale = Requested(count=1, last=NOW - timedelta(minutes=10), attempt_id=first.id)
    assert verdict(first, requested=stale) is Verdict.REDELIVER


def test_gives_up_after_the_maximum_of_requests() -> None:
    tries = [attempt("a", 60 - i, 503, redelivery=i > 0) for i in range(MAX_REDELIVERIES + 1)]
    decision = decide(tries, now=NOW, stored=False, requested=None)
    assert decision.verdict is Verdict.GAVE_UP
    assert f"redelivered {MAX_REDELIVERIES} times" in decision.reason and "HTTP 503" in decision.reason
    # Shunter's own count counts too, when the earlier attempts are out of the listed window
    asked = Requested(count=MAX_REDELIVERIES, last=NOW - timedelta(minutes=20))
    assert verdict(attempt("a", 10, 503, redelivery=True), requested=asked) is Verdict.GAVE_UP
    assert verdict(attempt("a", 10, 503, redelivery=True), requested=Requested(1, asked.last)) is Verdict.REDELIVER


def test_older_than_githubs_three_days_is_not_asked_for() -> None:
    assert verdict(attempt("a", 3 * 24 * 60 + 1, 503)) is Verdict.TOO_OLD


def test_plan_groups_by_guid_and_keeps_event_order() -> None:
    first = attempt("first", 50, 0, status="Failed to connect to host")
    fine = attempt("fine", 45, 202)
    second = attempt("second", 40, 503)
    retried = attempt("first", 10, 202, redelivery=True)
    listed = [retried, second, fine, first, second]  # newest first, one row listed twice
    decisions = plan(group_attempts(listed), now=NOW, stored=set(), requested={})
    assert [(d.guid, d.verdict, d.attempts) for d in decisions] == [
        ("first", Verdict.RECEIVED, 2),
        ("fine", Verdict.RECEIVED, 1),
        ("second", Verdict.REDELIVER, 1),
    ]
    assert decisions[2].latest == second


def test_unanswered_lists_only_guids_without_a_2xx() -> None:
    groups = group_attempts([attempt("a", 5, 503), attempt("b", 5, 202), attempt("a", 1, 200), attempt("c", 2, 0)])
    assert unanswered(groups) == ["c"]


def test_attempt_from_the_api_shape() -> None:
    item = {
        "id": 12,
        "guid": "0b989ba4-242f-11e5-81e1-c7b6966d2516",
        "delivered_at": "2019-06-03T00:57:16Z",
        "redelivery": False,
        "duration": 0.27,
        "status": "OK",
        "status_code": 200,
        "event": "issues",
        "action": "opened",
        "installation_id": 123,
        "repository_id": 456,
        "throttled_at": None,
    }
    got = Attempt.from_api(item)
    assert got.delivered_at == datetime(2019, 6, 3, 0, 57, 16, tzinfo=UTC)
    assert got.succeeded and got.installation_id == 123 and got.repository_id == 456
    assert not Attempt.from_api({**item, "status_code": None, "status": "Timed out"}).succeeded


def test_decisions_count_the_requests_already_made() -> None:
    tries = [attempt("a", 30, 503), attempt("a", 20, 503, redelivery=True)]
    assert decide(tries, now=NOW, stored=False, requested=None).asked == 1
    asked = Requested(count=2, last=NOW - timedelta(minutes=5))
    assert decide(tries, now=NOW, stored=False, requested=asked).asked == 2
