"""Benchmark the webhook front door against the least a durable front door can do.

Starts ``shunter serve`` (no worker) on loopback against the machine's Redis when it
answers, else an embedded Valkey, and a *floor* server — a bare aiohttp app that verifies
the signature and makes one pipelined Redis write per delivery. Both get signed, realistic
``pull_request.opened`` deliveries (~28 KB) from concurrent keep-alive clients running in
a separate process. Prints saturated deliveries/s for both, ack latency p50/p99 at a steady
200 deliveries/s, and on the last line the ratio Shunter/floor (target >= 0.5).

Run: python bench/ingest.py [--seconds 3] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

SECRET = "bench-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _user(login: str, uid: int) -> dict:
    base = f"https://api.github.com/users/{login}"
    return {
        "login": login,
        "id": uid,
        "node_id": f"MDQ6VXNlcj{uid}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "gravatar_id": "",
        "url": base,
        "html_url": f"https://github.com/{login}",
        "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events",
        "type": "User",
        "site_admin": False,
    }


def _repo(owner: dict, name: str, rid: int) -> dict:
    full = f"{owner['login']}/{name}"
    api = f"https://api.github.com/repos/{full}"
    repo = {
        "id": rid,
        "node_id": f"MDEwOlJlcG9zaXRvcnk{rid}",
        "name": name,
        "full_name": full,
        "private": False,
        "owner": owner,
        "html_url": f"https://github.com/{full}",
        "description": "A realistic repository for benchmarking",
        "fork": False,
        "url": api,
        "created_at": "2019-05-15T15:19:25Z",
        "updated_at": "2019-05-15T15:21:03Z",
        "pushed_at": "2019-05-15T15:20:57Z",
        "git_url": f"git://github.com/{full}.git",
        "ssh_url": f"git@github.com:{full}.git",
        "clone_url": f"https://github.com/{full}.git",
        "svn_url": f"https://github.com/{full}",
        "homepage": None,
        "size": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": "Python",
        "has_issues": True,
        "has_projects": True,
        "has_downloads": True,
        "has_wiki": True,
        "has_pages": True,
        "forks_count": 0,
        "mirror_url": None,
        "archived": False,
        "disabled": False,
        "open_issues_count": 2,
        "license": None,
        "forks": 0,
        "open_issues": 2,
        "watchers": 0,
        "default_branch": "main",
        "allow_squash_merge": True,
        "allow_merge_commit": True,
        "allow_rebase_merge": True,
        "delete_branch_on_merge": False,
    }
    for kind in (
        "forks",
        "keys",
        "collaborators",
        "teams",
        "hooks",
        "issue_events",
        "events",
        "assignees",
        "branches",
        "tags",
        "blobs",
        "git_tags",
        "git_refs",
        "trees",
        "statuses",
        "languages",
        "stargazers",
        "contributors",
        "subscribers",
        "subscription",
        "commits",
        "git_commits",
        "comments",
        "issue_comment",
        "contents",
        "compare",
        "merges",
        "archive",
        "downloads",
        "issues",
        "pulls",
        "milestones",
        "notifications",
        "labels",
        "releases",
        "deployments",
    ):
        repo[f"{kind}_url"] = f"{api}/{kind}{{/sha}}"
    return repo


def realistic_payload(size: int = 28_000) -> dict:
    """A pull_request.opened payload shaped like GitHub's example, padded to ``size`` bytes."""
    user = _user("Codertocat", 21031067)
    repo = _repo(user, "Hello-World", 186853002)
    api = f"https://api.github.com/repos/{repo['full_name']}"
    pr = {
        "url": f"{api}/pulls/2",
        "id": 279147437,
        "node_id": "MDExOlB1bGxSZXF1ZXN0Mjc5MTQ3NDM3",
        "html_url": "https://github.com/Codertocat/Hello-World/pull/2",
        "number": 2,
        "state": "open",
        "locked": False,
        "title": "Update the README with new information.",
        "user": user,
        "body": "",
        "created_at": "2019-05-15T15:20:33Z",
        "updated_at": "2019-05-15T15:20:33Z",
        "closed_at": None,
        "merged_at": None,
        "merge_commit_sha": None,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "labels": [],
        "milestone": None,
        "head": {
            "label": "Codertocat:changes",
            "ref": "changes",
            "sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
            "user": user,
            "repo": repo,
        },
        "base": {
            "label": "Codertocat:main",
            "ref": "main",
            "sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
            "user": user,
            "repo": repo,
        },
        "_links": {
            k: {"href": f"{api}/{k}"}
            for k in (
                "self",
                "html",
                "issue",
                "comments",
                "review_comments",
                "review_comment",
                "commits",
                "statuses",
            )
        },
        "author_association": "OWNER",
        "draft": False,
        "merged": False,
        "mergeable": None,
        "rebaseable": None,
        "mergeable_state": "unknown",
        "merged_by": None,
        "comments": 0,
        "review_comments": 0,
        "maintainer_can_modify": False,
        "commits": 1,
        "additions": 1,
        "deletions": 1,
        "changed_files": 1,
    }
    payload = {
        "action": "opened",
        "number": 2,
        "pull_request": pr,
        "repository": repo,
        "sender": user,
        "installation": {"id": 2311213, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMjMxMTIxMw=="},
    }
    missing = size - len(json.dumps(payload))
    if missing > 0:
        pr["body"] = ("This pull request updates the README with new information. " * (missing // 58 + 1))[
            :missing
        ]
    return payload


# ---------------------------------------------------------------- the floor server
def floor_server(port: int, redis_url: str) -> None:
    """Verify the signature, one pipelined Redis write, answer 202 — nothing else."""
    import redis.asyncio as aioredis
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        sig = request.headers.get("X-Hub-Signature-256", "")
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sig):
            return web.Response(status=401)
        pipe = request.app["redis"].pipeline(transaction=False)
        pipe.rpush("floor:deliveries", body)
        await pipe.execute()
        return web.Response(status=202)

    async def start(app: web.Application) -> None:
        app["redis"] = aioredis.Redis.from_url(redis_url)

    app = web.Application(client_max_size=26 * 1024 * 1024)
    app.on_startup.append(start)
    app.router.add_post("/webhooks", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# ---------------------------------------------------------------- the load generator
def _signed(body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
        "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
    }


async def _saturate(url: str, body: bytes, seconds: float, concurrency: int) -> tuple[int, int]:
    import aiohttp

    headers = _signed(body)
    done = errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                h = dict(headers, **{"X-GitHub-Delivery": str(uuid.uuid4())})
                async with session.post(url, data=body, headers=h) as resp:
                    await resp.read()
                    if resp.status == 202:
                        done += 1
                    else:
                        errors += 1

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return done, errors


async def _steady(url: str, body: bytes, rate: float, seconds: float) -> list[float]:
    import aiohttp

    headers = _signed(body)
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:

        async def one() -> None:
            h = dict(headers, **{"X-GitHub-Delivery": str(uuid.uuid4())})
            t0 = time.perf_counter()
            async with session.post(url, data=body, headers=h) as resp:
                await resp.read()
                if resp.status == 202:
                    latencies.append(time.perf_counter() - t0)

        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return latencies


def _load(kind: str, url: str, body: bytes, arg: float, seconds: float, out: mp.Queue) -> None:
    if kind == "saturate":
        out.put(asyncio.run(_saturate(url, body, seconds, int(arg))))
    else:
        out.put(asyncio.run(_steady(url, body, arg, seconds)))


def run_load(kind: str, url: str, body: bytes, arg: float, seconds: float) -> object:
    out: mp.Queue = mp.Queue()
    proc = mp.Process(target=_load, args=(kind, url, body, arg, seconds, out))
    proc.start()
    result = out.get(timeout=seconds + 60)
    proc.join(10)
    return result


def wait_up(url: str, timeout: float = 30) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} never came up")


def pick_redis() -> tuple[str, object]:
    import redis

    try:
        redis.Redis(socket_connect_timeout=0.5).ping()
        # claim a database nobody else (a test session, another bench) is using
        for db in range(15, 0, -1):
            conn = redis.Redis(db=db)
            if conn.set("shunter:test-session-owner", f"bench-{os.getpid()}", nx=True, ex=600):
                return f"redis://127.0.0.1:6379/{db}", None
        raise redis.RedisError("no free database")
    except redis.RedisError:
        from bot.queue.connection import start_embedded

        handle = start_embedded(Path(tempfile.mkdtemp(prefix="bench-valkey-")))
        return handle.url, handle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    import redis

    redis_url, handle = pick_redis()
    conn = redis.Redis.from_url(redis_url)
    conn.flushdb()
    body = json.dumps(realistic_payload()).encode()
    print(
        f"redis: {redis_url.rsplit('@', 1)[-1]}{' (embedded Valkey)' if handle else ''}; payload {len(body)} bytes"
    )

    shunter_port, floor_port = free_port(), free_port()
    env = dict(
        os.environ,
        SHUNTER_WEBHOOK_SECRET=SECRET,
        SHUNTER_REDIS_URL=redis_url,
        SHUNTER_PORT=str(shunter_port),
        SHUNTER_LOG_LEVEL="WARNING",
        SHUNTER_DATA_DIR=tempfile.mkdtemp(prefix="bench-data-"),
    )
    shunter = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=env)
    floor = mp.Process(target=floor_server, args=(floor_port, redis_url), daemon=True)
    floor.start()
    try:
        shunter_url = f"http://127.0.0.1:{shunter_port}"
        floor_url = f"http://127.0.0.1:{floor_port}/webhooks"
        wait_up(shunter_url + "/healthz")
        wait_up(f"http://127.0.0.1:{floor_port}/")

        run_load("saturate", shunter_url + "/webhooks", body, args.concurrency, 0.5)  # warm-up
        conn.flushdb()
        done, errors = run_load("saturate", shunter_url + "/webhooks", body, args.concurrency, args.seconds)
        shunter_rate = done / args.seconds
        queued = conn.llen("rq:queue:events")
        conn.flushdb()
        print(
            f"shunter saturated: {shunter_rate:,.0f} deliveries/s ({done} stored, {queued} jobs queued, {errors} errors)"
        )

        run_load("saturate", floor_url, body, args.concurrency, 0.5)
        conn.flushdb()
        fdone, ferrors = run_load("saturate", floor_url, body, args.concurrency, args.seconds)
        floor_rate = fdone / args.seconds
        conn.flushdb()
        print(f"floor saturated:   {floor_rate:,.0f} deliveries/s ({ferrors} errors)")

        latencies = run_load("steady", shunter_url + "/webhooks", body, 200, args.seconds)
        conn.flushdb()
        ms = sorted(x * 1000 for x in latencies)  # type: ignore[union-attr]
        p50 = statistics.median(ms)
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        print(
            f"shunter at 200/s:  p50 {p50:.2f} ms, p99 {p99:.2f} ms over {len(ms)} deliveries (target p99 < 20 ms)"
        )
        print(f"ratio shunter/floor saturated throughput: {shunter_rate / floor_rate:.2f} (target >= 0.5)")
    finally:
        shunter.terminate()
        shunter.wait(10)
        floor.terminate()
        conn.flushdb()
        if handle is not None:
            handle.close()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
