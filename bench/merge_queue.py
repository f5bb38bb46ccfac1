"""Merge-queue benchmark: 50 non-conflicting change requests against one branch.

Shunter's way: 4 worker processes, batching (the default ``max_batch``), compare-and-swap
pushes, one batch per branch at a time.
Naive baseline: 1 worker process, one push per change request (``max_batch`` 1).
Both use the same code, a real bare repository as the remote and a real Redis (the
machine's when it answers, else an embedded Valkey). Time runs from the moment the 50
requests are enqueued (workers already polling) until every one is recorded as landed.

    /work/venv/bin/python bench/merge_queue.py [--changes 50] [--workers 4]

Each setup runs ``--repeat`` times (interleaved); the last line is the speed-up of the
medians over the naive baseline (target >= 5x).
"""

from __future__ import annotations

import argparse
import difflib
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pygit2
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.changes.model import ChangeRequest  # noqa: E402
from bot.git.apply import Pygit2BaseTree  # noqa: E402
from bot.models import FileDiff, PatchDraft, StageName  # noqa: E402
from bot.policies.schema import Patches  # noqa: E402
from bot.queue.merge import MergeQueue, QueueSettings  # noqa: E402

REPO = "bench/widgets"
SIG = pygit2.Signature("Bench", "bench@example.com")


def module(i: int) -> str:
    return f'"""Module {i}."""\n\n' + "".join(f"def f{j}(x):\n    return x + {j}\n\n\n" for j in range(8))


def make_remote(root: Path, n: int) -> Path:
    path = root / "remotes" / f"{REPO}.git"
    path.parent.mkdir(parents=True)
    repo = pygit2.init_repository(str(path), bare=True)
    index = pygit2.Index()
    for i in range(n):
        index.add(pygit2.IndexEntry(f"pkg/m{i}.py", repo.create_blob(module(i).encode()), 0o100644))
    tree = index.write_tree(repo)
    repo.create_commit("refs/heads/main", SIG, SIG, "initial", tree, [])
    return path


def changes(remote: Path, n: int) -> tuple[list[ChangeRequest], Pygit2BaseTree]:
    repo = pygit2.Repository(str(remote))
    head = str(repo.references["refs/heads/main"].target)
    out = []
    for i in range(n):
        path = f"pkg/m{i}.py"
        old = module(i)
        new = old.replace("return x + 3\n", "return x + 3  # fixed by shunter\n")
        diff = "".join(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                f"a/{path}",
                f"b/{path}",
            )
        )
        blob = str(repo[head].tree[path].id)
        draft = PatchDraft(
            stage=StageName.REVIEW,
            title=f"fix m{i}",
            files=[FileDiff(path=path, diff=diff, pre_image_blob=blob)],
        )
        out.append(
            ChangeRequest.from_draft(draft, repo=REPO, branch="main", head_sha=head, requester="bench")
        )
    return out, Pygit2BaseTree(repo, head)


def redis_url(tmp: Path) -> tuple[str, object | None]:
    url = "redis://127.0.0.1:6379/0"
    try:
        if redis.Redis.from_url(url, socket_connect_timeout=0.5).ping():
            return url, None
    except redis.RedisError:
        pass
    from bot.queue.connection import start_embedded

    handle = start_embedded(tmp / "valkey")
    return handle.url, handle


def run(label: str, n: int, workers: int, max_batch: int, url: str, *extra: str) -> tuple[float, int, int]:
    tmp = Path(tempfile.mkdtemp(prefix="shunter-bench-"))
    remote = make_remote(tmp, n)
    prefix = f"shunter:mq:bench:{os.getpid()}:{secrets.token_hex(3)}:"
    client = redis.Redis.from_url(url)
    mq = MergeQueue(client, prefix=prefix)
    policy = Patches(push_method="git", max_files=50)
    crs, base = changes(remote, n)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot.queue.merge_worker",
                "--redis-url",
                url,
                "--workdir",
                str(tmp / f"w{k}"),
                "--remote-root",
                str(tmp / "remotes"),
                "--owner",
                f"{label.split()[0]}-{k}",
                "--max-batch",
                str(max_batch),
                "--prefix",
                prefix,
                "--idle-sleep",
                "0.02",
                *extra,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=None if os.environ.get("BENCH_LOG") else subprocess.DEVNULL,
            text=True,
        )
        for k in range(workers)
    ]
    deadline = time.monotonic() + 30
    while len(mq.workers()) < workers:  # every worker imported and polling
        if time.monotonic() > deadline:
            raise SystemExit(f"{label}: workers did not start")
        time.sleep(0.02)
    from bot.changes.validation import validate_change

    for cr in crs:  # validation is the producer's cost, not the queue's: done before timing
        validate_change(cr, base, policy, {})
    start = time.perf_counter()
    for cr in crs:
        mq.enqueue(cr, policy)
    landed_key = mq.keys.landed
    while client.zcard(landed_key) < n:
        if time.perf_counter() - start > 50:
            raise SystemExit(f"{label}: not all changes landed within 50 s")
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    pushes = refused = 0
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        out = proc.communicate(timeout=30)[0]
        for line in out.splitlines():
            if line.startswith("batches="):
                stats = dict(part.split("=") for part in line.split())
                pushes += int(stats["pushes"])
    history = list(
        pygit2.Repository(str(remote)).walk(
            pygit2.Repository(str(remote)).references["refs/heads/main"].target
        )
    )
    commits = len(history) - 1
    refused = pushes - commits
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()
    shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"{label}: {n} changes landed in {elapsed:.2f} s with {workers} worker(s), "
        f"{pushes} pushes ({refused} refused by compare-and-swap), {commits} commits"
    )
    return elapsed, pushes, commits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="runs per setup; medians count")
    args = parser.parse_args()
    url, handle = redis_url(Path(tempfile.mkdtemp(prefix="shunter-bench-redis-")))
    print(f"redis: {'embedded valkey' if handle else url}")
    naive: list[float] = []
    queue: list[float] = []
    for _ in range(args.repeat):  # interleaved, so load on a shared machine hits both
        naive.append(run("naive", args.changes, 1, 1, url)[0])
        queue.append(run("shunter", args.changes, args.workers, QueueSettings.max_batch, url)[0])
    run(
        "racing (no branch lock)",
        args.changes,
        args.workers,
        QueueSettings.max_batch,
        url,
        "--no-branch-lock",
    )
    if handle is not None:
        handle.close()  # type: ignore[attr-defined]
    base, ours = statistics.median(naive), statistics.median(queue)
    print(f"median: naive {base:.2f} s, shunter {ours:.2f} s over {args.repeat} runs each")
    print(f"speed-up over the naive baseline: {base / ours:.1f}x (target >= 5x)")


if __name__ == "__main__":
    main()
