"""The worker's own file access inside the sandbox's work dir never follows a link.

Sandboxed PR code can leave links, FIFOs, hard links and directories anywhere in the work
dir; the worker (often root) writes and reads there between runs. Each test plants one
such trap, with a "host" file outside the work dir standing for ``/etc/...``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest

from bot.sandbox import hostfs
from bot.sandbox.runner import give_to


@pytest.fixture
def work(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    root.mkdir()
    return root


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A directory outside the work dir with a file the sandbox must never reach."""
    outside = tmp_path / "host"
    outside.mkdir()
    (outside / "secret.txt").write_text("host secret\n")
    return outside


def test_writes_create_parents_and_replace_old_content(work: Path) -> None:
    hostfs.write_file(work, ".shunter/cands/test_a.py", "one\n")
    hostfs.write_file(work, ".shunter/cands/test_a.py", b"two\n")
    assert (work / ".shunter/cands/test_a.py").read_text() == "two\n"
    assert hostfs.read_file_capped(work, ".shunter/cands/test_a.py", 100) == b"two\n"


def test_link_as_last_component_is_replaced_not_written_through(work: Path, host: Path) -> None:
    (work / ".shunter").mkdir()
    target = host / "planted.pth"
    (work / ".shunter/test_c1.py").symlink_to(target)
    (work / ".shunter/other.py").symlink_to(host / "secret.txt")

    hostfs.write_file(work, ".shunter/test_c1.py", "import os\n")
    hostfs.write_file(work, ".shunter/other.py", "x = 1\n")

    assert not target.exists()
    assert (host / "secret.txt").read_text() == "host secret\n"
    assert not (work / ".shunter/test_c1.py").is_symlink()
    assert (work / ".shunter/test_c1.py").read_text() == "import os\n"


def test_link_in_a_middle_component_is_refused(work: Path, host: Path) -> None:
    (work / ".shunter").symlink_to(host)
    for rel in (".shunter/coveragerc", ".shunter/cands/test_c1.py"):
        with pytest.raises(hostfs.UnsafeWorkPath) as caught:
            hostfs.write_file(work, rel, "data\n")
        assert caught.value.rel == ".shunter"
    with pytest.raises(hostfs.UnsafeWorkPath):
        hostfs.make_dirs(work, ".shunter")
    with pytest.raises(hostfs.UnsafeWorkPath):
        hostfs.remove(work, ".shunter/secret.txt")
    assert sorted(p.name for p in host.iterdir()) == ["secret.txt"]
    assert hostfs.read_file_capped(work, ".shunter/secret.txt", 1000) is None
    assert (host / "secret.txt").exists()


def test_deeper_link_is_refused_too(work: Path, host: Path) -> None:
    (work / "a/b").mkdir(parents=True)
    (work / "a/b/c").symlink_to(host)
    with pytest.raises(hostfs.UnsafeWorkPath):
        hostfs.write_file(work, "a/b/c/d/new.py", "x\n")
    assert not (host / "d").exists()


def test_reads_refuse_links_fifos_hard_links_and_big_files(work: Path, host: Path) -> None:
    (work / "link.json").symlink_to(host / "secret.txt")
    os.mkfifo(work / "fifo.json")
    with contextlib.suppress(OSError):  # another file system: nothing to test for hard links
        os.link(host / "secret.txt", work / "hard.json")
    (work / "big.json").write_bytes(b"x" * 101)
    (work / "dir.json").mkdir()

    done: list[object] = []
    reader = threading.Thread(
        target=lambda: done.extend(
            hostfs.read_file_capped(work, name, 100)
            for name in ("link.json", "fifo.json", "hard.json", "big.json", "dir.json", "absent")
        ),
        daemon=True,
    )
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "reading a FIFO blocked the worker"
    assert done == [None] * 6


def test_writes_replace_fifos_and_hard_links(work: Path, host: Path) -> None:
    os.mkfifo(work / "fifo.py")
    hostfs.write_file(work, "fifo.py", "a\n")
    assert (work / "fifo.py").read_text() == "a\n"
    try:
        os.link(host / "secret.txt", work / "hard.py")
    except OSError:
        pytest.skip("hard links across these directories are not possible here")
    hostfs.write_file(work, "hard.py", "b\n")
    assert (host / "secret.txt").read_text() == "host secret\n"
    assert (work / "hard.py").read_text() == "b\n"


def test_a_directory_where_a_file_belongs_is_refused(work: Path) -> None:
    (work / "cands/test_c1.py").mkdir(parents=True)
    with pytest.raises(hostfs.UnsafeWorkPath):
        hostfs.write_file(work, "cands/test_c1.py", "x\n")


@pytest.mark.parametrize("rel", ["../escape.py", "/etc/passwd", "a/../../b", "a//b", "./a", ""])
def test_paths_that_leave_the_root_are_refused(work: Path, rel: str) -> None:
    with pytest.raises(hostfs.UnsafeWorkPath):
        hostfs.write_file(work, rel, "x\n")
    assert not (work.parent / "escape.py").exists()


def test_remove_takes_the_link_not_its_target(work: Path, host: Path) -> None:
    (work / "coverage.json").symlink_to(host / "secret.txt")
    (work / "junit.xml").mkdir()
    (work / "junit.xml/inner").symlink_to(host)
    hostfs.remove(work, "coverage.json")
    hostfs.remove(work, "junit.xml")
    hostfs.remove(work, "absent.json")
    hostfs.remove(work, "absent/deeper.json")
    assert list(work.iterdir()) == []
    assert (host / "secret.txt").read_text() == "host secret\n"


def test_is_dir_does_not_follow_links(work: Path, host: Path) -> None:
    (work / "src").symlink_to(host)
    (work / "lib").mkdir()
    assert not hostfs.is_dir(work, "src")
    assert hostfs.is_dir(work, "lib")
    assert not hostfs.is_dir(work, "absent")


@pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")
def test_give_to_never_changes_a_link_target(work: Path, host: Path) -> None:
    (work / "pkg").mkdir()
    (work / "pkg/mod.py").write_text("x = 1\n")
    (work / "pkg/to_file").symlink_to(host / "secret.txt")
    (work / "to_dir").symlink_to(host)
    give_to(work, 65534)
    assert (work / "pkg/mod.py").stat().st_uid == 65534
    assert (work / "pkg").stat().st_uid == 65534
    assert os.lstat(work / "to_dir").st_uid == 65534
    assert (host / "secret.txt").stat().st_uid == 0
    assert host.stat().st_uid == 0


def _nest(root: Path, depth: int) -> None:
    """``root/d/d/d...``, ``depth`` levels, as sandboxed code can make it (relative mkdirs)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


@pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")
def test_give_to_survives_a_very_deep_tree(work: Path) -> None:
    """The sandbox can nest directories deeper than Python's recursion limit; handing the
    tree over again must not crash the stage."""
    _nest(work, 1200)
    (work / "top.py").write_text("x = 1\n")
    try:
        give_to(work, 65534)
        assert (work / "top.py").stat().st_uid == 65534
        assert (work / "d/d/d").stat().st_uid == 65534
    finally:
        hostfs.remove_tree(work)  # pytest's own clean-up would hit the recursion limit


def test_remove_tree_takes_deep_trees_and_never_follows_links(work: Path, host: Path) -> None:
    _nest(work, 1200)
    (work / "d/d/to_host").symlink_to(host)
    (work / "d/to_secret").symlink_to(host / "secret.txt")
    os.mkfifo(work / "d/d/d/fifo")
    hostfs.remove_tree(work)
    assert not work.exists()
    assert (host / "secret.txt").read_text() == "host secret\n"


def test_remove_tree_of_a_link_removes_only_the_link(tmp_path: Path, host: Path) -> None:
    (tmp_path / "work").symlink_to(host)
    hostfs.remove_tree(tmp_path / "work")
    hostfs.remove_tree(tmp_path / "absent")
    assert not (tmp_path / "work").is_symlink()
    assert (host / "secret.txt").exists()
