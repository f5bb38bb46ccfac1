"""Event jobs: transient failures are retried with backoff, permanent ones fail at once
and stay in rq's failed registry with the reason; a malformed delivery that reached the
queue anyway finishes with the reason, crashing nothing."""

from __future__ import annotations

import copy

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.serializers import JSONSerializer
from structlog.testing import capture_logs

from bot.queue.jobs import Delivery, enqueue_event
from bot.runtime import Runtime, set_runtime
from bot.settings import load_settings

PR = {
    "action": "opened",
    "installation": {"id": 7},
    "repository": {"full_name": "octo/demo", "default_branch": "main", "clone_url": "http://x/octo/demo.git"},
    "sender": {"login": "alice", "type": "User"},
    "pull_request": {"number": 1, "state": "open", "head": {"sha": "a" * 40, "ref": "f"},
                     "base": {"ref": "main"}, "user": {"login": "alice"}},
}


def run_one(redis_url: str, settings, event: str = "pull_request", payload: dict = PR) -> tuple[Queue, str]:
    conn = redis.Redis.from_url(redis_url)
    set_runtime(Runtime(settings, redis_url))
    try:
        job = enqueue_event(Delivery.from_payload(event, "d-1", payload), conn)
        queue = Queue("events", connection=conn, serializer=JSONSerializer)
        SimpleWorker([queue], connection=conn, serializer=JSONSerializer).work(burst=True, with_scheduler=False)
        return queue, job.id
    finally:
        set_runtime(None)


def test_permanent_failure_goes_to_the_failed_registry_at_once(redis_url, clean_env, tmp_path):
    settings = load_settings(webhook_secret="s", data_dir=tmp_path)  # no App credentials
    queue, job_id = run_one(redis_url, settings)
    failed = FailedJobRegistry(queue=queue)
    assert job_id in failed.get_job_ids()
    job = queue.fetch_job(job_id)
    assert job.retries_left == 0
    assert "SHUNTER_APP_ID" in job.latest_result().exc_string
    assert ScheduledJobRegistry(queue=queue).get_job_ids() == []


def test_transient_failure_is_scheduled_for_a_retry(redis_url, clean_env, tmp_path, simulator):
    env = simulator.settings_env()
    settings = load_settings(
        webhook_secret="s", data_dir=tmp_path, app_id=int(env["SHUNTER_APP_ID"]),
        private_key_path=env["SHUNTER_PRIVATE_KEY_PATH"], github_url="http://127.0.0.1:9",  # nothing listens
    )
    queue, job_id = run_one(redis_url, settings)
    assert job_id in ScheduledJobRegistry(queue=queue).get_job_ids()
    job = queue.fetch_job(job_id)
    assert job.retries_left == 2  # 3 tries in all, with 5 s, 30 s, 120 s between them
    assert job_id not in FailedJobRegistry(queue=queue).get_job_ids()


def headless(payload: dict) -> dict:
    broken = copy.deepcopy(payload)
    del broken["pull_request"]["head"]["sha"]
    return broken


COMMENT = {
    **{key: PR[key] for key in ("installation", "repository", "sender")},
    "action": "created",
    "issue": {"number": 1, "pull_request": {"url": "u"}},
    "comment": {"id": 3, "body": 5, "user": {"login": "alice"}},
}


@pytest.mark.parametrize(
    ("event", "payload", "problem"),
    [
        ("pull_request", headless(PR), "pull_request.head.sha: field required"),  # was a KeyError
        ("issue_comment", COMMENT, "comment.body: expected a string, got integer"),  # was a TypeError
        ("pull_request", {**PR, "action": ["opened"]}, "action: expected a string, got array"),  # in routing
    ],
)
def test_a_queued_malformed_delivery_finishes_with_its_reason_not_a_crash(
    redis_url, clean_env, tmp_path, event, payload, problem
):
    # queued before the front door checked payloads (it answers 400 now), or enqueued directly
    settings = load_settings(webhook_secret="s", data_dir=tmp_path)
    with capture_logs() as logs:
        queue, job_id = run_one(redis_url, settings, event, payload)
    job = queue.fetch_job(job_id)
    assert job.is_finished, job.latest_result().exc_string
    assert job.return_value()["ignored"] == f"malformed payload: {problem}"
    assert job_id not in FailedJobRegistry(queue=queue).get_job_ids()
    assert ScheduledJobRegistry(queue=queue).get_job_ids() == []  # nothing to retry either
    [line] = [entry for entry in logs if entry["event"] == "ignored malformed delivery"]
    assert (line["log_level"], line["delivery"], line["problem"]) == ("warning", "d-1", f"malformed payload: {problem}")
