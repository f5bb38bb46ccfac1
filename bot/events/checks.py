"""Check-suite and check-run events: re-runs and the buttons on Shunter's check runs."""

from __future__ import annotations

from gidgethub import routing, sansio

from bot.events.dispatch import EventContext

router = routing.Router()


@router.register("check_suite", action="requested")
@router.register("check_suite", action="rerequested")
async def on_check_suite(event: sansio.Event, ctx: EventContext) -> None:
    ctx.handled("checks.on_check_suite")
    from bot.pipeline.planning import plan_check_suite

    await plan_check_suite(event, ctx)


@router.register("check_run", action="rerequested")
async def on_check_run_rerequested(event: sansio.Event, ctx: EventContext) -> None:
    ctx.handled("checks.on_check_run_rerequested")
    from bot.pipeline.planning import plan_check_run_rerun

    await plan_check_run_rerun(event, ctx)


@router.register("check_run", action="requested_action")
async def on_requested_action(event: sansio.Event, ctx: EventContext) -> None:
    ctx.handled("checks.on_requested_action")
    from bot.pipeline.commands import handle_button

    await handle_button(event, ctx)
