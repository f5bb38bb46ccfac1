"""Event jobs: transient failures are retried with backoff, permanent ones fail at once
and stay in rq's failed registry with the reason."""

from __future__ import annotations

import redis
from rq import Queue, SimpleWorker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.serializers import JSONSerializer

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


def run_one(redis_url: str, settings) -> tuple[Queue, str]:
    conn = redis.Redis.from_url(redis_url)
    set_runtime(Runtime(settings, redis_url))
    try:
        job = enqueue_event(Delivery.from_payload("pull_request", "d-1", PR), conn)
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
