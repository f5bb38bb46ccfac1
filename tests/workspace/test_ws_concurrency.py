from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pygit2
import pytest

from bot.errors import WorkspaceError
from bot.git import branch_refspec, open_workspace, pull_refspec
from bot.git.locks import file_lock
from bot.git.mirror import lock_path

CHILD = textwrap.dedent(
    """
    import sys, time
    from bot.git import open_workspace, branch_refspec, pull_refspec
    data_dir, url, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    ws = open_workspace(data_dir, "octo/app", url, lock_timeout=timeout)
    started = time.monotonic()
    stats = ws.fetch([branch_refspec("main"), pull_refspec(1)])
    print(round(time.monotonic() - started, 3), stats.received_objects)
    """
)


WAITER = textwrap.dedent(
    """
    import fcntl, sys
    from bot.git import open_workspace, branch_refspec, pull_refspec
    data_dir, url, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    ws = open_workspace(data_dir, "octo/app", url, lock_timeout=timeout)
    real_flock, told = fcntl.flock, []

    def flock(fd, operation):
        # say "blocked" the first time a lock attempt finds the lock held by another
        try:
            return real_flock(fd, operation)
        except BlockingIOError:
            if not told:
                told.append(True)
                print("blocked", flush=True)
            raise

    fcntl.flock = flock
    stats = ws.fetch([branch_refspec("main"), pull_refspec(1)])
    print(ws.repo.references["refs/pull/1/head"].target, stats.received_objects)
    """
)
"""A child that fetches and reports events rather than times: "blocked" when its fetch
finds the mirror's lock held, then the pull ref it fetched and the objects received."""


def _spawn(data_dir: Path, url: str, timeout: float = 60, script: str = CHILD) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, str(data_dir), url, str(timeout)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def busy_remote(remote):
    files = {f"m{i}.py": (f"v = {i}\n" * 200).encode() for i in range(200)}
    base = remote.commit("refs/heads/main", files)
    remote.commit("refs/pull/1/head", {**files, "m0.py": b"changed\n"}, [base])
    return remote


def test_two_processes_fetch_the_same_mirror(busy_remote, data_dir: Path) -> None:
    children = [_spawn(data_dir, busy_remote.url) for _ in range(2)]
    outputs = [child.communicate(timeout=60) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    received = sorted(int(out.split()[1]) for out, _err in outputs)
    # whoever fetched second found everything already there (or nearly: the lock serialised them)
    assert received[0] <= 4 and received[1] >= 200
    ws = open_workspace(data_dir, "octo/app", busy_remote.url)
    head = ws.repo.references["refs/pull/1/head"].peel(pygit2.Commit)
    assert sum(1 for _ in head.tree) == 200
    for entry in head.tree:
        assert ws.repo[entry.id].data  # every object is readable: no torn pack


def test_fetch_waits_for_the_lock_holder(busy_remote, data_dir: Path) -> None:
    """Proved by order of events, not by a wall-clock margin (a slow child start-up under
    load used to eat the holder's whole hold): the child says when its fetch found the
    lock taken, the holder then moves the pull ref and only then lets go; a fetch that
    waited for the holder brings the moved ref."""
    ws = open_workspace(data_dir, "octo/app", busy_remote.url)
    with file_lock(lock_path(ws.path.resolve())):
        child = _spawn(data_dir, busy_remote.url, script=WAITER)
        assert child.stdout is not None
        first = child.stdout.readline().strip()  # the child's next event; no timing involved
        assert first == "blocked", (first, child.communicate(timeout=60))
        assert child.poll() is None  # it is still waiting for us
        moved = busy_remote.commit("refs/pull/1/head", {"m0.py": b"pushed while it waited\n"})
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    fetched_head, received = out.split()
    assert fetched_head == str(moved)  # it fetched after we let go, not before
    assert int(received) >= 200  # and the fetch did the whole work once it had the lock


def test_lock_timeout_is_a_workspace_error(busy_remote, data_dir: Path) -> None:
    ws = open_workspace(data_dir, "octo/app", busy_remote.url)
    with file_lock(lock_path(ws.path.resolve())):
        child = _spawn(data_dir, busy_remote.url, timeout=0.3)
        _out, err = child.communicate(timeout=60)
    assert child.returncode != 0
    assert "WorkspaceError" in err and "timed out" in err


def test_threads_of_one_worker_exclude_each_other(busy_remote, data_dir: Path) -> None:
    inside = 0
    peak = 0
    guard = threading.Lock()
    ws = open_workspace(data_dir, "octo/app", busy_remote.url)

    def hold() -> None:
        nonlocal inside, peak
        with file_lock(lock_path(ws.path.resolve())):
            with guard:
                inside += 1
                peak = max(peak, inside)
            time.sleep(0.1)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 1


def test_nonblocking_lock_reports_busy(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    with file_lock(path) as held:
        assert held
        with file_lock(path, blocking=False) as again:
            assert again is False
    with pytest.raises(WorkspaceError), file_lock(path), file_lock(path, timeout=0.1):
        pass


def test_refspec_for_both_refs_fetched_by_child(busy_remote, data_dir: Path) -> None:
    ws = open_workspace(data_dir, "octo/app", busy_remote.url)
    ws.fetch([pull_refspec(1), branch_refspec("main")])
    assert ws.has_commit("refs/pull/1/head") and ws.has_commit("refs/heads/main")
