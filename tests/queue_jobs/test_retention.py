"""Run history is pruned periodically: one prune per hour across every web process.

``RetentionMixin.prune`` existed but nothing called it, so runs, steps and processed
command records grew without limit. The audit log is kept (README: it outlives runs).
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import text

import bot.web.app
from bot.cli import main
from bot.errors import SettingsError
from bot.queue.jobs import RETENTION_DUE_KEY, enqueue_retention
from bot.runtime import Runtime, set_runtime
from bot.settings import load_settings
from bot.store import RunStatus, Store
from bot.web.app import create_app, retention_timer
from tests.waiting import count_calls, until


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_two_front_doors_enqueue_one_prune_per_period(redis_url, redis_client, monkeypatch):
    attempts = count_calls(monkeypatch, bot.web.app, "enqueue_retention")  # each front door's try

    async def run() -> None:
        runners = []
        for _ in range(2):
            app = web.Application()
            app.cleanup_ctx.append(retention_timer(redis_url, 30, every=3600, first_after=0.01))
            runner = web.AppRunner(app)
            await runner.setup()
            runners.append(runner)
        await until(lambda: len(attempts) == 2, what="both timers' first attempt")
        for runner in runners:
            await runner.cleanup()

    asyncio.run(run())
    assert sorted(attempts) == [False, True]  # one let through, the other refused by the key
    jobs = Queue("events", connection=redis_client, serializer=JSONSerializer).get_jobs()
    assert [(j.func_name, j.args) for j in jobs] == [("bot.store.retention.prune_job", [30])]
    assert 3500 < redis_client.ttl(RETENTION_DUE_KEY) <= 3600
    assert not enqueue_retention(redis_client, 30)  # still within the period


def test_serve_app_runs_the_timer_only_with_a_retention_period(redis_url):
    def timers(days: float) -> int:
        return len(create_app("s", redis_url, retention_days=days).cleanup_ctx)

    assert timers(90) == timers(0) + 1


def test_retention_days_setting(clean_env, monkeypatch):
    assert load_settings().retention_days == 90
    monkeypatch.setenv("SHUNTER_RETENTION_DAYS", "0")
    assert load_settings().retention_days == 0
    monkeypatch.setenv("SHUNTER_RETENTION_DAYS", "2")
    with pytest.raises(SettingsError, match="SHUNTER_RETENTION_DAYS: must be 0"):
        load_settings()


def test_prune_job_deletes_old_history_and_keeps_the_audit_log(redis_url, clean_env, tmp_path):
    clock = Clock()
    store = Store.open(f"sqlite:///{tmp_path / 'store.sqlite3'}", clock=clock)
    old = store.create_run("o/r", 1, "a" * 40, "review")
    store.start_step(old.id, "lint")
    store.finish_run(old.id, conclusion="success")
    stuck = store.create_run("o/r", 1, "b" * 40, "review")  # still active: never pruned
    store.mark_command_comment("o/r", 11, "/shunter help")
    store.record_audit(repo="o/r", actor="shunter[bot]", action="check_run.create", target_type="check_run")
    clock.now += timedelta(days=100)
    recent = store.create_run("o/r", 1, "c" * 40, "review")
    store.finish_run(recent.id, conclusion="success")

    run_prune(store, redis_url, tmp_path)

    assert store.get_run(old.id) is None and store.steps(old.id) == []
    kept = store.get_run(stuck.id)
    assert kept is not None and kept.status is RunStatus.QUEUED
    assert store.get_run(recent.id) is not None
    assert store.mark_command_comment("o/r", 11, "/shunter help")  # its record was pruned
    assert len(store.audit_events()) == 1
    store.close()


def run_prune(store: Store, redis_url: str, tmp_path) -> None:
    """Enqueue a prune the way serve does and have a real rq worker run it on ``store``."""
    runtime = Runtime(load_settings(data_dir=tmp_path), redis_url)
    runtime.__dict__["store"] = store  # the worker's store (a cached property)
    set_runtime(runtime)
    conn = redis.Redis.from_url(redis_url)
    try:
        conn.delete(RETENTION_DUE_KEY)  # one prune per hour: a test may run several
        assert enqueue_retention(conn, 90)
        queue = Queue("events", connection=conn, serializer=JSONSerializer)
        SimpleWorker([queue], connection=conn, serializer=JSONSerializer).work(burst=True, with_scheduler=False)
    finally:
        set_runtime(None)
        conn.close()


def doctor_line(monkeypatch, redis_url: str, tmp_path) -> str:
    monkeypatch.setenv("SHUNTER_REDIS_URL", redis_url)
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "doctor-data"))
    output = CliRunner().invoke(main, ["doctor"]).output
    (line,) = [line for line in output.splitlines() if "run history pruning:" in line]
    return line


async def scrape(redis_url: str) -> str:
    async with TestClient(TestServer(create_app("s", redis_url))) as client:
        return await (await client.get("/metrics")).text()


def test_what_a_prune_did_shows_in_doctor_and_metrics(redis_url, clean_env, monkeypatch, tmp_path):
    """Pruning happens in a worker: doctor and /metrics are where an operator sees it ran."""
    clock = Clock()
    store = Store.open(f"sqlite:///{tmp_path / 'store.sqlite3'}", clock=clock)
    for sha in ("a", "b"):
        run = store.create_run("o/r", 1, sha * 40, "review")
        store.start_step(run.id, "lint")
        store.finish_run(run.id, conclusion="success")
    store.mark_command_comment("o/r", 11, "/shunter help")
    clock.now += timedelta(days=100)
    started = time.time()
    run_prune(store, redis_url, tmp_path)

    line = doctor_line(monkeypatch, redis_url, tmp_path)
    assert re.fullmatch(
        r"✓ run history pruning: last ran \d s ago and removed 2 runs, 2 steps, 1 processed_comments "
        r"\(older than 90 days\)",
        line,
    ), line
    metrics = asyncio.run(scrape(redis_url))
    assert 'shunter_retention_pruned_total{kind="runs"} 2.0' in metrics
    assert 'shunter_retention_pruned_total{kind="steps"} 2.0' in metrics
    assert 'shunter_retention_pruned_total{kind="processed_comments"} 1.0' in metrics
    assert 'shunter_retention_prunes_total{outcome="ok"} 1.0' in metrics
    (stamp,) = re.findall(r"^shunter_retention_last_run_timestamp_seconds (\S+)$", metrics, re.M)
    assert started <= float(stamp) <= time.time()

    run_prune(store, redis_url, tmp_path)  # nothing left to remove: the totals stay, the count grows
    assert "removed 0 runs, 0 steps, 0 processed_comments" in doctor_line(monkeypatch, redis_url, tmp_path)
    metrics = asyncio.run(scrape(redis_url))
    assert 'shunter_retention_pruned_total{kind="runs"} 2.0' in metrics
    assert 'shunter_retention_prunes_total{outcome="ok"} 2.0' in metrics
    store.close()


def test_a_failed_prune_shows_in_doctor_and_metrics(redis_url, clean_env, monkeypatch, tmp_path):
    store = Store.open(f"sqlite:///{tmp_path / 'store.sqlite3'}", clock=Clock())
    run_prune(store, redis_url, tmp_path)
    with store.engine.begin() as conn:  # the database breaks under the store
        conn.execute(text("drop table shunter_run_steps"))
    run_prune(store, redis_url, tmp_path)

    line = doctor_line(monkeypatch, redis_url, tmp_path)
    assert re.fullmatch(
        r"⚠ run history pruning: the last attempt failed \d s ago: TransientError: database \S+ "
        r"unavailable: no such table: shunter_run_steps \(see the worker's log\); "
        r"last ran \d s ago and removed 0 runs, 0 steps, 0 processed_comments \(older than 90 days\)",
        line,
    ), line
    metrics = asyncio.run(scrape(redis_url))
    assert 'shunter_retention_prunes_total{outcome="failed"} 1.0' in metrics
    assert 'shunter_retention_prunes_total{outcome="ok"} 1.0' in metrics
    store.close()
