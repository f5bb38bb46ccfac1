"""Repository routes: the repository, file contents, collaborator permission, labels."""

from __future__ import annotations

import pygit2
from aiohttp import web

from bot.simulator import gitstore
from bot.simulator.context import ctx, repo_of
from bot.simulator.responses import ApiError, json_answer, not_found

routes = web.RouteTableDef()

_LEGACY = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}


@routes.get("/repos/{owner}/{repo}")
async def get_repo(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "metadata", "read")
    with hub.world.lock:
        body = hub.shapes.repo(repo, full=True)
    body["permissions"] = {
        "admin": False,
        "maintain": False,
        "push": True,
        "triage": True,
        "pull": True,
    }
    return json_answer(body)


@routes.get("/repos/{owner}/{repo}/contents/{path:.*}")
async def get_contents(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "contents", "read")
    path = request.match_info.get("path", "").strip("/")
    ref = request.query.get("ref") or repo.default_branch
    with hub.world.lock:
        commit = gitstore.resolve(repo.git, ref)
        if commit is None:
            raise ApiError(404, f"No commit found for the ref {ref}")
        obj = gitstore.read_path(repo.git, commit, path)
        if obj is None:
            raise not_found()
        accept = request.headers.get("Accept", "")
        if isinstance(obj, pygit2.Tree):
            entries = [hub.shapes.content_entry(repo, f"{path}/{e.name}".strip("/"), e, ref) for e in obj]
            return json_answer(entries)
        assert isinstance(obj, pygit2.Blob)  # a tree holds trees and blobs
        if "raw" in accept:
            return web.Response(body=obj.data, content_type="application/vnd.github.raw")
        return json_answer(hub.shapes.content_file(repo, path, obj, ref))


@routes.get("/repos/{owner}/{repo}/collaborators/{user}/permission")
async def collaborator_permission(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "metadata", "read")
    login = request.match_info["user"]
    if login.lower() == repo.owner.lower():
        role = "admin"
    else:
        role = repo.permissions.get(login.lower(), "none" if repo.private else "read")
    legacy = _LEGACY.get(role, "none")
    user = hub.shapes.user(login)
    # GitHub names a custom role in role_name; permission is its base role's legacy name
    user["role_name"] = repo.custom_roles.get(login.lower(), role)
    user["permissions"] = {
        "admin": role == "admin",
        "maintain": role in ("admin", "maintain"),
        "push": legacy in ("admin", "write"),
        "triage": role in ("admin", "maintain", "write", "triage"),
        "pull": legacy != "none",
    }
    return json_answer({"permission": legacy, "role_name": user["role_name"], "user": user})
