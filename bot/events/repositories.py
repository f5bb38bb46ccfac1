"""``repository`` events: a repository Shunter works on was renamed, transferred, deleted,
archived, or got another default branch (``bot.pipeline.moved`` does the work)."""

from __future__ import annotations

from typing import Any

from gidgethub import routing, sansio

from bot.events.dispatch import EventContext

router = routing.Router()


@router.register("repository")
async def on_repository(event: sansio.Event, ctx: EventContext) -> None:
    from bot.pipeline import heads, moved

    data = event.data
    action = data.get("action")
    repo = data.get("repository") or {}
    name = str(repo.get("full_name") or "")
    installation_id = int((data.get("installation") or {}).get("id") or 0)
    delivery_id = ctx.delivery.delivery_id
    old = former_name(action, data)
    if old is not None and old.lower() != name.lower():
        if isinstance(repo.get("id"), int):
            ctx.runtime.redis.set(moved.repository_id_key(repo["id"]), name, ex=heads.TTL)
        if heads.current_name(ctx.runtime.redis, old).lower() == name.lower():
            ctx.handled("repositories.moved", f"{old} is now {name}: moved already (an event came first)")
            return
        note = moved.repository_moved(ctx.runtime, old, name, delivery_id=delivery_id)
        ctx.handled("repositories.moved", note)
    elif action == "deleted":
        note = moved.repository_gone(ctx.runtime, name, delivery_id=delivery_id, reason="deleted")
        ctx.handled("repositories.deleted", note)
    elif action == "archived":
        note = moved.repository_gone(ctx.runtime, name, delivery_id=delivery_id, reason="archived")
        ctx.handled("repositories.archived", note)
    elif action == "edited" and "default_branch" in (data.get("changes") or {}):
        branch = str(repo.get("default_branch"))
        note = moved.default_branch_changed(ctx.runtime, installation_id, name, branch)
        ctx.handled("repositories.default_branch", note)


def former_name(action: Any, data: dict[str, Any]) -> str | None:
    """The ``owner/name`` a renamed or transferred repository had (None for other events)."""
    repo = data.get("repository") or {}
    owner, _, name = str(repo.get("full_name") or "").partition("/")
    changes = data.get("changes") or {}
    if action == "renamed":
        old = ((changes.get("repository") or {}).get("name") or {}).get("from")
        return f"{owner}/{old}" if isinstance(old, str) and old else None
    if action == "transferred":
        was = (changes.get("owner") or {}).get("from") or {}
        account = was.get("organization") or was.get("user") or {}
        login = account.get("login") if isinstance(account, dict) else None
        return f"{login}/{name}" if isinstance(login, str) and login else None
    return None
