"""Typed keys for what the middleware hands to the route handlers."""

from __future__ import annotations

from aiohttp import web

from bot.simulator.activity import Hub
from bot.simulator.auth import Caller

HUB = web.AppKey("hub", Hub)
CALLER = web.RequestKey("caller", Caller)


def ctx(request: web.Request) -> tuple[Hub, Caller]:
    """The simulated GitHub and who is calling it."""
    return request.app[HUB], request[CALLER]
