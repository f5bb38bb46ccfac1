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
