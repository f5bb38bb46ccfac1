"""Code scanning SARIF uploads: accepted with 202, processed, and polled by id.

GitHub takes the SARIF gzip-compressed and base64-encoded and processes it later; a bad file
is accepted first and only shows up as ``processing_status: failed`` when polled. The
simulator processes at once but keeps that two-step shape, so a client that trusts the 202
alone is caught by the tests.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import uuid
import zlib
from typing import Any

from aiohttp import web

from bot.simulator import gitstore
from bot.simulator.context import ctx, repo_of
from bot.simulator.responses import ApiError, invalid_request, json_answer, not_found, not_supplied, read_json

routes = web.RouteTableDef()

MAX_COMPRESSED = 10 * 1024 * 1024
MAX_RESULTS_PER_RUN = 25_000
_REF = re.compile(r"^refs/(heads/.+|tags/.+|pull/\d+/(head|merge))$")
_SHA = re.compile(r"^[0-9a-f]{40}$")


def process(sarif: Any) -> list[str]:
    """The errors GitHub's processing would report for a decoded SARIF document."""
    if not isinstance(sarif, dict):
        return ["SARIF document is not a JSON object"]
    errors = []
    if sarif.get("version") != "2.1.0":
        errors.append(f"unsupported SARIF version {sarif.get('version')!r}; expected '2.1.0'")
    runs = sarif.get("runs")
    if not isinstance(runs, list):
        return [*errors, "SARIF document has no 'runs' array"]
    for i, run in enumerate(runs):
        if not isinstance(run, dict) or not isinstance(run.get("tool", {}).get("driver"), dict):
            errors.append(f"run {i} has no tool.driver")
            continue
        results = run.get("results") or []
        if len(results) > MAX_RESULTS_PER_RUN:
            errors.append(f"run {i} has {len(results)} results; at most {MAX_RESULTS_PER_RUN} are accepted")
    return errors


@routes.post("/repos/{owner}/{repo}/code-scanning/sarifs")
async def upload_sarif(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    repo = repo_of(request, "security_events", "write")
    body = await read_json(request)
    commit_sha, ref, raw = body.get("commit_sha"), body.get("ref"), body.get("sarif")
    if not isinstance(commit_sha, str) or not _SHA.match(commit_sha):
        raise invalid_request('"commit_sha" is not a valid commit SHA.')
    if not isinstance(ref, str) or not _REF.match(ref):
        raise invalid_request('"ref" is not a valid git reference.')
    if not isinstance(raw, str):
        raise not_supplied("sarif")
    if len(raw) * 3 // 4 > MAX_COMPRESSED:
        raise ApiError(413, "Payload Too Large")
    try:
        document = json.loads(gzip.decompress(base64.b64decode(raw, validate=True)))
    except (binascii.Error, OSError, EOFError, zlib.error, ValueError):
        raise ApiError(
            400, "Invalid request.\n\nThe SARIF must be gzip-compressed and base64-encoded."
        ) from None
    with hub.world.lock:
        if gitstore.resolve(repo.git, commit_sha) is None:
            raise ApiError(422, f"No commit found for SHA: {commit_sha}")
        sarif_id = str(uuid.uuid4())
        errors = process(document)
        hub.world.sarifs[sarif_id] = {
            "repo": repo.full_name,
            "commit_sha": commit_sha,
            "ref": ref,
            "errors": errors,
            "document": document,
        }
    url = f"{hub.shapes.api}/repos/{repo.full_name}/code-scanning/sarifs/{sarif_id}"
    return json_answer({"id": sarif_id, "url": url}, status=202)


@routes.get("/repos/{owner}/{repo}/code-scanning/sarifs/{id}")
async def get_sarif(request: web.Request) -> web.Response:
    hub, _ = ctx(request)
    m = request.match_info
    repo = repo_of(request, "security_events", "read")
    upload = hub.world.sarifs.get(m["id"])
    if upload is None or upload["repo"] != repo.full_name:
        raise not_found()
    if upload["errors"]:
        return json_answer({"processing_status": "failed", "analyses_url": None, "errors": upload["errors"]})
    analyses = f"{hub.shapes.api}/repos/{repo.full_name}/code-scanning/analyses?sarif_id={m['id']}"
    return json_answer({"processing_status": "complete", "analyses_url": analyses, "errors": None})
