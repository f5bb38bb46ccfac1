"""Host-side file access inside a tree the sandbox can write, never following links.

Between sandbox runs the worker (the host uid, often root) writes Shunter's inputs into
the work dir (candidate tests, coverage settings, the ghostwriter script) and reads the
reports back. Sandboxed PR code can leave anything in that tree: ``.shunter`` replaced by
a link to ``/etc``, a candidate file name pointing at a host file, a FIFO named like a
report. A plain ``Path.write_text`` or ``read_text`` follows such links and so lets the
PR choose a host file to overwrite or to read.

Every function here walks the relative path one component at a time from a directory
file descriptor, opening each with ``O_NOFOLLOW | O_DIRECTORY``; whatever the sandbox
renames or relinks meanwhile, a descriptor we hold stays inside the tree (the sandbox
can only move things within its own mounts). Files are written by unlinking the old
entry and creating a new inode with ``O_EXCL | O_NOFOLLOW`` (a link or hard link left
in its place is replaced, never written through); reads accept only regular files with
a single link. ``root`` itself is the worker's own path and is trusted.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from bot.errors import SandboxError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_REFUSED = {
    errno.ELOOP: "is a link; not followed",
    errno.ENOTDIR: "is not a directory",
    errno.EACCES: "was made inaccessible",  # only the sandbox uid changes modes in the tree
    errno.EPERM: "was made inaccessible",
}
_CHOWN_MAX_DEPTH = 128
"""How deep the tree walks go (one descriptor per level). ``chown_tree`` stops there:
deeper directories can only have been made by the sandbox uid, which owns them already."""


class UnsafeWorkPath(SandboxError):
    """A path in the sandbox's work dir is not what Shunter left there (a link, a directory
    where a file belongs...), so the worker refused to touch it."""

    def __init__(self, rel: str, problem: str) -> None:
        super().__init__(f"{rel}: {problem}")
        self.rel = rel
        self.problem = problem


def _parts(rel: str | PurePosixPath) -> list[str]:
    """The components of ``rel``; refuses absolute paths, ``..``, ``.`` and empty names,
    which could step outside ``root`` before any link is even involved."""
    text = str(rel)
    parts = text.split("/")
    if not text or text.startswith("/") or "\0" in text or any(p in ("", ".", "..") for p in parts):
        raise UnsafeWorkPath(text, "not a plain relative path")
    return parts


def _open_root(root: Path) -> int:
    return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


@contextlib.contextmanager
def _parent(root: Path, rel: str | PurePosixPath, *, create: bool) -> Iterator[tuple[int, str]]:
    """Yield a descriptor of ``rel``'s parent directory and ``rel``'s last name.

    Each intermediate component must be a real directory (``create`` makes missing ones);
    a link or a non-directory raises ``UnsafeWorkPath``, a missing one (without
    ``create``) ``FileNotFoundError``.
    """
    parts = _parts(rel)
    fd = _open_root(root)
    try:
        for depth, name in enumerate(parts[:-1]):
            try:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, 0o777, dir_fd=fd)
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in _REFUSED:
                    where = "/".join(parts[: depth + 1])
                    raise UnsafeWorkPath(where, _REFUSED[exc.errno]) from None
                raise
            os.close(fd)
            fd = child
        yield fd, parts[-1]
    finally:
        os.close(fd)


def make_dirs(root: Path, rel: str | PurePosixPath) -> None:
    """``mkdir -p root/rel`` where no component may be a link (``UnsafeWorkPath`` if one is)."""
    with _parent(root, f"{rel}/x", create=True):
        pass


def write_file(root: Path, rel: str | PurePosixPath, data: bytes | str, *, mode: int = 0o666) -> None:
    """Write ``data`` to a fresh file at ``root/rel``, creating parent directories.

    Whatever non-directory sits at ``rel`` (a link, a FIFO, a hard link to another file)
    is unlinked first and a new inode is created with ``O_EXCL``, so the write can never
    land anywhere but inside the tree. Raises ``UnsafeWorkPath`` when a parent is a link
    or ``rel`` is a directory.
    """
    payload = data.encode() if isinstance(data, str) else data
    with _parent(root, rel, create=True) as (dir_fd, name):
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        except (IsADirectoryError, PermissionError) as exc:
            raise UnsafeWorkPath(str(rel), f"cannot replace it: {exc.strerror}") from None
        try:
            fd = os.open(name, _CREATE_FLAGS, mode, dir_fd=dir_fd)
        except FileExistsError:
            raise UnsafeWorkPath(str(rel), "reappeared while it was being replaced") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)


def read_file_capped(root: Path, rel: str | PurePosixPath, cap: int) -> bytes | None:
    """The bytes of the regular file ``root/rel``, or None when it is missing, larger than
    ``cap``, reached through a link, not a regular file (FIFO, device, directory) or hard
    linked (the sandbox can make a hard link to a file it cannot see, never a report).

    Never raises for what the sandbox left behind: an unreadable report is just absent.
    """
    try:
        with _parent(root, rel, create=False) as (dir_fd, name):
            before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if not stat.S_ISREG(before.st_mode):
                return None  # not even opened: opening a FIFO or device can have effects
            fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except (OSError, UnsafeWorkPath):
        return None
    try:
        st = os.fstat(fd)
        if (
            not stat.S_ISREG(st.st_mode)
            or (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino)
            or st.st_nlink != 1
            or st.st_size > cap
        ):
            return None
        chunks: list[bytes] = []
        total = 0
        while total <= cap:
            chunk = os.read(fd, min(1 << 20, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return None if total > cap else b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def remove(root: Path, rel: str | PurePosixPath) -> None:
    """Remove ``root/rel`` if present: a link is removed itself (never its target), a
    directory with everything in it. Raises ``UnsafeWorkPath`` when a parent is a link."""
    try:
        with _parent(root, rel, create=False) as (dir_fd, name):
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                return
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(name, dir_fd=dir_fd)  # fd-based on Linux: does not follow links
            else:
                os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return


def is_dir(root: Path, rel: str | PurePosixPath) -> bool:
    """True when ``root/rel`` is a real directory, reached without following any link."""
    try:
        with _parent(root, f"{rel}/x", create=False):
            return True
    except (OSError, UnsafeWorkPath):
        return False


def chown_tree(root: Path, uid: int, gid: int | None = None) -> None:
    """``chown -R`` of ``root`` without following any link, at any depth or moment.

    Descends through directory descriptors opened with ``O_NOFOLLOW`` and changes entries
    with ``follow_symlinks=False`` relative to them, so a directory swapped for a link
    between listing and chown (a race ``os.walk`` plus path-based ``chown`` would lose)
    changes only the link. Iterative, and stops descending after a fixed depth: anything
    that deep was made by the sandbox uid and is its own already.
    """
    group = uid if gid is None else gid
    top = _open_root(root)
    os.fchown(top, uid, group)
    stack: list[tuple[int, Iterator[tuple[str, bool]]]] = [(top, _entries(top))]
    try:
        while stack:
            dir_fd, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                os.close(dir_fd)
                stack.pop()
                continue
            name, is_directory = entry
            try:
                if is_directory and len(stack) < _CHOWN_MAX_DEPTH:
                    child = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
                    try:
                        os.fchown(child, uid, group)
                        listing = _entries(child)
                    except BaseException:
                        os.close(child)
                        raise
                    stack.append((child, listing))
                else:
                    os.chown(name, uid, group, dir_fd=dir_fd, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    raise
    finally:
        for dir_fd, _ in stack:
            os.close(dir_fd)


def remove_tree(path: Path) -> None:
    """``rm -rf path``, ignoring what cannot be removed; never follows a link, never raises.

    ``shutil.rmtree`` does not follow links either, but it recurses once per directory
    level: a tree the sandbox nested a thousand levels deep makes it raise
    ``RecursionError`` even with ``ignore_errors``, crashing the stage and leaving the
    tree on disk. Here the walk holds at most ``_CHOWN_MAX_DEPTH`` descriptors; a
    directory found deeper is moved up to ``path`` itself and removed in a later pass.
    """
    try:
        top = os.open(path, _DIR_FLAGS)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)  # a link or a file: remove it, never what it points at
        return
    spare = itertools.count()
    try:
        with contextlib.suppress(OSError):
            while _remove_pass(top, spare):
                pass
    finally:
        os.close(top)
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _remove_pass(top: int, spare: Iterator[int]) -> bool:
    """Empty ``top`` as far as the depth allows; True when something was removed or moved
    (so another pass can finish the job), False when nothing more can be done."""
    progress = False
    stack: list[tuple[int, str, Iterator[tuple[str, bool]]]] = [(top, "", _entries(top))]
    try:
        while stack:
            dir_fd, name_in_parent, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                if stack:  # an emptied subdirectory: close it, remove it from its parent
                    os.close(dir_fd)
                    with contextlib.suppress(OSError):
                        os.rmdir(name_in_parent, dir_fd=stack[-1][0])
                        progress = True
                continue
            name, is_directory = entry
            try:
                if not is_directory:
                    os.unlink(name, dir_fd=dir_fd)
                elif len(stack) >= _CHOWN_MAX_DEPTH:
                    os.rename(name, f".shunter-rm-{next(spare)}", src_dir_fd=dir_fd, dst_dir_fd=top)
                else:
                    child = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
                    try:
                        listing = _entries(child)
                    except BaseException:
                        os.close(child)
                        raise
                    stack.append((child, name, listing))
                    continue
                progress = True
            except OSError:
                continue  # like ignore_errors: leave it, report no progress for it
    finally:
        for dir_fd, _name, _left in stack[1:]:
            os.close(dir_fd)
    return progress


def _entries(dir_fd: int) -> Iterator[tuple[str, bool]]:
    with os.scandir(dir_fd) as listing:
        return iter([(e.name, e.is_dir(follow_symlinks=False)) for e in listing])
