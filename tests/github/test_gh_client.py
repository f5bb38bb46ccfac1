"""The GitHub client factory against the simulator: App JWT, one shared installation token,
retries per GitHub's rules, spacing of mutations, errors a user can act on."""

from __future__ import annotations

import time

import pytest
import redis

from bot.errors import GitHubError, SettingsError, TransientError
from bot.github.client import GitHubFactory, create_once, translate_errors
from bot.settings import load_settings


def settings_for(sim, **extra):
    env = sim.settings_env()
    return load_settings(
        github_url=env["SHUNTER_GITHUB_URL"], app_id=int(env["SHUNTER_APP_ID"]),
        private_key_path=env["SHUNTER_PRIVATE_KEY_PATH"], webhook_secret="x", **extra,
    )


@pytest.fixture
def repo(simulator):
    simulator.create_repo("octo/client", {"a.py": "x = 1\n"})
    return simulator


def test_app_and_installation_clients(repo, redis_url):
    factory = GitHubFactory(settings_for(repo, mutation_interval=0), redis.Redis.from_url(redis_url))
    assert factory.app().rest.apps.get_authenticated().parsed_data.slug == "shunter-sim"
    inst_id, gh = factory.installation_for_repo("octo", "client")
    assert gh.rest.repos.get("octo", "client").parsed_data.full_name == "octo/client"
    assert inst_id == repo.installation_id("octo/client")


def test_installation_token_is_minted_once_and_shared_through_redis(repo, redis_url):
    conn = redis.Redis.from_url(redis_url)
    inst = repo.installation_id("octo/client")
    first = GitHubFactory(settings_for(repo), conn)
    second = GitHubFactory(settings_for(repo), conn)  # another worker process
    token = first.installation_token(inst)
    assert second.installation_token(inst) == token
    assert repo.recorder.count(f"POST /app/installations/{inst}/access_tokens") == 1
    key = f"shunter:token:{repo.app_id}:{inst}"
    ttl = conn.ttl(key)
    assert 0 < ttl <= 3600 - 60  # renewed at least 60 s before GitHub's expiry


def test_a_worker_whose_clock_runs_slow_does_not_keep_a_token_past_its_expiry(repo, redis_url):
    conn = redis.Redis.from_url(redis_url)
    inst = repo.installation_id("octo/client")
    repo.world.clock.advance(300)  # GitHub is five minutes ahead of this worker
    GitHubFactory(settings_for(repo), conn).installation_token(inst)
    assert 0 < conn.ttl(f"shunter:token:{repo.app_id}:{inst}") <= 3600 - 60


def test_server_errors_are_retried_with_backoff(repo, redis_url):
    factory = GitHubFactory(settings_for(repo), redis.Redis.from_url(redis_url))
    _, gh = factory.installation_for_repo("octo", "client")
    repo.faults.error(502, "GET /repos/octo/client", times=2)
    assert gh.rest.repos.get("octo", "client").parsed_data.name == "client"
    assert len(repo.recorder.filter("GET /repos/octo/client")) == 3


def test_secondary_rate_limit_waits_for_retry_after(repo, redis_url):
    factory = GitHubFactory(settings_for(repo), redis.Redis.from_url(redis_url))
    _, gh = factory.installation_for_repo("octo", "client")
    repo.faults.secondary_rate_limit(retry_after=1, pattern="GET /repos/octo/client", times=1)
    started = time.monotonic()
    assert gh.rest.repos.get("octo", "client").parsed_data.name == "client"
    assert time.monotonic() - started >= 1.0


def test_long_waits_become_transient_errors_for_rq(repo, redis_url):
    factory = GitHubFactory(settings_for(repo), redis.Redis.from_url(redis_url))
    _, gh = factory.installation_for_repo("octo", "client")
    repo.faults.secondary_rate_limit(retry_after=3600, pattern="GET /repos/octo/client", times=5)
    with pytest.raises(TransientError) as info, translate_errors("reading the repo"):
        gh.rest.repos.get("octo", "client")
    assert info.value.retry_after == pytest.approx(3600, abs=5)


def test_a_secondary_rate_limit_that_names_no_wait_is_transient_for_a_minute(repo, redis_url):
    factory = GitHubFactory(settings_for(repo), redis.Redis.from_url(redis_url))
    _, gh = factory.installation_for_repo("octo", "client")
    repo.faults.secondary_rate_limit(retry_after=None, pattern="GET /repos/octo/client", times=1)
    with pytest.raises(TransientError) as info, translate_errors("reading the repo"):
        gh.rest.repos.get("octo", "client")
    assert info.value.retry_after == 60 and "secondary rate limit" in str(info.value)


def test_client_errors_are_not_retried_and_say_what_failed(repo, redis_url):
    factory = GitHubFactory(settings_for(repo), redis.Redis.from_url(redis_url))
    _, gh = factory.installation_for_repo("octo", "client")
    with pytest.raises(GitHubError) as info, translate_errors("reading octo/missing"):
        gh.rest.repos.get("octo", "missing")
    assert info.value.status == 404 and "reading octo/missing" in str(info.value)


def test_mutations_are_spaced_per_installation(repo, redis_url):
    factory = GitHubFactory(settings_for(repo, mutation_interval=0.3), redis.Redis.from_url(redis_url))
    _, gh = factory.installation_for_repo("octo", "client")
    started = time.monotonic()
    for i in range(3):
        gh.rest.git.create_blob("octo", "client", data={"content": f"blob {i}", "encoding": "utf-8"})
    assert time.monotonic() - started >= 0.6


def test_missing_credentials_name_the_setting(clean_env):
    factory = GitHubFactory(load_settings(webhook_secret="x"))
    with pytest.raises(SettingsError) as info:
        factory.app()
    assert str(info.value).startswith("SHUNTER_APP_ID")


def _check_run_ids(sim, head):
    return [r.id for r in sim.check_runs("octo/client", head_sha=head)]


def _create_check(gh, head, external_id):
    def post():
        return gh.rest.checks.create(
            "octo", "client", data={"name": "c", "head_sha": head, "external_id": external_id}
        ).parsed_data.id

    def find():
        runs = gh.rest.checks.list_for_ref("octo", "client", head, filter_="all").parsed_data.check_runs
        return next((r.id for r in runs if r.external_id == external_id), None)

    return create_once("creating check run c", post, find)


def test_a_create_whose_answer_was_lost_is_found_not_sent_again(repo, redis_url):
    _, gh = GitHubFactory(settings_for(repo), redis.Redis.from_url(redis_url)).installation_for_repo(
        "octo", "client"
    )
    head = repo.ref("octo/client", "main")
    repo.faults.lost_response(pattern="POST /repos/octo/client/check-runs", times=1)
    created, adopted = _create_check(gh, head, "one")
    assert adopted and _check_run_ids(repo, head) == [created]
    assert repo.recorder.count("POST /repos/octo/client/check-runs") == 1
    # GET and PATCH are still retried as before, inside create_once's calls or not
    repo.faults.error(502, "GET /repos/octo/client", times=2)
    assert gh.rest.repos.get("octo", "client").parsed_data.name == "client"


def test_a_create_github_refused_with_a_5xx_is_posted_again_after_looking(repo, redis_url):
    _, gh = GitHubFactory(settings_for(repo), redis.Redis.from_url(redis_url)).installation_for_repo(
        "octo", "client"
    )
    head = repo.ref("octo/client", "main")
    repo.faults.error(502, "POST /repos/octo/client/check-runs", times=2)
    created, adopted = _create_check(gh, head, "two")
    assert not adopted and _check_run_ids(repo, head) == [created]
    assert repo.recorder.count("GET /repos/octo/client/commits/*/check-runs") == 2  # a look per failure
    repo.faults.error(502, "POST /repos/octo/client/check-runs", times=4)
    with pytest.raises(TransientError, match="creating check run c"):
        _create_check(gh, head, "three")
    assert _check_run_ids(repo, head) == [created]


def test_a_revoked_shared_token_is_replaced_once_for_every_worker(repo, redis_url):
    """GitHub refusing the cached token (revoked, or another GitHub's left in Redis) costs
    one new token, not an hour of 'Bad credentials' in every job of the installation."""
    conn = redis.Redis.from_url(redis_url)
    inst = repo.installation_id("octo/client")
    first = GitHubFactory(settings_for(repo), conn)
    gh = first.installation(inst)
    old = first.installation_token(inst)
    gh.rest.apps.revoke_installation_access_token()  # GitHub's DELETE /installation/token
    second = GitHubFactory(settings_for(repo), conn)  # another worker: the token from Redis
    assert second.installation(inst).rest.repos.get("octo", "client").parsed_data.name == "client"
    new = conn.get(f"shunter:token:{repo.app_id}:{inst}")
    assert new is not None and new.decode() not in ("", old)
    # the first worker still holds the revoked token in memory; its next request heals too
    assert first.installation(inst).rest.repos.get("octo", "client").parsed_data.name == "client"
    assert repo.recorder.count(f"POST /app/installations/{inst}/access_tokens") == 2  # one new token
    assert first.installation_token(inst) == new.decode()


def test_a_token_from_another_github_in_redis_is_replaced(repo, redis_url):
    conn = redis.Redis.from_url(redis_url)
    inst = repo.installation_id("octo/client")
    conn.set(f"shunter:token:{repo.app_id}:{inst}", "ghs_from_another_simulator", ex=3000)
    gh = GitHubFactory(settings_for(repo), conn).installation(inst)
    assert gh.rest.repos.get("octo", "client").parsed_data.name == "client"
    assert conn.get(f"shunter:token:{repo.app_id}:{inst}") != b"ghs_from_another_simulator"


def test_a_refusal_of_a_new_token_is_githubs_answer_and_not_retried_again(repo, redis_url):
    conn = redis.Redis.from_url(redis_url)
    inst = repo.installation_id("octo/client")
    gh = GitHubFactory(settings_for(repo), conn).installation(inst)
    repo.faults.error(401, "GET /repos/octo/client", times=5)
    with pytest.raises(GitHubError, match="401"), translate_errors("reading the repo"):
        gh.rest.repos.get("octo", "client")
    assert len(repo.recorder.filter("GET /repos/octo/client")) == 2  # the request and one resend
    assert repo.recorder.count(f"POST /app/installations/{inst}/access_tokens") == 2


def test_a_refused_token_that_cannot_be_replaced_is_githubs_answer_not_a_network_error(repo, redis_url):
    """The installation was removed: its token is refused and no new one is minted. That
    is said as GitHub said it, not as a network error retried for hours."""
    conn = redis.Redis.from_url(redis_url)
    inst = repo.installation_id("octo/client")
    gh = GitHubFactory(settings_for(repo), conn).installation(inst)
    gh.rest.apps.revoke_installation_access_token()
    repo.faults.error(404, f"POST /app/installations/{inst}/access_tokens", times=5)
    with pytest.raises(GitHubError, match="404 while minting an installation token"), translate_errors(
        "reading the repo"
    ):
        gh.rest.repos.get("octo", "client")
