"""Check runs and suites, with GitHub's limits.

At most 50 annotations per request (more go in follow-up PATCHes, which append), summaries and
texts of at most 65535 characters, at most 3 action buttons with short labels, descriptions and
identifiers. Violations get GitHub's "Invalid request" 422.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pygit2
from aiohttp import web

from bot.simulator import gitstore
from bot.simulator.activity import Hub
from bot.simulator.context import ctx, record_of, repo_of
from bot.simulator.responses import (
    ApiError,
    invalid_request,
    json_answer,
    not_supplied,
    page_answer,
    paginate,
    read_json,
)
from bot.simulator.state import CheckRun, Repo

routes = web.RouteTableDef()

MAX_ANNOTATIONS = 50
MAX_TEXT = 65535
MAX_ACTIONS = 3
ACTION_LIMITS = {"label": 20, "description": 40, "identifier": 20}
STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)
LEVELS = ("notice", "warning", "failure")
DOCS = "https://docs.github.com/rest/checks/runs"


def invalid(detail: str) -> ApiError:
    return invalid_request(detail, documentation_url=DOCS)


def _missing(name: str) -> ApiError:
    return not_supplied(name, documentation_url=DOCS)


def _too_many(count: int, limit: int) -> ApiError:
    return invalid(f"No more than {limit} items are allowed; {count} were supplied.")


def _too_long(length: int, limit: int) -> ApiError:
    return invalid(f"Only {limit} characters are allowed; {length} were supplied.")


def _time(value: Any, name: str) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f'"{name}" is not a valid date-time.') from None


def validate(body: dict[str, Any], *, creating: bool) -> None:
    """GitHub's checks on a create/update body; raises the 422 GitHub sends."""
    if creating:
        for name in ("name", "head_sha"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise _missing(name)
    status = body.get("status")
    if status is not None and status not in STATUSES:
        raise invalid(f'"status" must be one of {", ".join(STATUSES)}.')
    conclusion = body.get("conclusion")
    if conclusion is not None and conclusion not in CONCLUSIONS:
        raise invalid(f'"conclusion" must be one of {", ".join(CONCLUSIONS)}.')
    if status == "completed" and conclusion is None:
        raise _missing("conclusion")
    output = body.get("output")
    if output is not None:
        if not isinstance(output, dict):
            raise invalid('"output" is not an object.')
        for name in ("title", "summary"):
            if not isinstance(output.get(name), str):
                raise _missing(name)
        for name in ("summary", "text"):
            value = output.get(name)
            if isinstance(value, str) and len(value) > MAX_TEXT:
                raise _too_long(len(value), MAX_TEXT)
        annotations = output.get("annotations") or []
        if len(annotations) > MAX_ANNOTATIONS:
            raise _too_many(len(annotations), MAX_ANNOTATIONS)
        for a in annotations:
            for name in ("path", "start_line", "end_line", "annotation_level", "message"):
                if a.get(name) is None:
                    raise _missing(name)
            if a["annotation_level"] not in LEVELS:
                raise invalid('"annotation_level" must be one of notice, warning, failure.')
            if a["start_line"] != a["end_line"] and (
                a.get("start_column") is not None or a.get("end_column") is not None
            ):
                raise invalid("start_column and end_column may only be given on a single line.")
    actions = body.get("actions")
    if actions is not None:
        if len(actions) > MAX_ACTIONS:
            raise _too_many(len(actions), MAX_ACTIONS)
        for action in actions:
            for name, limit in ACTION_LIMITS.items():
                value = action.get(name)
                if not isinstance(value, str) or not value:
                    raise _missing(name)
                if len(value) > limit:
                    raise _too_long(len(value), limit)


def apply(hub: Hub, run: CheckRun, body: dict[str, Any]) -> None:
    """Write a validated body onto a run: annotations append, the rest replaces."""
    now = hub.now()
    for name in ("name", "details_url", "external_id"):
        if name in body:
            setattr(run, name, body[name])
    if "started_at" in body:
        run.started_at = _time(body["started_at"], "started_at")
    if body.get("conclusion") is not None:
        run.conclusion = body["conclusion"]
        run.status = "completed"
    if body.get("status") is not None:
        run.status = body["status"]
        if run.status != "completed":
            run.conclusion = None
    if run.status == "completed":
        run.completed_at = _time(body["completed_at"], "completed_at") if body.get("completed_at") else now
    output = body.get("output")
    if output:
        run.title = output.get("title", run.title)
        run.summary = output.get("summary", run.summary)
        if "text" in output:
            run.text = output["text"]
        run.annotations.extend(dict(a) for a in output.get("annotations") or [])
    if "actions" in body:
        run.actions = [
            {k: str(a[k]) for k in ("label", "description", "identifier")} for a in body["actions"]
        ]


def _commit(repo: Repo, ref: str, *, exact: bool = False) -> pygit2.Commit:
    """The commit ``ref`` names (with ``exact``, only its full SHA will do), or GitHub's 422."""
    commit = gitstore.resolve(repo.git, ref)
    if commit is None or (exact and str(commit.id) != ref):
        raise ApiError(422, f"No commit found for SHA: {ref}")
    return commit


@routes.post("/repos/{owner}/{repo}/check-runs")
async def create_run(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "checks", "write")
    body = await read_json(request)
    validate(body, creating=True)
    assert hub.world.app is not None
    with hub.world.lock:
        _commit(repo, body["head_sha"], exact=True)
        suite = hub.suite_for(repo, body["head_sha"])
        run = CheckRun(
            id=hub.world.next_id(),
            repo=repo.full_name,
            suite_id=suite.id,
            app_id=hub.world.app.id,
            name=body["name"],
            head_sha=body["head_sha"],
            status="queued",
            conclusion=None,
            started_at=hub.now(),
            completed_at=None,
            details_url=None,
            external_id=None,
        )
        apply(hub, run, body)
        hub.world.check_runs[run.id] = run
        hub.refresh_suite(suite)
        if hub.check_run_lifecycle_events:
            hub.emit(hub.events.check_run("created", repo, run, hub.bot_login, None))
        return json_answer(hub.shapes.check_run(run), status=201)


@routes.patch("/repos/{owner}/{repo}/check-runs/{id}")
async def update_run(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "checks", "write")
    run = record_of(hub.world.check_runs, repo, request.match_info["id"])
    assert hub.world.app is not None
    if run.app_id != hub.world.app.id:
        raise ApiError(
            403,
            f"Invalid app_id `{hub.world.app.id}` - check run can only be modified by the "
            "GitHub App that created it.",
        )
    body = await read_json(request)
    validate(body, creating=False)
    with hub.world.lock:
        was_completed = run.status == "completed"
        apply(hub, run, body)
        suite = hub.world.check_suites.get(run.suite_id)
        if suite is not None:
            hub.refresh_suite(suite)
        if hub.check_run_lifecycle_events and run.status == "completed" and not was_completed:
            hub.emit(hub.events.check_run("completed", repo, run, hub.bot_login, None))
        return json_answer(hub.shapes.check_run(run))


@routes.get("/repos/{owner}/{repo}/check-runs/{id}")
async def get_run(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "checks", "read")
    with hub.world.lock:
        run = record_of(hub.world.check_runs, repo, request.match_info["id"])
        return json_answer(hub.shapes.check_run(run))


@routes.get("/repos/{owner}/{repo}/check-runs/{id}/annotations")
async def list_annotations(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "checks", "read")
    run = record_of(hub.world.check_runs, repo, request.match_info["id"])
    items = [hub.shapes.annotation(repo.full_name, run.head_sha, a) for a in run.annotations]
    return page_answer(request, items)


@routes.post("/repos/{owner}/{repo}/check-runs/{id}/rerequest")
async def rerequest_run(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "checks", "write")
    run = record_of(hub.world.check_runs, repo, request.match_info["id"])
    with hub.world.lock:
        hub.emit(hub.events.check_run("rerequested", repo, run, hub.bot_login, None))
    return json_answer({}, status=201)


@routes.get("/repos/{owner}/{repo}/commits/{ref}/check-runs")
async def runs_for_ref(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "checks", "read")
    name = request.query.get("check_name")
    status = request.query.get("status")
    with hub.world.lock:
        commit = _commit(repo, request.match_info["ref"])
        runs = [
            r
            for r in sorted(hub.world.check_runs.values(), key=lambda r: -r.id)
            if r.repo == repo.full_name
            and r.head_sha == str(commit.id)
            and (name is None or r.name == name)
            and (status is None or r.status == status)
        ]
        if request.query.get("filter", "latest") == "latest":
            seen: set[str] = set()
            runs = [r for r in runs if not (r.name in seen or seen.add(r.name))]  # type: ignore[func-returns-value]
        items = [hub.shapes.check_run(r) for r in runs]
    page, headers = paginate(request, items)
    return json_answer({"total_count": len(items), "check_runs": page}, headers=headers)


@routes.post("/repos/{owner}/{repo}/check-suites")
async def create_suite(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "checks", "write")
    body = await read_json(request)
    sha = body.get("head_sha")
    if not isinstance(sha, str) or not sha:
        raise _missing("head_sha")
    with hub.world.lock:
        _commit(repo, sha, exact=True)
        existing = hub.find_suite(repo, sha)
        suite = existing or hub.suite_for(repo, sha)
        return json_answer(hub.shapes.check_suite(suite), status=200 if existing else 201)


@routes.get("/repos/{owner}/{repo}/check-suites/{id}")
async def get_suite(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "checks", "read")
    with hub.world.lock:
        suite = record_of(hub.world.check_suites, repo, request.match_info["id"])
        return json_answer(hub.shapes.check_suite(suite))


@routes.post("/repos/{owner}/{repo}/check-suites/{id}/rerequest")
async def rerequest_suite(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "checks", "write")
    suite = record_of(hub.world.check_suites, repo, request.match_info["id"])
    with hub.world.lock:
        hub.emit(hub.events.check_suite("rerequested", repo, suite, hub.bot_login))
    return json_answer({}, status=201)


@routes.get("/repos/{owner}/{repo}/commits/{ref}/check-suites")
async def suites_for_ref(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "checks", "read")
    with hub.world.lock:
        commit = _commit(repo, request.match_info["ref"])
        items = [
            hub.shapes.check_suite(s)
            for s in hub.world.check_suites.values()
            if s.repo == repo.full_name and s.head_sha == str(commit.id)
        ]
    page, headers = paginate(request, items)
    return json_answer({"total_count": len(items), "check_suites": page}, headers=headers)
