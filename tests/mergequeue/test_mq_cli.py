"""``shunter queue ls|show|retry|drop`` against a real Redis."""

from __future__ import annotations

import json

from click.testing import CliRunner
from mq_forge import edited
from rq import Queue
from rq.serializers import JSONSerializer

from bot.cli import main


def run(*args: str):
    return CliRunner().invoke(main, ["queue", *args], catch_exceptions=False)


def test_queue_cli(forge, mq, git_policy, redis_url, clean_env, monkeypatch):
    monkeypatch.setenv("SHUNTER_REDIS_URL", redis_url)
    assert "empty" in run("ls").output
    waiting = forge.change({"src/mod1.py": edited(1)}, title="waiting one")
    dead = forge.change({"src/mod2.py": edited(2)}, title="dead one")
    mq.enqueue(dead, git_policy)
    claim = mq.claim("w")
    mq.finish_dead(claim, dead.id, "conflict", "src/mod2.py changed on the branch")
    mq.unlock(claim)
    mq.enqueue(waiting, git_policy)

    out = run("ls").output
    assert waiting.id in out and dead.id in out and "conflict" in out
    mq.heartbeat("worker-1", {"pid": 42, "landed": 3})
    assert "workers: worker-1 (landed 3)" in run("ls").output
    listing = json.loads(run("ls", "--json").output)
    assert listing["workers"] == {"worker-1": {"pid": 42, "landed": 3}}
    rows = listing["entries"]
    assert {r["id"]: r["state"] for r in rows} == {waiting.id: "waiting", dead.id: "dead"}

    shown = json.loads(run("show", dead.id, "--json").output)
    assert shown["dead_reason"] == "conflict"
    assert shown["change_request"]["files"][0]["path"] == "src/mod2.py"
    assert "@@ " in run("show", dead.id).output

    merge_jobs = Queue("merge", connection=mq.redis, serializer=JSONSerializer)
    before = merge_jobs.count
    assert json.loads(run("retry", dead.id, "--json").output)["state"] == "waiting"
    # and a merge job is queued to land it: nothing else would until another change arrives
    assert merge_jobs.count == before + 1
    assert merge_jobs.jobs[-1].func_name == "bot.pipeline.patches.merge_job"
    assert "dropped" in run("drop", waiting.id).output
    assert mq.get(waiting.id) is None

    missing = CliRunner().invoke(main, ["queue", "show", "cr-missing"])
    assert missing.exit_code != 0 and "no merge-queue entry" in missing.output
    landed_retry = CliRunner().invoke(main, ["queue", "drop", "cr-missing"])
    assert landed_retry.exit_code == 2 and "no merge-queue entry" in landed_retry.output
