"""Installation events: logged for operators; tokens are minted lazily per call. When
Shunter loses access to repositories, what it holds of them goes (``bot.pipeline.uninstalled``)."""

from __future__ import annotations

from typing import Any

from gidgethub import routing, sansio

from bot.events.dispatch import EventContext
from bot.logs import get_logger

router = routing.Router()
log = get_logger(__name__)


@router.register("installation")
@router.register("installation_repositories")
async def on_installation(event: sansio.Event, ctx: EventContext) -> None:
    installation = event.data.get("installation") or {}
    account = installation.get("account") or {}
    action = event.data.get("action")
    log.info("installation changed", action=action, account=account.get("login"))
    if event.event == "installation" and action in ("deleted", "new_permissions_accepted"):
        # uninstalled: the token is revoked; new permissions: a token minted before carries
        # the old ones for up to an hour, so the next call mints one that has them
        ctx.runtime.github.forget_installation(installation.get("id"))
    lost = lost_repositories(event.event, event.data)
    if lost:
        from bot.pipeline.uninstalled import forget_repositories

        counts = forget_repositories(ctx.runtime, lost, delivery_id=ctx.delivery.delivery_id)
        ctx.handled(
            "installations.access_lost",
            f"lost access to {', '.join(lost)}: removed {counts['repositories']} local "
            f"repositories, dropped {counts['changes']} queued changes",
        )
    ctx.handled("installations.on_installation")


def lost_repositories(event: str, payload: dict[str, Any]) -> list[str]:
    """The repositories (``owner/name``, or ``owner/*`` for all of an account's) an event
    says Shunter can no longer read: the App uninstalled, or repositories taken out of it."""
    if event == "installation" and payload.get("action") == "deleted":
        login = ((payload.get("installation") or {}).get("account") or {}).get("login")
        return [f"{login}/*"] if isinstance(login, str) and login else []
    if event == "installation_repositories" and payload.get("action") == "removed":
        removed = payload.get("repositories_removed") or []
        names = [r.get("full_name") for r in removed if isinstance(r, dict)]
        return [name for name in names if isinstance(name, str) and name]
    return []
