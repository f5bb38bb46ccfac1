from __future__ import annotations

import os
from pathlib import Path

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
