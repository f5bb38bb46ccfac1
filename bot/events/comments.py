"""PR comments: ``/shunter <verb>`` commands."""

from __future__ import annotations

from gidgethub import routing, sansio

from bot.events.dispatch import EventContext
from bot.logs import get_logger

router = routing.Router()
log = get_logger(__name__)
NOT_A_PULL_REQUEST = (
    "a comment on an issue, not on a pull request: Shunter commands run on pull requests only"
)


@router.register("issue_comment", action="created")
@router.register("issue_comment", action="edited")
async def on_issue_comment(event: sansio.Event, ctx: EventContext) -> None:
    if "pull_request" not in (event.data.get("issue") or {}):
        # GitHub sends issue_comment for plain issues too (no ``issue.pull_request``): said
        # in the job's outcome and the log, so an operator looking for a command sees why
        ctx.handled("comments.ignored", NOT_A_PULL_REQUEST)
        log.info("ignored comment", reason=NOT_A_PULL_REQUEST)
        return
    ctx.handled("comments.on_issue_comment")
    from bot.pipeline.commands import handle_comment

    await handle_comment(event, ctx)


@router.register("pull_request_review_comment", action="created")
@router.register("pull_request_review_comment", action="edited")
async def on_review_comment(event: sansio.Event, ctx: EventContext) -> None:
    ctx.handled("comments.on_review_comment")
    from bot.pipeline.commands import handle_comment

    await handle_comment(event, ctx)


@router.register("pull_request_review", action="submitted")
@router.register("pull_request_review", action="edited")
async def on_review(event: sansio.Event, ctx: EventContext) -> None:
    """The text of a submitted review ("Approve: /shunter apply") holds commands too."""
    ctx.handled("comments.on_review")
    from bot.pipeline.commands import handle_comment

    await handle_comment(event, ctx)
