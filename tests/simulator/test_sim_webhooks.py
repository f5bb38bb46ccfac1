"""Outgoing webhooks: signed with HMAC-SHA256, recorded with their answer, redeliverable."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys

from githubkit import webhooks


def test_deliveries_are_signed_and_recorded(simulator, receiver, kit):
    simulator.webhook_url = receiver.url  # settable after start
    simulator.create_repo("octo/demo", {"a.py": kit.lines})
    simulator.commit("octo/demo", "feature", {"a.py": "changed\n"}, author="alice")
    simulator.open_pull_request("octo/demo", "feature", user="alice")
    simulator.wait_for_deliveries()
    assert [e for e, _ in receiver.events()] == [
        "installation", "push", "check_suite", "pull_request"]
    for headers, body in receiver.received:
        expected = "sha256=" + hmac.new(
            simulator.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Hub-Signature-256"], expected)
        assert webhooks.verify(simulator.webhook_secret, body, headers["X-Hub-Signature-256"])
        assert headers["X-GitHub-Delivery"]
        assert headers["Content-Type"] == "application/json"
    guids = [h["X-GitHub-Delivery"] for h, _ in receiver.received]
    assert len(set(guids)) == len(guids)
    recorded = simulator.deliveries()
    assert [d.status_code for d in recorded] == [202] * 4
    assert [d.guid for d in recorded] == guids


def test_failed_delivery_is_recorded_and_redelivered_through_the_api(simulator, receiver, kit):
    simulator.webhook_url = "http://127.0.0.1:9/nothing-listens-here"
    simulator.create_repo("octo/demo")
    simulator.wait_for_deliveries()
    failed = simulator.deliveries("installation")[0]
    assert failed.status_code == 0 and failed.status.startswith("Failed to connect")
    simulator.webhook_url = receiver.url
    app = kit.app_client(simulator)
    items = app.rest.apps.list_webhook_deliveries().parsed_data
    assert items[0].id == failed.id and items[0].status_code == 0
    assert app.rest.apps.redeliver_webhook_delivery(failed.id).status_code == 202
    simulator.wait_for_deliveries()
    assert receiver.received[0][0]["X-GitHub-Delivery"] == failed.guid
    again = simulator.deliveries("installation")[-1]
    assert again.redelivery is True and again.status_code == 202


def test_receiver_status_is_recorded(simulator, receiver):
    receiver.status = 500
    simulator.webhook_url = receiver.url
    simulator.create_repo("octo/demo")
    simulator.wait_for_deliveries()
    assert simulator.deliveries("installation")[0].status_code == 500


def test_send_event_signs_arbitrary_payloads(simulator, receiver):
    simulator.webhook_url = receiver.url
    simulator.send_event("ping", {"zen": "Keep it logically awesome.", "hook_id": 1})
    simulator.wait_for_deliveries()
    headers, body = receiver.received[0]
    assert headers["X-GitHub-Event"] == "ping"
    assert json.loads(body)["zen"].startswith("Keep")


def test_python_m_bot_simulator_prints_its_settings(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.simulator", "--data-dir", str(tmp_path), "--repo", "octo/x"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = [proc.stdout.readline() for _ in range(6)]
    finally:
        proc.terminate()
        proc.wait(10)
    text = "".join(lines)
    assert "listening on http://127.0.0.1:" in text
    for name in ("SHUNTER_GITHUB_URL", "SHUNTER_APP_ID", "SHUNTER_PRIVATE_KEY_PATH",
                 "SHUNTER_WEBHOOK_SECRET", "SHUNTER_BOT_LOGIN"):
        assert name in text
