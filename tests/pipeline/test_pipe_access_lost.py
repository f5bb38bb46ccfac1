"""Repositories Shunter lost access to: it removes its copies of their code and drops their
queued changes.

Before, ``installation`` ``deleted`` and ``installation_repositories`` ``removed`` were only
logged: the git mirror of a private repository (its whole history) stayed in the data dir
for ``mirror_max_age_days`` (30 days) after its owner removed the App, and a queued fix
stayed in the merge queue to fail. Through the simulator, the real workers, real git
repositories on disk and real Redis.
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pygit2

from bot.git.mirror import mirror_path
from bot.pipeline.uninstalled import FORGOTTEN, remove_forgotten
from bot.queue.merge import MergeQueue
from tests.pipeline.test_pipe_apply import REPO, open_pr, replies


def queue_a_fix(stack, number: int) -> str:
    stack.sim.comment(REPO, number, "/shunter apply", user="alice")
    stack.sim.wait_for_deliveries()
    stack.work(("events",))  # the command only: the merge job has not run
    body = replies(stack.sim, number)[-1].body
    assert "queued for" in body, body
    return body.split("(`")[1].split("`")[0]


def deliver(stack, event: str, payload: dict) -> None:
    stack.sim.send_event(event, payload)
    stack.sim.wait_for_deliveries()
    stack.drain()


def test_repositories_removed_from_the_installation_leave_no_copy_and_no_queued_change(stack):
    number = open_pr(stack)
    data_dir = stack.runtime.settings.data_dir
    mirror = mirror_path(data_dir, REPO)
    assert (mirror / "HEAD").is_file()  # the PR's stages fetched it
    change_id = queue_a_fix(stack, number)
    installation = {"id": stack.sim.installation_id(REPO), "account": {"login": "octo", "id": 1}}
    deliver(
        stack,
        "installation_repositories",
        {
            "action": "removed",
            "installation": installation,
            "repository_selection": "selected",
            "repositories_added": [],
            "repositories_removed": [{"id": 7, "name": "demo", "full_name": "Octo/Demo", "private": True}],
            "sender": {"login": "octo", "id": 1},
        },
    )
    assert not mirror.exists()
    assert MergeQueue(stack.runtime.redis).get(change_id) is None
    [event] = stack.runtime.store.audit_events(repo=REPO, action="change.dropped")
    assert event.target_id == change_id and event.reason_code == "access_lost", event
    assert stack.runtime.redis.zscore(FORGOTTEN, "Octo/Demo") is not None  # for other data dirs


def test_an_uninstalled_app_leaves_none_of_the_accounts_repositories(stack):
    open_pr(stack)
    data_dir = stack.runtime.settings.data_dir
    other = mirror_path(data_dir, "someone/else")
    pygit2.init_repository(str(other), bare=True)  # another account's: stays
    inst = stack.sim.world.installations[stack.sim.installation_id(REPO)]
    deliver(stack, *stack.sim.hub.events.installation("deleted", inst, "octo"))
    assert not mirror_path(data_dir, REPO).exists()
    assert (other / "HEAD").is_file()


def test_other_data_dirs_remove_their_copies_at_maintenance_unless_used_since(redis_url, tmp_path):
    import redis

    client = redis.Redis.from_url(redis_url)
    runtime = SimpleNamespace(redis=client, settings=SimpleNamespace(data_dir=tmp_path))
    lost_at = time.time()
    client.zadd(FORGOTTEN, {"octo/demo": lost_at, "gone/*": lost_at, "old/repo": lost_at - 40 * 86400})
    kept_copies = []
    before = lost_at - 60  # each copy was last used before access was lost
    for name in ("octo/demo", "gone/one", "old/repo", "octo/again"):
        path = mirror_path(tmp_path, name)
        pygit2.init_repository(str(path), bare=True)
        os.utime(path, (before, before))
        kept_copies.append(path)
    reinstalled = tmp_path / "merge" / "gone__two.git"  # the merge worker's, used after the loss
    pygit2.init_repository(str(reinstalled), bare=True)
    assert remove_forgotten(runtime, max_age_seconds=30 * 86400) == 2
    demo, gone, old, again = kept_copies
    assert not demo.exists() and not gone.exists()
    assert old.exists()  # lost longer ago than the age limit: no longer listed (age clean-up's)
    assert again.exists() and reinstalled.exists()
    assert client.zscore(FORGOTTEN, "old/repo") is None
