"""Git over smart HTTP: clone, fetch and push with ``x-access-token:<token>`` basic auth.

``git http-backend`` (CGI) speaks the protocol over the bare repositories; this module does
what GitHub adds around it: token checks (401 without credentials, 403 without
``contents: write`` for a push), a pre-receive hook refusing workflow changes without the
``workflows`` permission and updates that break a branch's protection or ruleset
(:mod:`bot.simulator.branch_rules`), and after a push the same effects as any other ref move
(``push``/``synchronize`` webhooks, ``refs/pull/N/head`` kept current). A non-fast-forward
push is refused by git itself unless the client forces it, as on an unprotected GitHub branch.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from pathlib import Path

from aiohttp import web

from bot.simulator import branch_rules, gitstore
from bot.simulator.activity import ZERO, Hub
from bot.simulator.auth import Caller, authenticate, can_see, has_permission, upstream_may_push
from bot.simulator.context import CALLER, HUB
from bot.simulator.responses import ApiError
from bot.simulator.routes_git import caller_actors, succeeded_checks
from bot.simulator.state import Repo

_HOOK = """#!{python}
# Installed by the Shunter simulator: GitHub refuses workflow changes from Apps that lack
# the `workflows` permission.
import os, runpy, subprocess, sys
updates = sys.stdin.read().splitlines()
zero = "0" * 40
for line in updates if os.environ.get("SIM_WORKFLOWS") != "write" else []:
    old, new, ref = line.split()
    if new == zero:
        continue
    if old == zero:
        cmd = ["git", "log", "--format=", "--name-only", new, "--not", "--all"]
    else:
        cmd = ["git", "diff", "--name-only", old, new]
    for path in subprocess.run(cmd, capture_output=True, text=True).stdout.split():
        if path.startswith(".github/workflows/"):
            print(
                f"refusing to allow a GitHub App to create or update workflow `{{path}}` "
                "without `workflows` permission"
            )
            sys.exit(1)
# then the branch's protection and rulesets (bot/simulator/branch_rules.py, run by path)
sys.exit(runpy.run_path({rules!r})["pre_receive"](updates, dict(os.environ)))
"""


def install_hooks(repo_path: Path) -> None:
    hook = repo_path / "hooks" / "pre-receive"
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text(_HOOK.format(python=sys.executable, rules=branch_rules.__file__))
    hook.chmod(0o755)


def _unauthorized(message: str = "Invalid username or password.") -> web.Response:
    return web.Response(
        status=401,
        text=message + "\n",
        headers={"WWW-Authenticate": 'Basic realm="GitHub"'},
    )


def _caller(hub: Hub, header: str | None) -> Caller | None:
    """The caller from ``Basic base64(user:token)``; None when the credentials are bad."""
    if not header:
        return Caller("anonymous")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        try:
            return authenticate(hub.world, header)
        except ApiError:
            return None
    try:
        _, _, token = base64.b64decode(value.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    try:
        return authenticate(hub.world, f"token {token}")
    except ApiError:
        return None


async def handle(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    owner = request.match_info["owner"]
    name = request.match_info["name"].removesuffix(".git")
    tail = request.match_info["tail"]
    repo = hub.world.repo(f"{owner}/{name}")
    pushing = tail == "git-receive-pack" or request.query.get("service") == "git-receive-pack"
    caller = _caller(hub, request.headers.get("Authorization"))
    request[CALLER] = caller or Caller("anonymous")
    if caller is None:
        return _unauthorized()
    if caller.kind == "anonymous" and (pushing or repo is None or repo.private):
        return _unauthorized("Authentication required.")
    upstream = repo is not None and upstream_may_push(hub.world, caller, repo)
    moved_to = hub.world.moved.get(f"{owner}/{name}".lower()) if repo is None else None
    if moved_to is not None:  # a renamed or transferred repository: git follows GitHub there
        old = f"/{owner}/{request.match_info['name']}"
        path = request.rel_url.raw_path.replace(old, f"/{moved_to}.git", 1)
        query = request.rel_url.raw_query_string
        location = str(request.url.with_path(path, encoded=True)) + (f"?{query}" if query else "")
        return web.Response(status=301, headers={"Location": location})
    if repo is None or not (can_see(hub.world, caller, repo) or upstream):
        return web.Response(status=404, text="Repository not found.\n")
    if pushing and (caller.kind != "installation" or not has_permission(caller, "contents", "write")):
        return web.Response(
            status=403, text=f"Permission to {repo.full_name}.git denied to {hub.bot_login}.\n"
        )
    if pushing and repo.archived:
        return web.Response(status=403, text="This repository was archived so it is read-only.\n")
    body = await request.read()
    with hub.world.lock:
        before = gitstore.all_refs(repo.git) if tail == "git-receive-pack" else {}
        rules = branch_rules.hook_context(
            repo.rules,
            caller_actors(hub, caller),
            succeeded_checks(hub, repo),
            repo.signed,
            f"{hub.shapes.web}/{repo.full_name}/rules",
        ) if tail == "git-receive-pack" and repo.rules else {}
    status, headers, payload = await run_backend(hub, repo, request, tail, body, caller, rules)
    if tail == "git-receive-pack" and status == 200:
        with hub.world.lock:
            after = gitstore.all_refs(repo.git)
            changes = [
                (ref, before.get(ref, ZERO), after.get(ref, ZERO))
                for ref in sorted(set(before) | set(after))
                if before.get(ref) != after.get(ref)
            ]
            if changes:
                hub.refs_changed(repo, changes, hub.bot_login)
    return web.Response(status=status, body=payload, headers=headers)


async def run_backend(
    hub: Hub,
    repo: Repo,
    request: web.Request,
    tail: str,
    body: bytes,
    caller: Caller,
    rules: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """``git http-backend`` for one request; ``rules`` is what the pre-receive hook needs
    to enforce the branches' protection (:func:`branch_rules.hook_context`)."""
    env = {
        **(rules or {}),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_PROJECT_ROOT": str(repo.path.parent.parent),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{repo.owner}/{repo.path.name}/{tail}",
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.query_string,
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_USER": hub.bot_login if caller.kind == "installation" else "",
        "REMOTE_ADDR": request.remote or "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SIM_WORKFLOWS": "write" if has_permission(caller, "workflows", "write") else "none",
        "HOME": str(repo.path),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    if encoding := request.headers.get("Content-Encoding"):
        env["HTTP_CONTENT_ENCODING"] = encoding
    if protocol := request.headers.get("Git-Protocol"):
        env["GIT_PROTOCOL"] = protocol
        env["HTTP_GIT_PROTOCOL"] = protocol
    proc = await asyncio.create_subprocess_exec(
        "git",
        "http-backend",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, _err = await proc.communicate(body)
    head, sep, payload = out.partition(b"\r\n\r\n")
    if not sep:
        head, sep, payload = out.partition(b"\n\n")
    status = 200
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines():
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.strip().split()[0])
        elif key:
            headers[key.strip()] = value.strip()
    return status, headers, payload
