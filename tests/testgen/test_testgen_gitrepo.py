"""The tests stage on a real git repository, through the workspace's context builder (the
same ``StageContext`` the stage worker and ``shunter run`` build), in the real sandbox."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.git.workspace import context_from_local_repo
from bot.policies.schema import TestsStageConfig as StageOptions
from bot.sandbox.bubblewrap import find_bwrap, probe
from bot.stages import tests as tests_stage

pytestmark = pytest.mark.skipif(
    find_bwrap() is None or probe(find_bwrap() or "", None) is not None,
    reason="bubblewrap is not usable on this machine",
)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_stage_on_a_real_git_diff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHUNTER_SANDBOX_CACHE", str(tmp_path / "venvs"))
    repo = tmp_path / "repo"
    (repo / "src" / "units").mkdir(parents=True)
    (repo / "tests").mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "pyproject.toml").write_text('[project]\nname = "units"\nversion = "1.0"\n')
    (repo / "src" / "units" / "__init__.py").write_text(
        "import importlib.metadata\n\n__version__ = importlib.metadata.version('units')\n"
    )
    conv = repo / "src" / "units" / "convert.py"
    conv.write_text("def km_to_m(km: float) -> float:\n    return km * 1000\n")
    (repo / "tests" / "test_convert.py").write_text(
        "from units.convert import km_to_m\n\n\ndef test_km():\n    assert km_to_m(1) == 1000\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    conv.write_text(
        conv.read_text()
        + "\n\ndef clamp_percent(value: int) -> int:\n"
        + "    if value < 0:\n        return 0\n    return min(value, 100)\n"
    )
    git(repo, "commit", "-q", "-am", "add clamp_percent")
    ctx = context_from_local_repo(
        repo,
        base,
        "HEAD",
        options=StageOptions(timeout_seconds=60, time_budget_seconds=120),
        trusted_author=True,
    )
    result = tests_stage.run(ctx)
    assert not result.neutral, result.notes
    m = result.metrics
    assert m["functions_changed"] == 1
    assert m["covered_before"] == 1  # only the def line, run when the test imports the module
    assert m["covered_after"] == m["changed_lines"] == 4
    (patch,) = result.patches
    (file,) = patch.files
    assert file.path == "tests/test_convert.py"
    assert file.pre_image_blob == git(repo, "rev-parse", "HEAD:tests/test_convert.py")
    subprocess.run(["git", "apply", "--check", "-"], input=file.diff, text=True, cwd=repo, check=True)
