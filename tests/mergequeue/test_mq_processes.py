"""Several worker processes on one branch, and workers killed with SIGKILL mid-flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mq_forge import edited

from bot.changes.model import Priority
from bot.queue.merge import MergeQueue, QueueSettings
from bot.queue.merge_worker import process_once

ROOT = Path(__file__).resolve().parents[2]


def spawn_worker(redis_url: str, forge, workdir: Path, name: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(workdir.parent)])}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.queue.merge_worker",
            "--redis-url",
            redis_url,
            "--workdir",
            str(workdir / name),
            "--remote-root",
            str(forge.remote_root),
            "--owner",
            name,
            *extra,
        ],
        env=env,
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("race", [False, True], ids=["branch-lock", "racing-cas"])
def test_fifty_changes_four_processes_each_landed_once_or_dead_lettered(
    forge, redis_client, redis_url, git_policy, tmp_path, race
):
    mq = MergeQueue(redis_client)
    base = forge.head()
    crs = []
    for i in range(46):
        priority = Priority.AUTO if i % 5 == 0 else Priority.REQUESTED
        crs.append(forge.change({f"src/mod{i}.py": edited(i)}, title=f"fix {i}", priority=priority))
    # four requests fight over one line of mod50: one lands, three conflict
    for tag in ("a", "b", "c", "d"):
        crs.append(forge.change({"src/mod50.py": edited(50, tag)}, title=f"clash {tag}"))
    for cr in crs:
        assert mq.submit(cr, forge.base_tree(base), git_policy, {}).created
    extra = ["--max-batch", "8", "--exit-when-idle", "1.5", "--lease-seconds", "10"]
    extra += ["--idle-sleep", "0.05"] + (["--no-branch-lock"] if race else [])
    workers = [spawn_worker(redis_url, forge, tmp_path / "w", f"proc{n}", *extra) for n in range(4)]
    outputs = [w.communicate(timeout=60)[0] for w in workers]
    print("\n".join(o.strip().splitlines()[-1] for o in outputs))
    assert all(w.returncode == 0 for w in workers), outputs

    counts = forge.trailer_counts()
    shas = {str(c.id) for c in forge.history()}
    states = {cr.id: mq.get(cr.id) for cr in crs}
    landed = [i for i, e in states.items() if e.state == "landed"]
    dead = [i for i, e in states.items() if e.state == "dead"]
    assert len(landed) + len(dead) == 50, {i: e.state for i, e in states.items()}
    assert len(landed) == 47 and len(dead) == 3
    for change_id in landed:
        assert counts.get(change_id) == 1, change_id  # exactly one commit carries it
        assert states[change_id].fields["landed_sha"] in shas
    for change_id in dead:
        assert counts.get(change_id) is None
        assert states[change_id].fields["dead_reason"] == "conflict"
        assert "src/mod50.py" in states[change_id].fields["dead_detail"]
    history = forge.history()
    assert all(len(c.parents) <= 1 for c in history)  # linear
    for i in range(46):
        assert forge.read(f"src/mod{i}.py") == edited(i)
    assert forge.read("src/mod50.py") in {edited(50, t) for t in "abcd"}
    assert list(mq.entries()) and all(e.state == "dead" for e in mq.entries())
    pushes = sum(int(o.split("pushes=")[1].split()[0]) for o in outputs if "pushes=" in o)
    assert len(history) - 1 < 25  # batched: far fewer commits than changes
    if not race:  # one batch per branch at a time: no push is wasted on a lost race
        assert pushes == len(history) - 1, outputs


HOOKS = """
import pathlib, time
from bot.queue.merge_worker import NoHooks

class Stall(NoHooks):
    def {point}(self, claim, sha):
        pathlib.Path({marker!r}).write_text(sha)
        time.sleep(60)
"""


@pytest.mark.parametrize("point", ["before_push", "after_push"])
def test_sigkilled_worker_is_taken_over_without_a_duplicate_commit(
    forge, redis_client, redis_url, git_policy, tmp_path, store_factory, point
):
    mq = MergeQueue(redis_client, QueueSettings(lease_seconds=1.0, backoff_base=0.01))
    base = forge.head()
    cr = forge.change({"src/mod5.py": edited(5)})
    mq.submit(cr, forge.base_tree(), git_policy, {})
    marker = tmp_path / "stalled"
    hooks_dir = tmp_path / "hooks"
    hooks_dir.mkdir()
    (hooks_dir / "mq_stall_hooks.py").write_text(HOOKS.format(point=point, marker=str(marker)))
    env_dir = hooks_dir / "w"
    proc = spawn_worker(
        redis_url,
        forge,
        env_dir,
        "doomed",
        "--lease-seconds",
        "1",
        "--hooks",
        "mq_stall_hooks:Stall",
    )
    deadline = time.monotonic() + 20
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert mq.get(cr.id).state == "leased"
    assert mq.get(cr.id).fields["lease_owner"] == "doomed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    pushed = point == "after_push"
    head_after_kill = forge.head()
    assert (head_after_kill != base) == pushed  # the kill came before / after the push

    outcome = None
    deadline = time.monotonic() + 10
    while outcome is None and time.monotonic() < deadline:
        outcome = process_once(mq, store_factory("rescuer"), owner_id="rescuer")
        time.sleep(0.1)
    assert outcome is not None and outcome.report is not None
    entry = mq.get(cr.id)
    assert entry.state == "landed"
    assert entry.fields["reclaims"] == "1" and entry.attempts == 2
    assert forge.trailer_counts() == {cr.id: 1}
    assert len(forge.history()) == 2
    assert forge.read("src/mod5.py") == edited(5)
    if pushed:
        assert outcome.report.already_landed == {cr.id: head_after_kill}
        assert outcome.report.pushes == 0
    else:
        assert outcome.report.change_ids == [cr.id] and outcome.report.pushes == 1
