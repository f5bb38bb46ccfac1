"""The simulator's aiohttp application: middleware (faults, auth, rate limits, recording)
around the route modules and the git server.

Every answer carries GitHub's rate-limit headers. The middleware order mirrors GitHub's
edge: injected faults first (a flaky network does not care who you are), then credentials,
then the installation's budget, then the route; a lost-response fault acts last, on the
route's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.simulator import (
    git_http,
    routes_app,
    routes_checks,
    routes_code_scanning,
    routes_git,
    routes_issues,
    routes_pulls,
    routes_repos,
)
from bot.simulator.activity import Hub
from bot.simulator.auth import Caller, authenticate, secondary_limit
from bot.simulator.context import CALLER, HUB
from bot.simulator.faults import Fault
from bot.simulator.recorder import RecordedRequest
from bot.simulator.responses import ApiError, json_answer

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
UNCOUNTED = ("/rate_limit",)


def _body_for_record(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if "json" in content_type or raw[:1] in (b"{", b"["):
        try:
            return json.loads(raw)
        except ValueError:
            pass
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


def _rate_headers(hub: Hub, caller: Caller) -> dict[str, str]:
    budget = hub.world.budget(caller.budget_key)
    return {
        "x-ratelimit-limit": str(budget.limit),
        "x-ratelimit-remaining": str(max(0, budget.limit - budget.used)),
        "x-ratelimit-reset": str(int(budget.reset_at.timestamp())),
        "x-ratelimit-used": str(budget.used),
        "x-ratelimit-resource": "core",
    }


def _spend(hub: Hub, caller: Caller, path: str) -> None:
    """Count the request against the caller's budget; GitHub's 403 when it is spent."""
    if path.removeprefix(hub.api_prefix) in UNCOUNTED:
        return
    with hub.world.lock:
        budget = hub.world.budget(caller.budget_key)
        if budget.used >= budget.limit:
            who = (
                f"installation ID {caller.installation_id}"
                if caller.kind == "installation"
                else "this App"
                if caller.kind == "app"
                else "your IP address"
            )
            raise ApiError(403, f"API rate limit exceeded for {who}.", documentation_url=RATE_DOCS)
        budget.used += 1


async def _stall(hub: Hub, seconds: float) -> None:
    """Hold a request for ``seconds``, or until the simulator stops."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(hub.closing.wait(), seconds)


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    hub = request.app[HUB]
    is_git = request.match_info.route.name == "git"
    caller = Caller("anonymous")
    raw = b"" if is_git else await request.read()
    response: web.StreamResponse
    lost: Fault | None = None
    try:
        for fault in hub.faults.take(request.method, request.path):
            if fault.kind == "lost_response":
                lost = lost or fault  # acted on once the route has run
            elif fault.kind == "latency":
                await _stall(hub, fault.delay)
            elif fault.kind == "drop":
                if request.transport is not None:
                    request.transport.abort()
                raise ConnectionResetError("dropped by a simulator fault")
            elif fault.kind == "status":
                raise ApiError(fault.status, "Server Error" if fault.status >= 500 else "Error")
            elif fault.kind == "secondary_rate_limit":
                raise secondary_limit(fault.retry_after)
        if is_git:
            response = await handler(request)
            caller = request.get(CALLER, caller)
        else:
            caller = authenticate(hub.world, request.headers.get("Authorization"))
            request[CALLER] = caller
            _spend(hub, caller, request.path)
            if hub.faults.too_fast(request.method, caller.installation_id, time.monotonic()):
                raise secondary_limit(hub.faults.pacing_retry_after)
            response = _moved(hub, request) or await handler(request)
        if lost is not None:
            _lose_answer(request, response, lost)
    except ApiError as exc:
        response = json_answer(exc.body(), exc.status, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = json_answer(
            {
                "message": exc.reason,
                "documentation_url": "https://docs.github.com/rest",
                "status": str(exc.status),
            },
            exc.status,
        )
    except ConnectionResetError:
        _record(hub, request, raw, 0, caller, is_git)
        raise
    except Exception:
        log.exception("simulator route failed: %s %s", request.method, request.path)
        response = json_answer({"message": "Server Error", "status": "500"}, 500)
    if not is_git and request.method == "GET" and response.status == 200:
        response = _conditional(hub, request, response, caller)
    if not is_git:
        response.headers.update(_rate_headers(hub, caller))
        response.headers["X-GitHub-Media-Type"] = "github.v3; format=json"
        response.headers["X-GitHub-Api-Version-Selected"] = "2022-11-28"
    response.headers["X-GitHub-Request-Id"] = uuid.uuid4().hex[:20].upper()
    # GitHub's clock, which tests may move away from the worker's
    response.headers["Date"] = email.utils.format_datetime(hub.world.clock.now(), usegmt=True)
    _record(hub, request, raw, response.status, caller, is_git)
    return response


WRITES = ("POST", "PUT", "PATCH", "DELETE")
ARCHIVED = "Repository was archived so is read-only."


def _moved(hub: Hub, request: web.Request) -> web.Response | None:
    """GitHub's answers about a repository's lifecycle, before any route runs: a renamed
    or transferred repository's old name answers ``301 Moved Permanently`` to a GET and
    ``307 Temporary Redirect`` to any other method, to be repeated there as it was (GitHub
    points to ``/repositories/{id}``; here, to the new name's same path), and an archived
    repository refuses every write with 403."""
    owner, name = request.match_info.get("owner"), request.match_info.get("repo")
    if not owner or not name:
        return None
    with hub.world.lock:
        repo = hub.world.repo(f"{owner}/{name}")
        moved_to = hub.world.moved.get(f"{owner}/{name}".lower()) if repo is None else None
        archived = repo is not None and repo.archived
    if moved_to is not None:
        path = request.rel_url.raw_path.replace(f"/repos/{owner}/{name}", f"/repos/{moved_to}", 1)
        query = request.rel_url.raw_query_string
        location = str(request.url.with_path(path, encoded=True)) + (f"?{query}" if query else "")
        permanent = request.method in ("GET", "HEAD")
        body = {
            "message": "Moved Permanently" if permanent else "Temporary Redirect",
            "url": location,
            "documentation_url": "https://docs.github.com/v3/#http-redirects",
        }
        return json_answer(body, 301 if permanent else 307, {"Location": location})
    if archived and request.method in WRITES:
        raise ApiError(403, ARCHIVED)
    return None


def _lose_answer(request: web.Request, response: web.StreamResponse, fault: Fault) -> None:
    """The route ran; now its answer is lost: a 5xx in its place, or no answer at all (a
    dropped connection, also when a streamed answer had already begun)."""
    if fault.drop_connection or response.prepared:
        if request.transport is not None:
            request.transport.abort()
        raise ConnectionResetError("answer dropped by a simulator fault")
    raise ApiError(fault.status, "Server Error" if fault.status >= 500 else "Error")


def _conditional(
    hub: Hub, request: web.Request, response: web.StreamResponse, caller: Caller
) -> web.StreamResponse:
    """GitHub's conditional requests: an ETag on every GET, 304 when ``If-None-Match`` matches.

    A 304 does not count against the rate limit, which is why clients send them.
    """
    if not isinstance(response, web.Response) or response.body is None:
        return response
    body = response.body if isinstance(response.body, bytes) else str(response.body).encode()
    etag = 'W/"' + hashlib.sha256(body).hexdigest()[:40] + '"'
    wanted = [t.strip() for t in request.headers.get("If-None-Match", "").split(",") if t.strip()]
    if etag in wanted or etag.removeprefix("W/") in wanted:
        if request.path.removeprefix(hub.api_prefix) not in UNCOUNTED:
            with hub.world.lock:
                budget = hub.world.budget(caller.budget_key)
                budget.used = max(0, budget.used - 1)
        return web.Response(status=304, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return response


def _record(hub: Hub, request: web.Request, raw: bytes, status: int, caller: Caller, is_git: bool) -> None:
    hub.recorder.add(
        RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            body=_body_for_record(raw, request.content_type),
            status=status,
            installation_id=caller.installation_id,
            kind="git" if is_git else "api",
            headers={
                k: v
                for k, v in request.headers.items()
                if k.lower() in ("accept", "user-agent", "x-github-api-version")
            },
        )
    )


def build_app(hub: Hub, api_prefix: str = "") -> web.Application:
    """The REST routes under ``api_prefix`` (GitHub Enterprise Server's ``/api/v3``; none,
    as on ``api.github.com``) and git over HTTP at the root, where both serve it."""
    app = web.Application(middlewares=[middleware], client_max_size=256 * 1024 * 1024)
    app[HUB] = hub
    for module in (
        routes_app,
        routes_repos,
        routes_pulls,
        routes_checks,
        routes_issues,
        routes_git,
        routes_code_scanning,
    ):
        for route in module.routes:
            assert isinstance(route, web.RouteDef)
            app.router.add_route(route.method, api_prefix + route.path, route.handler, **route.kwargs)
    app.router.add_route("*", r"/{owner}/{name:[^/]+\.git}/{tail:.*}", git_http.handle, name="git")
    return app
