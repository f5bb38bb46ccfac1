"""Pull-request lifecycle events: plan the stages for a new head SHA."""

from __future__ import annotations

from gidgethub import routing, sansio

from bot.events.dispatch import EventContext
from bot.logs import bind, get_logger

router = routing.Router()
log = get_logger(__name__)

PLANNING_ACTIONS = ("opened", "reopened", "synchronize", "ready_for_review", "labeled", "unlabeled", "edited")
# what an ``edited`` event can change that a stage's verdict depends on (a title matched by
# ``ignore.title_patterns``); an edited body or a renamed base alone plans nothing new
EDITS_THAT_MATTER = ("title", "base")


async def on_pull_request(event: sansio.Event, ctx: EventContext) -> None:
    pr = event.data.get("pull_request") or {}
    with bind(pr=pr.get("number"), head=(pr.get("head") or {}).get("sha")):
        ctx.handled("pulls.on_pull_request")
        changes = event.data.get("changes")
        if event.data.get("action") == "edited" and not (
            isinstance(changes, dict) and any(key in changes for key in EDITS_THAT_MATTER)
        ):
            ctx.handled("planning.skipped", "only the description was edited")
            return
        from bot.pipeline.planning import plan_pull_request

        await plan_pull_request(event, ctx)


for _action in PLANNING_ACTIONS:
    router.add(on_pull_request, "pull_request", action=_action)


@router.register("merge_group", action="checks_requested")
async def on_merge_group(event: sansio.Event, ctx: EventContext) -> None:
    ctx.handled("pulls.on_merge_group")
    from bot.pipeline.planning import plan_merge_group

    await plan_merge_group(event, ctx)


@router.register("pull_request", action="closed")
async def on_pull_request_closed(event: sansio.Event, ctx: EventContext) -> None:
    """Drop the changes still waiting to land on a pull request that was closed or merged
    (``bot.pipeline.closed_pulls``), and stop its stage jobs at their next checkpoint."""
    pr = event.data.get("pull_request") or {}
    with bind(pr=pr.get("number")):
        ctx.handled("pulls.on_pull_request_closed")
        from bot.pipeline import heads
        from bot.pipeline.closed_pulls import drop_pending_changes
        from bot.pipeline.facts import from_pull_request

        merged = bool(pr.get("merged"))
        state = "merged" if merged else "closed"
        target = from_pull_request(event.data)
        if target.number is not None:
            heads.mark_closed(ctx.runtime.redis, target.repo, target.number, state, target.updated_at)
        dropped = drop_pending_changes(
            ctx.runtime, target, merged=merged, delivery_id=ctx.delivery.delivery_id
        )
        if dropped:
            ctx.handled("changes.dropped", f"pull request {state}: dropped {', '.join(dropped)}")
