"""Who may run code, how strongly it is contained, and the sandbox's shape (mostly pure)."""

from __future__ import annotations

import os
import re
import sys
import uuid
from pathlib import Path

import pytest

from bot.errors import SandboxError
from bot.sandbox import Limits, Sandbox, SandboxRefused, Strength, decide
from bot.sandbox.bubblewrap import bwrap_argv
from bot.sandbox.environment import is_secret_name, sandbox_env


@pytest.mark.parametrize(
    ("trusted", "allow", "problem", "allowed", "strength", "phrase"),
    [
        (False, False, None, False, Strength.REFUSED, "does not allow running untrusted"),
        (False, True, "bwrap is not installed", False, Strength.REFUSED, "no bubblewrap"),
        (False, True, None, True, Strength.BUBBLEWRAP, "under bubblewrap"),
        (True, False, None, True, Strength.BUBBLEWRAP, "under bubblewrap"),
        (True, False, "bwrap is not installed", True, Strength.RLIMITS_ONLY, "weaker sandbox"),
    ],
)
def test_trust_table(trusted, allow, problem, allowed, strength, phrase) -> None:
    decision = decide(trusted_author=trusted, run_untrusted=allow, bwrap_problem=problem)
    assert decision.allowed is allowed
    assert decision.strength is strength
    assert phrase in decision.reason
    local = decide(trusted_author=trusted, run_untrusted=allow, bwrap_problem=problem, origin="local_run")
    assert (local.allowed, local.strength) == (allowed, strength)  # the same decision, other words
    assert "--trusted" in local.reason and "PR" not in local.reason and "fork" not in local.reason
    if problem:
        assert problem in local.reason


def test_a_pr_refusal_keeps_its_words() -> None:
    """What the App says on a PR does not change with shunter run's wording."""
    assert decide(trusted_author=False, run_untrusted=False, bwrap_problem=None).reason == (
        "not run: the PR comes from a fork or from an author without write permission, and "
        "this repository's policy does not allow running untrusted code (set "
        "`stages.tests.run_untrusted: true` to allow it under bubblewrap)"
    )


def test_fork_pr_without_bubblewrap_is_not_executed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SHUNTER_SANDBOX_BWRAP", "/nonexistent/bwrap")
    with pytest.raises(SandboxRefused) as refused:
        Sandbox.for_pr(trusted_author=False, run_untrusted=True)
    assert "no bubblewrap sandbox is available (SHUNTER_SANDBOX_BWRAP=/nonexistent/bwrap: no such file)" in (
        refused.value.reason
    )
    assert isinstance(refused.value, SandboxError)


def test_trusted_author_without_bubblewrap_runs_weaker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHUNTER_SANDBOX_BWRAP", "/nonexistent/bwrap")
    box = Sandbox.for_pr(
        trusted_author=True, run_untrusted=False, limits=Limits(wall_seconds=4, cpu_seconds=1)
    )
    assert box.strength is Strength.RLIMITS_ONLY
    assert any("weaker sandbox" in note for note in box.notes)
    work = tmp_path / "w"
    work.mkdir()
    box.prepare(work)
    marker = f"/tmp/shunter-marker-{uuid.uuid4().hex}"
    ran = box.run([sys.executable, "-c", f"open({marker!r}, 'w').write('ran')"], work)
    assert ran.ok and ran.strength is Strength.RLIMITS_ONLY
    assert Path(marker).read_text() == "ran"  # no bubblewrap: the host /tmp is visible
    Path(marker).unlink()
    loop = box.run([sys.executable, "-c", "while True: pass"], work)
    assert not loop.ok and loop.note.startswith("stopped")


def test_secret_looking_extras_are_refused() -> None:
    for name in ("GITHUB_TOKEN", "SHUNTER_PRIVATE_KEY", "MY_API_KEY", "DB_PASSWORD"):
        assert is_secret_name(name)
        with pytest.raises(SandboxError, match=name):
            sandbox_env([], {name: "x"})
    env = sandbox_env(["/venv/bin"], {"PYTHONPATH": "/w"})
    assert env["PATH"].startswith("/venv/bin:")
    assert env["HOME"] == "/tmp" and env["PYTHONPATH"] == "/w"


def test_bwrap_command_line_shape(tmp_path: Path) -> None:
    argv = bwrap_argv("bwrap", ["python", "-V"], workdir=tmp_path, env={"A": "1"})
    joined = " ".join(argv)
    assert argv[:2] == ["bwrap", "--unshare-all"] and "--share-net" not in argv
    for flag in ("--die-with-parent", "--new-session", "--clearenv", "--cap-drop"):
        assert flag in argv
    assert f"--bind {tmp_path} {tmp_path}" in joined
    assert "--ro-bind /usr /usr" in joined
    assert "/root " not in joined.replace("--dir /root ", "")  # homes are not bound
    assert argv[-3:] == ["--", "python", "-V"]
    dropped = bwrap_argv("bwrap", ["true"], workdir=tmp_path, env={}, drop_to=65534)
    assert "--unshare-net" in dropped and "--unshare-user" not in dropped
    assert "--reuid=65534" in dropped
    online = bwrap_argv("bwrap", ["true"], workdir=tmp_path, env={}, network=True)
    assert "--share-net" in online


def test_status_reports_missing_bubblewrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bot.sandbox import sandbox_status

    monkeypatch.delenv("SHUNTER_SANDBOX_BWRAP", raising=False)
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    status = sandbox_status()
    assert not status.bubblewrap and not status.untrusted_code_runs
    assert status.detail.startswith("bwrap is not installed: untrusted PR code will not run")
    assert status.detail.endswith("(install the 'bubblewrap' package)")
    monkeypatch.setenv("PATH", path)
    from bot.sandbox.bubblewrap import find_bwrap

    if find_bwrap() is not None:
        assert sandbox_status().detail.startswith(("bubblewrap works", "bwrap"))


def _not_executable(tmp: Path) -> Path:
    (tmp / "bwrap").write_text("#!/bin/sh\n")  # mode 0644
    return tmp / "bwrap"


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda tmp: tmp / "nope" / "bwrap", "no such file"),
        (lambda tmp: tmp, "not a file"),
        (_not_executable, "not executable"),
    ],
    ids=["missing", "a directory", "not executable"],
)
def test_doctor_names_a_bwrap_setting_that_points_nowhere(
    clean_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make, problem: str
) -> None:
    """``SHUNTER_SANDBOX_BWRAP`` naming no runnable file read as "bubblewrap is not
    installed", sending an operator to install a package they have; doctor now names the
    setting, its path and what is wrong, and says to fix or unset it."""
    from click.testing import CliRunner

    from bot.cli import main

    bwrap = make(tmp_path)
    monkeypatch.setenv("SHUNTER_SANDBOX_BWRAP", str(bwrap))
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(main, ["doctor", "--timeout", "1"])
    [line] = [line for line in result.output.splitlines() if " sandbox: " in line]
    assert line.startswith(
        f"⚠ sandbox: SHUNTER_SANDBOX_BWRAP={bwrap}: {problem}: untrusted PR code will not run"
    )
    assert "not installed" not in line
    assert re.search(r"set SHUNTER_SANDBOX_BWRAP to (the|its) bwrap binary, or unset it", line), line
