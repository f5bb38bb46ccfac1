"""Missed deliveries come back: the simulator's deliveries API over real HTTP, real Redis,
the real front door and workers."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta

import httpx
from aiohttp import web
from click.testing import CliRunner
from rq import Queue
from rq.serializers import JSONSerializer

import bot.web.app
from bot.github.redelivery import LOCK_KEY, MAX_REDELIVERIES, STORED_PREFIX, Verdict, last_sweep, sweep
from bot.web.app import redelivery_timer
from tests.waiting import count_calls, until

REPO = "octo/demo"
FILES = {"app.py": "def add(a, b):\n    return a + b\n"}


def dead_url() -> str:
    with socket.socket() as s:  # a port nobody listens on once this closes
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/webhooks"


def open_pr_while_down(stack) -> tuple[int, str]:
    """A PR opened while Shunter's front door is unreachable; returns its number and the
    front door's URL."""
    sim = stack.sim
    sim.create_repo(REPO, FILES)
    sim.commit(REPO, "feature", {"app.py": "import os\n" + FILES["app.py"]}, author="alice")
    sim.wait_for_deliveries()
    live = sim.webhook_url
    sim.webhook_url = dead_url()
    number = sim.open_pull_request(REPO, "feature", title="Change add", user="alice")
    sim.wait_for_deliveries()
    return number, live


def failed_pings(stack, count: int):
    """``count`` ping deliveries that failed (the front door unreachable); the simulator."""
    sim = stack.sim
    sim.create_repo(REPO, FILES)
    sim.wait_for_deliveries()
    sim.webhook_url = dead_url()
    for i in range(count):
        sim.hub.webhooks.enqueue("ping", {"zen": f"ping {i}", "hook_id": 1})
    sim.wait_for_deliveries()
    return sim


def requests(sim, method: str, fragment: str) -> int:
    return sum(1 for r in sim.recorder.requests if r.method == method and fragment in r.path)


def test_a_pr_opened_while_the_front_door_was_down_is_redelivered_and_checked(stack):
    sim = stack.sim
    number, live = open_pr_while_down(stack)
    (missed,) = sim.deliveries("pull_request", "opened")
    assert missed.status_code == 0 and "connect" in missed.status.lower()
    assert sim.check_runs(REPO) == []
    sim.webhook_url = live

    report = sweep(stack.runtime)
    assert report.redelivered == [missed.guid] and not report.errors and report.complete
    assert requests(sim, "POST", "/app/hook/deliveries/") == 1
    sim.wait_for_deliveries()
    attempts = sim.deliveries("pull_request", "opened")
    assert [(a.guid, a.redelivery, a.status_code) for a in attempts] == [
        (missed.guid, False, 0),
        (missed.guid, True, 202),
    ]
    stack.drain()
    runs = [r for r in sim.check_runs(REPO) if r.head_sha == sim.pull(REPO, number).head_sha]
    assert {r.name for r in runs} >= {"shunter/review", "shunter/security"}
    assert all(r.status == "completed" for r in runs)
    (audit,) = stack.runtime.store.audit_events(action="webhook.redeliver")
    assert audit.delivery_id == missed.guid and audit.reason_code == "missed_delivery"
    assert audit.target_id == str(missed.id)

    # the next sweep finds it answered: nothing is asked for twice
    again = sweep(stack.runtime)
    assert again.redelivered == [] and again.count(Verdict.REDELIVER) == 0
    assert requests(sim, "POST", "/app/hook/deliveries/") == 1

    # operators see it: the last sweep for `shunter doctor`, running totals on /metrics
    last = last_sweep(stack.redis)
    assert last is not None and last["redelivered"] == 0 and last["scanned"] >= 3
    metrics = httpx.get(f"http://127.0.0.1:{stack.web.port}/metrics").text
    assert 'shunter_redeliveries_total{outcome="redelivered"} 1.0' in metrics
    assert "shunter_redelivery_sweeps_total 2.0" in metrics


def test_a_delivery_shunter_stored_is_not_asked_for(stack):
    """GitHub gave up waiting but the front door had stored the event: a redelivery would
    only be a duplicate."""
    sim = stack.sim
    _number, live = open_pr_while_down(stack)
    (missed,) = sim.deliveries("pull_request", "opened")
    stack.redis.set(STORED_PREFIX + missed.guid, "job", ex=60)
    sim.webhook_url = live
    report = sweep(stack.runtime)
    assert report.redelivered == []
    assert {d.guid: d.verdict for d in report.decisions}[missed.guid] is Verdict.STORED
    assert requests(sim, "POST", "/app/hook/deliveries/") == 0


def test_a_front_door_that_stays_down_is_asked_for_three_times_then_given_up(stack):
    sim = stack.sim
    open_pr_while_down(stack)
    (missed,) = sim.deliveries("pull_request", "opened")
    verdicts = []
    for _ in range(MAX_REDELIVERIES + 2):
        report = sweep(stack.runtime)
        sim.wait_for_deliveries()
        verdicts.append({d.guid: d.verdict for d in report.decisions}[missed.guid])
    assert verdicts == [Verdict.REDELIVER] * MAX_REDELIVERIES + [Verdict.GAVE_UP] * 2
    last = last_sweep(stack.redis)
    assert last is not None and last["gave_up"] == 1 and last["redelivered"] == 0
    assert [a.redelivery for a in sim.deliveries("pull_request", "opened")] == [False] + [True] * MAX_REDELIVERIES
    assert requests(sim, "POST", "/app/hook/deliveries/") == MAX_REDELIVERIES


def test_pages_are_read_back_to_the_window_and_no_further(stack):
    sim = failed_pings(stack, 130)
    before = requests(sim, "GET", "/app/hook/deliveries")
    report = sweep(stack.runtime, dry_run=True)
    pings = [d for d in report.decisions if d.latest.event == "ping"]
    assert len(pings) == 130 and all(d.verdict is Verdict.REDELIVER for d in pings)
    assert requests(sim, "GET", "/app/hook/deliveries") - before == 2  # 100 + the rest
    assert requests(sim, "POST", "/app/hook/deliveries/") == 0  # a dry run asks for nothing

    # a sweep an hour from now with a 30-minute window reads one page and stops
    before = requests(sim, "GET", "/app/hook/deliveries")
    later = sweep(stack.runtime, now=datetime.now(UTC) + timedelta(hours=1), within=timedelta(minutes=30))
    assert later.scanned == 0 and later.decisions == []
    assert requests(sim, "GET", "/app/hook/deliveries") - before == 1


def test_a_sweep_asks_for_at_most_its_share_and_leaves_the_rest_for_the_next(stack):
    sim = failed_pings(stack, 5)
    first = sweep(stack.runtime, per_sweep=3)
    assert len(first.redelivered) == 3 and not first.complete
    sim.wait_for_deliveries()
    second = sweep(stack.runtime, per_sweep=3)  # the mark did not move: all five are seen again
    assert len(set(first.redelivered) | set(second.redelivered)) == 5


def test_one_sweep_at_a_time(stack):
    stack.redis.set(LOCK_KEY, "someone-else", ex=60)
    report = sweep(stack.runtime)
    assert report.skipped == "another sweep is running" and report.scanned == 0
    assert stack.redis.get(LOCK_KEY) == b"someone-else"  # not taken over, not released


def test_two_front_doors_enqueue_one_sweep_per_period(redis_url, redis_client, monkeypatch):
    attempts = count_calls(monkeypatch, bot.web.app, "enqueue_redelivery_sweep")  # each front door's try

    async def run() -> None:
        apps = []
        for _ in range(2):
            app = web.Application()
            app.cleanup_ctx.append(redelivery_timer(redis_url, every=30, first_after=0.01))
            runner = web.AppRunner(app)
            await runner.setup()
            apps.append(runner)
        await until(lambda: len(attempts) == 2, what="both timers' first attempt")
        for runner in apps:
            await runner.cleanup()

    asyncio.run(run())
    assert sorted(attempts) == [False, True]  # one let through, the other refused by the key
    jobs = Queue("events", connection=redis_client, serializer=JSONSerializer).get_jobs()
    assert [j.func_name for j in jobs] == ["bot.github.redelivery.sweep_job"]
    assert 0 < redis_client.ttl("shunter:redelivery:due") <= 30


def test_a_sweep_goes_before_a_backlog_of_events(redis_client):
    from bot.queue.jobs import Delivery, enqueue_event, enqueue_redelivery_sweep

    for i in range(3):
        enqueue_event(Delivery(event="ping", delivery_id=f"backlog-{i}", payload={}), redis_client)
    assert enqueue_redelivery_sweep(redis_client, every=60)
    jobs = Queue("events", connection=redis_client, serializer=JSONSerializer).get_jobs()
    assert [j.func_name for j in jobs] == ["bot.github.redelivery.sweep_job"] + ["bot.queue.jobs.handle_event"] * 3


def test_the_cli_reports_what_a_sweep_would_do(stack, monkeypatch):
    from bot.cli import main

    sim = stack.sim
    _number, live = open_pr_while_down(stack)
    (missed,) = sim.deliveries("pull_request", "opened")
    for name, value in sim.settings_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SHUNTER_REDIS_URL", stack.runtime.redis_url)
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(stack.data_dir / "cli"))
    result = CliRunner().invoke(main, ["redeliver", "--dry-run"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if missed.guid in x)
    assert "would redeliver" in line and "pull_request.opened" in line
    assert result.output.strip().endswith("would be redelivered")
    assert requests(sim, "POST", "/app/hook/deliveries/") == 0

    monkeypatch.delenv("SHUNTER_APP_ID")
    result = CliRunner().invoke(main, ["redeliver"])
    assert result.exit_code != 0 and "SHUNTER_APP_ID" in result.output


def test_later_sweeps_start_at_the_last_one_but_an_explicit_window_does_not(stack):
    from bot.github.redelivery import MARK_KEY

    sim = stack.sim
    open_pr_while_down(stack)
    stack.redis.set(MARK_KEY, str((datetime.now(UTC) + timedelta(hours=1)).timestamp()))
    assert sweep(stack.runtime, dry_run=True).scanned == 0  # everything is before the mark
    report = sweep(stack.runtime, dry_run=True, within=timedelta(hours=2))
    (missed,) = sim.deliveries("pull_request", "opened")
    assert {d.guid: d.verdict for d in report.decisions}[missed.guid] is Verdict.REDELIVER


def test_a_late_redelivery_cannot_supersede_a_newer_push(stack):
    """The PR was opened while the front door was down and pushed to once it was back; the
    sweep brings the old `opened` back, which must not move the checks back to the old head."""
    sim = stack.sim
    number, live = open_pr_while_down(stack)
    old_head = sim.pull(REPO, number).head_sha
    sim.webhook_url = live
    sim.advance_time(5)
    sim.commit(REPO, "feature", {"app.py": "def add(a, b):\n    return b + a\n"}, author="alice")
    sim.wait_for_deliveries()
    stack.drain()
    new_head = sim.pull(REPO, number).head_sha
    assert new_head != old_head
    before = {(r.id, r.status, r.conclusion) for r in sim.check_runs(REPO)}
    assert before and all(r.head_sha == new_head for r in sim.check_runs(REPO))

    (missed,) = sim.deliveries("pull_request", "opened")
    report = sweep(stack.runtime)
    assert report.redelivered == [missed.guid]
    sim.wait_for_deliveries()
    stack.drain()
    assert {(r.id, r.status, r.conclusion) for r in sim.check_runs(REPO)} == before  # untouched
    events = Queue("events", connection=stack.redis, serializer=JSONSerializer)
    finished = [events.fetch_job(job_id) for job_id in events.finished_job_registry.get_job_ids()]
    (job,) = [job for job in finished if job is not None and missed.guid in job.description]
    outcome = job.return_value()
    assert "planning.stale" in str(outcome) and old_head[:12] in str(outcome) and new_head[:12] in str(outcome)


def test_github_refusing_a_redelivery_is_reported_counted_and_not_fatal(stack):
    """A 422 for one request: the sweep goes on with the others, the CLI would exit 1, and the
    refusal counts as a request, so a delivery GitHub keeps refusing is given up too."""
    sim = failed_pings(stack, 2)
    first, second = (d.guid for d in sim.deliveries("ping"))
    sim.faults.error(422, pattern="POST /app/hook/deliveries/*", times=1)
    report = sweep(stack.runtime)
    assert list(report.errors) == [first] and "422" in report.errors[first]
    assert report.redelivered == [second] and report.complete
    asked = stack.redis.hget(f"shunter:redelivery:sent:{first}", "count")
    assert asked == b"1"
    # a 5xx (after githubkit's own retries) stops the sweep: the rest waits for the next one
    sim.wait_for_deliveries()
    sim.faults.error(502, pattern="POST /app/hook/deliveries/*", times=None)
    later = sweep(stack.runtime, now=datetime.now(UTC) + timedelta(minutes=5))
    assert len(later.errors) == 1 and not later.complete and later.redelivered == []
