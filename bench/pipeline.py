"""Benchmark the PR pipeline end to end, through the simulator.

1. GitHub API calls per ``pull_request.opened`` with review + security + tests enabled and
   fewer than 50 findings, counted by the simulator's recorder (target <= 10; git smart-HTTP
   requests are counted apart, they are not REST calls). Three PRs of the same shape are
   measured: the first on a freshly installed repository pays once for what every later PR
   reuses (the installation token, the repository's and the org's config, the author's
   permission); a second by another author (whose permission is looked up); a third by the
   first author again.
2. Seconds from the delivery to all check runs completed for a 20-file PR.
3. ``shunter run`` (review stage) vs plain ``ruff check`` on the same changed files of a real
   project (from ``bench/pipeline_review.py``): the overhead ratio is the last line
   (target <= 1.3).

Run: python bench/pipeline.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def pick_redis() -> str | None:
    import os

    import redis

    try:
        redis.Redis(socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return None  # LocalStack starts an embedded Valkey
    for db in range(15, 0, -1):
        if redis.Redis(db=db).set("shunter:test-session-owner", f"bench-{os.getpid()}", nx=True, ex=600):
            return f"redis://127.0.0.1:6379/{db}"
    return None


def twenty_files(prefix: str = "mod") -> dict[str, str]:
    files = {}
    for i in range(20):
        body = "".join(f"def f{j}(x: int) -> int:\n    return x * {j} + {i}\n\n\n" for j in range(30))
        if i < 5:
            body = "import os\n" + body  # one finding in each of five files
        files[f"pkg/{prefix}{i:02d}.py"] = body
    return files


def main() -> None:
    from bot.logs import configure
    from bot.stack import LocalStack

    configure("ERROR")
    redis_url = pick_redis()
    with (
        tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp,
        LocalStack(Path(tmp), redis_url=redis_url) as st,
    ):
        st.redis.flushdb()
        sim = st.sim
        repo = "octo/bench"
        sim.create_repo(repo, {"README.md": "# bench\n", "pkg/__init__.py": ""})
        sim.commit(repo, "feature", twenty_files(), author="alice")
        before = len(sim.recorder.requests)
        t0 = time.perf_counter()
        number = sim.open_pull_request(repo, "feature", title="Twenty files", user="alice")
        st.drain()
        elapsed = time.perf_counter() - t0
        requests = sim.recorder.requests[before:]
        runs = [r for r in sim.check_runs(repo) if r.head_sha == sim.pull(repo, number).head_sha]
        findings = sum(len(r.annotations) for r in runs)
        rest = [r for r in requests if ".git/" not in r.path]
        git = len(requests) - len(rest)
        by_route = Counter(re.sub(r"/\d+", "/N", f"{r.method} {r.path}") for r in rest)
        print(f"pull_request.opened, 20 files, {len(runs)} check runs, {findings} annotations:")
        for route, count in by_route.most_common():
            print(f"  {count:3d}  {route}")
        print(
            f"GitHub REST calls for the first PR after installing: {len(rest)} (target <= 10; "
            f"token, config and permission are fetched once, then reused); git smart-HTTP requests: {git}"
        )
        print(
            f"delivery -> all check runs completed: {elapsed:.2f} s "
            f"({', '.join(f'{r.name}={r.conclusion}' for r in runs)})"
        )
        # steady state: later PRs on the same repository (token and config already known)
        for branch, author, label in (
            ("feature2", "bob", "a second PR, by another author"),
            ("feature3", "alice", "a third PR, by the first author again"),
        ):
            # the same shape as the first PR (untested functions, so the tests stage needs
            # the author's permission): only what is cached differs
            sim.commit(repo, branch, twenty_files(f"{branch}_"), author=author)
            before = len(sim.recorder.requests)
            sim.open_pull_request(repo, branch, title=label, user=author)
            st.drain()
            later = [r for r in sim.recorder.requests[before:] if ".git/" not in r.path]
            routes = Counter(re.sub(r"/\d+", "/N", f"{r.method} {r.path}") for r in later)
            print(f"GitHub REST calls for {label}: {len(later)} (target <= 10)")
            for route, count in routes.most_common():
                print(f"  {count:3d}  {route}")
        st.redis.flushdb()

    review = subprocess.run(
        [sys.executable, str(HERE / "pipeline_review.py")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in review.stdout.splitlines() if line.strip()]
    for line in lines[:-1]:
        print(line)
    if review.returncode != 0 or not lines:
        print(f"review-stage overhead: bench/pipeline_review.py failed: {review.stderr.strip()[-300:]}")
        sys.exit(1)
    print(lines[-1])


if __name__ == "__main__":
    main()
