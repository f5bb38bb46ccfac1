"""App routes: the App itself, installations, tokens, webhook deliveries, rate limit, and
the users (the App's bot user among them) that ``GET /users/{username}`` describes."""

from __future__ import annotations

from aiohttp import web

from bot.simulator.activity import Hub
from bot.simulator.auth import issue_token, require_app
from bot.simulator.context import ctx, path_id
from bot.simulator.responses import (
    ApiError,
    invalid_request,
    json_answer,
    not_found,
    page_answer,
    paginate,
    read_json,
)
from bot.simulator.shapes import Json, iso
from bot.simulator.state import Installation

routes = web.RouteTableDef()


@routes.get("/app")
async def get_app(request: web.Request) -> web.Response:
    hub, caller = ctx(request)
    require_app(caller)
    return json_answer(hub.shapes.app())


@routes.get("/users/{username}")
async def get_user(request: web.Request) -> web.Response:
    """Public data, answered to any caller as GitHub does; only the users the world knows
    (``World.user`` makes them), so a login nobody mentioned is 404 as on GitHub."""
    hub, _ = ctx(request)
    login = request.match_info["username"]
    if login.lower() not in hub.world.users:
        raise not_found()
    return json_answer(hub.shapes.public_user(login))


@routes.get("/app/installations")
async def list_installations(request: web.Request) -> web.Response:
    hub, caller = ctx(request)
    require_app(caller)
    items = [hub.shapes.installation(i) for i in hub.world.installations.values()]
    return page_answer(request, items)


def _installation(hub: Hub, raw: str) -> Installation:
    inst = hub.world.installations.get(path_id(raw))
    if inst is None:
        raise not_found()
    return inst


@routes.get("/app/installations/{id}")
async def get_installation(request: web.Request) -> web.Response:
    hub, caller = ctx(request)
    require_app(caller)
    inst = _installation(hub, request.match_info["id"])
    return json_answer(hub.shapes.installation(inst))


@routes.get("/repos/{owner}/{repo}/installation")
async def get_repo_installation(request: web.Request) -> web.Response:
    hub, caller = ctx(request)
    require_app(caller)
    inst = hub.world.installation_for(f"{request.match_info['owner']}/{request.match_info['repo']}")
    if inst is None:
        raise not_found()
    return json_answer(hub.shapes.installation(inst))


@routes.post("/app/installations/{id}/access_tokens")
async def create_token(request: web.Request) -> web.Response:
    hub, caller = ctx(request)
    require_app(caller)
    inst = _installation(hub, request.match_info["id"])
    if inst.suspended:
        raise ApiError(403, "This installation has been suspended")
    body = await read_json(request)
    with hub.world.lock:
        token = issue_token(
            hub.world,
            inst,
            repositories=body.get("repositories"),
            repository_ids=body.get("repository_ids"),
            permissions=body.get("permissions"),
        )
        repos = [
            hub.shapes.repo(r)
            for r in hub.world.installation_repos(inst)
            if token.repositories is None or r.full_name.lower() in token.repositories
        ]
    answer: Json = {
        "token": token.token,
        "expires_at": iso(token.expires_at),
        "permissions": token.permissions,
        "repository_selection": "all" if token.repositories is None else "selected",
    }
    if token.repositories is not None:
        answer["repositories"] = repos
    return json_answer(answer, status=201)


@routes.delete("/installation/token")
async def revoke_token(request: web.Request) -> web.Response:
    """GitHub's "Revoke an installation access token": the token that calls it stops working."""
    hub, caller = ctx(request)
    if caller.kind != "installation" or caller.token is None:
        raise ApiError(403, "You must authenticate with an installation access token")
    with hub.world.lock:
        hub.world.tokens.pop(caller.token.token, None)
    return web.Response(status=204)


@routes.get("/installation/repositories")
async def installation_repositories(request: web.Request) -> web.Response:
    hub, caller = ctx(request)
    if caller.kind != "installation" or caller.token is None:
        raise ApiError(403, "You must authenticate with an installation access token")
    inst = hub.world.installations[caller.token.installation_id]
    repos = [
        hub.shapes.repo(r)
        for r in hub.world.installation_repos(inst)
        if caller.token.repositories is None or r.full_name.lower() in caller.token.repositories
    ]
    page, headers = paginate(request, repos)
    return json_answer(
        {
            "total_count": len(repos),
            "repository_selection": inst.repository_selection,
            "repositories": page,
        },
        headers=headers,
    )


@routes.get("/app/hook/deliveries")
async def list_deliveries(request: web.Request) -> web.Response:
    """Newest first, cursor-paginated as GitHub does. The cursor names the last delivery
    returned, so deliveries arriving while a client pages neither repeat nor skip items."""
    hub, caller = ctx(request)
    require_app(caller)
    try:
        per_page = max(1, min(100, int(request.query.get("per_page", 30))))
        before = int(request.query["cursor"]) if request.query.get("cursor") else None
    except ValueError:
        raise invalid_request("Invalid cursor.") from None
    with hub.world.lock:
        items = [d for d in reversed(hub.world.deliveries) if before is None or d.id < before]
    chunk = items[:per_page]
    headers = {}
    if len(items) > per_page:
        base = str(request.url.with_query(None))
        headers["Link"] = f'<{base}?per_page={per_page}&cursor={chunk[-1].id}>; rel="next"'
    return json_answer([hub.shapes.delivery_item(d) for d in chunk], headers=headers)


def _find_delivery(hub: Hub, raw: str):  # type: ignore[no-untyped-def]
    wanted = path_id(raw)
    for d in hub.world.deliveries:
        if d.id == wanted:
            return d
    raise not_found()


@routes.get("/app/hook/deliveries/{id}")
async def get_delivery(request: web.Request) -> web.Response:
    hub, caller = ctx(request)
    require_app(caller)
    return json_answer(hub.shapes.delivery(_find_delivery(hub, request.match_info["id"])))


@routes.post("/app/hook/deliveries/{id}/attempts")
async def redeliver(request: web.Request) -> web.Response:
    hub, caller = ctx(request)
    require_app(caller)
    hub.webhooks.redeliver(_find_delivery(hub, request.match_info["id"]))
    return json_answer({}, status=202)


@routes.get("/rate_limit")
async def rate_limit(request: web.Request) -> web.Response:
    hub, caller = ctx(request)
    budget = hub.world.budget(caller.budget_key)
    core = {
        "limit": budget.limit,
        "used": budget.used,
        "remaining": max(0, budget.limit - budget.used),
        "reset": int(budget.reset_at.timestamp()),
    }
    search = {"limit": 30, "used": 0, "remaining": 30, "reset": core["reset"]}
    return json_answer({"resources": {"core": core, "search": search}, "rate": core})
