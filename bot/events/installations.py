"""Installation events: logged for operators; tokens are minted lazily per call."""

from __future__ import annotations

from gidgethub import routing, sansio

from bot.events.dispatch import EventContext
from bot.logs import get_logger

router = routing.Router()
log = get_logger(__name__)


@router.register("installation")
@router.register("installation_repositories")
async def on_installation(event: sansio.Event, ctx: EventContext) -> None:
    account = (event.data.get("installation") or {}).get("account") or {}
    log.info("installation changed", action=event.data.get("action"), account=account.get("login"))
    if event.data.get("action") == "deleted":
        ctx.runtime.github.forget_installation((event.data.get("installation") or {}).get("id"))
    ctx.handled("installations.on_installation")
