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
