"""The front door over real aiohttp and real Redis: a signed delivery without the fields
its handlers read is answered 400 naming the field, and stores nothing; every event GitHub
sends (here: the simulator, whose payloads are checked against GitHub's schema) still gets 202."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid

import httpx
import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue
from rq.serializers import JSONSerializer

from bot.events.shapes import ANY_ACTION, SHAPES
from bot.web.app import create_app

SECRET = "It's a Secret to Everybody"
PULL_REQUEST = {
    "action": "opened",
    "number": 7,
    "installation": {"id": 42},
    "repository": {"full_name": "octo/demo", "default_branch": "main"},
    "sender": {"login": "alice", "type": "User"},
    "pull_request": {"number": 7, "state": "open", "head": {"sha": "a" * 40, "ref": "f"}, "base": {"ref": "main"}},
}
ISSUE_COMMENT = {
    "action": "created",
    "installation": {"id": 42},
    "repository": {"full_name": "octo/demo"},
    "sender": {"login": "alice", "type": "User"},
    "issue": {"number": 7, "pull_request": {"url": "https://api.github.com/repos/octo/demo/pulls/7"}},
    "comment": {"id": 3, "body": "/shunter help", "user": {"login": "alice", "type": "User"}},
}
CHECK_RUN = {
    "action": "requested_action",
    "installation": {"id": 42},
    "repository": {"full_name": "octo/demo"},
    "sender": {"login": "alice", "type": "User"},
    "check_run": {"id": 5, "name": "shunter/review", "head_sha": "a" * 40, "pull_requests": [{"number": 7}]},
    "requested_action": {"identifier": "apply"},
}


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(body: bytes, event: str, delivery: str | None = None) -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body),
        "Content-Type": "application/json",
    }


def without(payload: dict, path: str) -> dict:
    changed = copy.deepcopy(payload)
    *parents, last = path.split(".")
    node = changed
    for part in parents:
        node = node[part]
    del node[last]
    return changed


def events_queue(url: str) -> Queue:
    return Queue("events", connection=redis.Redis.from_url(url), serializer=JSONSerializer)


@pytest.fixture
async def client(redis_url: str):
    async with TestClient(TestServer(create_app(SECRET, redis_url))) as c:
        yield c


@pytest.mark.parametrize(
    ("event", "payload", "message"),
    [
        ("pull_request", without(PULL_REQUEST, "pull_request.head.sha"), "pull_request.head.sha: field required"),
        ("pull_request", without(PULL_REQUEST, "installation.id"), "installation.id: field required"),
        ("pull_request", {**PULL_REQUEST, "action": ["opened"]}, "action: expected a string, got array"),
        ("check_run", without(CHECK_RUN, "check_run.id"), "check_run.id: field required"),
        ("issue_comment", {**ISSUE_COMMENT, "comment": {"id": 3, "body": 5}},
         "comment.body: expected a string, got integer"),
        ("issue_comment", {**ISSUE_COMMENT, "repository": {"full_name": "demo"}},
         'repository.full_name: expected "owner/name"'),
    ],
)
async def test_a_signed_payload_without_what_its_handlers_read_gets_400_naming_the_field(
    client, redis_url, event, payload, message
):
    body = json.dumps(payload).encode()
    h = headers(body, event)
    resp = await client.post("/webhooks", data=body, headers=h)
    assert resp.status == 400
    assert (await resp.json())["message"] == f"malformed payload: {message}"
    assert events_queue(redis_url).count == 0
    # nothing remembered either: the corrected delivery, same id, is stored
    assert redis.Redis.from_url(redis_url).exists("shunter:delivery:" + h["X-GitHub-Delivery"]) == 0
    metrics = await (await client.get("/metrics")).text()
    assert f'shunter_webhook_deliveries_total{{event="{event}",outcome="bad_payload"}} 1.0' in metrics


async def test_the_corrected_delivery_with_the_same_id_is_stored(client, redis_url):
    delivery = str(uuid.uuid4())
    broken = json.dumps(without(PULL_REQUEST, "pull_request.base")).encode()
    assert (await client.post("/webhooks", data=broken, headers=headers(broken, "pull_request", delivery))).status == 400
    fixed = json.dumps(PULL_REQUEST).encode()
    assert (await client.post("/webhooks", data=fixed, headers=headers(fixed, "pull_request", delivery))).status == 202
    assert events_queue(redis_url).count == 1


@pytest.mark.parametrize(
    ("event", "ignored", "handled", "payload"),
    [
        ("pull_request", "assigned", "opened", {"number": 7}),
        ("check_run", "completed", "rerequested", {"check_run": "anything"}),
        ("issue_comment", "deleted", "created", {"issue": 5}),
    ],
)
async def test_only_actions_a_handler_reads_are_checked(client, redis_url, event, ignored, handled, payload):
    stored = json.dumps({**payload, "action": ignored}).encode()
    assert (await client.post("/webhooks", data=stored, headers=headers(stored, event))).status == 202
    refused = json.dumps({**payload, "action": handled}).encode()
    assert (await client.post("/webhooks", data=refused, headers=headers(refused, event))).status == 400
    assert events_queue(redis_url).count == 1


def routed(event: str, action: str | None) -> tuple[str, str | None] | None:
    for key in ((event, action), (event, ANY_ACTION)):
        if key in SHAPES:
            return key
    return None


def test_every_routed_event_the_simulator_sends_is_stored(simulator, redis_url):
    """Drive the simulator through every event and action a router handles; the ones it
    has no activity for are built from its GitHub-shaped objects (review, review comment,
    unlabeled, installation_repositories, a PR whose fork was deleted). All get 202."""
    from bot.simulator.state import Review, ReviewComment
    from bot.web.commands import WebThread

    sim = simulator
    web = WebThread(create_app(sim.webhook_secret, redis_url), "127.0.0.1", 0)
    web.start()
    try:
        sim.webhook_url = f"http://127.0.0.1:{web.port}/webhooks"
        repo_name = "octo/shapes"
        sim.create_repo(repo_name, {"app.py": "x = 1\n"})  # installation.created
        sim.commit(repo_name, "feature", {"app.py": "x = 2\n"}, author="alice")  # push, check_suite.requested
        number = sim.open_pull_request(repo_name, "feature", title="Bump", user="alice", draft=True)
        sim.ready_for_review(repo_name, number)
        sim.add_label(repo_name, number, "bug")
        sim.close_pull_request(repo_name, number)
        sim.reopen_pull_request(repo_name, number)
        sim.commit(repo_name, "feature", {"app.py": "x = 3\n"}, author="alice")  # synchronize
        api = httpx.Client(base_url=sim.url, headers={"Authorization": f"token {sim.installation_token(repo_name)}"})
        assert api.patch(f"/repos/{repo_name}/pulls/{number}", json={"title": "Bump x"}).status_code == 200  # edited
        head = sim.pull(repo_name, number).head_sha
        run = api.post(f"/repos/{repo_name}/check-runs", json={
            "name": "shunter/review", "head_sha": head, "status": "completed", "conclusion": "neutral",
            "output": {"title": "Review", "summary": "Nothing to say."},
            "actions": [{"label": "Re-run", "description": "Run the review again", "identifier": "rerun"}],
        }).json()
        sim.click_button(run["id"], "rerun")
        sim.rerequest_check_run(run["id"])
        sim.rerequest_check_suite(repo_name, head)
        comment_id = sim.comment(repo_name, number, "/shunter help", user="alice")
        sim.edit_comment(comment_id, "", user="alice")  # an empty comment body
        sim.request_merge_group(repo_name, number)
        sim.complete_workflow_run(repo_name, pull_number=number)  # events no handler reads
        sim.fork(repo_name, "forker")
        sim.commit("forker/shapes", "fix", {"app.py": "x = 4\n"}, author="forker")  # a push to the fork
        fork_pr = sim.open_pull_request(repo_name, "fix", title="Fix", user="forker", from_fork="forker")

        hub, world = sim.hub, sim.world
        repo, pull = world.repo(repo_name), sim.pull(repo_name, number)
        bug = hub.shapes.label(repo, repo.labels["bug"])
        sim.send_event(*hub.events.pull_request("unlabeled", repo, hub.pull_json(pull), "alice", label=bug))
        sim.wait_for_deliveries()
        gone = copy.deepcopy(next(d.payload for d in sim.deliveries("pull_request", "opened")
                                  if d.payload["number"] == fork_pr))
        gone["pull_request"]["head"]["repo"] = None  # the fork was deleted
        sim.send_event("pull_request", {**gone, "action": "labeled", "label": bug})
        on_pull = {
            "pull_request": hub.pull_json(pull), "repository": hub.shapes.repo(repo),
            "installation": {"id": sim.installation_id(repo_name)}, "sender": hub.shapes.user("alice"),
        }
        now = world.clock.now()
        review = Review(world.next_id(), repo_name, number, "alice", None, "APPROVED", head, now)  # type: ignore[arg-type]
        sim.send_event("pull_request_review", {"action": "submitted", "review": hub.shapes.review(review), **on_pull})
        review.body = "/shunter pause"
        sim.send_event("pull_request_review", {
            "action": "edited", "review": hub.shapes.review(review), "changes": {"body": {"from": ""}}, **on_pull,
        })
        inline = ReviewComment(
            world.next_id(), review.id, repo_name, number, "alice", "/shunter help", "app.py", 1, "RIGHT",
            None, None, head, "@@ -1 +1 @@\n-x = 1\n+x = 3", 1, now,
        )
        for action in ("created", "edited"):
            sim.send_event("pull_request_review_comment", {
                "action": action, "comment": hub.shapes.review_comment(inline), **on_pull,
            })
        installation = world.installations[sim.installation_id(repo_name)]
        sim.send_event("installation_repositories", {
            "action": "added", "installation": hub.shapes.installation(installation),
            "repository_selection": "all", "requester": None, "sender": hub.shapes.user("octo"),
            "repositories_added": [{"id": repo.id, "name": repo.name, "full_name": repo_name, "private": False}],
            "repositories_removed": [],
        })
        sim.set_default_branch(repo_name, "feature")  # repository.edited
        sim.wait_for_deliveries()
    finally:
        web.stop()

    covered = set()
    # the App is not installed on the fork: GitHub sends it nothing about the fork's pushes
    assert not [d for d in sim.deliveries() if (d.payload.get("repository") or {}).get("full_name") == "forker/shapes"]
    for delivery in sim.deliveries():
        answer = (delivery.event, delivery.action, delivery.status_code, delivery.response_body)
        assert delivery.status_code == 202, answer
        covered.add(routed(delivery.event, delivery.action))
    assert covered - {None} == set(SHAPES)
    assert None in covered  # and events no handler reads (workflow_run, pull_request.closed) were stored
