"""The merge worker's own repositories (``<data_dir>/merge``) fall under the mirrors' limits:
hourly maintenance deletes idle ones, trims the cache to its size and prunes their refs,
but never while a landing uses them."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pygit2
from mq_forge import REPO, edited

from bot.changes.model import ChangeRequest
from bot.git.fetched_refs import FETCH_NAMESPACE, fetched_ref, record_fetch
from bot.models import PatchDraft, StageName
from bot.queue.merge_worker import DirectoryRemotes, LocalRepoStore, NoHooks, process_once

DAY = 86_400.0


def _change_on(forge, branch: str, i: int, repo: str = REPO) -> ChangeRequest:
    """A change to ``src/mod<i>.py`` for ``branch`` (made at main's head if it is new)."""
    head = forge.head()
    if f"refs/heads/{branch}" not in forge.repo.references:
        forge.repo.references.create(f"refs/heads/{branch}", head)
    draft = PatchDraft(
        stage=StageName.REVIEW,
        title=f"fix {i}",
        files=[forge.diff_for(f"src/mod{i}.py", edited(i))],
        finding_fingerprints=["f" * 16],
    )
    return ChangeRequest.from_draft(draft, repo=repo, branch=branch, head_sha=head, requester="alice")


def _land(mq, store, cr, policy, hooks=None) -> None:
    mq.enqueue(cr, policy)
    outcome = process_once(mq, store, owner_id="w", hooks=hooks)
    assert outcome is not None and outcome.report is not None, outcome
    assert outcome.report.change_ids == [cr.id], outcome


def _maintain(data_dir: Path, redis_client, **limits) -> None:
    from bot.pipeline.stage_job import _maintain_mirrors_now_and_then
    from bot.settings import Settings

    runtime = SimpleNamespace(settings=Settings(data_dir=data_dir, **limits), redis=redis_client)
    redis_client.delete(f"shunter:mirror-cleanup:{data_dir}")
    _maintain_mirrors_now_and_then(runtime)  # type: ignore[arg-type]


def _fetched(path: Path) -> set[str]:
    return {r for r in pygit2.Repository(str(path)).listall_references() if r.startswith(FETCH_NAMESPACE)}


def test_hourly_maintenance_keeps_merge_worker_repositories_within_the_limits(
    forge, mq, git_policy, data_dir: Path, redis_client
) -> None:
    """Each branch landed on left a ref behind for ever, refs under the retired naming were
    never dropped, and a repository served once stayed on disk for ever: maintenance only
    looked at <data_dir>/mirrors."""
    store = LocalRepoStore(data_dir / "merge", DirectoryRemotes(forge.remote_root))
    shutil.copytree(forge.path, forge.remote_root / "acme/gadgets.git")
    branches = [f"feature/{i}" for i in range(6)]
    for i, branch in enumerate(branches):
        _land(mq, store, _change_on(forge, branch, i), git_policy)
    _land(mq, store, _change_on(forge, "main", 9, repo="acme/gadgets"), git_policy)
    widgets, gadgets = data_dir / "merge/acme__widgets.git", data_dir / "merge/acme__gadgets.git"
    assert _fetched(widgets) == {fetched_ref(b) for b in branches}
    pygit2.Repository(str(widgets)).references.create(f"{FETCH_NAMESPACE}/feature/0", forge.head())
    record_fetch(widgets, [fetched_ref(b) for b in branches[:4]], time.time() - 40 * DAY)
    idle = time.time() - 60 * DAY
    last_used = gadgets.with_name(gadgets.name + ".lock")  # a landing's lock marks it used
    last_used.touch()
    os.utime(last_used, (idle, idle))

    _maintain(data_dir, redis_client, mirror_max_age_days=30)

    assert not gadgets.exists()  # unused for 60 days
    assert _fetched(widgets) == {fetched_ref(b) for b in branches[4:]}
    # the next landing on a pruned branch fetches it again; a removed repository is re-made
    _land(mq, store, _change_on(forge, "feature/0", 10), git_policy)
    _land(mq, store, _change_on(forge, "main", 11, repo="acme/gadgets"), git_policy)
    assert fetched_ref("feature/0") in _fetched(widgets) and gadgets.exists()

    # the size limit counts these repositories with the mirrors, least recently used first
    _maintain(data_dir, redis_client, mirror_max_gb=1e-9)
    assert not widgets.exists() and not gadgets.exists()


class _MaintainMidLanding(NoHooks):
    """Maintenance (another worker's job on the same machine) runs just before the push,
    with every limit passed: over the size budget, every ref past its age."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.seen: dict[str, object] = {}

    def before_push(self, claim, commit_sha):  # type: ignore[no-untyped-def]
        from bot.git.cleanup import cleanup_mirrors, prune_mirror_refs
        from bot.git.repack import repack_mirrors

        self.seen["removed"] = cleanup_mirrors(self.data_dir, max_age_seconds=1, max_total_bytes=0)
        later = time.time() + 400 * DAY
        self.seen["pruned"] = prune_mirror_refs(self.data_dir, max_age_seconds=DAY, now=later)
        self.seen["repacked"] = repack_mirrors(self.data_dir, limit=0)


def test_maintenance_leaves_a_merge_worker_repository_alone_while_it_lands(
    forge, mq, git_policy, data_dir: Path
) -> None:
    store = LocalRepoStore(data_dir / "merge", DirectoryRemotes(forge.remote_root))
    repo = data_dir / "merge/acme__widgets.git"
    _land(mq, store, _change_on(forge, "feature/a", 1), git_policy)
    hooks = _MaintainMidLanding(data_dir)
    _land(mq, store, _change_on(forge, "feature/b", 2), git_policy, hooks=hooks)
    assert hooks.seen == {"removed": [], "pruned": 0, "repacked": []}
    assert _fetched(repo) == {fetched_ref("feature/a"), fetched_ref("feature/b")}

    # landings on other branches of one repository do not wait for each other
    holding, done = threading.Event(), threading.Event()

    def land_meanwhile() -> None:
        with store.landing(REPO, "feature/a"):
            holding.set()
            done.wait(30)

    other = threading.Thread(target=land_meanwhile)
    other.start()
    try:
        assert holding.wait(10)
        _land(mq, store, _change_on(forge, "feature/c", 3), git_policy)
    finally:
        done.set()
        other.join()

    from bot.git.cleanup import cleanup_mirrors

    assert cleanup_mirrors(data_dir, max_total_bytes=0) == [repo]  # nobody lands: it goes


def test_a_host_running_only_merge_workers_keeps_their_repositories_bounded(redis_url, tmp_path) -> None:
    """Maintenance ran only after stage jobs: a host whose workers serve only the merge
    queue (``shunter worker --queues merge``) kept every repository it ever landed in."""
    from bot.pipeline.patches import wake_merge_queue
    from bot.stack import LocalStack

    with LocalStack(tmp_path / "stack", redis_url=redis_url) as stack:
        assert stack.settings is not None
        idle = stack.settings.data_dir / "merge/acme__old.git"
        pygit2.init_repository(str(idle), bare=True)
        last_used = idle.with_name(idle.name + ".lock")
        last_used.touch()
        long_ago = time.time() - (stack.settings.mirror_max_age_days + 1) * DAY
        os.utime(last_used, (long_ago, long_ago))
        wake_merge_queue(stack.redis, why="test")
        stack.work(("merge",))
        assert not idle.exists()
