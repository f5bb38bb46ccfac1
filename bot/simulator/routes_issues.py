"""Issue routes on pull requests: comments, reactions and labels.

GitHub serves pull-request conversations through the Issues API; either the ``issues`` or the
``pull_requests`` permission opens them for a pull request, as on github.com.
"""

from __future__ import annotations

from aiohttp import web

from bot.simulator.activity import Hub
from bot.simulator.auth import require_any
from bot.simulator.context import ctx, path_id, pull_of, record_of, repo_of
from bot.simulator.responses import (
    ApiError,
    forbidden,
    json_answer,
    not_found,
    page_answer,
    pull_page,
    read_json,
    validation_failed,
)
from bot.simulator.state import Reaction, Repo

routes = web.RouteTableDef()

MAX_BODY = 65536
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket")
PERMS = ("issues", "pull_requests")


def _repo(request: web.Request, level: str) -> Repo:
    repo = repo_of(request, "metadata", "read")
    require_any(ctx(request)[1], PERMS, level)
    return repo


def _body(body: dict[str, object]) -> str:
    text = body.get("body")
    if not isinstance(text, str) or not text:
        raise validation_failed("IssueComment", "body", "missing_field")
    if len(text) > MAX_BODY:
        message = f"body is too long (maximum is {MAX_BODY} characters)"
        raise validation_failed("IssueComment", "body", "custom", message=message)
    return text


@routes.get("/repos/{owner}/{repo}/issues/{number}/comments")
async def list_comments(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = _repo(request, "read")
    pull = pull_of(hub, repo, request.match_info["number"])
    with hub.world.lock:
        records = list(hub.world.issue_comments.values())
    return pull_page(request, records, hub.shapes.issue_comment, repo.full_name, pull.number)


@routes.post("/repos/{owner}/{repo}/issues/{number}/comments")
async def create_comment(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = _repo(request, "write")
    pull = pull_of(hub, repo, request.match_info["number"])
    text = _body(await read_json(request))
    comment = hub.add_comment(pull, hub.bot_login, text)
    return json_answer(
        hub.shapes.issue_comment(comment),
        status=201,
        headers={"Location": f"{hub.shapes.api}/repos/{repo.full_name}/issues/comments/{comment.id}"},
    )


@routes.get("/repos/{owner}/{repo}/issues/comments/{id}")
async def get_comment(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = _repo(request, "read")
    comment = record_of(hub.world.issue_comments, repo, request.match_info["id"])
    return json_answer(hub.shapes.issue_comment(comment))


@routes.patch("/repos/{owner}/{repo}/issues/comments/{id}")
async def update_comment(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = _repo(request, "write")
    comment = record_of(hub.world.issue_comments, repo, request.match_info["id"])
    text = _body(await read_json(request))
    if comment.user != hub.bot_login:
        raise ApiError(403, "Resource not accessible by integration")
    hub.edit_comment(comment, text, hub.bot_login)
    return json_answer(hub.shapes.issue_comment(comment))


@routes.delete("/repos/{owner}/{repo}/issues/comments/{id}")
async def delete_comment(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = _repo(request, "write")
    comment = record_of(hub.world.issue_comments, repo, request.match_info["id"])
    if comment.user != hub.bot_login:
        raise ApiError(403, "Resource not accessible by integration")
    with hub.world.lock:
        del hub.world.issue_comments[comment.id]
    return web.Response(status=204)


@routes.get("/repos/{owner}/{repo}/issues/comments/{id}/reactions")
async def list_reactions(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = _repo(request, "read")
    comment = record_of(hub.world.issue_comments, repo, request.match_info["id"])
    items = [hub.shapes.reaction(r) for r in comment.reactions]
    return page_answer(request, items)


@routes.post("/repos/{owner}/{repo}/issues/comments/{id}/reactions")
async def create_reaction(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = _repo(request, "write")
    comment = record_of(hub.world.issue_comments, repo, request.match_info["id"])
    return react(hub, comment.reactions, (await read_json(request)).get("content"))


@routes.delete("/repos/{owner}/{repo}/issues/comments/{id}/reactions/{reaction_id}")
async def delete_reaction(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = _repo(request, "write")
    comment = record_of(hub.world.issue_comments, repo, request.match_info["id"])
    return unreact(hub, comment.reactions, request.match_info["reaction_id"])


def unreact(hub: Hub, reactions: list[Reaction], raw_id: str) -> web.Response:
    """Remove one of the App's reactions (issue or review comment): a reaction that is not
    there is a 404, someone else's a 403 (an App deletes only its own), as on github.com."""
    reaction_id = path_id(raw_id)
    with hub.world.lock:
        found = next((r for r in reactions if r.id == reaction_id), None)
        if found is None:
            raise not_found()
        if found.user != hub.bot_login:
            raise forbidden()
        reactions.remove(found)
    return web.Response(status=204)


def react(hub: Hub, reactions: list[Reaction], content: object) -> web.Response:
    """Add the App's reaction to a comment (issue or review); an existing one answers 200."""
    if content not in REACTIONS:
        raise validation_failed("Reaction", "content", "invalid")
    with hub.world.lock:
        for existing in reactions:
            if existing.user == hub.bot_login and existing.content == content:
                return json_answer(hub.shapes.reaction(existing), status=200)
        reaction = Reaction(hub.world.next_id(), hub.bot_login, str(content), hub.now())
        reactions.append(reaction)
    return json_answer(hub.shapes.reaction(reaction), status=201)


@routes.get("/repos/{owner}/{repo}/issues/{number}/labels")
async def list_labels(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = _repo(request, "read")
    pull = pull_of(hub, repo, request.match_info["number"])
    items = [hub.shapes.label(repo, repo.labels[n.lower()]) for n in pull.labels]
    return page_answer(request, items)


@routes.post("/repos/{owner}/{repo}/issues/{number}/labels")
async def add_labels(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = _repo(request, "write")
    pull = pull_of(hub, repo, request.match_info["number"])
    body = await read_json(request)
    names = body.get("labels")
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise validation_failed("Label", "labels", "invalid")
    for name in names:
        hub.label_pull(pull, name, hub.bot_login)
    items = [hub.shapes.label(repo, repo.labels[n.lower()]) for n in pull.labels]
    return json_answer(items)


@routes.delete("/repos/{owner}/{repo}/issues/{number}/labels/{name}")
async def remove_label(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = _repo(request, "write")
    pull = pull_of(hub, repo, request.match_info["number"])
    name = request.match_info["name"]
    with hub.world.lock:
        match = next((n for n in pull.labels if n.lower() == name.lower()), None)
        if match is None:
            raise ApiError(404, "Label does not exist")
        pull.labels.remove(match)
        items = [hub.shapes.label(repo, repo.labels[n.lower()]) for n in pull.labels]
    return json_answer(items)
