"""Fixtures for the merge-queue tests; the git helpers live in ``mq_forge`` beside this file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

sys.path.insert(0, str(Path(__file__).parent))

from mq_forge import Forge  # noqa: E402

from bot.policies.schema import Patches  # noqa: E402
from bot.queue.merge import MergeQueue, QueueSettings  # noqa: E402
from bot.queue.merge_worker import DirectoryRemotes, LocalRepoStore  # noqa: E402


@pytest.fixture
def forge(tmp_path: Path) -> Forge:
    return Forge(tmp_path)


@pytest.fixture
def git_policy() -> Patches:
    return Patches(push_method="git", max_files=50, max_lines=2000)


@pytest.fixture
def fast_settings() -> QueueSettings:
    """Quick backoffs, but the default 30 s lease: no test using it waits for a lease to
    expire, and a 2 s one could run out under a loaded machine while a batch was landing
    (tests that need expiry make their own short-lease queue)."""
    return QueueSettings(lease_seconds=30.0, max_attempts=3, backoff_base=0.05, max_batch=20)


@pytest.fixture
def mq(redis_client: redis.Redis, fast_settings: QueueSettings) -> Iterator[MergeQueue]:
    yield MergeQueue(redis_client, fast_settings)


@pytest.fixture
def store_factory(tmp_path: Path, forge: Forge):
    def make(name: str) -> LocalRepoStore:
        return LocalRepoStore(tmp_path / "workers" / name, DirectoryRemotes(forge.remote_root))

    return make
