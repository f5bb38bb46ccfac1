"""Check-suite and check-run events: re-runs and the buttons on Shunter's check runs."""

from __future__ import annotations

from typing import Any

from gidgethub import routing, sansio

from bot.events.dispatch import EventContext
from bot.logs import get_logger

router = routing.Router()
log = get_logger(__name__)


def foreign_app_id(checks: dict[str, Any], own_app_id: int | None) -> int | None:
    """The id of the App that owns a check run or suite when it is not Shunter's, else None.

    Names prove nothing: a workflow job or a second App may call its check ``shunter/review``.
    GitHub documents that only the owning App receives ``rerequested`` and
    ``requested_action``, so this is defence in depth against a misrouted or forged event.
    An event without an app id (older payloads, tests) is trusted, as the button handler does.
    """
    app_id = (checks.get("app") or {}).get("id")
    if isinstance(app_id, int) and own_app_id is not None and app_id != own_app_id:
        return app_id
    return None


def ignored_foreign(event: sansio.Event, ctx: EventContext, kind: str) -> bool:
    """Log and skip an event about another App's check run or suite (``kind``)."""
    checks = event.data.get(kind) or {}
    app_id = foreign_app_id(checks, ctx.runtime.settings.app_id)
    if app_id is None:
        return False
    what = kind.replace("_", " ")
    log.info(
        f"ignored an event about another App's {what}",
        action=event.data.get("action"),
        app_id=app_id,
        app_slug=(checks.get("app") or {}).get("slug"),
        own_app_id=ctx.runtime.settings.app_id,
        name=checks.get("name"),
    )
    ctx.handled("checks.foreign_app", f"the {what} belongs to App {app_id}, not Shunter")
    return True


@router.register("check_suite", action="requested")
@router.register("check_suite", action="rerequested")
async def on_check_suite(event: sansio.Event, ctx: EventContext) -> None:
    if ignored_foreign(event, ctx, "check_suite"):
        return
    ctx.handled("checks.on_check_suite")
    from bot.pipeline.planning import plan_check_suite

    await plan_check_suite(event, ctx)


@router.register("check_run", action="rerequested")
async def on_check_run_rerequested(event: sansio.Event, ctx: EventContext) -> None:
    if ignored_foreign(event, ctx, "check_run"):
        return
    ctx.handled("checks.on_check_run_rerequested")
    from bot.pipeline.planning import plan_check_run_rerun

    await plan_check_run_rerun(event, ctx)


@router.register("check_run", action="requested_action")
async def on_requested_action(event: sansio.Event, ctx: EventContext) -> None:
    if ignored_foreign(event, ctx, "check_run"):
        return
    ctx.handled("checks.on_requested_action")
    from bot.pipeline.commands import handle_button

    await handle_button(event, ctx)
