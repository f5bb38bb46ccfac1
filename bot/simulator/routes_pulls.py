"""Pull request routes: pulls (JSON and diff), files, creation, reviews and review comments.

Inline review comments must sit on a line of the pull request's diff (the three-dot diff, on
the side they name); otherwise GitHub refuses the whole review with a 422, and so do we.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.simulator import gitstore
from bot.simulator.context import ctx, pull_of, record_of, repo_of
from bot.simulator.gitstore import FileChange
from bot.simulator.responses import (
    ApiError,
    json_answer,
    page_answer,
    pull_page,
    read_json,
    validation_failed,
)
from bot.simulator.state import Review, ReviewComment

routes = web.RouteTableDef()

REVIEW_DOCS = "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request"
MAX_FILES = 3000
_EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}


@routes.get("/repos/{owner}/{repo}/pulls")
async def list_pulls(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "pull_requests", "read")
    state = request.query.get("state", "open")
    head = request.query.get("head")
    base = request.query.get("base")
    with hub.world.lock:
        pulls = [
            p
            for p in reversed(hub.world.pulls_of(repo.full_name))
            if (state == "all" or p.state == state)
            and (head is None or f"{p.head_repo.split('/')[0]}:{p.head_ref}" == head)
            and (base is None or p.base_ref == base)
        ]
        items = [hub.shapes.pull_simple(p) for p in pulls]
    return page_answer(request, items)


@routes.get("/repos/{owner}/{repo}/pulls/{number}")
async def get_pull(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "pull_requests", "read")
    pull = pull_of(hub, repo, request.match_info["number"])
    accept = request.headers.get("Accept", "")
    with hub.world.lock:
        if "diff" in accept:
            text, _ = hub.pull_diff(pull)
            return web.Response(text=text, content_type="application/vnd.github.diff")
        return json_answer(hub.pull_json(pull))


@routes.get("/repos/{owner}/{repo}/pulls/{number}/files")
async def list_files(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "pull_requests", "read")
    pull = pull_of(hub, repo, request.match_info["number"])
    with hub.world.lock:
        _, changes = hub.pull_diff(pull)
        items = [hub.shapes.diff_entry(repo, pull.head_sha, c) for c in changes[:MAX_FILES]]
    return page_answer(request, items)


@routes.post("/repos/{owner}/{repo}/pulls")
async def create_pull(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "pull_requests", "write")
    body = await read_json(request)
    for name in ("head", "base"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise validation_failed("PullRequest", name, "missing_field")
    if not body.get("title") and not body.get("issue"):
        raise validation_failed("PullRequest", "title", "missing_field")
    head_owner, _, head_ref = str(body["head"]).rpartition(":")
    head_repo = repo
    if head_owner and head_owner.lower() != repo.owner.lower():
        forks = [
            r
            for r in hub.world.repos.values()
            if r.owner.lower() == head_owner.lower() and r.fork_of == repo.full_name
        ]
        if not forks:
            raise validation_failed("PullRequest", "head", "invalid")
        head_repo = forks[0]
    base = str(body["base"])
    with hub.world.lock:
        head_sha = gitstore.ref_sha(head_repo.git, f"refs/heads/{head_ref}")
        base_sha = gitstore.ref_sha(repo.git, f"refs/heads/{base}")
        if head_sha is None:
            raise validation_failed("PullRequest", "head", "invalid")
        if base_sha is None:
            raise validation_failed("PullRequest", "base", "invalid")
        for p in hub.world.pulls_with_head(head_repo.full_name, head_ref):
            if p.repo == repo.full_name and p.base_ref == base:
                message = f"A pull request already exists for {body['head']}."
                raise validation_failed("PullRequest", None, "custom", message=message)
        if head_repo is not repo:
            from bot.simulator.activity import _copy_objects

            _copy_objects(head_repo, repo, head_sha)
        if gitstore.is_fast_forward(repo.git, head_sha, base_sha):
            message = f"No commits between {base} and {head_ref}"
            raise validation_failed("PullRequest", None, "custom", message=message)
    pull = hub.open_pull(
        repo,
        head_repo=head_repo,
        head=head_ref,
        base=base,
        title=str(body.get("title") or ""),
        body=body.get("body"),
        user=hub.bot_login,
        draft=bool(body.get("draft", False)),
    )
    with hub.world.lock:
        return json_answer(hub.pull_json(pull), status=201)


@routes.patch("/repos/{owner}/{repo}/pulls/{number}")
async def update_pull(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "pull_requests", "write")
    pull = pull_of(hub, repo, request.match_info["number"])
    body = await read_json(request)
    changes: dict[str, Any] = {}
    with hub.world.lock:
        for name in ("title", "body"):
            if name in body and body[name] != getattr(pull, name):
                changes[name] = {"from": getattr(pull, name)}
                setattr(pull, name, body[name])
        if "base" in body and body["base"] != pull.base_ref:
            sha = gitstore.ref_sha(repo.git, f"refs/heads/{body['base']}")
            if sha is None:
                raise validation_failed("PullRequest", "base", "invalid")
            changes["base"] = {"ref": {"from": pull.base_ref}, "sha": {"from": pull.base_sha}}
            pull.base_ref, pull.base_sha = str(body["base"]), sha
    if changes:
        hub.emit(hub.events.pull_request("edited", repo, hub.pull_json(pull), hub.bot_login, changes=changes))
    state = body.get("state")
    if state == "closed" and pull.state == "open":
        hub.set_pull_state(pull, "closed", hub.bot_login)
    elif state == "open" and pull.state == "closed" and not pull.merged:
        hub.set_pull_state(pull, "reopened", hub.bot_login)
    elif state not in (None, "open", "closed"):
        raise validation_failed("PullRequest", "state", "invalid")
    with hub.world.lock:
        return json_answer(hub.pull_json(pull))


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, "Unprocessable Entity", errors=[message], documentation_url=REVIEW_DOCS)


def _place(change: FileChange | None, c: dict[str, Any]) -> tuple[int, int, str, int | None, str | None]:
    """Where an inline comment sits: (position, line, side, start_line, start_side), or 422."""
    if change is None:
        raise _unprocessable("Path could not be resolved")
    if "position" in c and "line" not in c:
        position = c["position"]
        for (at_side, at_line), pos in change.lines.items():
            if pos == position and (at_side == "RIGHT" or (at_side, at_line) not in change.lines):
                return position, at_line, at_side, None, None
        raise _unprocessable("Pull request review thread position is invalid")
    line = c.get("line")
    side = str(c.get("side") or "RIGHT").upper()
    if not isinstance(line, int) or (side, line) not in change.lines:
        raise _unprocessable("Pull request review thread line must be part of the diff")
    position = change.lines[(side, line)]
    start_line = c.get("start_line")
    start_side = str(c.get("start_side") or side).upper() if start_line is not None else None
    if start_line is not None:
        start_pos = change.lines.get((start_side or side, start_line))
        hunk = next((h for h in change.hunks if h[0] <= position <= h[1]), None)
        if start_pos is None or hunk is None or not hunk[0] <= start_pos <= position:
            raise _unprocessable(
                "Pull request review thread start line must be part of the same hunk as the line."
            )
    return position, line, side, start_line, start_side


def _diff_hunk(change: FileChange, position: int) -> str:
    lines = change.patch.split("\n")
    hunk = next((h for h in change.hunks if h[0] <= position <= h[1]), change.hunks[0])
    # patch lines: index 0 is the first header; later headers take a position each
    start = hunk[0] - 1
    return "\n".join(lines[start : position + 1])


@routes.post("/repos/{owner}/{repo}/pulls/{number}/reviews")
async def create_review(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "pull_requests", "write")
    pull = pull_of(hub, repo, request.match_info["number"])
    body = await read_json(request)
    event = body.get("event")
    if event is not None and event not in _EVENTS:
        raise _unprocessable(f"Unknown event {event}")
    text = str(body.get("body") or "")
    comments = body.get("comments") or []
    if not isinstance(comments, list):
        raise validation_failed("PullRequestReview", "comments", "invalid")
    if event == "REQUEST_CHANGES" and not text:
        raise _unprocessable("Review Can not request changes on a pull request without a body")
    with hub.world.lock:
        commit_id = str(body.get("commit_id") or pull.head_sha)
        if gitstore.resolve(repo.git, commit_id) is None:
            raise _unprocessable("Commit not found")
        _, changes = hub.pull_diff(pull)
        by_path = {c.filename: c for c in changes}
        placed = []
        for c in comments:
            if not isinstance(c, dict) or not c.get("body"):
                raise _unprocessable("Body can't be blank")
            change = by_path.get(str(c.get("path")))
            placed.append((c, change, _place(change, c)))
        now = hub.now()
        review = Review(
            id=hub.world.next_id(),
            repo=repo.full_name,
            number=pull.number,
            user=hub.bot_login,
            body=text,
            state=_EVENTS.get(str(event), "PENDING"),
            commit_id=commit_id,
            submitted_at=now if event else None,
        )
        hub.world.reviews[review.id] = review
        for c, change, (position, line, side, start_line, start_side) in placed:
            assert change is not None
            rc = ReviewComment(
                id=hub.world.next_id(),
                review_id=review.id,
                repo=repo.full_name,
                number=pull.number,
                user=hub.bot_login,
                body=str(c["body"]),
                path=change.filename,
                line=line,
                side=side,
                start_line=start_line,
                start_side=start_side,
                commit_id=commit_id,
                diff_hunk=_diff_hunk(change, position),
                position=position,
                created_at=now,
            )
            hub.world.review_comments[rc.id] = rc
        return json_answer(hub.shapes.review(review))


@routes.get("/repos/{owner}/{repo}/pulls/{number}/reviews")
async def list_reviews(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "pull_requests", "read")
    pull = pull_of(hub, repo, request.match_info["number"])
    records = list(hub.world.reviews.values())
    return pull_page(request, records, hub.shapes.review, repo.full_name, pull.number)


@routes.get("/repos/{owner}/{repo}/pulls/{number}/comments")
async def list_review_comments(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "pull_requests", "read")
    pull = pull_of(hub, repo, request.match_info["number"])
    records = list(hub.world.review_comments.values())
    return pull_page(request, records, hub.shapes.review_comment, repo.full_name, pull.number)


@routes.get("/repos/{owner}/{repo}/pulls/comments/{id}")
async def get_review_comment(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "pull_requests", "read")
    with hub.world.lock:
        comment = record_of(hub.world.review_comments, repo, request.match_info["id"])
        return json_answer(hub.shapes.review_comment(comment))


@routes.patch("/repos/{owner}/{repo}/pulls/comments/{id}")
async def update_review_comment(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "pull_requests", "write")
    comment = record_of(hub.world.review_comments, repo, request.match_info["id"])
    body = await read_json(request)
    text = body.get("body")
    if not isinstance(text, str) or not text:
        raise validation_failed("PullRequestReviewComment", "body", "missing_field")
    if comment.user != hub.bot_login:
        raise ApiError(403, "Resource not accessible by integration")
    with hub.world.lock:
        comment.body = text
        comment.updated_at = hub.now()
        return json_answer(hub.shapes.review_comment(comment))


@routes.get("/repos/{owner}/{repo}/pulls/comments/{id}/reactions")
async def list_review_comment_reactions(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "pull_requests", "read")
    comment = record_of(hub.world.review_comments, repo, request.match_info["id"])
    return page_answer(request, [hub.shapes.reaction(r) for r in comment.reactions])


@routes.delete("/repos/{owner}/{repo}/pulls/comments/{id}/reactions/{reaction_id}")
async def delete_review_comment_reaction(request: web.Request) -> web.Response:
    from bot.simulator.routes_issues import unreact

    hub, _ = ctx(request)
    repo = repo_of(request, "pull_requests", "write")
    comment = record_of(hub.world.review_comments, repo, request.match_info["id"])
    return unreact(hub, comment.reactions, request.match_info["reaction_id"])


@routes.post("/repos/{owner}/{repo}/pulls/comments/{id}/reactions")
async def create_review_comment_reaction(request: web.Request) -> web.Response:
    from bot.simulator.routes_issues import react

    hub, _ = ctx(request)
    repo = repo_of(request, "pull_requests", "write")
    comment = record_of(hub.world.review_comments, repo, request.match_info["id"])
    return react(hub, comment.reactions, (await read_json(request)).get("content"))
