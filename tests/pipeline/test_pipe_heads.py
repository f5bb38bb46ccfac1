"""The PR head pointer in real Redis: newer events move it, late ones cannot move it back."""

from __future__ import annotations

import pytest

from bot.pipeline import heads

REPO = "octo/demo"


def test_newer_events_move_the_head_and_older_ones_are_refused(redis_client):
    assert heads.move_head(redis_client, REPO, 7, "a" * 40, "2026-11-21T09:00:00Z") is None
    assert heads.move_head(redis_client, REPO, 7, "b" * 40, "2026-11-21T09:05:00Z") == "a" * 40
    with pytest.raises(heads.StaleEvent) as stale:
        heads.move_head(redis_client, REPO, 7, "a" * 40, "2026-11-21T09:00:00Z")
    assert stale.value.current == "b" * 40
    assert heads.current_head(redis_client, REPO, 7, "b" * 40) == "b" * 40


def test_the_same_head_again_is_fine_and_does_not_turn_the_clock_back(redis_client):
    heads.move_head(redis_client, REPO, 7, "b" * 40, "2026-11-21T09:05:00Z")
    # a late event about the current head (ready_for_review redelivered): accepted, nothing moves
    assert heads.move_head(redis_client, REPO, 7, "b" * 40, "2026-11-21T09:01:00Z") is None
    with pytest.raises(heads.StaleEvent):  # the clock still says 09:05
        heads.move_head(redis_client, REPO, 7, "c" * 40, "2026-11-21T09:03:00Z")
    # the same second is not "older": two quick pushes keep arriving in order
    assert heads.move_head(redis_client, REPO, 7, "d" * 40, "2026-11-21T09:05:00Z") == "b" * 40


def test_events_without_a_timestamp_move_the_head_as_they_arrive(redis_client):
    heads.move_head(redis_client, REPO, 7, "b" * 40, "2026-11-21T09:05:00Z")
    assert heads.move_head(redis_client, REPO, 7, "c" * 40) == "b" * 40  # a check suite, a command
    assert heads.move_head(redis_client, REPO, 8, "e" * 40, "2020-01-01T00:00:00Z") is None  # another PR


def test_within_one_second_the_commit_a_push_replaced_is_the_older_one(redis_client):
    second = "2026-11-21T09:05:00Z"
    heads.move_head(redis_client, REPO, 9, "a" * 40, second)
    assert heads.move_head(redis_client, REPO, 9, "b" * 40, second, before="a" * 40) == "a" * 40
    # the push that made ``a`` the head, delivered late in the same second
    with pytest.raises(heads.StaleEvent):
        heads.move_head(redis_client, REPO, 9, "a" * 40, second, before="0" * 40)
    # a later force-push back to ``a`` is newer by the clock: it moves the head
    assert heads.move_head(redis_client, REPO, 9, "a" * 40, "2026-11-21T09:06:00Z", before="b" * 40) == "b" * 40
