"""Where stages write the files analyzers need: RAM-backed when the host offers it.

Materialising a PR's changed files means creating hundreds of small files that live for
one stage run. On a disk-backed ``/tmp`` each creation costs a journal write (about 0.4 ms
here, more than ruff spends linting the file); on tmpfs it is ~20x cheaper. So scratch dirs
go to ``SHUNTER_SCRATCH_DIR`` when set, else ``/dev/shm`` when it is a writable directory
with room to spare, else the system temp dir.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

SHM = Path("/dev/shm")  # noqa: S108 (a private mkdtemp inside it, 0700)
MIN_FREE_BYTES = 512 * 1024 * 1024
PREFIX = "shunter-"
ABANDONED_AFTER = 6 * 3600.0
"""A scratch dir this old belongs to no running job (a stage job times out after 15
minutes): its job was killed before its clean-up ran (SIGKILL, OOM, a lost machine)."""


def scratch_root() -> Path:
    configured = os.environ.get("SHUNTER_SCRATCH_DIR")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        return path
    try:
        if SHM.is_dir() and os.access(SHM, os.W_OK) and shutil.disk_usage(SHM).free >= MIN_FREE_BYTES:
            return SHM
    except OSError:
        pass
    return Path(tempfile.gettempdir())


def new_scratch_dir(prefix: str = "shunter-stage-") -> Path:
    """A fresh private (0700) directory; the caller removes it when the stage is done."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_root()))


def sweep_abandoned(root: Path | None = None, *, older_than: float = ABANDONED_AFTER) -> list[Path]:
    """Remove scratch dirs that killed jobs left behind, and return them.

    Without this they pile up for good, and in ``/dev/shm`` they hold the host's memory.
    Only this user's ``shunter-*`` directories untouched for ``older_than`` seconds go.
    """
    from bot.sandbox.hostfs import remove_tree  # safe on trees PR code made

    base = scratch_root() if root is None else root
    cutoff = time.time() - older_than
    removed: list[Path] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(PREFIX):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mtime > cutoff:
            continue
        remove_tree(Path(entry.path))
        removed.append(Path(entry.path))
    return removed
