"""Deliveries from a GitHub Enterprise Server (``X-GitHub-Enterprise-Host``) against the
GitHub ``SHUNTER_GITHUB_URL`` names: the simulator playing GHES sends them over loopback
to the real front door, which stores jobs in the real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from rq import Queue
from rq.serializers import JSONSerializer
from structlog.testing import capture_logs

from bot.settings import PUBLIC_GITHUB_API
from bot.simulator import SimulatorThread
from bot.web.app import create_app
from bot.web.commands import WebThread

SECRET = "enterprise-secret"


@contextmanager
def ghes_delivering_to(tmp_path: Path, redis_url: str, github_url: str) -> Iterator[object]:
    """A simulated GHES at ``localhost`` whose App webhook is Shunter's front door,
    configured with ``github_url``."""
    door = WebThread(create_app(SECRET, redis_url, github_url=github_url), "127.0.0.1", 0)
    door.start()
    options = {"webhook_secret": SECRET, "api_prefix": "/api/v3", "url_host": "localhost"}
    try:
        with SimulatorThread(tmp_path / "ghes", **options) as sim:
            sim.webhook_url = f"http://127.0.0.1:{door.port}/webhooks"
            yield sim
    finally:
        door.stop()


def queued(redis_url: str) -> int:
    return Queue("events", connection=redis.Redis.from_url(redis_url), serializer=JSONSerializer).count


def test_a_shunter_set_up_for_github_com_refuses_an_enterprise_server_delivery_naming_the_setting(
    tmp_path, redis_url
):
    with ghes_delivering_to(tmp_path, redis_url, PUBLIC_GITHUB_API) as sim:
        sim.create_repo("octo/demo")
        sim.wait_for_deliveries()
        sent = sim.world.deliveries
        assert sent and all(d.status_code == 400 for d in sent)
        host = sim.url.split("://")[1]
        assert f"GitHub Enterprise Server {host}" in sent[0].response_body
        assert "SHUNTER_GITHUB_URL=https://localhost/api/v3" in sent[0].response_body
    assert queued(redis_url) == 0


def test_a_delivery_from_another_enterprise_host_is_taken_and_logged_once(tmp_path, redis_url):
    with capture_logs() as logs, ghes_delivering_to(
        tmp_path, redis_url, "https://ghes-lb.corp.internal/api/v3"
    ) as sim:
        sim.create_repo("octo/demo")
        sim.commit("octo/demo", "feature", {"app.py": "x = 1\n"}, author="alice")
        sim.open_pull_request("octo/demo", "feature", title="Change", user="alice")
        sim.wait_for_deliveries()
        sent = sim.world.deliveries
        assert len(sent) >= 2 and all(d.status_code == 202 for d in sent)
    assert queued(redis_url) == len(sent)
    said = [e for e in logs if "X-GitHub-Enterprise-Host" in e["event"]]
    assert len(said) == 1 and "ghes-lb.corp.internal" in said[0]["event"]
