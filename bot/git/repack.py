"""Keeping mirrors fast: fold the pack files that incremental fetches pile up into one.

Every fetch into a mirror writes a pack of its own, so a busy repository gathers one pack
per push. Each object lookup then searches every pack's index, and git itself repacks once
a repository holds more than ``gc.autoPackLimit`` (50) packs. pygit2 has no ``gc``, but its
``PackBuilder`` can write one pack of all objects; the old packs are then removed.

The merge worker writes its commits, trees and blobs as loose objects (a file each), which
no pack count sees: a repository is also repacked past git's ``gc.auto`` estimate of them,
and after a repack the loose objects it packed are removed (``git prune-packed``).

Only a writer that holds the mirror's lock repacks (the lock is taken without waiting: a
busy mirror is left for the next round). Readers need no lock: a process that still has an
old pack mapped keeps reading it after the unlink, and libgit2 re-scans the pack directory
when it misses an object, so it finds the new pack.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pygit2

from bot.git.cleanup import repositories
from bot.git.locks import file_lock
from bot.git.mirror import lock_path
from bot.logs import get_logger

log = get_logger(__name__)

PACK_LIMIT = 50
"""Repack when a mirror holds more packs than this (git's ``gc.autoPackLimit``)."""
LOOSE_LIMIT = 6700
"""Repack when a repository holds about more loose objects than this (git's ``gc.auto``)."""
_COMPANIONS = (".idx", ".rev", ".bitmap", ".mtimes", ".promisor")
_STAGING_PREFIX = ".repack-"


@dataclass(frozen=True)
class RepackResult:
    mirror: Path
    packs_before: int
    objects: int
    loose_removed: int = 0


def pack_files(mirror: Path) -> list[Path]:
    """The mirror's pack files (``.keep`` packs excluded: git never repacks those away)."""
    folder = mirror / "objects" / "pack"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("pack-*.pack") if not p.with_suffix(".keep").exists())


def loose_estimate(mirror: Path) -> int:
    """About how many loose objects ``mirror`` holds, estimated as git's ``gc.auto`` does:
    those in one of the 256 fan-out folders (``objects/17``), times 256."""
    folder = mirror / "objects" / "17"
    if not folder.is_dir():
        return 0
    return 256 * sum(1 for path in folder.iterdir() if _is_object_name(path.name))


def _is_object_name(name: str) -> bool:
    return len(name) in (38, 62) and all(c in "0123456789abcdef" for c in name)


def needs_repack(mirror: Path, limit: int = PACK_LIMIT, loose_limit: int = LOOSE_LIMIT) -> bool:
    return len(pack_files(mirror)) > limit or loose_estimate(mirror) > loose_limit


def repack(mirror: Path, *, limit: int = PACK_LIMIT, loose_limit: int = LOOSE_LIMIT) -> RepackResult | None:
    """Write all objects into one pack, drop the other packs and the loose objects now
    packed; None when the mirror was busy or had no more than ``limit`` packs and about
    ``loose_limit`` loose objects."""
    with file_lock(lock_path(mirror.resolve()), blocking=False) as held:
        if not held:
            return None
        old = pack_files(mirror)
        if not needs_repack(mirror, limit, loose_limit):
            return None
        folder = mirror / "objects" / "pack"
        _remove_abandoned_staging(folder)
        repo = pygit2.Repository(str(mirror))
        with tempfile.TemporaryDirectory(prefix=_STAGING_PREFIX, dir=folder) as staging:
            # written beside the packs, then moved in: a reader never sees half a pack
            objects = repo.pack(staging, n_threads=0)
            made = sorted(Path(staging).glob("pack-*"))
            # the index goes in last, so a pack is never listed before its data is in place
            for path in sorted(made, key=lambda p: p.suffix == ".idx"):
                os.replace(path, folder / path.name)
        kept = {path.stem for path in made}
        for pack in old:
            if pack.stem in kept:
                continue
            for suffix in (*_COMPANIONS, ".pack"):
                pack.with_suffix(suffix).unlink(missing_ok=True)
        return RepackResult(mirror, len(old), objects, _prune_packed(mirror))


def _prune_packed(mirror: Path) -> int:
    """Remove the loose objects that are in a pack now (``git prune-packed``, which deletes
    only those); returns how many went. Called under the mirror's lock, right after a
    repack: every loose object there is in the new pack (the merge worker writes them
    holding the lock shared)."""
    before = _loose_files(mirror)
    try:
        subprocess.run(
            ["git", "--git-dir", str(mirror), "prune-packed", "--quiet"],
            capture_output=True,
            timeout=600,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:  # the repack stands; next round tries again
        stderr = (getattr(exc, "stderr", None) or b"").decode(errors="replace")[-300:]
        log.warning("git prune-packed failed", mirror=str(mirror), error=str(exc), stderr=stderr)
    return before - _loose_files(mirror)


def _loose_files(mirror: Path) -> int:
    objects = mirror / "objects"
    return sum(
        1
        for folder in objects.glob("[0-9a-f][0-9a-f]")
        for path in folder.iterdir()
        if _is_object_name(path.name)
    )


def _remove_abandoned_staging(folder: Path) -> None:
    """Delete staging folders of repacks that were killed before they finished.

    A staging folder holds a whole pack of the repository, so each one left behind costs as
    much disk as the mirror itself. Only a repack holding the mirror's lock writes one, and
    the caller holds that lock now: any staging folder found here was abandoned.
    """
    for leftover in folder.glob(f"{_STAGING_PREFIX}*"):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)


def repack_mirrors(
    data_dir: Path, *, limit: int = PACK_LIMIT, loose_limit: int = LOOSE_LIMIT
) -> list[RepackResult]:
    """Repack every mirror under ``data_dir`` (the merge worker's repositories too) that
    has gathered too many packs or loose objects."""
    done = []
    for mirror in repositories(data_dir):
        if needs_repack(mirror, limit, loose_limit):
            result = repack(mirror, limit=limit, loose_limit=loose_limit)
            if result is not None:
                done.append(result)
    return done
