"""The default ``risky_paths`` cover the layouts Python projects use for build, CI and
dependency files, not only the root-level names: flask keeps its pins in
``requirements/*.txt``, many projects have a ``docker/Dockerfile`` or a ``tox.ini``."""

from __future__ import annotations

import pytest

from bot.engines.heuristics import risky_findings
from bot.policies.schema import ReviewStageConfig
from bot.stages.context import ChangedFile

DEFAULTS = ReviewStageConfig().risky_paths


def _changed(path: str) -> ChangedFile:
    return ChangedFile(path, "modified", added_lines=frozenset({1}), patch="+x\n")


@pytest.mark.parametrize(
    "path",
    [
        ".github/workflows/ci.yml",
        ".github/actions/setup/action.yml",
        "app/migrations/0002_add.py",
        "Dockerfile",
        "docker/Dockerfile",
        "docker/Dockerfile.dev",
        "requirements.txt",
        "requirements-dev.txt",
        "requirements/dev.txt",
        "requirements/tests.in",
        "constraints.txt",
        "pyproject.toml",
        "packages/core/pyproject.toml",
        "setup.py",
        "setup.cfg",
        "tox.ini",
        "noxfile.py",
        ".pre-commit-config.yaml",
        "Pipfile",
        "MANIFEST.in",
    ],
)
def test_default_risky_paths_flag_build_ci_and_dependency_files(path: str) -> None:
    [finding] = risky_findings([_changed(path)], DEFAULTS).findings
    assert (finding.rule_id, finding.path) == ("risky-file", path)


@pytest.mark.parametrize(
    "path",
    ["app/models.py", "docs/requirements.md", "tests/test_setup.py", "README.md", "poetry.lock"],
)
def test_default_risky_paths_leave_ordinary_files_alone(path: str) -> None:
    assert not risky_findings([_changed(path)], DEFAULTS).findings
