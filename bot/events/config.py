"""Pushes to the default branch that change ``.github/shunter.yml``: drop cached config."""

from __future__ import annotations

from gidgethub import routing, sansio

from bot.events.dispatch import EventContext

router = routing.Router()
CONFIG_PATH = ".github/shunter.yml"
# GitHub lists at most this many commits in a push; a longer push may hide a config change
LISTED_COMMITS = 2048


@router.register("push")
async def on_push(event: sansio.Event, ctx: EventContext) -> None:
    data = event.data
    repo = data.get("repository") or {}
    default = repo.get("default_branch")
    if not default or data.get("ref") != f"refs/heads/{default}":
        return
    commits = data.get("commits") or []
    touched = {
        path
        for commit in commits
        for key in ("added", "modified", "removed")
        for path in commit.get(key) or []
    }
    # the commit list cannot tell a rewritten history: a force-push back to an older
    # commit lists no commit at all, and may drop a config change without naming it
    unsure = bool(data.get("forced")) or not commits or len(commits) >= LISTED_COMMITS
    if CONFIG_PATH not in touched and repo.get("name") != ".github" and not unsure:
        return
    from bot.pipeline.config_loader import invalidate
    from bot.pipeline.config_notices import refresh_soon

    owner, _, name = repo["full_name"].partition("/")
    invalidate(ctx.runtime, int((data.get("installation") or {}).get("id") or 0), owner, name)
    # summaries that say the config is broken are rewritten if it is good now
    refresh_soon(ctx.runtime, repo["full_name"], ctx.delivery.delivery_id, fixed_in=data.get("after"))
    ctx.handled("config.invalidated", f"{repo['full_name']} changed its config")
