"""The pure core of the App's JWT on GitHub's clock: claims, shared lifetime, which 401s are
about clocks, and GitHub's time learned from a Date header."""

from __future__ import annotations

import email.utils

import pytest

from bot.github.app_jwt import (
    GitHubClock,
    app_jwt_claims,
    clock_skew_refusal,
    jwt_cache_lifetime,
    resend_refused_jwt,
)

IAT = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
EXP_PAST = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at "
    "which the assertion expires"
)
EXP_FAR = "'Expiration time' claim ('exp') is too far in the future"


def test_claims_are_backdated_a_minute_and_span_ten_minutes_on_the_clock_given():
    assert app_jwt_claims("42", 1_000_000.7) == {"iss": "42", "iat": 999_940, "exp": 1_000_540}


def test_a_jwt_is_shared_until_a_minute_before_its_exp():
    assert jwt_cache_lifetime(1_000_540, 1_000_000.0) == 480
    assert jwt_cache_lifetime(1_000_540, 1_000_500.0) == 0  # too close to exp: not shared


@pytest.mark.parametrize(
    ("status", "message", "skew"),
    [(401, IAT, True), (401, EXP_PAST, True), (401, EXP_FAR, True),
     (401, "Integration not found", False), (401, "A JSON web token could not be decoded", False),
     (403, EXP_FAR, False)],
)
def test_clock_skew_refusals_are_githubs_three_time_claim_messages(status, message, skew):
    assert clock_skew_refusal(status, message) is skew


def test_the_clock_learns_githubs_time_from_a_date_header():
    clock = GitHubClock(local=lambda: 1_000_000.0)
    assert clock.learn(email.utils.formatdate(1_000_300, usegmt=True))
    assert clock.offset == 300 and clock.now() == 1_000_300
    assert not clock.learn(None) and not clock.learn("yesterday")
    assert clock.offset == 300  # an answer without a usable Date teaches nothing


@pytest.mark.parametrize(
    ("shared", "skewed", "learned", "resend"),
    [
        (True, False, False, True),  # a shared JWT refused for any reason (a rotated key)
        (True, True, False, True),
        (False, True, True, True),  # minted here, before GitHub's time was known
        (False, True, False, False),  # no Date: minting again would repeat the refusal
        (False, False, True, False),  # a wrong key or App id: its 401 is the answer
    ],
)
def test_which_refused_jwts_are_sent_again_once(shared, skewed, learned, resend):
    assert resend_refused_jwt(401, skewed, shared=shared, learned=learned) is resend
    assert resend_refused_jwt(403, skewed, shared=shared, learned=learned) is False
