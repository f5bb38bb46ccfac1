"""`shunter run` as a new user meets it: odd repositories, odd files, and exit codes that
tell a crash from findings. Real repositories, built with the git command line (working
trees, shallow clones, file names only a shell makes) and pygit2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pygit2
import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.models import StageName
from bot.stages import registry


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(cwd),
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, check=True)
    return done.stdout.decode()


def write(root: Path, files: dict[str | bytes, bytes]) -> None:
    for name, data in files.items():
        path = os.path.join(os.fsencode(root), os.fsencode(name))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)


@pytest.fixture
def work(tmp_path: Path):
    """``work(head_files)``: a repository whose `main` has one module and whose checked-out
    `feature` branch adds ``head_files`` in a commit."""

    def make(head_files: dict[str | bytes, bytes], name: str = "proj") -> Path:
        root = tmp_path / name
        root.mkdir()
        git(root, "init", "-q", "-b", "main")
        write(root, {"pkg/core.py": b"def f():\n    return 1\n"})
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "base")
        git(root, "checkout", "-q", "-b", "feature")
        write(root, head_files)
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "head")
        return root

    return make


def shunter(*args: str):
    return CliRunner().invoke(main, ["run", *args])


def notes(output: str) -> list[str]:
    return [line.strip().removeprefix("note: ") for line in output.splitlines() if "note: " in line]


def test_a_repo_path_that_does_not_exist_says_so(tmp_path: Path) -> None:
    result = shunter("--repo", str(tmp_path / "nope"), "--base", "main")
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert "not inside a git repository" not in result.output


def test_a_repo_without_commits_says_so(tmp_path: Path) -> None:
    pygit2.init_repository(str(tmp_path / "fresh"), initial_head="main")
    result = shunter("--repo", str(tmp_path / "fresh"), "--base", "main")
    assert result.exit_code == 2
    assert "has no commits yet" in result.output


def test_an_unknown_ref_gets_local_advice(work) -> None:
    path = work({"pkg/new.py": b"x = 1\n"})
    result = shunter("--repo", str(path), "--base", "mian")
    assert result.exit_code == 2
    assert "no commit 'mian'" in result.output
    assert "git branch -a" in result.output
    assert "pull request" not in result.output  # that is the App's mirror advice


def test_uncommitted_changes_are_noted_not_silently_ignored(work) -> None:
    path = work({"pkg/new.py": b"x = 1\n"})
    write(path, {"pkg/core.py": b"def f():\n    breakpoint()\n"})
    result = shunter("--repo", str(path), "--base", "main", "--stages", "review")
    assert result.exit_code == 0, result.output
    assert any("1 file with uncommitted changes is not part of this run" in note for note in notes(result.output))
    committed = shunter("--repo", str(path), "--base", "main", "--head", "feature", "--stages", "review")
    assert "uncommitted" not in committed.output  # an explicit head is a commit: nothing to say


def test_a_base_with_no_common_history_is_noted(work) -> None:
    path = work({"pkg/new.py": b"x = 1\n"})
    git(path, "checkout", "-q", "--orphan", "other")
    git(path, "rm", "-rqf", ".")
    write(path, {"other.py": b"y = 2\n"})
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "orphan")
    result = shunter("--repo", str(path), "--base", "other", "--head", "feature", "--stages", "review")
    assert result.exit_code == 0, result.output
    assert any("share no history" in note for note in notes(result.output)), result.output


def test_a_shallow_clone_that_cannot_see_the_merge_base_is_noted(work, tmp_path: Path) -> None:
    origin = work({"pkg/new.py": b"x = 1\n"})
    git(origin, "checkout", "-q", "main")
    write(origin, {"pkg/later.py": b"z = 3\n"})
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "main moved on")
    git(tmp_path, "clone", "-q", "--depth", "1", "-b", "feature", origin.as_uri(), "shallow")
    shallow = tmp_path / "shallow"
    git(shallow, "fetch", "-q", "--depth", "1", "origin", "main:main")
    result = shunter("--repo", str(shallow), "--base", "main", "--stages", "review")
    assert result.exit_code == 0, result.output
    assert any("shallow clone" in note and "--unshallow" in note for note in notes(result.output))


def test_a_stage_that_cannot_complete_exits_3_not_0(work, monkeypatch: pytest.MonkeyPatch) -> None:
    path = work({"pkg/new.py": b"x = 1\n"})
    monkeypatch.setitem(registry.STAGES, StageName.SECURITY, "bot.no_such_module:run")
    args = ("--repo", str(path), "--base", "main", "--stages", "review,security")
    result = shunter(*args)
    assert result.exit_code == 3, result.output
    assert "shunter/security: neutral, could not complete" in result.output
    assert "shunter/review: success" in result.output  # the other stage still counts
    data = json.loads(shunter(*args, "--format", "json").output)
    assert data["incomplete"] is True and data["failed"] is False
    # a stage that fails is known however the others went: 1 outranks 3
    git(path, "checkout", "-q", "-b", "worse")
    write(path, {"pkg/new.py": b"def g():\n    breakpoint()\n"})
    git(path, "commit", "-q", "-am", "debugger")
    assert shunter(*args).exit_code == 1


def test_a_corrupt_repository_is_an_unexpected_error_exit_3(work) -> None:
    path = work({"pkg/new.py": b"x = 1\n"})
    blob = git(path, "rev-parse", "feature:pkg/new.py").strip()
    loose = path / ".git" / "objects" / blob[:2] / blob[2:]
    loose.chmod(0o644)
    loose.write_bytes(b"not a zlib stream")
    result = shunter("--repo", str(path), "--base", "main", "--stages", "review")
    assert result.exit_code == 3, result.output  # 1 would read as "the check failed"
    assert "shunter: unexpected error: GitError" in result.output


def test_an_unusable_scratch_dir_is_one_line(work, tmp_path: Path, monkeypatch) -> None:
    path = work({"pkg/new.py": b"x = 1\n"})
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("SHUNTER_SCRATCH_DIR", str(tmp_path / "a-file" / "scratch"))
    result = shunter("--repo", str(path), "--base", "main", "--stages", "review")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "cannot create a scratch directory" in result.output and "SHUNTER_SCRATCH_DIR" in result.output


def test_a_file_name_that_is_not_utf8_is_noted_not_dropped(work) -> None:
    path = work({b"caf\xe9.py": b"import os\n", "ok.py": b"import os\n"})
    result = shunter("--repo", str(path), "--base", "main", "--stages", "review")
    assert result.exit_code == 0, result.output
    assert "ok.py:1: warning: F401" in result.output
    assert 'ruff did not check `"caf\\351.py"`' in result.output  # quoted as git does


def test_odd_file_names_keep_one_finding_a_line(work) -> None:
    path = work({"new\nline.py": b"import os\n", "-rf.py": b"import os\n", "with space.py": b"import os\n"})
    result = shunter("--repo", str(path), "--base", "main", "--stages", "review,security")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert not [line for line in lines if line.startswith("line.py")], result.output
    assert "  new\\nline.py:1: warning: F401: `os` imported but unused" in lines
    assert "  -rf.py:1: warning: F401: `os` imported but unused" in lines
    assert "  with space.py:1: warning: F401: `os` imported but unused" in lines


def test_a_huge_python_file_is_skipped_by_the_tests_stage(work, monkeypatch) -> None:
    from bot.stages import tests as tests_stage

    parsed: list[str] = []
    real = tests_stage.changed_functions

    def spy(path: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        parsed.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(tests_stage, "changed_functions", spy)
    path = work({"pkg/generated.py": b"x = 1\n" * 200_000})  # 1.2 MB
    result = shunter("--repo", str(path), "--base", "main", "--stages", "tests")
    assert result.exit_code == 0, result.output
    assert "Skipped `pkg/generated.py`: larger than 1 MB." in result.output
    # never parsed (that took ~10 s and 0.7 GB): checked by what ran, not by a time limit
    assert "pkg/generated.py" not in parsed


@pytest.mark.parametrize("output_format", ["text", "markdown"])
def test_untrusted_head_says_how_to_run_it(work, output_format: str) -> None:
    """The tests stage's refusal speaks of shunter run's --trusted, once: it spoke of a PR
    from a fork or an author without write permission, and the run added its own note to
    say what the refusal should have."""
    path = work({"pkg/core.py": b"def f():\n    return 2\n"})
    result = shunter("--repo", str(path), "--base", "main", "--stages", "tests", "--format", output_format)
    assert result.exit_code == 0, result.output
    assert "fork" not in result.output and "write permission" not in result.output
    said = [line for line in result.output.splitlines() if "--trusted" in line]
    assert len(said) == 1, result.output
    assert "not run: shunter run runs none of the head's code without --trusted" in said[0]


def test_ctrl_c_exits_130_not_1(work, tmp_path: Path) -> None:
    """Ctrl-C must not read as "the check failed" (1). The run is held reading its config
    from a FIFO; the interrupt arrives once it is reading."""
    path = work({"pkg/new.py": b"x = 1\n"})
    fifo = tmp_path / "config.yml"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--repo", str(path), "--base", "main", "--config", str(fifo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    writer = None
    try:
        deadline = time.monotonic() + 60
        while writer is None and time.monotonic() < deadline:
            try:  # opens only once the run has opened the FIFO to read it
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.05)
        assert writer is not None
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if writer is not None:
            os.close(writer)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert b"shunter: interrupted" in err


def test_a_bad_stage_list_names_the_option(work) -> None:
    path = work({"pkg/new.py": b"x = 1\n"})
    for stages, said in (("lint", "unknown stage 'lint'"), (" , ", "no stage given")):
        result = shunter("--repo", str(path), "--base", "main", "--stages", stages)
        assert result.exit_code == 2, result.output
        assert f"Invalid value for --stages: {said}" in result.output, result.output
