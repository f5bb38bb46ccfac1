"""Benchmark: the review stage of ``shunter run`` against plain ``ruff check`` on the same files.

A real pull request from code nobody here wrote: two consecutive sdists of a PyPI project are
downloaded (cached in the temp dir), unpacked and committed as base and head of a scratch
git repository. Then, on the Python files the "PR" changes:

- plain: ``ruff check --no-cache`` on those files in the unpacked head (the project's config),
  with ruff's default and its ``concise`` output; the faster one is the baseline;
- stage: building the ``StageContext`` from git (merge-base diff, line maps) plus the whole
  review stage (materialising, ruff with JSON and fixes, heuristics, filtering, patches);
- cli:   the ``shunter run --stages review`` command end to end, interpreter start included.

Each is timed several times, taking turns, and the median is kept. The last line is the overhead ratio
stage / plain (target <= 1.3). The default "PR" is black 24.8.0 -> 24.10.0 (56 files, 38 of
them Python). Other releases tell other stories: the ratio grows when ruff has little to do
per file (a narrow ``select``) or when the diff is mostly non-Python (built docs), because
the stage also diffs and scans every changed file. Run: ``python bench/pipeline_review.py
[--project NAME --base VER --head VER --repeat N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pygit2

from bot.engines.ruff_check import ruff_binary
from bot.git.scratch import new_scratch_dir
from bot.git.workspace import context_from_local_repo, open_workspace
from bot.policies.schema import FilterMode, ReviewStageConfig
from bot.stages.review import run as review

CACHE = Path(tempfile.gettempdir()) / "shunter-bench-cache"
SIG = pygit2.Signature("bench", "bench@example.invalid", 1_700_000_000, 0)


def sdist(project: str, version: str) -> Path:
    """The sdist of ``project==version``, downloaded once into the cache."""
    target = CACHE / f"{project}-{version}"
    found = sorted(target.glob("*.tar.gz")) if target.is_dir() else []
    if not found:
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--quiet",
                f"{project}=={version}",
                "-d",
                str(target),
            ],
            check=True,
        )
        found = sorted(target.glob("*.tar.gz"))
    if not found:
        raise SystemExit(f"no .tar.gz sdist for {project}=={version}")
    return found[0]


def unpack(archive: Path, into: Path) -> Path:
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    (top,) = [p for p in into.iterdir() if p.is_dir()]
    return top


def commit_tree(repo: pygit2.Repository, root: Path, branch: str, parents: list[pygit2.Oid]):
    index = pygit2.Index()
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            blob = repo.create_blob(path.read_bytes())
            mode = (
                pygit2.enums.FileMode.BLOB_EXECUTABLE
                if path.stat().st_mode & 0o111
                else (pygit2.enums.FileMode.BLOB)
            )
            index.add(pygit2.IndexEntry(path.relative_to(root).as_posix(), blob, mode))
    tree = index.write_tree(repo)
    return repo.create_commit(f"refs/heads/{branch}", SIG, SIG, branch, tree, parents)


def same_as_plain_ruff(mirror: Path, checkout: Path, paths: list[str]) -> str:
    """Whether the stage, unfiltered and without heuristics, reports exactly what plain
    ruff reports on the real checkout (rule, path, line): the copy ruff lints in the
    stage must not change what it finds, or the timings compare different work."""
    ctx = context_from_local_repo(mirror, "base", "head")
    ctx.options = ReviewStageConfig(filter=FilterMode.NOFILTER, heuristics=False)
    stage = {(f.rule_id, f.path, f.start_line) for f in review(ctx).findings}
    command = [ruff_binary(), "check", "--no-cache", "--exit-zero", "--output-format", "json", "--", *paths]
    found = json.loads(subprocess.run(command, cwd=checkout, capture_output=True, check=True).stdout)
    plain = {
        (d["code"] or "syntax-error", Path(d["filename"]).relative_to(checkout.resolve()).as_posix(), d["location"]["row"])
        for d in found
    }
    if stage == plain:
        return f"same {len(plain)} findings as plain ruff (rule, path, line)"
    return (
        f"DIFFERENT from plain ruff: {len(stage - plain)} only in the stage {sorted(stage - plain)[:3]}, "
        f"{len(plain - stage)} only in plain ruff {sorted(plain - stage)[:3]}"
    )


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def interleaved_medians(
    actions: dict[str, Callable[[], object]], repeat: int, cpu: dict[str, dict[str, float]] | None = None
) -> dict[str, float]:
    """Median seconds per action, the actions taking turns round by round so that load from
    other processes on a shared machine falls on all of them alike. ``cpu`` receives each
    action's median CPU seconds, this process's (``self``) and its children's (``children``)."""
    for action in actions.values():
        action()  # warm the page cache and imports
    samples: dict[str, list[float]] = {name: [] for name in actions}
    own: dict[str, list[float]] = {name: [] for name in actions}
    kids: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(repeat):
        for name, action in actions.items():
            self0, kids0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            action()
            samples[name].append(time.perf_counter() - started)
            own[name].append(_cpu(resource.RUSAGE_SELF) - self0)
            kids[name].append(_cpu(resource.RUSAGE_CHILDREN) - kids0)
    if cpu is not None:
        for name in actions:
            cpu[name] = {"self": statistics.median(own[name]), "children": statistics.median(kids[name])}
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="black")
    parser.add_argument("--base", default="24.8.0")
    parser.add_argument("--head", default="24.10.0")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="shunter-bench-review-"))
    try:
        old = unpack(sdist(args.project, args.base), work / "old")
        new = unpack(sdist(args.project, args.head), work / "new")
        origin = pygit2.init_repository(str(work / "origin.git"), bare=True)
        base = commit_tree(origin, old, "base", [])
        commit_tree(origin, new, "head", [base])
        # what a worker has: a mirror fetched from the "remote" (objects packed, not loose)
        ws = open_workspace(work / "data", f"bench/{args.project}", str(work / "origin.git"))
        ws.fetch(["+refs/heads/base:refs/heads/base", "+refs/heads/head:refs/heads/head"])
        mirror = ws.path

        ctx = context_from_local_repo(mirror, "base", "head")
        py_files = [f.path for f in ctx.files if f.status != "deleted" and f.path.endswith((".py", ".pyi"))]
        lines = sum(len(f.added_lines) for f in ctx.files)
        print(f"project: {args.project} {args.base} -> {args.head}")
        print(f"diff: {len(ctx.files)} changed files, {len(py_files)} Python, {lines} added lines")
        print(f"fidelity: {same_as_plain_ruff(mirror, new, py_files)}")

        ruff = ruff_binary()
        plain_cmd = [ruff, "check", "--no-cache", "--exit-zero", "--quiet", "--", *py_files]
        concise_cmd = [*plain_cmd[:2], "--output-format", "concise", *plain_cmd[2:]]

        def plain() -> None:
            subprocess.run(plain_cmd, cwd=new, stdout=subprocess.DEVNULL, check=True)

        def concise() -> None:
            subprocess.run(concise_cmd, cwd=new, stdout=subprocess.DEVNULL, check=True)

        last: list[object] = []

        def stage() -> None:
            scratch = new_scratch_dir(prefix="shunter-bench-stage-")
            context = context_from_local_repo(mirror, "base", "head", scratch_dir=scratch)
            last[:] = [review(context)]
            shutil.rmtree(scratch)

        cli_cmd = [
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            "--repo",
            str(mirror),
            "--base",
            "base",
            "--head",
            "head",
            "--stages",
            "review",
            "--format",
            "json",
        ]

        def cli() -> None:
            done = subprocess.run(cli_cmd, stdout=subprocess.DEVNULL, check=False)
            if done.returncode not in (0, 1):
                raise SystemExit(f"shunter run failed with status {done.returncode}")

        cpu: dict[str, dict[str, float]] = {}
        medians = interleaved_medians({"full": plain, "concise": concise, "stage": stage}, args.repeat, cpu)
        t_full, t_concise, t_stage = medians["full"], medians["concise"], medians["stage"]
        t_plain = min(t_full, t_concise)  # the faster of the two is the baseline
        t_cli = interleaved_medians({"cli": cli}, max(1, args.repeat // 4))["cli"]
        result = last[0]
        print(
            f"review stage: {len(result.findings)} findings on added lines "  # type: ignore[attr-defined]
            f"({result.metrics['filtered_out']} outside the diff), "  # type: ignore[attr-defined]
            f"{result.metrics['fixable']} fixable"
        )  # type: ignore[attr-defined]
        print(f"plain ruff check:          {t_full * 1000:8.1f} ms (median of {args.repeat})")
        print(f"plain ruff check, concise: {t_concise * 1000:8.1f} ms")
        print(f"review stage (in process): {t_stage * 1000:8.1f} ms (context + stage)")
        steps = ", ".join(
            f"{name.removesuffix('_seconds')} {value * 1000:.0f}"
            for name, value in result.metrics.items()  # type: ignore[attr-defined]
            if name.endswith("_seconds") and name != "duration_seconds"
        )
        print(f"  stage steps (ms, last run): {steps}")
        # The stage's own Python work and ruff share this machine's cores: a floor on its time.
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        plain_name = "full" if t_full <= t_concise else "concise"
        ruff_alone = cpu[plain_name]["children"]
        ruff_in_stage, own = cpu["stage"]["children"], cpu["stage"]["self"]
        floor = (ruff_in_stage + own) / cores
        print(
            f"CPU (median ms): plain ruff {ruff_alone * 1000:.1f} ({ruff_alone / t_plain:.1f} of {cores} "
            f"cores busy); in the stage ruff {ruff_in_stage * 1000:.1f} + Shunter's own {own * 1000:.1f}"
        )
        print(
            f"  floor for the stage on {cores} cores, with perfect overlap: {floor * 1000:.1f} ms "
            f"(ratio {floor / t_plain:.2f})"
        )
        print(
            f"shunter run (CLI):         {t_cli * 1000:8.1f} ms "
            f"(interpreter start and imports included; ratio {t_cli / t_plain:.2f})"
        )
        print(f"overhead ratio (stage / plain ruff, target <= 1.3): {t_stage / t_plain:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
