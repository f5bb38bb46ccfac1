"""The App's JWT when this host's clock and GitHub's disagree: minted on GitHub's clock (its
Date header), shared through Redis only once GitHub took it and only until its exp on
GitHub's clock, and sent once more after a clock-skew 401. Real Redis, the simulator over
loopback; the simulator's clock (and its Date header) is GitHub's."""

from __future__ import annotations

import time

import jwt
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from githubkit import GitHub

from bot.errors import GitHubError
from bot.github.client import GitHubFactory, translate_errors
from bot.settings import load_settings

TOKENS = "POST /app/installations/*/access_tokens"


def settings_for(sim):
    env = sim.settings_env()
    return load_settings(
        github_url=env["SHUNTER_GITHUB_URL"], app_id=int(env["SHUNTER_APP_ID"]),
        private_key_path=env["SHUNTER_PRIVATE_KEY_PATH"], webhook_secret="x",
    )


@pytest.fixture
def sim(simulator):
    for name in ("octo/one", "acme/two", "lab/three"):
        simulator.create_repo(name, {"a.py": "x = 1\n"})
    return simulator


def installs(sim):
    return [sim.installation_id(name) for name in ("octo/one", "acme/two", "lab/three")]


def shared_jwt(conn):
    """The App JWT every process of the App shares, wherever the client keeps it."""
    keys = [k for k in conn.scan_iter(match="*jwt*") if conn.get(k)]
    assert len(keys) == 1, keys
    token = conn.get(keys[0]).decode()
    return keys[0], token, jwt.decode(token, options={"verify_signature": False})


def fast_host_jwt(sim):
    """A JWT minted the usual way (iat a minute back) by a host whose clock is 5 minutes fast."""
    fast = int(time.time()) + 300
    return jwt.encode(
        {"iss": str(sim.app_id), "iat": fast - 60, "exp": fast + 540},
        sim.private_key_path.read_text(), algorithm="RS256",
    )


def other_app_key() -> str:
    """A private key GitHub does not hold for the App (one since rotated away)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def github_now(sim):
    return sim.world.clock.now().timestamp()


def test_a_worker_whose_clock_runs_fast_still_mints_installation_tokens(sim, redis_url):
    conn = redis.Redis.from_url(redis_url)
    one, two, _ = installs(sim)
    sim.advance_time(-300)  # GitHub is five minutes behind this worker
    assert GitHubFactory(settings_for(sim), conn).installation_token(one)
    # the first JWT, minted on this host's clock, was refused once; the retry was minted on
    # GitHub's clock (the 401's Date) and is the one shared
    assert sim.recorder.count(TOKENS, status=401) == 1
    _, _, claims = shared_jwt(conn)
    assert claims["iat"] <= github_now(sim) < claims["exp"] <= github_now(sim) + 600
    # another process of this host uses the shared JWT: no second refusal
    assert GitHubFactory(settings_for(sim), conn).installation_token(two)
    assert sim.recorder.count(TOKENS, status=401) == 1
    assert sim.recorder.count(TOKENS, status=201) == 2


def test_a_worker_whose_clock_runs_slow_shares_its_jwt_only_until_its_exp_on_githubs_clock(
    sim, redis_url
):
    conn = redis.Redis.from_url(redis_url)
    sim.advance_time(300)  # GitHub is five minutes ahead of this worker
    GitHubFactory(settings_for(sim), conn).installation_token(installs(sim)[0])
    key, _, claims = shared_jwt(conn)
    # every process drops it at least a minute before GitHub stops taking it
    assert 0 < conn.ttl(key) <= claims["exp"] - github_now(sim) - 60 + 1


def test_a_shared_jwt_github_holds_expired_is_replaced_after_one_refusal(sim, redis_url):
    conn = redis.Redis.from_url(redis_url)
    one, two, three = installs(sim)
    GitHubFactory(settings_for(sim), conn).installation_token(one)
    sim.advance_time(600)  # on GitHub's clock the shared JWT has expired; Redis still has it
    assert GitHubFactory(settings_for(sim), conn).installation_token(two)
    assert sim.recorder.count(TOKENS, status=401) == 1
    _, _, claims = shared_jwt(conn)
    assert claims["exp"] > github_now(sim)
    assert GitHubFactory(settings_for(sim), conn).installation_token(three)
    assert sim.recorder.count(TOKENS, status=401) == 1  # the replacement serves every process


def rotated_key_jwt(sim):
    """A JWT on the right clock, shared before the App's key was rotated: GitHub no longer
    takes its signature (a 401 that is not about clocks)."""
    now = int(time.time())
    claims = {"iss": str(sim.app_id), "iat": now - 60, "exp": now + 540}
    return jwt.encode(claims, other_app_key(), algorithm="RS256")


@pytest.mark.parametrize("left_by", [fast_host_jwt, rotated_key_jwt])
def test_a_refused_jwt_in_the_shared_cache_does_not_block_a_host_whose_clock_is_right(
    sim, redis_url, left_by
):
    conn = redis.Redis.from_url(redis_url)
    one, two, three = installs(sim)
    GitHubFactory(settings_for(sim), conn).installation_token(one)
    key, _, _ = shared_jwt(conn)
    refused = left_by(sim)  # left in the shared cache
    conn.set(key, refused, keepttl=True)
    assert GitHubFactory(settings_for(sim), conn).installation_token(two)
    assert sim.recorder.count(TOKENS, status=401) == 1
    _, token, _ = shared_jwt(conn)
    assert token != refused
    assert GitHubFactory(settings_for(sim), conn).installation_token(three)
    assert sim.recorder.count(TOKENS, status=401) == 1


def test_a_fast_host_never_hands_its_refused_jwt_to_a_host_whose_clock_is_right(sim, redis_url):
    conn = redis.Redis.from_url(redis_url)
    one, two, three = installs(sim)
    fast = GitHubFactory(settings_for(sim), conn, host_clock=lambda: time.time() + 300)
    assert fast.installation_token(one)
    assert sim.recorder.count(TOKENS, status=401) == 1  # its own first JWT, never shared
    _, _, claims = shared_jwt(conn)
    assert claims["iat"] <= github_now(sim)
    assert GitHubFactory(settings_for(sim), conn).installation_token(two)
    # a fresh process on the fast host uses the shared JWT GitHub already took
    fresh = GitHubFactory(settings_for(sim), conn, host_clock=lambda: time.time() + 300)
    assert fresh.installation_token(three)
    assert sim.recorder.count(TOKENS, status=401) == 1
    # and once it heard GitHub's time, what it mints itself is on GitHub's clock
    conn.delete(*conn.keys("*jwt*"))
    fresh.forget_installation(three)
    assert fresh.installation_token(three)
    assert sim.recorder.count(TOKENS, status=401) == 1


def test_a_clock_skew_refusal_that_reaches_the_user_says_to_check_the_clock(sim):
    gh = GitHub(fast_host_jwt(sim), base_url=sim.url, http_cache=False, auto_retry=False)
    with pytest.raises(GitHubError) as info, translate_errors("reading the App"):
        gh.rest.apps.get_authenticated()
    assert info.value.status == 401 and "clock" in (info.value.hint or "")


def test_a_shared_jwt_that_is_not_text_is_replaced_not_reported_as_a_network_error(sim, redis_url):
    conn = redis.Redis.from_url(redis_url)
    one, two, _ = installs(sim)
    GitHubFactory(settings_for(sim), conn).installation_token(one)
    key, _, _ = shared_jwt(conn)
    conn.set(key, b"\xff\xfe garbage", keepttl=True)
    assert GitHubFactory(settings_for(sim), conn).installation_token(two)
    _, _, claims = shared_jwt(conn)  # the garbage was replaced by a JWT GitHub took
    assert claims["exp"] > github_now(sim)


def test_a_key_github_does_not_hold_says_which_settings_to_check(sim, tmp_path):
    """A rotated or mistyped key fails for good: the error says what to check, not only
    GitHub's "A JSON web token could not be decoded"."""
    stale = tmp_path / "old.pem"
    stale.write_text(other_app_key())
    factory = GitHubFactory(settings_for(sim).model_copy(update={"private_key_path": stale}))
    with pytest.raises(GitHubError) as info:
        factory.installation_token(installs(sim)[0])
    assert info.value.status == 401 and "could not be decoded" in info.value.message
    assert "SHUNTER_APP_ID" in (info.value.hint or "") and "SHUNTER_PRIVATE_KEY" in (info.value.hint or "")
    assert "BEGIN" not in str(info.value)  # never the key itself
