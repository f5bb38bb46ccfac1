"""Shunter's bot login when SHUNTER_BOT_LOGIN is not set: learned from GET /app once, shared
through Redis, and used to tell Shunter's own comments and events from everyone else's.
The simulator over loopback and real Redis."""

from __future__ import annotations

from bot.events.dispatch import is_own_event
from bot.queue.jobs import Delivery
from bot.runtime import Runtime
from bot.settings import load_settings

APP = "GET /app"


def runtime_for(sim, redis_url: str, **overrides) -> Runtime:
    env = sim.settings_env()
    settings = load_settings(
        github_url=env["SHUNTER_GITHUB_URL"], app_id=int(env["SHUNTER_APP_ID"]),
        private_key_path=env["SHUNTER_PRIVATE_KEY_PATH"], webhook_secret="x", **overrides,
    )
    return Runtime(settings, redis_url)


def test_an_unset_bot_login_is_learned_once_and_shared(simulator, redis_url):
    first = runtime_for(simulator, redis_url)
    assert first.settings.bot_login is None
    assert first.bot_login == simulator.bot_login == "shunter-sim[bot]"
    assert first.bot_login == "shunter-sim[bot]"  # and again, from memory
    assert simulator.recorder.count(APP) == 1  # asked once in this process
    other = runtime_for(simulator, redis_url)  # another worker process
    assert other.bot_login == "shunter-sim[bot]"
    assert simulator.recorder.count(APP) == 1  # it read what the first one learned
    # the events Shunter causes are recognised as its own, as with the setting
    delivery = Delivery.from_payload(
        "check_run", "d-1", {"action": "created", "sender": {"login": "shunter-sim[bot]"}}
    )
    assert is_own_event(delivery, other.bot_login)


def test_a_set_bot_login_is_used_as_is_and_github_is_not_asked(simulator, redis_url):
    runtime = runtime_for(simulator, redis_url, bot_login="shunter[bot]")
    assert runtime.bot_login == "shunter[bot]"
    assert simulator.recorder.count(APP) == 0


def test_without_app_credentials_nothing_is_asked(simulator, redis_url):
    runtime = Runtime(load_settings(webhook_secret="x", github_url=simulator.url), redis_url)
    assert runtime.bot_login is None
    assert simulator.recorder.count(APP) == 0


def test_the_commit_signature_is_the_bot_users_learned_once_and_shared(simulator, redis_url):
    """The merge queue's author: ``<slug>[bot]`` with ``<id>+<slug>[bot]@users.noreply.<host>``,
    the id of GET /users/<slug>[bot] (not the App's), asked once and shared through Redis."""
    from bot.github.identity import bot_signature

    users = "GET /users/*"
    simulator.create_repo("octo/demo")  # installs the App: its token reads the users API
    first = runtime_for(simulator, redis_url)
    user = simulator.world.user("shunter-sim[bot]")
    assert user.id != simulator.world.app.id
    expected = ("shunter-sim[bot]", f"{user.id}+shunter-sim[bot]@users.noreply.127.0.0.1")
    assert bot_signature(first) == expected
    assert simulator.recorder.count(users) == 1
    assert bot_signature(runtime_for(simulator, redis_url)) == expected  # another process
    assert simulator.recorder.count(users) == 1


def test_the_no_reply_domain_is_the_instances():
    from bot.github.identity import noreply_domain

    assert noreply_domain("https://api.github.com") == "users.noreply.github.com"
    assert noreply_domain("https://ghe.example.com/api/v3") == "users.noreply.ghe.example.com"


def test_without_app_credentials_there_is_no_commit_signature(simulator, redis_url):
    from bot.github.identity import bot_signature

    runtime = Runtime(load_settings(webhook_secret="x", github_url=simulator.url), redis_url)
    assert bot_signature(runtime) is None
    assert simulator.recorder.count("GET /users/*") == 0
