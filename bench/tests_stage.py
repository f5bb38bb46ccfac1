"""Benchmark of the tests stage on real releases of real projects (humanize and
validators, from PyPI).

Consecutive sdists (``pip download --no-deps --no-binary :all:``, cached in a temp dir,
never committed) are the base and head of a pull request; the stage runs on each pair in
the bubblewrap sandbox, twice: once on the project as released (its own tests measure
the changed lines first), and once with its ``tests/`` folder removed, the common case of
a PR that adds code and no tests. Reported: the share of changed functions left uncovered
that got a kept test, the changed-line coverage gain, seconds per changed function, and,
on the last line, kept tests / candidates (Meta's TestGen-LLM kept 25%).

Run: ``python bench/tests_stage.py`` (first run downloads ~1 MB of sdists).
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bot.policies.schema import TestsStageConfig
from bot.stages import tests as tests_stage
from bot.stages.context import ChangedFile, MemoryTree, StageContext

PAIRS = [
    ("humanize", "4.9.0", "4.10.0"),
    ("humanize", "4.10.0", "4.11.0"),
    ("validators", "0.28.0", "0.28.1"),
    ("validators", "0.28.1", "0.28.2"),
    ("validators", "0.28.2", "0.28.3"),
]
CACHE = Path(tempfile.gettempdir()) / "shunter-bench-sdists"
KEEP_SUFFIXES = (".py", ".toml", ".cfg", ".ini", ".txt", ".md")


def sdist(project: str, version: str) -> dict[str, bytes]:
    """The release's files, keyed by path inside the project (downloaded once, cached)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    archive = CACHE / f"{project}-{version}.tar.gz"
    if not archive.is_file():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             f"{project}=={version}", "-d", str(CACHE)],
            check=True, timeout=300,
        )  # fmt: skip
    files: dict[str, bytes] = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.endswith(KEEP_SUFFIXES):
                continue
            if ".egg-info/" in member.name:
                continue  # build output, not source
            rel = member.name.split("/", 1)[1]
            handle = tar.extractfile(member)
            if handle is not None:
                files[rel] = handle.read()
    return files


def added_lines(before: bytes, after: bytes) -> frozenset[int]:
    a = before.decode(errors="replace").splitlines()
    b = after.decode(errors="replace").splitlines()
    out: set[int] = set()
    for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b).get_opcodes():
        if tag in ("replace", "insert"):
            out.update(range(j1 + 1, j2 + 1))
    return frozenset(out)


def context(project: str, base: dict[str, bytes], head: dict[str, bytes], label: str) -> StageContext:
    files = []
    for path in sorted(set(base) | set(head)):
        if base.get(path) == head.get(path) or path not in head:
            continue
        files.append(
            ChangedFile(
                path=path,
                status="modified" if path in base else "added",
                added_lines=added_lines(base.get(path, b""), head[path]),
            )
        )
    return StageContext(
        repo=f"bench/{project}",
        base_sha="0" * 40,
        head_sha=label.ljust(40, "0")[:40],
        files=files,
        head=MemoryTree(head),
        base=MemoryTree(base),
        options=TestsStageConfig(timeout_seconds=20, time_budget_seconds=45),
        trusted_author=True,
    )


def without_tests(files: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in files.items() if not k.startswith("tests/")}


def main() -> int:
    os.environ.setdefault("SHUNTER_SANDBOX_CACHE", str(CACHE / "venvs"))
    totals = {"functions": 0, "uncovered": 0, "with_kept": 0, "candidates": 0, "kept": 0,
              "lines": 0, "before": 0, "after": 0, "seconds": 0.0}  # fmt: skip
    started = time.monotonic()
    for project, old, new in PAIRS:
        base, head = sdist(project, old), sdist(project, new)
        for scenario, (b, h) in {
            "as released": (base, head),
            "tests removed": (without_tests(base), without_tests(head)),
        }.items():
            t0 = time.monotonic()
            result = tests_stage.run(context(project, b, h, f"{old}-{new}"))
            seconds = time.monotonic() - t0
            m = result.metrics
            uncovered = [
                line for line in result.summary.splitlines()
                if line.startswith("| `") and line.split("|")[3].strip() != line.split("|")[2].strip()
            ]  # fmt: skip
            with_kept = sum("generated test kept" in line for line in uncovered)
            print(
                f"{project} {old}->{new} [{scenario}]: {m.get('functions_changed', 0)} changed "
                f"functions, {len(uncovered)} not fully covered, {with_kept} got a kept test; "
                f"changed lines covered {m.get('covered_before', 0)}/{m.get('changed_lines', 0)}"
                f" -> {m.get('covered_after', 0)}/{m.get('changed_lines', 0)}; "
                f"candidates {m.get('candidates', 0)}, kept {m.get('kept', 0)}, "
                f"discards {m.get('discards', {})}; {seconds:.1f}s"
                + (f"; NOTE {result.notes}" if result.neutral else "")
            )
            totals["functions"] += m.get("functions_changed", 0)
            totals["uncovered"] += len(uncovered)
            totals["with_kept"] += with_kept
            totals["candidates"] += m.get("candidates", 0)
            totals["kept"] += m.get("kept", 0)
            totals["lines"] += m.get("changed_lines", 0)
            totals["before"] += m.get("covered_before", 0)
            totals["after"] += m.get("covered_after", 0)
            totals["seconds"] += seconds
    lines = totals["lines"] or 1
    print(
        f"changed functions with a kept test: {totals['with_kept']}/{totals['uncovered']} of "
        f"those not fully covered ({totals['with_kept'] / max(1, totals['uncovered']):.0%}); "
        f"{totals['functions']} changed functions in all"
    )
    print(
        f"changed-line coverage: {totals['before'] / lines:.0%} -> {totals['after'] / lines:.0%}"
        f" (+{(totals['after'] - totals['before']) / lines:.0%})"
    )
    print(
        f"seconds per changed function: {totals['seconds'] / max(1, totals['functions']):.2f} "
        f"(total {time.monotonic() - started:.0f}s)"
    )
    ratio = totals["kept"] / totals["candidates"] if totals["candidates"] else 0.0
    print(
        f"kept tests / candidates: {totals['kept']}/{totals['candidates']} = {ratio:.0%} (TestGen-LLM: 25%)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
