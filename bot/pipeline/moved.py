"""A repository renamed, transferred, deleted, archived, or given another default branch.

Shunter keys its state by ``owner/name``. After a rename or a transfer the next events
carry the new name, so:

- what people set on a pull request (``/shunter pause``, dismissed findings, commands
  already run) and where Shunter's own comments are (the summary comment, inline comments)
  move to the new name, and so do each pull request's current head and closed state
  (Redis), with the old name pointing to the new one: a job still under the old name is
  superseded by a push after the rename and stops for a pull request closed under either
  name; a paused pull request stays paused, a dismissed finding stays
  dismissed, and no second summary or inline comment is posted;
- the git copies under the old name are removed (here at once, on other data dirs at their
  next maintenance): the next job fetches under the new name, and a repository created
  later under the old name never starts from the moved one's objects;
- changes already in the merge queue under the old name still land: GitHub redirects
  requests to the old name (301 for reads, 307 for writes) and the merge worker follows;
- run history and the audit log stay under the name they happened under.

A deleted repository is forgotten like one the App lost access to; an archived one is
read-only, so its changes not yet started are dropped (audited) rather than left to fail.
"""

from __future__ import annotations

import time
from typing import Any

from bot.git.cleanup import remove_repositories
from bot.logs import get_logger
from bot.pipeline import heads
from bot.pipeline.uninstalled import FORGOTTEN, drop_changes, forget_repositories

log = get_logger(__name__)


def repository_moved(runtime: Any, old: str, new: str, *, delivery_id: str | None) -> str:
    """``old`` is now ``new``: move its pull requests' state, remove the old copies."""
    moved = runtime.store.move_repository(old, new)
    keys = heads.move_repository(runtime.redis, old, new)
    now = time.time()
    runtime.redis.zadd(FORGOTTEN, {old: now})  # other data dirs remove theirs too
    removed = remove_repositories(runtime.settings.data_dir, [old], used_before=now)
    runtime.store.record_audit(
        repo=new,
        actor="shunter",
        action="repository.moved",
        target_type="repository",
        target_id=old,
        delivery_id=delivery_id,
        reason_code="moved",
        reason=f"{old} was renamed or transferred to {new}",
        payload={"from": old, "rows_moved": moved},
    )
    log.info("repository moved", old=old, new=new, rows=moved, keys=keys, removed=len(removed))
    return (
        f"{old} is now {new}: moved {moved} records of its pull requests, "
        f"removed {len(removed)} local copies"
    )


def repository_id_key(repository_id: int) -> str:
    return f"shunter:repo-name:{repository_id}"


def follow_repository_id(runtime: Any, payload: dict[str, Any], *, delivery_id: str | None) -> str | None:
    """Events can arrive out of order: one carrying a repository's new name (a push, a pull
    request event, a comment) may be handled before ``repository`` ``renamed`` or
    ``transferred``. The repository's id does not change, so the name last seen for it
    tells: its state moves now, before the event's handlers look for it under the new name
    (which would post a second summary comment and run the stages of a head again). A late
    event under a former name moves nothing back. Costs Redis look-ups, no GitHub call.
    Returns the former name when this moved it."""
    repo = payload.get("repository")
    if not isinstance(repo, dict):
        return None
    repository_id, name = repo.get("id"), repo.get("full_name")
    if not isinstance(repository_id, int) or not isinstance(name, str) or "/" not in name:
        return None
    key = repository_id_key(repository_id)
    raw = runtime.redis.get(key)
    known = raw.decode() if isinstance(raw, bytes) else raw
    if known == name:
        return None
    if heads.was_renamed(runtime.redis, name):
        return None  # a late event under a name it had before
    runtime.redis.set(key, name, ex=heads.TTL)
    if not known or known.lower() == name.lower():
        return None
    if heads.current_name(runtime.redis, known).lower() == name.lower():
        return None  # the repository event came first
    repository_moved(runtime, known, name, delivery_id=delivery_id)
    return known


def repository_gone(runtime: Any, name: str, *, delivery_id: str | None, reason: str) -> str:
    """``deleted``: forget it; ``archived``: drop its changes not yet started."""
    if reason == "deleted":
        counts = forget_repositories(runtime, [name], delivery_id=delivery_id)
        return (
            f"{name} was deleted: removed {counts['repositories']} local copies, "
            f"dropped {counts['changes']} queued changes"
        )
    dropped = drop_changes(
        runtime,
        [name],
        delivery_id,
        reason_code="archived",
        reason="the repository was archived (read-only) before the change landed",
    )
    log.info("repository archived", repo=name, changes=len(dropped))
    return f"{name} was archived: dropped {len(dropped)} queued changes"


def default_branch_changed(runtime: Any, installation_id: int, name: str, branch: str) -> str:
    """The config is read from the default branch: forget what was read from the old one."""
    from bot.pipeline.config_loader import invalidate

    owner, _, repo = name.partition("/")
    invalidate(runtime, installation_id, owner, repo)
    return f"{name}'s default branch is now {branch}: config cache dropped"
