"""Who Shunter is on GitHub: its App's bot login, learned when the operator did not set it.

Shunter tells its own comments and events from everyone else's by its bot's login
(``<slug>[bot]``): it adopts only its own comments when it looks for what it wrote (the
summary comment, a write whose answer was lost) and ignores the events it caused. Without
``SHUNTER_BOT_LOGIN`` those checks used to accept any author and recognise none of its own
events, so the login is asked of GitHub (``GET /app``) once and shared through Redis.
"""

from __future__ import annotations

import contextlib
from typing import Any

from redis.exceptions import RedisError

from bot.errors import ShunterError
from bot.logs import get_logger

log = get_logger(__name__)

LOGIN_TTL = 86400
"""Seconds the learned login is shared: an App's slug changes only when it is renamed."""


def login_key(app_id: int) -> str:
    return f"shunter:app-bot-login:{app_id}"


def learned_bot_login(redis: Any, github: Any, app_id: int | None) -> str | None:
    """``<slug>[bot]`` of the App, from Redis or else from ``GET /app``; None when the App
    has no credentials here or GitHub cannot say now (the next call asks again)."""
    if app_id is None:
        return None
    try:
        cached = redis.get(login_key(app_id))
    except RedisError:
        cached = None
    if cached:
        return cached.decode() if isinstance(cached, bytes) else str(cached)
    from bot.github.client import translate_errors

    try:
        client = github.app()  # held: githubkit's namespaces keep only a weak reference
        with translate_errors("reading the App's name (GET /app)"):
            app = client.rest.apps.get_authenticated().parsed_data
    except ShunterError as exc:
        log.warning("could not learn the App's bot login; set SHUNTER_BOT_LOGIN", error=str(exc))
        return None
    if app is None or not app.slug:
        return None
    login = f"{app.slug}[bot]"
    with contextlib.suppress(RedisError):  # else learned again by the next process
        redis.set(login_key(app_id), login, ex=LOGIN_TTL)
    return login
