"""When ruff lints nothing (a config it refuses, a crash, a timeout) the review check says so
plainly and is no clean pass; the heuristics still report. Real ruff, real git throughout
(fake binaries only where real ruff cannot be made to crash)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pygit2
import pytest
from click.testing import CliRunner

from bot.engines import ruff_check
from bot.local_run import run as run_command
from bot.models import Severity
from bot.policies.schema import FailOn, ReviewStageConfig
from bot.publishing.check_runs import check_run_output
from bot.stages import review
from bot.stages.review import run

TESTS = {"tests/test_core.py": b"def test_ok():\n    assert True\n"}
BASE = {"pkg/core.py": b"def f():\n    return 1\n", **TESTS}
# an unused import for ruff (F401) and a debugger call for the heuristics
HEAD = {**BASE, "pkg/core.py": b"import sys\n\n\ndef f():\n    breakpoint()\n    return 1\n"}

# (config path, content, the line ruff points at, words of ruff's own explanation)
BROKEN = {
    "unknown-select": ("ruff.toml", b'[lint]\nselect = ["E", "XYZ123"]\n', None, "Unknown rule selector `XYZ123`"),
    "target-version": ("ruff.toml", b'line-length = 100\ntarget-version = "py27"\n', 2, "unknown variant `py27`"),
    "toml-syntax": (
        "pyproject.toml",
        b'[project]\nname = "x"\n\n[tool.ruff]\nline-length = = 3\n',
        5,
        "extra `=`, expected nothing",
    ),
    "extend-missing": ("ruff.toml", b'extend = "configs/missing.toml"\n', None, "No such file or directory"),
    "extend-outside": ("ruff.toml", b'extend = "../../shared/ruff.toml"\n', None, "outside the repository"),
}


def _rules(result):
    return {(f.rule_id, f.path, f.start_line) for f in result.findings}


def _text(result) -> str:
    return result.summary + "\n".join(result.notes)


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_pr_that_breaks_the_ruff_config_fails_on_that_config(make_ctx, case: str) -> None:
    path, config, line, words = BROKEN[case]
    ctx = make_ctx(BASE, {**HEAD, path: config})
    result = run(ctx)
    assert result.neutral and result.metrics["error"] and result.metrics["ruff"] == "failed"
    assert not [f for f in result.findings if f.rule_id == "F401"]  # ruff's defaults are not used
    assert ("debugger", "pkg/core.py", 5) in _rules(result)  # the heuristics still report
    (finding,) = [f for f in result.findings if f.rule_id == "ruff-config"]
    assert finding.path == path and finding.severity is Severity.ERROR
    assert finding.start_line == (line or 1) and words in finding.message
    assert result.notes[0].startswith("ruff could not lint the code")
    assert f"`{path}`" in result.notes[0] and "this pull request changes" in result.notes[0]
    assert words in result.notes[0] and (line is None or f"line {line}" in result.notes[0])
    assert "**ruff could not lint the code**" in result.summary
    assert str(ctx.scratch_dir or "shunter-stage-") not in _text(result) and "/head/" not in _text(result)
    plan = check_run_output(result, ReviewStageConfig())
    assert plan.conclusion == "failure" and plan.title.startswith("Incomplete (ruff could not lint the code): 2 errors")
    # advisory stages stay advisory, but still do not read as a clean pass
    assert check_run_output(result, ReviewStageConfig(fail_on=FailOn.NEVER)).conclusion == "neutral"


def test_a_broken_ruff_config_the_pr_does_not_touch_makes_the_check_neutral(make_ctx) -> None:
    path, config, line, words = BROKEN["target-version"]
    result = run(make_ctx({**BASE, path: config}, {**HEAD, path: config}))
    assert result.neutral and result.metrics["error"]
    assert not [f for f in result.findings if f.engine == "ruff"]
    assert ("debugger", "pkg/core.py", 5) in _rules(result)
    assert "does not change: fix it on the base branch" in result.notes[0]
    assert words in result.notes[0] and f"`{path}` line {line}" in result.notes[0]
    clean_head = {"pkg/core.py": b"def f():\n    return 2\n", "tests/test_core.py": b"def test_ok():\n    assert 1\n"}
    quiet = run(make_ctx({**BASE, path: config}, {**clean_head, path: config}))
    assert not quiet.findings
    plan = check_run_output(quiet, ReviewStageConfig())
    assert plan.conclusion == "neutral" and plan.title == "Incomplete (ruff could not lint the code): No findings"


def test_the_same_config_works_again_once_fixed(make_ctx) -> None:
    good = b'line-length = 100\ntarget-version = "py311"\n'
    result = run(make_ctx(BASE, {**HEAD, "ruff.toml": good}))
    assert not result.neutral and "error" not in result.metrics
    assert ("F401", "pkg/core.py", 1) in _rules(result)


def _slowed_ruff(tmp_path: Path, seconds: float) -> str:
    """The real ruff, started only after ``seconds``: a PR too big to lint in time. Each
    start leaves a line in ``ruff-starts`` beside it."""
    real = ruff_check.ruff_binary()
    wrapper = tmp_path / "slow-ruff"
    starts = tmp_path / "ruff-starts"
    wrapper.write_text(f'#!/bin/sh\necho started >> "{starts}"\nsleep {seconds}\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def test_a_ruff_timeout_is_said_and_not_retried_as_a_config_problem(make_ctx, monkeypatch, tmp_path) -> None:
    slow = _slowed_ruff(tmp_path, 4)
    monkeypatch.setattr(ruff_check, "ruff_binary", lambda: slow)
    monkeypatch.setattr(review, "RUFF_TIMEOUT", 1.0, raising=False)
    ctx = make_ctx(BASE, HEAD)
    result = run(ctx)
    # one attempt, not a second one with ruff's defaults (counted, not timed: load stretches time)
    assert (tmp_path / "ruff-starts").read_text().splitlines() == ["started"]
    assert result.neutral and result.metrics["ruff"] == "timed_out" and result.metrics["error"]
    assert "did not finish within 1s" in result.notes[0] and "config" not in result.notes[0]
    assert not [f for f in result.findings if f.engine == "ruff"]
    assert ("debugger", "pkg/core.py", 5) in _rules(result)


def test_a_ruff_crash_is_quoted_and_the_check_is_not_a_pass(make_ctx, monkeypatch, tmp_path) -> None:
    crash = tmp_path / "crashing-ruff"
    crash.write_text(
        "#!/bin/sh\necho 'error: Ruff crashed. If you could open an issue at:' >&2\n"
        "echo \"error: Failed to lint $PWD/pkg/core.py: panicked at src/lib.rs:1:1: boom\" >&2\nexit 101\n"
    )
    crash.chmod(0o755)
    monkeypatch.setattr(ruff_check, "ruff_binary", lambda: str(crash))
    ctx = make_ctx(BASE, {**HEAD, "pkg/core.py": b"def f():\n    return 2\n"})
    result = run(ctx)
    assert result.neutral and result.metrics["error"]
    assert "panicked at src/lib.rs:1:1: boom" in result.notes[0]
    assert "Failed to lint pkg/core.py" in result.notes[0]  # the scratch dir is not shown
    assert check_run_output(result, ReviewStageConfig()).conclusion == "neutral"


def test_ruff_warnings_that_are_no_failure_change_nothing(make_ctx) -> None:
    deprecated = b'select = ["F"]\n'  # ruff warns: top-level linter settings are deprecated
    result = run(make_ctx(BASE, {**HEAD, "ruff.toml": deprecated}))
    assert not result.neutral and "error" not in result.metrics
    assert ("F401", "pkg/core.py", 1) in _rules(result)
    assert not [n for n in result.notes if "ruff" in n]


def test_worker_paths_are_scrubbed_when_the_scratch_dir_is_reached_by_a_symlink(make_ctx, tmp_path) -> None:
    real = tmp_path / "real-scratch"
    real.mkdir()
    link = tmp_path / "scratch-link"
    link.symlink_to(real)
    path, config, _line, words = BROKEN["target-version"]
    ctx = make_ctx(BASE, {**HEAD, path: config})
    ctx.scratch_dir = link
    result = run(ctx)
    assert words in result.notes[0] and "`ruff.toml` line 2" in result.notes[0]
    assert str(tmp_path) not in _text(result)
    assert str(tmp_path) not in "".join(f.message for f in result.findings)


SIG = pygit2.Signature("t", "t@example.com", 1_700_000_000, 0)


def _repo(path: Path, base: Mapping[str, bytes], head: Mapping[str, bytes]) -> Path:
    repo = pygit2.init_repository(str(path), initial_head="main")
    parents: list[pygit2.Oid] = []
    for branch, files in (("main", base), ("feature", head)):
        index = pygit2.Index()
        for name, data in files.items():
            index.add(pygit2.IndexEntry(name, repo.create_blob(data), pygit2.enums.FileMode.BLOB))
        parents = [repo.create_commit(f"refs/heads/{branch}", SIG, SIG, branch, index.write_tree(repo), parents)]
    repo.set_head("refs/heads/feature")
    return path


def test_shunter_run_exits_3_or_1_when_ruff_could_not_lint(tmp_path: Path) -> None:
    path, config, _line, _words = BROKEN["unknown-select"]
    clean = {**BASE, "pkg/core.py": b"def f():\n    return 2\n"}
    on_base = _repo(tmp_path / "base", {**BASE, path: config}, {**clean, path: config})
    out = CliRunner().invoke(run_command, ["--repo", str(on_base), "--base", "main", "--stages", "review"])
    assert out.exit_code == 3, out.output
    assert "shunter/review: neutral, could not complete" in out.output
    assert "ruff could not lint the code" in out.output
    in_pr = _repo(tmp_path / "pr", BASE, {**clean, path: config})
    out = CliRunner().invoke(run_command, ["--repo", str(in_pr), "--base", "main", "--stages", "review"])
    assert out.exit_code == 1, out.output
    assert "ruff.toml:1: error: ruff-config" in out.output
