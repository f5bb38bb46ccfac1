"""Pushes to the default branch that change ``.github/shunter.yml``: drop cached config."""

from __future__ import annotations

from gidgethub import routing, sansio

from bot.events.dispatch import EventContext

router = routing.Router()
CONFIG_PATH = ".github/shunter.yml"


@router.register("push")
async def on_push(event: sansio.Event, ctx: EventContext) -> None:
    data = event.data
    repo = data.get("repository") or {}
    default = repo.get("default_branch")
    if not default or data.get("ref") != f"refs/heads/{default}":
        return
    touched = {
        path
        for commit in data.get("commits") or []
        for key in ("added", "modified", "removed")
        for path in commit.get(key) or []
    }
    if CONFIG_PATH not in touched and repo.get("name") != ".github":
        return
    from bot.pipeline.config_loader import invalidate

    owner, _, name = repo["full_name"].partition("/")
    invalidate(ctx.runtime, int((data.get("installation") or {}).get("id") or 0), owner, name)
    ctx.handled("config.invalidated", f"{repo['full_name']} changed its config")
