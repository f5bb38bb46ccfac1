from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pygit2
import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.local_run import run

SIG = pygit2.Signature("t", "t@example.com", 1_700_000_000, 0)
BASE = {
    "pkg/core.py": b"def f():\n    return 1\n",
    "tests/test_core.py": b"def test_f():\n    assert True\n",
}
WARN_ONLY = {
    **BASE,
    "pkg/core.py": b"import sys\n\n\ndef f():\n    return 1\n",
    "tests/test_core.py": b"def test_f():\n    assert 1\n",
}
WITH_ERROR = {**WARN_ONLY, "pkg/core.py": b"def f():\n    breakpoint()\n    return 1\n"}


def _commit(repo: pygit2.Repository, files: Mapping[str, bytes], branch: str) -> str:
    index = pygit2.Index()
    for path, data in files.items():
        index.add(pygit2.IndexEntry(path, repo.create_blob(data), pygit2.enums.FileMode.BLOB))
    tree = index.write_tree(repo)
    ref = f"refs/heads/{branch}"
    parents = [repo.references[ref].target] if ref in repo.references else []
    if not parents and "refs/heads/main" in repo.references:
        parents = [repo.references["refs/heads/main"].target]
    return str(repo.create_commit(ref, SIG, SIG, branch, tree, parents))


@pytest.fixture
def local_repo(tmp_path: Path):
    repo = pygit2.init_repository(str(tmp_path / "proj"), initial_head="main")

    def make(head_files: Mapping[str, bytes], base_files: Mapping[str, bytes] = BASE) -> Path:
        _commit(repo, base_files, "main")
        _commit(repo, head_files, "feature")
        repo.set_head("refs/heads/feature")
        return tmp_path / "proj"

    return make


def _invoke(*args: str):
    return CliRunner().invoke(run, list(args), catch_exceptions=False)


def test_text_output_and_exit_codes(local_repo) -> None:
    path = local_repo(WARN_ONLY)
    ok = _invoke("--repo", str(path), "--base", "main", "--stages", "review")
    assert ok.exit_code == 0, ok.output
    assert "shunter/review: success" in ok.output
    assert "pkg/core.py:1: warning: F401" in ok.output
    assert "Shunter's defaults" in ok.output
    assert "patch: Apply 1 safe ruff fix" in ok.output


def test_failing_stage_exits_1(local_repo) -> None:
    path = local_repo(WITH_ERROR)
    result = _invoke("--repo", str(path), "--base", "main", "--head", "feature", "--stages", "review")
    assert result.exit_code == 1, result.output
    assert "shunter/review: failure" in result.output
    assert "pkg/core.py:2: error: debugger" in result.output


def test_json_output(local_repo) -> None:
    path = local_repo(WITH_ERROR)
    result = _invoke("--repo", str(path), "--base", "main", "--stages", "review", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["failed"] is True
    (review,) = data["results"]
    assert review["stage"] == "review" and review["conclusion"] == "failure"
    assert {f["rule_id"] for f in review["findings"]} >= {"debugger"}
    assert review["head_sha"] == data["head_sha"]


def test_markdown_output(local_repo) -> None:
    path = local_repo(WARN_ONLY)
    result = _invoke("--repo", str(path), "--base", "main", "--stages", "review", "--format", "markdown")
    assert result.exit_code == 0
    # a pass with a warning on it says why, as the check run does
    said = "1 warning is below the severity that fails the check (`fail_on: error`)."
    assert result.output.startswith(f"## shunter/review: success — 1 warning\n\n{said}\n\n### Code review")
    assert "`F401`" in result.output


def test_sarif_output(local_repo) -> None:
    pytest.importorskip("bot.sarif")
    path = local_repo(WITH_ERROR)
    result = _invoke("--repo", str(path), "--base", "main", "--stages", "review", "--format", "sarif")
    assert result.exit_code == 1
    sarif = json.loads(result.output)
    assert sarif["version"] == "2.1.0"
    rules = {r["ruleId"] for run_ in sarif["runs"] for r in run_["results"]}
    assert "debugger" in rules


def test_config_comes_from_the_base_not_the_branch(local_repo) -> None:
    strict = b"version: 1\nstages:\n  review:\n    fail_on: warning\n"
    lax = b"version: 1\nstages:\n  review:\n    fail_on: never\n"
    path = local_repo({**WARN_ONLY, ".github/shunter.yml": lax}, {**BASE, ".github/shunter.yml": strict})
    result = _invoke("--repo", str(path), "--base", "main", "--stages", "review")
    assert result.exit_code == 1, result.output
    assert "fails on warning" in result.output and ".github/shunter.yml (base" in result.output


def test_config_file_option_and_default_stage_selection(local_repo, tmp_path: Path) -> None:
    path = local_repo(WITH_ERROR)
    config = tmp_path / "shunter.yml"
    config.write_text(
        "version: 1\nstages:\n  review:\n    fail_on: never\n"
        "  security:\n    enabled: false\n  tests:\n    enabled: false\n"
    )
    result = _invoke("--repo", str(path), "--base", "main", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "shunter/review: success" in result.output
    assert "shunter/security" not in result.output and "shunter/tests" not in result.output


def test_usage_errors_exit_2(local_repo, tmp_path: Path) -> None:
    path = local_repo(WARN_ONLY)
    assert _invoke("--repo", str(path)).exit_code == 2  # --base missing
    bad_stage = _invoke("--repo", str(path), "--base", "main", "--stages", "lint")
    assert bad_stage.exit_code == 2 and "unknown stage 'lint'" in bad_stage.output
    bad_ref = _invoke("--repo", str(path), "--base", "nope", "--stages", "review")
    assert bad_ref.exit_code == 2 and "no commit 'nope'" in bad_ref.output
    (tmp_path / "empty").mkdir()
    not_git = _invoke("--repo", str(tmp_path / "empty"), "--base", "main")
    assert not_git.exit_code == 2 and "not inside a git repository" in not_git.output
    broken = tmp_path / "broken.yml"
    broken.write_text("version: 1\nstages:\n  review:\n    fail_on: sometimes\n")
    bad_config = _invoke("--repo", str(path), "--base", "main", "--config", str(broken))
    assert bad_config.exit_code == 2 and "fail_on" in bad_config.output
    missing = _invoke("--repo", str(path), "--base", "main", "--config", str(tmp_path / "x.yml"))
    assert missing.exit_code == 2


def test_registered_as_shunter_run(local_repo) -> None:
    path = local_repo(WARN_ONLY)
    result = CliRunner().invoke(
        main, ["run", "--repo", str(path), "--base", "main", "--stages", "review", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["results"][0]["stage"] == "review"


def test_shunter_run_does_not_import_the_app_shell():
    """`shunter run` starts in a third of a second: the stages and the local runner must not
    pull in the store (SQLAlchemy) or the GitHub client (githubkit), which cost more than
    the run itself (a plural helper imported from the publisher once tripled it)."""
    import subprocess
    import sys

    code = (
        "import sys, bot.cli, bot.local_run, bot.stages.review, bot.stages.security, bot.stages.tests\n"
        "heavy = sorted(m for m in ('sqlalchemy', 'githubkit', 'bot.store.store') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", done.stdout


def test_an_extends_of_a_preset_that_does_not_exist_exits_2_as_the_config_check_fails(local_repo) -> None:
    """On GitHub an ``extends`` entry that cannot be read fails the shunter/config check and
    the App acts on the last good config (or the defaults); ``shunter run`` used to note the
    problem and run the stages on the rest of the file, exiting 0."""
    from bot.policies.check_output import config_check_output
    from bot.policies.effective import load_effective_config
    from bot.policies.source import LocalConfigSource

    config = b"version: 1\nextends:\n  - recommended\n  - recomended\n"
    path = local_repo(WARN_ONLY, {**BASE, ".github/shunter.yml": config})
    result = CliRunner().invoke(run, ["--repo", str(path), "--base", "main", "--stages", "review"])
    assert result.exit_code == 2, result.output
    github = LocalConfigSource({}, files={("acme/app", ".github/shunter.yml"): config}, unknown_repos="absent")
    check = config_check_output(load_effective_config(github, "acme", "app"))
    assert check.conclusion == "failure"
    message = "extends 'recomended': there is no such preset"
    assert message in check.summary  # the App's check and the command say the same
    assert f":4:5: {message}" in result.output, result.output
    assert "shunter/review" not in result.output  # no stage ran on a config GitHub would not use


def test_an_extends_of_another_repository_is_noted_and_the_rest_applies_offline(local_repo) -> None:
    """Only GitHub can show another repository's config: ``shunter run`` runs on the rest of
    the file and says which settings it could not apply, rather than refusing every
    repository that extends its organisation's policy."""
    config = b"version: 1\nextends:\n  - recommended\n  - acme/policies\nstages:\n  security:\n    enabled: false\n"
    path = local_repo(WARN_ONLY, {**BASE, ".github/shunter.yml": config})
    result = CliRunner().invoke(run, ["--repo", str(path), "--base", "main"])
    assert result.exit_code in (0, 1), result.output
    assert "Not followed offline: extends 'acme/policies'" in result.output
    assert "shunter/review" in result.output and "shunter/security" not in result.output  # the file's own settings apply
