"""Route a delivery to the feature routers (bedevere style: one router per feature module).

Each feature module under ``bot/events/`` exposes a gidgethub ``Router`` named ``router``;
they are combined here. Handlers are ``async def handler(event, ctx: EventContext)``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from gidgethub import routing, sansio

from bot.errors import AccessPaused
from bot.events.shapes import problems
from bot.logs import get_logger
from bot.queue.jobs import Delivery
from bot.runtime import Runtime, get_runtime

log = get_logger(__name__)

FEATURE_MODULES = (
    "bot.events.pulls",
    "bot.events.checks",
    "bot.events.comments",
    "bot.events.installations",
    "bot.events.repositories",
    "bot.events.config",
)


@dataclass
class EventContext:
    """What a handler gets besides the event: the delivery, the runtime, an outcome log."""

    delivery: Delivery
    runtime: Runtime
    handled_by: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def handled(self, name: str, note: str | None = None) -> None:
        self.handled_by.append(name)
        if note:
            self.notes.append(note)


def _load_router() -> routing.Router:
    routers = []
    for name in FEATURE_MODULES:
        module = importlib.import_module(name)
        routers.append(module.router)
    return routing.Router(*routers)


_router: routing.Router | None = None


def router() -> routing.Router:
    global _router
    if _router is None:
        _router = _load_router()
    return _router


# Shunter's own pushes must still re-run the stages on the new head (GitHub sends
# ``synchronize`` with Shunter as the sender); loops are prevented where patches are
# applied (never auto-apply on top of Shunter's own commit for the same stage).
OWN_EVENTS_HANDLED = {"pull_request", "push"}


def is_own_event(delivery: Delivery, bot_login: str | None) -> bool:
    """Events Shunter caused itself (its bot account is the sender) must not loop back."""
    if delivery.event in OWN_EVENTS_HANDLED:
        return False
    sender = delivery.payload.get("sender")
    if not isinstance(sender, dict) or not bot_login:
        return False
    return sender.get("login") == bot_login


async def dispatch(delivery: Delivery, runtime: Runtime | None = None) -> dict[str, Any]:
    """Run every handler registered for the delivery; return what happened, for the job log."""
    outcome: dict[str, Any] = {
        "delivery": delivery.delivery_id,
        "event": delivery.event,
        "action": delivery.action,
    }
    # the front door refuses these with 400; one queued before it did, or enqueued by
    # other means (``enqueue_event``), is dropped here with the same message instead of
    # crashing a handler and failing the job in rq
    problem = problems(delivery.event, delivery.payload)
    if problem is not None:
        log.warning("ignored malformed delivery", delivery=delivery.delivery_id, problem=problem)
        return {**outcome, "ignored": problem}
    runtime = runtime or get_runtime()
    if is_own_event(delivery, runtime.bot_login):
        log.info("ignored own event", sender=delivery.sender)
        return {**outcome, "ignored": "sent by Shunter itself"}
    event = sansio.Event(delivery.payload, event=delivery.event, delivery_id=delivery.delivery_id)
    ctx = EventContext(delivery=delivery, runtime=runtime)
    found = router().fetch(event)
    if not found:
        log.info("no handler for event", action=delivery.action)
        return {**outcome, "ignored": "no handler"}
    if delivery.event != "repository":  # that one moves the state itself
        from bot.pipeline.moved import follow_repository_id

        follow_repository_id(runtime, delivery.payload, delivery_id=delivery.delivery_id)
    try:
        for callback in found:
            await callback(event, ctx)
    except AccessPaused as exc:
        # archived or suspended: nothing here can be written, and no retry changes that
        from bot.pipeline.paused import record_paused

        record_paused(runtime, exc, repo=delivery.repo, delivery_id=delivery.delivery_id, what="event")
        return {**outcome, "handled_by": ctx.handled_by, "ignored": str(exc)}
    return {**outcome, "handled_by": ctx.handled_by, "notes": ctx.notes}
