from __future__ import annotations

import time
from pathlib import Path

import pygit2
import pytest

from bot.errors import WorkspaceError
from bot.git import branch_refspec, mirror_path, open_workspace, pull_refspec
from bot.git.mirror import strip_credentials


def test_mirror_lives_under_data_dir_per_owner_and_repo(data_dir: Path) -> None:
    assert mirror_path(data_dir, "octo/app") == data_dir / "mirrors" / "octo" / "app.git"


@pytest.mark.parametrize("name", ["octo", "../x/y", "octo/../etc", "a/b/c", "octo/.git", ""])
def test_bad_repository_names_are_refused(data_dir: Path, name: str) -> None:
    with pytest.raises(WorkspaceError):
        mirror_path(data_dir, name)


def test_refspecs() -> None:
    assert pull_refspec(7) == "+refs/pull/7/head:refs/pull/7/head"
    assert branch_refspec("refs/heads/main") == "+refs/heads/main:refs/heads/main"
    with pytest.raises(WorkspaceError):
        branch_refspec("evil:refs/heads/x")
    with pytest.raises(WorkspaceError):
        pull_refspec(0)


def test_fetch_pull_head_and_base_then_diff(remote, data_dir: Path) -> None:
    base = remote.commit("refs/heads/main", {"app.py": b"a = 1\n", "README": b"hi\n"})
    head = remote.commit("refs/pull/3/head", {"app.py": b"a = 1\nb = 2\n", "README": b"hi\n"}, parents=[base])
    ws = open_workspace(data_dir, "octo/app", remote.url)
    assert ws.path.is_dir() and (ws.path / "HEAD").exists()
    ws.fetch_pull_request(3, base_branch="main")
    assert str(ws.repo.references["refs/pull/3/head"].target) == head
    assert str(ws.repo.references["refs/heads/main"].target) == base

    ctx = ws.context_for("refs/heads/main", head)
    assert ctx.repo == "octo/app"
    assert (ctx.base_sha, ctx.head_sha) == (base, head)
    assert [(f.path, f.status, sorted(f.added_lines)) for f in ctx.files] == [("app.py", "modified", [2])]
    assert ctx.head.read("app.py") == b"a = 1\nb = 2\n"
    assert ctx.base.read("app.py") == b"a = 1\n"
    assert sorted(ctx.head.paths()) == ["README", "app.py"]


def test_second_fetch_is_incremental(remote, data_dir: Path) -> None:
    files = {f"pkg/mod{i}.py": f"value = {i}\n".encode() * 50 for i in range(30)}
    base = remote.commit("refs/heads/main", files)
    ws = open_workspace(data_dir, "octo/app", remote.url)
    first = ws.fetch([branch_refspec("main")])
    assert first.received_objects >= 32  # commit, two trees, thirty blobs

    remote.commit("refs/pull/1/head", {**files, "pkg/mod0.py": b"value = 'new'\n"}, [base])
    second = ws.fetch_pull_request(1, base_branch="main")
    # only the new commit, its two changed trees and the one new blob travel
    assert 1 <= second.received_objects <= 4
    again = ws.fetch_pull_request(1, base_branch="main")
    assert again.received_objects == 0


def test_merge_base_diff_ignores_changes_that_landed_on_base(remote, data_dir: Path) -> None:
    root = remote.commit("refs/heads/main", {"a.py": b"x = 1\n", "b.py": b"y = 1\n"})
    head = remote.commit("refs/pull/2/head", {"a.py": b"x = 2\n", "b.py": b"y = 1\n"}, [root])
    remote.commit("refs/heads/main", {"a.py": b"x = 1\n", "b.py": b"y = 9\n"})  # base moves on
    ws = open_workspace(data_dir, "octo/app", remote.url)
    ws.fetch_pull_request(2, base_branch="main")
    ctx = ws.context_for("refs/heads/main", head)
    assert ctx.base_sha == root
    assert [f.path for f in ctx.files] == ["a.py"]


def test_missing_commit_is_a_clear_error(remote, data_dir: Path) -> None:
    remote.commit("refs/heads/main", {"a": b"1\n"})
    ws = open_workspace(data_dir, "octo/app", remote.url)
    ws.fetch([branch_refspec("main")])
    with pytest.raises(WorkspaceError, match="fetch the pull request"):
        ws.context_for("refs/heads/main", "1" * 40)
    assert not ws.has_commit("1" * 40)


def test_unreachable_remote_is_a_workspace_error(data_dir: Path, tmp_path: Path) -> None:
    ws = open_workspace(data_dir, "octo/app", str(tmp_path / "nowhere.git"))
    with pytest.raises(WorkspaceError, match="fetch from"):
        ws.fetch([branch_refspec("main")])


def test_remote_url_and_credentials_are_never_written_to_the_mirror(remote, data_dir: Path) -> None:
    remote.commit("refs/heads/main", {"a": b"1\n"})
    ws = open_workspace(data_dir, "octo/app", remote.url, token="ghs_supersecret")
    ws.fetch([branch_refspec("main")])
    config = pygit2.Config(str(ws.path / "config"))
    assert not [entry.name for entry in config if entry.name.startswith("remote.")]
    for file in ws.path.rglob("*"):
        if file.is_file():
            assert b"ghs_supersecret" not in file.read_bytes()
    assert "ghs_supersecret" not in repr(ws)


def test_credentials_in_a_url_are_split_off() -> None:
    assert strip_credentials("https://x-access-token:tok%2Fen@github.com/o/r.git") == (
        "https://github.com/o/r.git",
        "tok/en",
    )
    assert strip_credentials("/srv/git/r.git") == ("/srv/git/r.git", None)


def test_lock_files_a_killed_fetch_left_behind_do_not_block_later_fetches(remote, data_dir: Path) -> None:
    import os

    from bot.errors import TransientError
    from bot.git.mirror import STALE_LOCK_SECONDS

    base = remote.commit("refs/heads/main", {"a.py": b"x = 1\n"}, parents=[])
    head = remote.commit("refs/pull/1/head", {"a.py": b"x = 2\n"}, parents=[base])
    ws = open_workspace(data_dir, "octo/app", remote.url)
    ws.fetch_pull_request(1, base_branch="main")
    newer = remote.commit("refs/pull/1/head", {"a.py": b"x = 3\n"}, parents=[head])
    remote.commit("refs/heads/main", {"a.py": b"x = 4\n"})
    locks = [ws.path / "refs/pull/1/head.lock", ws.path / "refs/heads/main.lock", ws.path / "packed-refs.lock"]
    for lock in locks:
        lock.write_text(head + "\n")
    # a lock this fresh may be another process's update in progress: retried later, not removed
    with pytest.raises(TransientError, match="failed to lock file"):
        ws.fetch_pull_request(1, base_branch="main")
    assert all(lock.exists() for lock in locks)
    old = time.time() - STALE_LOCK_SECONDS - 5
    for lock in locks:
        os.utime(lock, (old, old))
    ws.fetch_pull_request(1, base_branch="main")  # a dead worker's locks: removed, fetched
    assert str(ws.repo.references["refs/pull/1/head"].target) == newer
    assert not locks[0].exists() and not locks[1].exists()  # the ones in the way
