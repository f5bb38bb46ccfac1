"""A worker killed while ``fetch_branch`` updated a branch's private ref leaves git's lock
file beside it, and every later fetch of that branch failed for good ("failed to lock
file"): the merge queue retried the change until it was dead-lettered. A lock left long
enough ago is a dead process's and is removed, as ``mirror.fetch`` does; a fresh one is
another process's, and the fetch fails (transiently) instead. Real repositories, over git."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pygit2
import pytest

from bot.errors import TransientError
from bot.git.fetched_refs import fetched_ref
from bot.git.mirror import STALE_LOCK_SECONDS
from bot.git.push import GitRemote, fetch_branch


def lock_left_on(repo: pygit2.Repository, branch: str, age: float) -> Path:
    lock = Path(repo.path) / (fetched_ref(branch) + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("")
    then = time.time() - age
    os.utime(lock, (then, then))
    return lock


@pytest.mark.parametrize("downloads", [True, False], ids=["new-commits", "known-head"])
def test_a_dead_fetchs_lock_is_removed_and_the_branch_fetched(remote, tmp_path: Path, downloads: bool) -> None:
    first = remote.commit("refs/heads/main", {"a.py": b"x = 1\n"})
    repo = pygit2.init_repository(str(tmp_path / "merge.git"), bare=True)
    via = GitRemote(url=str(remote.path))
    assert fetch_branch(repo, via, "main") == first
    second = remote.commit("refs/heads/main", {"a.py": b"x = 2\n"})
    if not downloads:  # the head is in the repository already: only the ref is written
        repo.remotes.create_anonymous(via.url).fetch(["+refs/heads/main:refs/elsewhere/main"])
        assert second in repo
    lock = lock_left_on(repo, "main", STALE_LOCK_SECONDS + 60)
    assert fetch_branch(repo, via, "main") == second
    assert str(repo.references[fetched_ref("main")].target) == second and not lock.exists()


def test_a_fresh_lock_is_another_process_at_work_and_left_alone(remote, tmp_path: Path) -> None:
    remote.commit("refs/heads/main", {"a.py": b"x = 1\n"})
    repo = pygit2.init_repository(str(tmp_path / "merge.git"), bare=True)
    lock = lock_left_on(repo, "main", 1)
    with pytest.raises(TransientError, match="failed to lock file"):
        fetch_branch(repo, GitRemote(url=str(remote.path)), "main")
    assert lock.exists()
