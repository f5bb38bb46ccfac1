"""Fixture repositories for the tests stage: real files in memory, a real line diff.

``build_context`` is exposed as the ``make_context`` fixture (conftest modules are not
importable under ``--import-mode=importlib``)."""

from __future__ import annotations

import difflib
from collections.abc import Callable

import pytest

from bot.policies.schema import TestsStageConfig as StageOptions
from bot.stages.context import ChangedFile, MemoryTree, StageContext


def added_lines(before: str, after: str) -> frozenset[int]:
    matcher = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines())
    out: set[int] = set()
    for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            out.update(range(j1 + 1, j2 + 1))
    return frozenset(out)


def build_context(
    base: dict[str, str],
    head: dict[str, str],
    *,
    trusted: bool = True,
    options: StageOptions | None = None,
) -> StageContext:
    files = []
    for path in sorted(set(base) | set(head)):
        if base.get(path) == head.get(path):
            continue
        if path not in head:
            files.append(ChangedFile(path=path, status="deleted"))
            continue
        status = "added" if path not in base else "modified"
        files.append(
            ChangedFile(
                path=path,
                status=status,
                added_lines=added_lines(base.get(path, ""), head[path]),
            )
        )
    return StageContext(
        repo="octo/fixture",
        base_sha="a" * 40,
        head_sha="b" * 40,
        files=files,
        head=MemoryTree({k: v.encode() for k, v in head.items()}),
        base=MemoryTree({k: v.encode() for k, v in base.items()}),
        options=options or StageOptions(timeout_seconds=60, time_budget_seconds=120),
        trusted_author=trusted,
    )


@pytest.fixture(scope="session")
def make_context() -> Callable[..., StageContext]:
    return build_context
