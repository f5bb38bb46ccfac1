"""The front door over real aiohttp and real Redis, with deliveries GitHub really sends that
Shunter's simulator does not: here, a repository's own webhook pointed at Shunter."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer

from bot.web.app import create_app

SECRET = "It's a Secret to Everybody"
# pull_request/opened.payload.json in octokit/webhooks (a repository webhook's delivery):
# the fields Shunter reads, and no "installation" key, which only App deliveries carry
REPO_HOOK_PULL_REQUEST = {
    "action": "opened",
    "number": 2,
    "pull_request": {
        "number": 2, "state": "open", "title": "Update the README with new information.", "body": None,
        "user": {"login": "Codertocat", "type": "User"},
        "head": {"ref": "changes", "sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "repo": None},
        "base": {"ref": "master", "sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"},
    },
    "repository": {"id": 186853002, "full_name": "Codertocat/Hello-World", "default_branch": "master"},
    "sender": {"login": "Codertocat", "type": "User"},
}  # fmt: skip


@pytest.fixture
async def client(redis_url: str):
    async with TestClient(TestServer(create_app(SECRET, redis_url))) as c:
        yield c


async def post(client, payload: dict, **extra: str):
    body = json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
        "Content-Type": "application/json",
        **extra,
    }
    return await client.post("/webhooks", data=body, headers=headers)


@pytest.mark.parametrize("target_type", ["repository", "organization"])
async def test_a_repository_or_organisation_webhook_is_told_it_is_not_the_apps(
    client, redis_url, target_type
):
    """Before: 400 "malformed payload: installation: field required", blaming GitHub's payload."""
    resp = await post(
        client, REPO_HOOK_PULL_REQUEST, **{"X-GitHub-Hook-Installation-Target-Type": target_type}
    )
    assert resp.status == 400
    message = (await resp.json())["message"]
    assert message.startswith(f"not a GitHub App delivery: it came from a {target_type} webhook")
    assert "remove this webhook" in message
    assert redis.Redis.from_url(redis_url).llen("rq:queue:events") == 0


async def test_an_app_delivery_without_an_installation_is_still_named_malformed(client):
    resp = await post(
        client, REPO_HOOK_PULL_REQUEST, **{"X-GitHub-Hook-Installation-Target-Type": "integration"}
    )
    assert resp.status == 400
    assert (await resp.json())["message"] == "malformed payload: installation: field required"
