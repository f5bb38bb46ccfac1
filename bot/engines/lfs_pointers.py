"""Git LFS pointer files: the few lines git stores in place of a file kept in LFS.

A ``*.py`` tracked by LFS (models, generated tables) reaches Shunter as its pointer text,
``version https://git-lfs.github.com/spec/v1`` / ``oid sha256:...`` / ``size ...``; linted as
Python that read as five invalid-syntax findings on a file nobody wrote. Shunter does not
fetch LFS content, so the stages skip a pointer and say so.
"""

from __future__ import annotations

import re

MAX_POINTER_BYTES = 1024
"""The LFS spec caps a pointer file below 1024 bytes."""

_POINTER = re.compile(
    rb"version https://(?:git-lfs|hawser)\.github\.com/spec/v1\n"
    rb"(?:ext-\d-\w+ sha256:[0-9a-f]{64}\n)*oid sha256:[0-9a-f]{64}\nsize \d+\n?"
)


def is_lfs_pointer(data: bytes) -> bool:
    """Whether ``data`` is a Git LFS pointer (per the v1 spec), not a file's content."""
    return len(data) < MAX_POINTER_BYTES and _POINTER.fullmatch(data) is not None


def skipped_pointer(shown_path: str) -> str:
    """The note a stage leaves for a pointer it did not read as source."""
    return (
        f"Skipped {shown_path}: a Git LFS pointer, not the file's content "
        "(Shunter does not fetch LFS objects)."
    )
