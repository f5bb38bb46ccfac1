from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.git import branch_refspec, cleanup_mirrors, open_workspace, plan_cleanup
from bot.git.cleanup import MirrorInfo, list_mirrors
from bot.git.locks import file_lock
from bot.git.mirror import lock_path

DAY = 86_400.0


def _info(name: str, size: int, age_days: float, now: float) -> MirrorInfo:
    return MirrorInfo(Path(name), size, now - age_days * DAY)


def test_plan_drops_stale_then_oldest_until_under_budget() -> None:
    now = 1_000 * DAY
    mirrors = [
        _info("a", 100, 40, now),
        _info("b", 300, 5, now),
        _info("c", 300, 1, now),
        _info("d", 300, 0.1, now),
    ]
    victims = plan_cleanup(mirrors, now=now, max_age_seconds=30 * DAY, max_total_bytes=700)
    assert [v.path.name for v in victims] == ["a", "b"]
    assert plan_cleanup(mirrors, now=now) == []
    assert [v.path.name for v in plan_cleanup(mirrors, now=now, max_total_bytes=0)] == [
        "a",
        "b",
        "c",
        "d",
    ]


def test_cleanup_removes_stale_mirrors_and_skips_busy_ones(remote, data_dir: Path) -> None:
    remote.commit("refs/heads/main", {"a": b"1\n"})
    for name in ("octo/old", "octo/busy", "octo/fresh"):
        open_workspace(data_dir, name, remote.url).fetch([branch_refspec("main")])
    infos = {i.path.name: i for i in list_mirrors(data_dir)}
    assert set(infos) == {"old.git", "busy.git", "fresh.git"} and infos["old.git"].size_bytes > 0
    long_ago = infos["old.git"].last_used - 90 * DAY
    for name in ("old.git", "busy.git"):
        os.utime(lock_path(infos[name].path), (long_ago, long_ago))
    with file_lock(lock_path(infos["busy.git"].path)):
        os.utime(lock_path(infos["busy.git"].path), (long_ago, long_ago))
        removed = cleanup_mirrors(data_dir, max_age_seconds=30 * DAY)
    assert [p.name for p in removed] == ["old.git"]
    assert not infos["old.git"].path.exists()
    assert infos["busy.git"].path.exists() and infos["fresh.git"].path.exists()
    # a removed mirror is simply re-created on next use
    ws = open_workspace(data_dir, "octo/old", remote.url)
    ws.fetch([branch_refspec("main")])
    assert ws.has_commit("main")


def test_a_mirror_a_job_opens_while_clean_up_lists_it_is_kept(remote, data_dir, monkeypatch) -> None:
    import bot.git.cleanup as cleanup_module

    day = 86400.0
    base = remote.commit("refs/heads/main", {"a.py": b"x = 1\n"}, parents=[])
    open_workspace(data_dir, "octo/app", remote.url).fetch([branch_refspec("main")])
    mirror = data_dir / "mirrors/octo/app.git"
    old = os.stat(lock_path(mirror)).st_mtime - 60 * day
    os.utime(lock_path(mirror), (old, old))  # idle for 60 days
    listed = cleanup_module.list_mirrors
    job = {}

    def listing_while_a_webhook_arrives(path):
        found = listed(path)
        ws = open_workspace(data_dir, "octo/app", remote.url)  # another worker's job
        job["head"] = remote.commit("refs/pull/7/head", {"a.py": b"x = 2\n"}, parents=[base])
        ws.fetch_pull_request(7, base_branch="main")
        job["ws"] = ws
        return found

    monkeypatch.setattr(cleanup_module, "list_mirrors", listing_while_a_webhook_arrives)
    assert cleanup_module.cleanup_mirrors(data_dir, max_age_seconds=30 * day) == []
    assert [f.path for f in job["ws"].context_for("refs/heads/main", job["head"]).files] == ["a.py"]


def test_a_fetch_of_a_mirror_clean_up_removed_is_retried_not_failed(remote, data_dir) -> None:
    import shutil

    from bot.errors import TransientError

    remote.commit("refs/heads/main", {"a.py": b"x = 1\n"}, parents=[])
    ws = open_workspace(data_dir, "octo/app", remote.url)
    shutil.rmtree(ws.path)  # clean-up ran while this job waited for the fetch lock
    with pytest.raises(TransientError, match="removed by clean-up"):
        ws.fetch([branch_refspec("main")])
    again = open_workspace(data_dir, "octo/app", remote.url)  # rq's retry
    again.fetch([branch_refspec("main")])
    assert "refs/heads/main" in again.repo.references


def test_scratch_dirs_killed_jobs_left_are_swept_and_nothing_else(tmp_path: Path) -> None:
    from bot.git.scratch import ABANDONED_AFTER, sweep_abandoned

    old = 0.0 + 1_000_000
    abandoned = tmp_path / "shunter-tests-abc"
    deep = abandoned
    for _ in range(300):  # PR code nests directories deeply
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / "f.py").write_text("x = 1\n")
    running = tmp_path / "shunter-review-def"
    running.mkdir()
    someone_elses = tmp_path / "other-tool-xyz"
    someone_elses.mkdir()
    a_file = tmp_path / "shunter-not-a-dir"
    a_file.write_text("")
    for path in (abandoned, someone_elses, a_file):
        os.utime(path, (old, old))
    assert sweep_abandoned(tmp_path) == [abandoned]
    assert not abandoned.exists() and running.exists() and someone_elses.exists() and a_file.exists()
    assert sweep_abandoned(tmp_path, older_than=ABANDONED_AFTER) == []


def _age(mirror: Path, refs: list[str], days: float) -> None:
    """Say ``refs`` were last fetched ``days`` ago (as a fetch that long ago noted them)."""
    import time

    from bot.git.fetched_refs import record_fetch

    record_fetch(mirror, refs, time.time() - days * DAY)


def test_hourly_maintenance_prunes_refs_no_job_fetched_within_the_age_limit(
    remote, data_dir: Path, redis_client
) -> None:
    """Closed pull requests' heads, old merge-queue branches and refs under the retired
    fetch_branch naming (refs/shunter/fetched/<branch>) went on piling up in a mirror in
    use: only whole mirrors were ever deleted."""
    import time
    from types import SimpleNamespace

    from bot.git.push import GitRemote, fetch_branch
    from bot.pipeline.stage_job import _maintain_mirrors_now_and_then
    from bot.settings import Settings

    base = remote.commit("refs/heads/main", {"a.py": b"x = 0\n"}, parents=[])
    for number in (1, 2, 3):
        remote.commit(f"refs/pull/{number}/head", {"a.py": f"x = {number}\n".encode()}, parents=[base])
    group = "refs/heads/gh-readonly-queue/main/pr-1-" + base
    remote.commit(group, {"a.py": b"x = 1\n"}, parents=[base])
    remote.commit("refs/heads/shunter/fixes-3", {"a.py": b"x = 30\n"}, parents=[base])
    ws = open_workspace(data_dir, "octo/app", remote.url)
    for number in (1, 2):
        ws.fetch_pull_request(number, base_branch="main")
    ws.fetch([f"+{group}:{group}"])
    ws.repo.references.create("refs/shunter/fetched/fix", base)  # the retired naming
    ws.repo.references.create("refs/shunter/fetched/feature/x", base)
    _age(ws.path, ["refs/pull/1/head", "refs/pull/2/head", "refs/heads/main", group], days=40)
    head3 = remote.commit("refs/pull/3/head", {"a.py": b"x = 33\n"})
    ws.fetch_pull_request(3, base_branch="main")  # a job now: main is fetched again too
    follow_up = fetch_branch(ws.repo, GitRemote(remote.url), "shunter/fixes-3")  # no lock, no note
    idle_since = lock_path(ws.path).stat().st_mtime - 2 * DAY
    os.utime(lock_path(ws.path), (idle_since, idle_since))

    runtime = SimpleNamespace(settings=Settings(data_dir=data_dir, mirror_max_age_days=30), redis=redis_client)
    redis_client.delete(f"shunter:mirror-cleanup:{data_dir}")
    _maintain_mirrors_now_and_then(runtime)  # type: ignore[arg-type]

    left = set(ws.repo.listall_references())
    fetched = {r for r in left if r.startswith("refs/shunter/fetched/")}
    assert left - fetched == {"refs/heads/main", "refs/pull/3/head"}
    assert len(fetched) == 1 and str(ws.repo.references[fetched.pop()].target) == follow_up
    # the mirror is not made to look used: its own age limit still applies
    assert lock_path(ws.path).stat().st_mtime == idle_since
    # the job of the live pull request reads its refs; objects stay for any job mid-way
    assert [f.path for f in ws.context_for("refs/heads/main", head3).files] == ["a.py"]
    assert ws.has_commit(str(remote.repo.references["refs/pull/1/head"].target))

    # a ref no fetch noted gets the full age from when clean-up first saw it
    from bot.git.cleanup import prune_mirror_refs

    assert prune_mirror_refs(data_dir, max_age_seconds=30 * DAY, now=time.time() + 29 * DAY) == 0
    assert prune_mirror_refs(data_dir, max_age_seconds=30 * DAY, now=time.time() + 31 * DAY) == 3
    assert ws.repo.listall_references() == []
    # a pull request reopened after its ref went is simply fetched again
    ws.fetch_pull_request(1, base_branch="main")
    assert "refs/pull/1/head" in ws.repo.references


def test_ref_pruning_skips_a_mirror_a_worker_is_fetching(remote, data_dir: Path) -> None:
    from bot.git.cleanup import prune_mirror_refs, prune_refs

    remote.commit("refs/heads/main", {"a": b"1\n"}, parents=[])
    ws = open_workspace(data_dir, "octo/app", remote.url)
    ws.fetch([branch_refspec("main")])
    _age(ws.path, ["refs/heads/main"], days=40)
    with file_lock(lock_path(ws.path)):
        assert prune_refs(ws.path, max_age_seconds=30 * DAY) is None
        assert prune_mirror_refs(data_dir, max_age_seconds=30 * DAY) == 0
    assert "refs/heads/main" in ws.repo.references
    assert prune_refs(ws.path, max_age_seconds=30 * DAY) == ["refs/heads/main"]


def test_plan_ref_prune() -> None:
    from bot.git.fetched_refs import fetched_ref, plan_ref_prune

    now = 100 * DAY
    current = fetched_ref("fix/typo")
    plan = plan_ref_prune(
        ["refs/pull/1/head", "refs/pull/2/head", "refs/shunter/fetched/fix/typo", current, "refs/tags/v1"],
        {"refs/pull/1/head": now - 31 * DAY, "refs/pull/2/head": now - 29 * DAY, "refs/gone": 0.0},
        now=now,
        max_age_seconds=30 * DAY,
    )
    assert plan.delete == ["refs/pull/1/head", "refs/shunter/fetched/fix/typo"]
    assert plan.log == {"refs/pull/2/head": now - 29 * DAY, current: now, "refs/tags/v1": now}


def test_fetch_branch_answers_when_clean_up_drops_its_ref_meanwhile(remote, data_dir: Path, monkeypatch) -> None:
    """fetch_branch takes no mirror lock: clean-up may delete its ref right after the fetch
    wrote it (it was a KeyError that failed the merge job)."""
    import pygit2

    from bot.git.fetched_refs import fetched_ref
    from bot.git.push import GitRemote, fetch_branch

    head = remote.commit("refs/heads/feature", {"a": b"1\n"}, parents=[])
    ws = open_workspace(data_dir, "octo/app", remote.url)
    fetch = pygit2.remotes.Remote.fetch

    def fetch_then_clean_up(self, *args, **kwargs):
        done = fetch(self, *args, **kwargs)
        ws.repo.references.delete(fetched_ref("feature"))
        return done

    monkeypatch.setattr(pygit2.remotes.Remote, "fetch", fetch_then_clean_up)
    assert fetch_branch(ws.repo, GitRemote(remote.url), "feature") == head
