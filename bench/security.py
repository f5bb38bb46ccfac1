"""Security stage benchmark: Shunter's security stage vs plain bandit on real releases.

Consecutive source releases of a real project are downloaded from PyPI
(``pip download --no-deps --no-binary :all:``, cached in a temp dir), committed in order
to a scratch git repository, and each consecutive pair is treated as a pull request
(base = older release, head = newer). For every PR:

* Shunter: ``bot.stages.security.run`` with the default config (bandit + detect-secrets +
  Shunter's rules, ``new_only`` on, i.e. bandit and the rules also run on the base
  versions of files that have findings). Timed in-process, as a warm worker runs it.
* bandit: the ``bandit`` command (``python -m bandit -f json``) over the same changed
  Python files of the head, as a user or a CI step would run it, including its start-up.

Coverage: every bandit finding on a changed line must be reported by Shunter (same line,
same test id, or Shunter's rule that declares that test id as an alias, or a secret
finding on the line for bandit's hard-coded password tests). Coverage is checked with
``new_only`` off, ``filter: added`` and ``ignore_rules_in_tests: []`` so neither old debt
nor a default exclusion hides anything; the default run's count of pre-existing findings,
and of findings its ``ignore_rules_in_tests`` (B101 in test files) leaves out by design, are
printed beside it.

    /work/venv/bin/python bench/security.py [--project werkzeug] [--versions 2.3.8,3.0.0,...]

Third-party code stays in the temp dir; nothing is committed to this repository.
The last line is the wall-time ratio Shunter / bandit (target <= 1.5).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pygit2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.engines import own_rules  # noqa: E402
from bot.git.workspace import context_from_local_repo  # noqa: E402
from bot.policies.schema import FilterMode, SecurityStageConfig  # noqa: E402
from bot.stages import security  # noqa: E402

DEFAULT_PROJECT = "werkzeug"
DEFAULT_VERSIONS = "2.3.7,2.3.8,3.0.0,3.0.1,3.0.2,3.0.3"
CACHE = Path(tempfile.gettempdir()) / "shunter-bench-security"
SIG = pygit2.Signature("bench", "bench@example.invalid", 1_700_000_000, 0)


def download(project: str, version: str) -> Path:
    """The sdist of ``project==version``, downloaded once into the cache."""
    target = CACHE / "sdists"
    target.mkdir(parents=True, exist_ok=True)
    for found in target.glob("*.tar.gz"):
        name = found.name.lower().replace("_", "-")
        if name == f"{project.lower()}-{version}.tar.gz":
            return found
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"{project}=={version}",
            "-d",
            str(target),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return download(project, version)


def unpack(archive: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    (top,) = [p for p in into.iterdir() if p.is_dir()]
    return top


def commit_tree(repo: pygit2.Repository, source: Path, message: str) -> str:
    """Commit ``source``'s files as the whole tree of a new commit on HEAD."""
    workdir = Path(repo.workdir)
    for old in list(workdir.iterdir()):
        if old.name != ".git":
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    for path in source.rglob("*"):
        if path.is_file():
            dest = workdir / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes())
    index = repo.index
    index.read()
    index.add_all()
    for entry in list(index):
        if not (workdir / entry.path).exists():
            index.remove(entry.path)
    index.write()
    tree = index.write_tree()
    parents = [] if repo.head_is_unborn else [repo.head.target]
    return str(repo.create_commit("HEAD", SIG, SIG, message, tree, parents))


def bandit_cli(root: Path, paths: list[str]) -> tuple[float, list[dict]]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bandit", "-q", "-f", "json", *[str(root / p) for p in paths]],
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    data = json.loads(proc.stdout or b"{}")
    results = []
    for item in data.get("results", []):
        rel = Path(item["filename"]).resolve().relative_to(root.resolve()).as_posix()
        results.append({**item, "path": rel})
    return elapsed, results


def covered(item: dict, findings: list, aliases: dict[str, tuple[str, ...]]) -> bool:
    line, test_id = int(item["line_number"]), item["test_id"]
    for f in findings:
        if f.path != item["path"] or not (f.start_line <= line <= max(f.end_line, f.start_line)):
            continue
        if f.rule_id == test_id or test_id in aliases.get(f.rule_id, ()):
            return True
        if test_id in {"B105", "B106", "B107"} and f.engine == "secrets":
            return True
    return False


def compare_bandit_modes(repo: pygit2.Repository, shas: list[str]) -> None:
    """Why bandit runs in-process: time both modes over the biggest PR's Python files.

    "cold" is the first in-process run in a fresh interpreter (imports, plugin discovery),
    "warm" a later one, as in a worker that has run before.
    """
    biggest = max(
        (context_from_local_repo(repo.workdir, shas[i - 1], shas[i]) for i in range(1, len(shas))),
        key=lambda c: len(c.files),
    )
    py = [f.path for f in biggest.files if f.status != "deleted" and f.path.endswith(".py")]
    root = biggest.materialise(py)
    code = (
        "import sys, time; from pathlib import Path; t = time.perf_counter(); "
        "from bot.engines.bandit_scan import run_bandit; "
        f"run_bandit(Path({str(root)!r}), {py!r}); print(time.perf_counter() - t)"
    )
    cold = float(
        subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=ROOT)
        .stdout.decode()
        .strip()
    )
    from bot.engines.bandit_scan import run_bandit

    run_bandit(root, py)
    start = time.perf_counter()
    run_bandit(root, py)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    run_bandit(root, py, mode="subprocess")
    sub = time.perf_counter() - start
    print(f"bandit modes on {len(py)} files: in-process cold {cold:.2f} s, warm {warm:.2f} s; "
          f"subprocess {sub:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=DEFAULT_PROJECT)
    parser.add_argument("--versions", default=DEFAULT_VERSIONS)
    parser.add_argument(
        "--bandit-modes",
        action="store_true",
        help="also time bandit in-process (cold, warm) vs as a subprocess on the biggest PR",
    )
    args = parser.parse_args()
    versions = [v.strip() for v in args.versions.split(",") if v.strip()]

    t0 = time.perf_counter()
    archives = [download(args.project, v) for v in versions]
    print(f"sources: {args.project} {', '.join(versions)} ({time.perf_counter() - t0:.1f} s)")

    aliases = {r.id: tuple(r.aliases) for r in own_rules.load_rules()}
    with tempfile.TemporaryDirectory(prefix="shunter-bench-sec-") as tmp:
        tmpdir = Path(tmp)
        repo = pygit2.init_repository(str(tmpdir / "repo"), bare=False)
        shas = [
            commit_tree(repo, unpack(a, tmpdir / "src" / v), f"{args.project} {v}")
            for a, v in zip(archives, versions, strict=True)
        ]
        # A worker imports bandit and loads its plugins once; do that before timing.
        warm = context_from_local_repo(repo.workdir, shas[0], shas[1])
        security.run(warm)

        if args.bandit_modes:
            compare_bandit_modes(repo, shas)

        total_shunter = total_bandit = 0.0
        bandit_changed = covered_n = reported_n = preexisting_n = in_tests_n = 0
        missing: list[str] = []
        print(
            f"{'PR':<18} {'files':>5} {'py':>4} {'shunter s':>9} {'bandit s':>8} "
            f"{'ratio':>5} {'bandit@changed':>14} {'covered':>7} {'new':>4} {'old':>4}"
        )
        for i in range(1, len(shas)):
            ctx = context_from_local_repo(repo.workdir, shas[i - 1], shas[i], options=SecurityStageConfig())
            py = [f.path for f in ctx.files if f.status != "deleted" and f.path.endswith(".py")]
            start = time.perf_counter()
            result = security.run(ctx)
            shunter_s = time.perf_counter() - start

            root = ctx.materialise(py, tree="head")
            bandit_s, raw = bandit_cli(root, py) if py else (0.0, [])
            added = {f.path: f.added_lines for f in ctx.files}
            on_changed = [r for r in raw if int(r["line_number"]) in added.get(r["path"], ())]

            strict_ctx = context_from_local_repo(
                repo.workdir,
                shas[i - 1],
                shas[i],
                options=SecurityStageConfig(new_only=False, filter=FilterMode.ADDED, ignore_rules_in_tests=[]),
            )
            strict = security.run(strict_ctx).findings
            ok = [r for r in on_changed if covered(r, strict, aliases)]
            missing += [f"{r['path']}:{r['line_number']} {r['test_id']}" for r in on_changed if r not in ok]
            new = len([f for f in result.findings if not f.suppressed])
            total_shunter += shunter_s
            total_bandit += bandit_s
            bandit_changed += len(on_changed)
            covered_n += len(ok)
            reported_n += new
            preexisting_n += result.metrics.get("preexisting", 0)
            in_tests_n += result.metrics.get("ignored_in_tests", 0)
            print(
                f"{versions[i - 1] + '->' + versions[i]:<18} {len(ctx.files):>5} {len(py):>4} "
                f"{shunter_s:>9.2f} {bandit_s:>8.2f} {shunter_s / max(bandit_s, 1e-9):>5.2f} "
                f"{len(on_changed):>14} {len(ok):>7} "
                f"{new:>4} {result.metrics.get('preexisting', 0):>4}"
            )

    print(
        f"bandit findings on changed lines: {bandit_changed}; reported by Shunter "
        f"(new_only off, filter added): {covered_n}"
    )
    print(
        f"Shunter default run: {reported_n} new findings reported, {preexisting_n} pre-existing "
        f"not annotated (new_only), {in_tests_n} in changed test files left out by design (ignore_rules_in_tests: B101)"
    )
    if missing:
        print("NOT covered: " + "; ".join(missing[:20]))
    ratio = total_shunter / total_bandit if total_bandit else float("inf")
    print(f"shunter {total_shunter:.2f} s vs bandit {total_bandit:.2f} s over {len(shas) - 1} PRs")
    print(f"security stage / plain bandit wall-time ratio: {ratio:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
