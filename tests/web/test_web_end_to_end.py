"""Real processes: `shunter serve` + `shunter worker` over real Redis, and
`shunter serve --with-worker` on the embedded Valkey with no settings but a secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

SECRET = "e2e-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUNTER_") or k.startswith("SHUNTER_TEST_")}
    env.update({"HOME": str(tmp_path), "SHUNTER_WEBHOOK_SECRET": SECRET, "SHUNTER_DATA_DIR": str(tmp_path / "data")})
    env.update(extra)
    return env


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("server never became ready")


def post_delivery(url: str, event: str, payload: dict) -> tuple[int, str]:
    body = json.dumps(payload).encode()
    delivery = str(uuid.uuid4())
    resp = httpx.post(
        url + "/webhooks",
        content=body,
        headers={
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
            "Content-Type": "application/json",
        },
        timeout=10,
    )
    return resp.status_code, delivery


INSTALLATION = {
    "action": "created",
    "installation": {"id": 9, "account": {"login": "octo"}},
    "sender": {"login": "alice", "type": "User"},
}


def finished_job(conn: redis.Redis, delivery: str, timeout: float = 30) -> Job:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for key in conn.scan_iter(f"rq:job:delivery-{delivery}-*"):
            job = Job.fetch(key.decode().split(":", 2)[2], connection=conn, serializer=JSONSerializer)
            if job.is_finished or job.is_failed:
                return job
        time.sleep(0.1)
    raise AssertionError("job never finished")


def test_serve_and_worker_processes(redis_url, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = base_env(tmp_path, SHUNTER_REDIS_URL=redis_url, SHUNTER_PORT=str(port))
    server = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(url, server)
        status, delivery = post_delivery(url, "installation", INSTALLATION)
        assert status == 202
        conn = redis.Redis.from_url(redis_url)
        assert Queue("events", connection=conn, serializer=JSONSerializer).count == 1
        worker = subprocess.run(
            [sys.executable, "-m", "bot.cli", "worker", "--burst", "--queues", "events"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )
        assert worker.returncode == 0, worker.stderr
        job = finished_job(conn, delivery)
        assert job.is_finished, job.latest_result()
        assert job.return_value()["handled_by"] == ["installations.on_installation"]
    finally:
        server.terminate()
        server.wait(10)


def test_serve_with_worker_on_embedded_valkey(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = base_env(tmp_path, SHUNTER_PORT=str(port))
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--with-worker"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_ready(url, server)
        record = json.loads((tmp_path / "data" / "valkey" / "server.json").read_text())
        status, delivery = post_delivery(url, "installation", INSTALLATION)
        assert status == 202
        job = finished_job(redis.Redis.from_url(record["url"]), delivery)
        assert job.return_value()["handled_by"] == ["installations.on_installation"]
    finally:
        server.terminate()
        server.wait(15)
    # the process that started the embedded server stopped it on exit
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(record["url"], socket_connect_timeout=1).ping()


def test_pull_request_from_the_simulator_through_serve_and_worker(redis_url, tmp_path, simulator):
    """The simulator opens a PR and signs the delivery; `shunter serve` stores it; a
    `shunter worker` process handles it; the recorder sees the handler's calls."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = base_env(tmp_path, SHUNTER_REDIS_URL=redis_url, SHUNTER_PORT=str(port), SHUNTER_MUTATION_INTERVAL="0")
    env.update(simulator.settings_env())
    server = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(url, server)
        simulator.webhook_url = url + "/webhooks"
        simulator.create_repo("octo/e2e", {"a.py": "x = 1\n"})
        simulator.commit("octo/e2e", "feature", {"a.py": "x = 2\n"}, author="alice")
        simulator.open_pull_request("octo/e2e", "feature", title="Bump", user="alice")
        simulator.wait_for_deliveries()
        opened = simulator.deliveries("pull_request", "opened")
        assert opened and opened[-1].status_code == 202
        worker = subprocess.run(
            [sys.executable, "-m", "bot.cli", "worker", "--burst"],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )
        assert worker.returncode == 0, worker.stderr[-2000:]
        assert simulator.recorder.count("POST /repos/octo/e2e/check-runs") == 3
        runs = simulator.check_runs("octo/e2e")
        assert {r.status for r in runs} == {"completed"}
    finally:
        server.terminate()
        server.wait(10)
