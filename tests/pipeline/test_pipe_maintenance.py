"""Stage workers keep the mirror cache in shape at most hourly: stale mirrors go, busy ones
get their packs folded into one."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from bot.git import branch_refspec, open_workspace
from bot.git.repack import PACK_LIMIT, pack_files
from bot.pipeline.stage_job import _maintain_mirrors_now_and_then
from bot.settings import Settings


def test_hourly_maintenance_repacks_a_mirror_with_too_many_packs(remote, data_dir: Path, redis_client) -> None:
    ws = open_workspace(data_dir, "octo/app", remote.url)
    for i in range(PACK_LIMIT + 1):
        remote.commit("refs/heads/main", {"a.py": f"x = {i}\n".encode()})
        ws.fetch([branch_refspec("main")])
    assert len(pack_files(ws.path)) == PACK_LIMIT + 1
    runtime = SimpleNamespace(settings=Settings(data_dir=data_dir), redis=redis_client)
    redis_client.delete(f"shunter:mirror-cleanup:{data_dir}")
    _maintain_mirrors_now_and_then(runtime)  # type: ignore[arg-type]
    assert len(pack_files(ws.path)) == 1
    # within the hour nothing runs again, however many packs arrive
    for i in range(2):
        remote.commit("refs/heads/main", {"b.py": f"y = {i}\n".encode()})
        ws.fetch([branch_refspec("main")])
    _maintain_mirrors_now_and_then(runtime)  # type: ignore[arg-type]
    assert len(pack_files(ws.path)) == 3


def test_hourly_maintenance_deletes_the_sarif_of_runs_past_retention(data_dir: Path, redis_client) -> None:
    """Each security run's SARIF is kept in the data dir for its run page; the run rows were
    pruned after SHUNTER_RETENTION_DAYS but their SARIF files stayed for good."""
    import os
    import time

    from bot.web.runs import sarif_path

    old, recent = sarif_path(data_dir, 1), sarif_path(data_dir, 2)
    old.parent.mkdir(parents=True)
    old.write_text("{}")
    recent.write_text("{}")
    month_ago = time.time() - 31 * 86400
    os.utime(old, (month_ago, month_ago))
    runtime = SimpleNamespace(settings=Settings(data_dir=data_dir, retention_days=30), redis=redis_client)
    redis_client.delete(f"shunter:mirror-cleanup:{data_dir}")
    _maintain_mirrors_now_and_then(runtime)  # type: ignore[arg-type]
    assert (old.exists(), recent.exists()) == (False, True)
    kept = SimpleNamespace(settings=Settings(data_dir=data_dir, retention_days=0), redis=redis_client)
    os.utime(recent, (month_ago, month_ago))
    redis_client.delete(f"shunter:mirror-cleanup:{data_dir}")
    _maintain_mirrors_now_and_then(kept)  # type: ignore[arg-type]
    assert recent.exists()  # 0 keeps everything
