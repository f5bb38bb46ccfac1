"""One writer per mirror: an ``flock`` on a file beside the bare repository.

``flock`` locks belong to an open file description, so two threads of one worker and two
worker processes on one host exclude each other alike. Readers need no lock: git writes
objects before it moves refs, so a concurrent reader sees either the old or the new state.

A merge worker's repository is held *shared* for a whole landing (several branches of one
repository land at once); clean-up takes the same lock exclusively, so it never deletes
the repository or prunes its refs while a landing uses them.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.errors import WorkspaceError

POLL_SECONDS = 0.05


@contextmanager
def file_lock(
    path: Path,
    *,
    timeout: float = 300.0,
    blocking: bool = True,
    touch: bool = True,
    shared: bool = False,
) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` for the ``with`` block (with ``shared``, a lock
    any number of other shared holders may hold too, and no exclusive one).

    Yields True when the lock is held. With ``blocking=False`` it yields False at once when
    another holder has it (clean-up uses that to skip busy mirrors). A lock that cannot be
    taken within ``timeout`` seconds raises ``WorkspaceError`` rather than hanging a worker.
    Taking it marks the file used now, unless ``touch`` is False: housekeeping that visits
    every mirror must not make an idle one look used.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not blocking:
                    yield False
                    return
                if time.monotonic() >= deadline:
                    raise WorkspaceError(
                        f"timed out after {timeout:.0f}s waiting for the lock {path.name}",
                        hint="another worker is fetching this repository; retry later",
                    ) from None
                time.sleep(POLL_SECONDS)
        try:
            if touch:
                os.utime(fd)  # the lock file's mtime doubles as "last used" for clean-up
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
