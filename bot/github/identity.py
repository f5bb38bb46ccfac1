"""Who Shunter is on GitHub: its App's bot login, learned when the operator did not set it.

Shunter tells its own comments and events from everyone else's by its bot's login
(``<slug>[bot]``): it adopts only its own comments when it looks for what it wrote (the
summary comment, a write whose answer was lost) and ignores the events it caused. Without
``SHUNTER_BOT_LOGIN`` those checks used to accept any author and recognise none of its own
events, so the login is asked of GitHub (``GET /app``) once and shared through Redis.

The commits the merge queue pushes are the bot user's too. GitHub ties a commit to an
account by its e-mail, and the bot's is ``<id>+<slug>[bot]@users.noreply.<host>`` with the
id of the bot *user* (``GET /users/<slug>[bot]``), which is neither the App's id nor the
installation's; the legacy ``<login>@users.noreply.github.com`` form names whoever owns
that login as a person, so it is never used.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlsplit

from redis.exceptions import RedisError

from bot.errors import ShunterError
from bot.github.hosts import GITHUB_COM_API_HOST
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


def user_id_key(app_id: int, login: str) -> str:
    return f"shunter:app-bot-user-id:{app_id}:{login}"


def learned_bot_user_id(redis: Any, github: Any, app_id: int, login: str) -> int | None:
    """The id of the bot user ``login`` (``GET /users/{login}``), from Redis or GitHub; None
    when GitHub cannot say now (the next call asks again).

    Asked as one of the App's installations: on GitHub Enterprise Server in private mode
    the users API needs a token, and the App's own JWT is only for ``/app`` routes."""
    try:
        cached = redis.get(user_id_key(app_id, login))
    except RedisError:
        cached = None
    if cached:
        return int(cached)
    from bot.github.client import translate_errors

    try:
        app = github.app()  # held: githubkit's namespaces keep only a weak reference
        with translate_errors("finding an installation to read the bot user with (GET /app/installations)"):
            installations = app.rest.apps.list_installations(per_page=1).parsed_data
        if not installations:
            return None
        client = github.installation(installations[0].id)
        with translate_errors(f"reading the bot user's id (GET /users/{login})"):
            user = client.rest.users.get_by_username(login).json()
    except ShunterError as exc:
        log.warning("could not learn the bot user's id", login=login, error=str(exc))
        return None
    if not isinstance(user.get("id"), int):
        return None
    with contextlib.suppress(RedisError):  # else learned again by the next process
        redis.set(user_id_key(app_id, login), str(user["id"]), ex=LOGIN_TTL)
    return int(user["id"])


def noreply_domain(github_url: str) -> str:
    """The domain of GitHub's no-reply addresses for the instance whose REST API is at
    ``github_url``: ``users.noreply.github.com`` for github.com (``api.github.com``) and for
    GHE.com (``api.SUBDOMAIN.ghe.com``), whose accounts live on github.com's domain, and
    ``users.noreply.<host>`` for GitHub Enterprise Server (``https://<host>/api/v3``), as
    GitHub Desktop derives them. A GHES host's own ``api.`` is kept: it is part of its name."""
    host = (urlsplit(github_url).hostname or GITHUB_COM_API_HOST).lower()
    if host == GITHUB_COM_API_HOST or host.endswith(".ghe.com"):
        return "users.noreply.github.com"
    return f"users.noreply.{host}"


def noreply_email(login: str, user_id: int, domain: str) -> str:
    """The no-reply address GitHub links to the account ``user_id`` (``<id>+<login>@...``),
    whatever its login was or becomes."""
    return f"{user_id}+{login}@{domain}"


def bot_signature(runtime: Any) -> tuple[str, str] | None:
    """(name, e-mail) of the App's bot user for the commits Shunter pushes; None when GitHub
    cannot say who it is (no App credentials here, GitHub unreachable)."""
    settings = runtime.settings
    if settings.app_id is None or not settings.has_app_credentials:
        return None
    login = runtime.bot_login
    if not login:
        return None
    user_id = learned_bot_user_id(runtime.redis, runtime.github, settings.app_id, login)
    if user_id is None:
        return None
    return login, noreply_email(login, user_id, noreply_domain(settings.github_url))
