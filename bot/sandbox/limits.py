"""Resource limits for sandboxed commands, and the pre-exec hook that applies them.

The limits are kernel rlimits set in the child between ``fork`` and ``exec``, so they bind
the command and everything it starts, whether or not bubblewrap is available. Two caveats
shape the numbers: ``RLIMIT_NPROC`` counts every process of the child's *real uid* (not
just the sandbox's), so the process allowance is added on top of what that uid already
runs; and the kernel never enforces ``RLIMIT_NPROC`` for uid 0, which is why
``bot.sandbox.runner`` drops root to an unprivileged uid before applying it.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

MIB = 1024 * 1024
GIB = 1024 * MIB


@dataclass(frozen=True)
class Limits:
    """What one sandboxed command may consume. ``wall_seconds`` is enforced by the runner."""

    wall_seconds: float = 120.0
    cpu_seconds: int = 120
    memory_bytes: int = 2 * GIB
    """Address-space limit (``RLIMIT_AS``) per process."""
    processes: int = 64
    """Processes and threads the command may add to those its uid already runs."""
    open_files: int = 256
    file_size_bytes: int = 64 * MIB
    """Largest file the command may write (``RLIMIT_FSIZE``); bigger writes fail with EFBIG."""
    tmp_bytes: int = 256 * MIB
    """Size of the sandbox's private ``/tmp`` (a tmpfs; bubblewrap only)."""

    def scaled(self, *, wall_seconds: float | None = None) -> Limits:
        """The same limits with another wall clock; CPU time follows so it never binds first."""
        if wall_seconds is None:
            return self
        return replace(self, wall_seconds=wall_seconds, cpu_seconds=max(1, int(wall_seconds) + 1))


def processes_of_uid(uid: int) -> int:
    """How many tasks (processes and threads) the uid runs now, read from ``/proc``."""
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        threads = 1
        owner = -1
        for line in status.splitlines():
            if line.startswith("Uid:"):
                owner = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
        if owner == uid:
            count += threads
    return count


def rlimit_pairs(limits: Limits, *, nproc_baseline: int) -> list[tuple[int, int, int]]:
    """The (resource, soft, hard) triples the child sets.

    Soft and hard are equal except for CPU time, whose soft limit sends SIGXCPU (a signal
    the note can name) two seconds before the hard limit's SIGKILL.
    """
    cpu = max(1, int(limits.cpu_seconds))
    nproc = nproc_baseline + int(limits.processes)
    return [
        (resource.RLIMIT_CPU, cpu, cpu + 2),
        (resource.RLIMIT_AS, int(limits.memory_bytes), int(limits.memory_bytes)),
        (resource.RLIMIT_NPROC, nproc, nproc),
        (resource.RLIMIT_NOFILE, int(limits.open_files), int(limits.open_files)),
        (resource.RLIMIT_FSIZE, int(limits.file_size_bytes), int(limits.file_size_bytes)),
        (resource.RLIMIT_CORE, 0, 0),
    ]


def preexec_hook(pairs: list[tuple[int, int, int]]) -> Callable[[], None]:
    """A ``preexec_fn`` that lowers the rlimits; it runs after subprocess drops the uid.

    Lowering a limit is always allowed, so this works for unprivileged uids too. It does
    nothing else, because code between fork and exec must stay trivial.
    """

    def _apply() -> None:
        for res, soft, hard in pairs:
            _, current_hard = resource.getrlimit(res)
            if current_hard != resource.RLIM_INFINITY:
                soft, hard = min(soft, current_hard), min(hard, current_hard)
            resource.setrlimit(res, (soft, hard))
        os.umask(0o022)

    return _apply
