"""The merge worker writes its commits as loose objects (a file each), which no pack count
sees: past git's ``gc.auto`` estimate of them a repository is repacked, and the loose
objects it packed are removed, with every object still readable. Real repositories, real
git (``git prune-packed``)."""

from __future__ import annotations

from pathlib import Path

import pygit2

from bot.git.cleanup import merge_repos_root
from bot.git.locks import file_lock
from bot.git.mirror import lock_path
from bot.git.repack import loose_estimate, pack_files, repack_mirrors


def loose_files(repo: Path) -> list[Path]:
    return [p for p in (repo / "objects").glob("[0-9a-f][0-9a-f]/*") if p.is_file()]


def merge_repository_with_loose_objects(data_dir: Path) -> tuple[Path, list[str]]:
    """A merge worker's repository whose objects are all loose, enough of them that the
    estimate (``objects/17`` counted, times 256) is at least 512; returns it and its objects."""
    path = merge_repos_root(data_dir) / "octo__app.git"
    repo = pygit2.init_repository(str(path), bare=True)
    oids: list[str] = []
    i = 0
    while loose_estimate(path) < 512:
        oids.append(str(repo.create_blob(f"blob {i}\n".encode())))
        i += 1
    builder = repo.TreeBuilder()
    builder.insert("a.txt", pygit2.Oid(hex=oids[0]), pygit2.GIT_FILEMODE_BLOB)
    tree = builder.write()
    who = pygit2.Signature("Shunter", "shunter@example.com")
    commit = repo.create_commit("refs/heads/main", who, who, "landed", tree, [])
    return path, [*oids, str(tree), str(commit)]


def test_loose_objects_past_the_estimate_are_packed_and_removed(data_dir: Path) -> None:
    path, oids = merge_repository_with_loose_objects(data_dir)
    assert len(loose_files(path)) == len(oids) and pack_files(path) == []
    # The tree and commit may land in objects/17 too, so the limit "not past" is measured.
    estimate = loose_estimate(path)
    assert estimate >= 512
    assert repack_mirrors(data_dir, loose_limit=estimate) == []  # not past the limit: left alone
    with file_lock(lock_path(path.resolve())):  # a landing (or another upkeep) holds it
        assert repack_mirrors(data_dir, loose_limit=256) == []
    assert len(loose_files(path)) == len(oids)
    [done] = repack_mirrors(data_dir, loose_limit=256)
    assert done.mirror == path and done.loose_removed == len(oids)
    assert loose_files(path) == [] and len(pack_files(path)) == 1
    fresh = pygit2.Repository(str(path))
    assert all(oid in fresh for oid in oids)
    assert fresh.references["refs/heads/main"].peel(pygit2.Commit).message == "landed"
    assert loose_estimate(path) == 0 and repack_mirrors(data_dir, loose_limit=256) == []
