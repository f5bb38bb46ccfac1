"""Git Data API: blobs, trees, commits and refs.

``PATCH /git/refs`` without ``force`` is a compare-and-swap: GitHub refuses a move that is not
a fast-forward with 422 "Update is not a fast forward". Moving a ref to a commit that changes
``.github/workflows/`` needs the ``workflows`` permission. Commits created here without an
explicit author or committer are attributed to the App's bot and marked verified, as GitHub
does for API commits.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import pygit2
from aiohttp import web

from bot.simulator import branch_rules, gitstore
from bot.simulator.activity import ZERO, Hub
from bot.simulator.auth import Caller, has_permission
from bot.simulator.context import ctx, repo_of
from bot.simulator.responses import ApiError, invalid_request, json_answer, not_found, not_supplied, read_json
from bot.simulator.state import Repo

routes = web.RouteTableDef()

WORKFLOWS_DIR = ".github/workflows/"


def _oid(raw: str) -> pygit2.Oid:
    try:
        return pygit2.Oid(hex=raw)
    except (ValueError, TypeError):
        raise not_found() from None


def _object(repo: Repo, raw: str, kind: str) -> Any:
    obj = repo.git.get(_oid(raw))
    if obj is None or obj.type_str != kind:
        raise not_found()
    return obj


def workflow_refusal(repo: Repo, old: str | None, new: str) -> ApiError | None:
    """The refusal GitHub gives when ``old..new`` touches workflows (None when it does not)."""
    for path in gitstore.changed_paths(repo.git, old, new):
        if path.startswith(WORKFLOWS_DIR):
            return ApiError(
                422,
                f"refusing to allow a GitHub App to create or update workflow `{path}` "
                "without `workflows` permission",
            )
    return None


@routes.post("/repos/{owner}/{repo}/git/blobs")
async def create_blob(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "contents", "write")
    body = await read_json(request)
    content = body.get("content")
    if not isinstance(content, str):
        raise not_supplied("content")
    encoding = body.get("encoding", "utf-8")
    if encoding == "base64":
        try:
            data = base64.b64decode(content, validate=False)
        except binascii.Error:
            raise invalid_request("content is not valid Base64") from None
    elif encoding in ("utf-8", "utf8"):
        data = content.encode()
    else:
        raise invalid_request(f"encoding {encoding} is not supported")
    with hub.world.lock:
        oid = repo.git.create_blob(data)
    url = f"{hub.shapes.api}/repos/{repo.full_name}/git/blobs/{oid}"
    return json_answer({"sha": str(oid), "url": url}, status=201, headers={"Location": url})


@routes.get("/repos/{owner}/{repo}/git/blobs/{sha}")
async def get_blob(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "contents", "read")
    with hub.world.lock:
        return json_answer(hub.shapes.blob(repo, _object(repo, request.match_info["sha"], "blob")))


def _entries(repo: Repo, tree: Any, recursive: bool, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for entry in tree:
        path = prefix + entry.name
        out.append((path, entry))
        if recursive and entry.type_str == "tree":
            out += _entries(repo, repo.git.get(entry.id), True, path + "/")
    return out


@routes.post("/repos/{owner}/{repo}/git/trees")
async def create_tree(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "contents", "write")
    body = await read_json(request)
    entries = body.get("tree")
    if not isinstance(entries, list):
        raise not_supplied("tree")
    with hub.world.lock:
        base_tree: pygit2.Tree | None = None
        if body.get("base_tree"):
            found = repo.git.get(_oid(str(body["base_tree"])))
            if not isinstance(found, pygit2.Tree):
                raise invalid_request("base_tree is not a valid tree oid")
            base_tree = found
        for entry in entries:
            if not isinstance(entry, dict) or not entry.get("path"):
                raise not_supplied("path")
            if entry.get("sha") and repo.git.get(_oid(str(entry["sha"]))) is None:
                raise invalid_request(f"{entry['sha']} is not a valid oid")
        tree = repo.git.get(gitstore.tree_from_entries(repo.git, base_tree, entries))
        return json_answer(hub.shapes.git_tree(repo, tree, _entries(repo, tree, False)), status=201)


@routes.get("/repos/{owner}/{repo}/git/trees/{sha}")
async def get_tree(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "contents", "read")
    recursive = request.query.get("recursive") not in (None, "", "0", "false")
    with hub.world.lock:
        raw = request.match_info["sha"]
        commit = gitstore.resolve(repo.git, raw)
        tree = commit.tree if commit is not None else _object(repo, raw, "tree")
        return json_answer(hub.shapes.git_tree(repo, tree, _entries(repo, tree, recursive)))


def _signature(raw: Any, fallback: pygit2.Signature) -> pygit2.Signature:
    if not isinstance(raw, dict):
        return fallback
    when = datetime.fromisoformat(str(raw["date"]).replace("Z", "+00:00")) if raw.get("date") else None
    return gitstore.signature(
        str(raw.get("name") or fallback.name),
        str(raw.get("email") or fallback.email),
        when or datetime.fromtimestamp(fallback.time).astimezone(),
    )


@routes.post("/repos/{owner}/{repo}/git/commits")
async def create_commit(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "contents", "write")
    body = await read_json(request)
    message, tree_sha = body.get("message"), body.get("tree")
    if not isinstance(message, str):
        raise not_supplied("message")
    if not isinstance(tree_sha, str):
        raise not_supplied("tree")
    parents = body.get("parents") or []
    with hub.world.lock:
        tree = repo.git.get(_oid(tree_sha))
        if tree is None or tree.type_str != "tree":
            raise ApiError(422, "Tree SHA does not exist")
        for parent in parents:
            obj = repo.git.get(_oid(str(parent)))
            if obj is None or obj.type_str != "commit":
                raise ApiError(422, "Parent SHA does not exist or is not a commit object")
        bot = hub.bot_login
        default = gitstore.signature(
            bot,
            f"{hub.world.user(bot, kind='Bot').id}+{bot}@users.noreply.simulator",  # the bot user's id
            hub.now(),
        )
        author = _signature(body.get("author"), default)
        committer = _signature(body.get("committer"), author if body.get("author") else default)
        oid = repo.git.create_commit(
            None, author, committer, message, tree.id, [_oid(str(p)) for p in parents]
        )
        verified = not body.get("author") and not body.get("committer")
        if verified:  # GitHub signs it
            repo.signed.add(str(oid))
        commit = repo.git.get(oid)
        return json_answer(hub.shapes.git_commit(repo, commit, verified=verified), status=201)


@routes.get("/repos/{owner}/{repo}/git/commits/{sha}")
async def get_commit(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "contents", "read")
    with hub.world.lock:
        commit = _object(repo, request.match_info["sha"], "commit")
        bot = hub.bot_login
        return json_answer(hub.shapes.git_commit(repo, commit, verified=commit.author.name == bot))


@routes.get("/repos/{owner}/{repo}/git/ref/{ref:.+}")
async def get_ref(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "contents", "read")
    ref = "refs/" + request.match_info["ref"]
    with hub.world.lock:
        sha = gitstore.ref_sha(repo.git, ref)
        if sha is None:
            raise not_found()
        return json_answer(hub.shapes.git_ref(repo, ref, sha))


def _movable(hub: Hub, caller: Caller, repo: Repo, old: str | None, new: str) -> None:
    obj = repo.git.get(_oid(new))
    if obj is None or obj.type_str != "commit":
        raise ApiError(422, "Object does not exist")
    if not has_permission(caller, "workflows", "write"):
        refusal = workflow_refusal(repo, old, new)
        if refusal is not None:
            raise refusal


def caller_actors(hub: Hub, caller: Caller) -> list[str]:
    """The names a branch's push allowances may list the caller by (the App by its slug)."""
    app = hub.world.app
    if caller.kind == "installation" and app is not None:
        return [app.slug, hub.bot_login]
    return []


def succeeded_checks(hub: Hub, repo: Repo) -> dict[str, set[str]]:
    """Commit -> the names of the check runs that succeeded on it."""
    found: dict[str, set[str]] = {}
    for run in hub.world.check_runs.values():
        if run.repo.lower() == repo.full_name.lower() and run.conclusion == "success":
            found.setdefault(run.head_sha, set()).add(run.name)
    return found


def _within_rules(hub: Hub, caller: Caller, repo: Repo, ref: str, old: str, new: str) -> None:
    """Refuse, as GitHub does, a move of a branch that breaks its protection or ruleset."""
    rules = repo.rules.get(ref.removeprefix("refs/heads/")) if ref.startswith("refs/heads/") else None
    if rules is None:
        return
    walker = repo.git.walk(_oid(new), pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    walker.hide(_oid(old))
    unsigned = [
        str(c.id) for c in walker
        if str(c.id) not in repo.signed and not branch_rules.has_signature(c.read_raw())
    ]
    found = branch_rules.violations(
        rules,
        may_push=rules.may_push(caller_actors(hub, caller)),
        unsigned=unsigned,
        succeeded=succeeded_checks(hub, repo).get(new, set()),
    )
    if found:
        status, message, docs = branch_rules.api_refusal(rules, found)
        raise ApiError(status, message, documentation_url=docs)


@routes.post("/repos/{owner}/{repo}/git/refs")
async def create_ref(request: web.Request) -> web.Response:
    hub, caller = ctx(request)
    repo = repo_of(request, "contents", "write")
    body = await read_json(request)
    ref, sha = body.get("ref"), body.get("sha")
    if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
        raise ApiError(422, "ref must start with 'refs' and have at least two slashes.")
    if not isinstance(sha, str):
        raise not_supplied("sha")
    if ref.startswith("refs/pull/"):
        raise ApiError(422, "Reference update failed")
    with hub.world.lock:
        if gitstore.ref_sha(repo.git, ref) is not None:
            raise ApiError(422, "Reference already exists")
        base = gitstore.ref_sha(repo.git, f"refs/heads/{repo.default_branch}")
        _movable(hub, caller, repo, base, sha)
        repo.git.references.create(ref, _oid(sha))
        hub.refs_changed(repo, [(ref, ZERO, sha)], hub.bot_login)
        return json_answer(hub.shapes.git_ref(repo, ref, sha), status=201)


@routes.patch("/repos/{owner}/{repo}/git/refs/{ref:.+}")
async def update_ref(request: web.Request) -> web.Response:
    hub, caller = ctx(request)
    repo = repo_of(request, "contents", "write")
    ref = "refs/" + request.match_info["ref"]
    body = await read_json(request)
    sha, force = body.get("sha"), bool(body.get("force", False))
    if not isinstance(sha, str):
        raise not_supplied("sha")
    with hub.world.lock:
        old = gitstore.ref_sha(repo.git, ref)
        if old is None or ref.startswith("refs/pull/"):
            raise ApiError(422, "Reference does not exist")
        _movable(hub, caller, repo, old, sha)
        if not force and not gitstore.is_fast_forward(repo.git, old, sha):
            raise ApiError(422, "Update is not a fast forward")
        _within_rules(hub, caller, repo, ref, old, sha)
        if old != sha:
            repo.git.references.create(ref, _oid(sha), force=True)
            hub.refs_changed(repo, [(ref, old, sha)], hub.bot_login, forced={ref} if force else None)
        return json_answer(hub.shapes.git_ref(repo, ref, sha))


@routes.delete("/repos/{owner}/{repo}/git/refs/{ref:.+}")
async def delete_ref(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "contents", "write")
    ref = "refs/" + request.match_info["ref"]
    with hub.world.lock:
        old = gitstore.ref_sha(repo.git, ref)
        if old is None or ref.startswith("refs/pull/"):
            raise ApiError(422, "Reference does not exist")
        repo.git.references.delete(ref)
        hub.refs_changed(repo, [(ref, old, ZERO)], hub.bot_login)
    return web.Response(status=204)
