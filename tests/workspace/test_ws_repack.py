"""Mirrors gather a pack per fetch; past the limit they are folded into one pack, with every
ref and object still readable, and a busy mirror is left alone."""

from __future__ import annotations

from pathlib import Path

import pygit2

from bot.git import branch_refspec, open_workspace
from bot.git.locks import file_lock
from bot.git.mirror import lock_path
from bot.git.repack import pack_files, repack, repack_mirrors


def _busy_repository(remote, data_dir: Path, fetches: int):
    ws = open_workspace(data_dir, "octo/app", remote.url)
    shas = []
    for i in range(fetches):
        shas.append(remote.commit("refs/heads/main", {"a.py": f"x = {i}\n".encode(), f"f{i}.txt": b"y\n"}))
        ws.fetch([branch_refspec("main")])
    return ws, shas


def test_many_packs_become_one_and_everything_stays_readable(remote, data_dir: Path) -> None:
    ws, shas = _busy_repository(remote, data_dir, 6)
    assert len(pack_files(ws.path)) == 6  # one pack per fetch
    assert repack(ws.path, limit=10) is None  # under the limit: nothing to do
    result = repack(ws.path, limit=3)
    assert result is not None and result.packs_before == 6 and result.objects >= 6 * 3
    assert len(pack_files(ws.path)) == 1
    fresh = pygit2.Repository(str(ws.path))  # what another worker opens afterwards
    for i, sha in enumerate(shas):
        commit = fresh[sha].peel(pygit2.Commit)
        assert fresh[commit.tree["a.py"].id].data == f"x = {i}\n".encode()
    assert str(fresh.references["refs/heads/main"].target) == shas[-1]
    # the workspace opened before the repack still reads (libgit2 re-scans on a miss)
    assert ws.repo[shas[0]].peel(pygit2.Commit).message == "c"
    # and fetching on top keeps working
    remote.commit("refs/heads/main", {"a.py": b"x = 99\n"})
    ws.fetch([branch_refspec("main")])
    assert len(pack_files(ws.path)) == 2


def test_a_busy_mirror_is_left_for_the_next_round(remote, data_dir: Path) -> None:
    ws, _ = _busy_repository(remote, data_dir, 4)
    with file_lock(lock_path(ws.path.resolve())):
        assert repack_mirrors(data_dir, limit=2) == []
    assert len(pack_files(ws.path)) == 4
    done = repack_mirrors(data_dir, limit=2)
    assert [r.mirror for r in done] == [ws.path] and len(pack_files(ws.path)) == 1


def test_a_killed_repacks_staging_folder_is_removed_by_the_next_repack(remote, data_dir: Path) -> None:
    ws, shas = _busy_repository(remote, data_dir, 4)
    folder = ws.path / "objects" / "pack"
    # what a repack killed mid-way leaves: its staging folder with a whole pack inside
    abandoned = folder / ".repack-killed01"
    abandoned.mkdir()
    pygit2.Repository(str(ws.path)).pack(str(abandoned), n_threads=0)
    assert any(abandoned.glob("pack-*.pack"))
    result = repack(ws.path, limit=2)
    assert result is not None and not abandoned.exists()
    assert [p.name for p in folder.iterdir() if p.name.startswith(".repack-")] == []
    assert pygit2.Repository(str(ws.path))[shas[-1]].peel(pygit2.Commit).message == "c"
