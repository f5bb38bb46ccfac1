"""App JWTs, installation tokens, scopes, permissions and rate budgets, as GitHub enforces them."""

from __future__ import annotations

import email.utils
import time
from datetime import datetime

import httpx
import jwt
import pytest
from githubkit.exception import RequestFailed

from bot.simulator.auth import new_rsa_key


def _jwt(sim, *, pem=None, iat=None, exp=None, iss=None):
    now = int(time.time())
    claims = {"iat": now - 60 if iat is None else iat, "exp": now + 540 if exp is None else exp,
              "iss": str(sim.app_id) if iss is None else iss}
    return jwt.encode(claims, pem or sim.private_key_path.read_text(), algorithm="RS256")


def _get(sim, path, token):
    return httpx.get(sim.url + path, headers={"Authorization": f"Bearer {token}"})


def test_valid_jwt_reads_the_app(simulator):
    answer = _get(simulator, "/app", _jwt(simulator))
    assert answer.status_code == 200
    assert answer.json()["id"] == simulator.app_id


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("wrong_key", "A JSON web token could not be decoded"),
        ("garbage", "A JSON web token could not be decoded"),
        ("expired", "'Expiration time' claim ('exp') must be a numeric value"),
        ("too_long", "'Expiration time' claim ('exp') is too far in the future"),
        ("future_iat", "'Issued at' claim ('iat') must be an Integer"),
        ("fast_clock", "'Expiration time' claim ('exp') is too far in the future"),
        ("other_app", "Integration not found"),
    ],
)
def test_bad_jwts_get_githubs_401(simulator, kind, message):
    now = int(time.time())
    token = {
        "wrong_key": lambda: _jwt(simulator, pem=new_rsa_key()[0]),
        "garbage": lambda: "not.a.jwt",
        "expired": lambda: _jwt(simulator, iat=now - 700, exp=now - 100),
        "too_long": lambda: _jwt(simulator, iat=now, exp=now + 3600),
        "future_iat": lambda: _jwt(simulator, iat=now + 30, exp=now + 540),
        # minted as GitHub's docs advise (iat a minute back) on a clock 90 s fast: no leeway
        "fast_clock": lambda: _jwt(simulator, iat=now + 30, exp=now + 630),
        "other_app": lambda: _jwt(simulator, iss="999999"),
    }[kind]()
    answer = _get(simulator, "/app", token)
    assert answer.status_code == 401
    assert answer.json()["message"].startswith(message)
    assert answer.json()["documentation_url"].startswith("https://docs.github.com/")


def test_jwt_time_claims_are_judged_on_the_simulated_clock_which_its_date_header_shows(simulator):
    simulator.advance_time(-300)  # this host's clock is five minutes ahead of GitHub's
    refused = _get(simulator, "/app", _jwt(simulator))
    assert refused.status_code == 401
    assert refused.json()["message"] == "'Expiration time' claim ('exp') is too far in the future"
    github_now = email.utils.parsedate_to_datetime(refused.headers["Date"]).timestamp()
    assert github_now == pytest.approx(time.time() - 300, abs=2)
    on_githubs_clock = _jwt(simulator, iat=int(github_now) - 60, exp=int(github_now) + 540)
    assert _get(simulator, "/app", on_githubs_clock).status_code == 200
    simulator.advance_time(600)  # now GitHub is five minutes ahead: the JWT has expired
    late = _get(simulator, "/app", on_githubs_clock)
    assert late.status_code == 401
    assert late.json()["message"].startswith("'Expiration time' claim ('exp') must be a numeric")


def test_jwt_expires_on_the_simulated_clock(simulator):
    token = _jwt(simulator)
    assert _get(simulator, "/app", token).status_code == 200
    simulator.advance_time(600)
    assert _get(simulator, "/app", token).status_code == 401


def test_installation_token_expires_after_an_hour(simulator, kit):
    simulator.create_repo("octo/demo")
    token = simulator.installation_token("octo/demo")
    assert _get(simulator, "/repos/octo/demo", token).status_code == 200
    simulator.advance_time(3601)
    answer = _get(simulator, "/repos/octo/demo", token)
    assert (answer.status_code, answer.json()["message"]) == (401, "Bad credentials")


def test_tokens_from_githubkit_app_flow_carry_expiry_and_scope(simulator, kit):
    simulator.create_repo("octo/demo")
    simulator.create_repo("octo/other")
    app = kit.app_client(simulator)
    inst = app.rest.apps.get_repo_installation("octo", "demo").parsed_data
    scoped = app.rest.apps.create_installation_access_token(
        inst.id, data={"repositories": ["demo"]}
    ).parsed_data
    expires = datetime.fromisoformat(scoped.expires_at.replace("Z", "+00:00"))
    assert expires.timestamp() - time.time() == pytest.approx(3600, abs=120)
    gh = kit.token_client(simulator, scoped.token)
    assert gh.rest.repos.get("octo", "demo").parsed_data.name == "demo"
    with pytest.raises(RequestFailed) as caught:
        gh.rest.repos.get("octo", "other")
    assert caught.value.response.status_code == 404  # GitHub hides what a token cannot see


def test_token_cannot_be_wider_than_the_installation(simulator, kit):
    simulator.create_repo("octo/demo")
    app = kit.app_client(simulator)
    inst = app.rest.apps.get_repo_installation("octo", "demo").parsed_data
    with pytest.raises(RequestFailed) as caught:
        app.rest.apps.create_installation_access_token(
            inst.id, data={"permissions": {"administration": "write"}}
        )
    assert caught.value.response.status_code == 422


def test_missing_permission_is_githubs_403(simulator, kit):
    simulator.create_repo("octo/demo")
    sha = simulator.ref("octo/demo", "main")
    token = simulator.installation_token("octo/demo", permissions={"checks": "read"})
    gh = kit.token_client(simulator, token)
    assert gh.rest.checks.list_for_ref("octo", "demo", sha).parsed_data.total_count == 0
    with pytest.raises(RequestFailed) as caught:
        gh.rest.checks.create("octo", "demo", data={"name": "x", "head_sha": sha})
    answer = caught.value.response
    assert answer.status_code == 403
    assert answer.json()["message"] == "Resource not accessible by integration"


def test_installation_token_cannot_call_app_routes(simulator):
    simulator.create_repo("octo/demo")
    token = simulator.installation_token("octo/demo")
    assert _get(simulator, "/app/hook/deliveries", token).status_code == 401


def test_rate_limit_headers_and_exhausted_budget(simulator):
    simulator.create_repo("octo/demo")
    token = simulator.installation_token("octo/demo")
    inst = simulator.installation_id("octo/demo")
    first = _get(simulator, "/repos/octo/demo", token)
    for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-ratelimit-used"):
        assert name in first.headers
    assert int(first.headers["x-ratelimit-remaining"]) == 4999
    simulator.set_rate_limit(inst, 3, used=2)
    assert _get(simulator, "/repos/octo/demo", token).headers["x-ratelimit-remaining"] == "0"
    spent = _get(simulator, "/repos/octo/demo", token)
    assert spent.status_code == 403
    assert spent.headers["x-ratelimit-remaining"] == "0"
    assert spent.json()["message"] == f"API rate limit exceeded for installation ID {inst}."
    # another installation keeps its own budget
    simulator.create_repo("acme/web")
    other = simulator.installation_token("acme/web")
    assert _get(simulator, "/repos/acme/web", other).status_code == 200
    # the budget refills when its window passes
    simulator.advance_time(3601)
    assert _get(simulator, "/repos/octo/demo", simulator.installation_token("octo/demo")).status_code == 200
