"""Path globs (and their agreement with the change-request gate), and the preset locator."""

from __future__ import annotations

import sysconfig
import tomllib
from pathlib import Path

import pytest

from bot.policies import presets
from bot.policies.globs import first_match, name_matches, path_matches

CASES = [
    ("src/a.py", "**/*.py", True),
    ("a.py", "**/*.py", True),
    ("src/a.py", "*.py", False),
    ("a.py", "*.py", True),
    (".github/workflows/ci.yml", ".github/workflows/**", True),
    (".github/workflows/sub/ci.yml", ".github/workflows/**", True),
    (".github/dependabot.yml", ".github/workflows/**", False),
    ("app/migrations/0001_init.py", "**/migrations/**", True),
    ("migrations/0001_init.py", "**/migrations/**", True),
    ("docs/guide/x.md", "docs/", True),
    ("docs/x.md", "/docs/**", True),
    ("src/.hidden/x.py", "src/**", True),
    ("Dockerfile", "Dockerfile", True),
    ("sub/Dockerfile", "Dockerfile", False),
    ("requirements-dev.txt", "**/requirements*.txt", True),
    ("a/b/c", "a/*/c", True),
    ("a/b/x/c", "a/*/c", False),
]


@pytest.mark.parametrize(("path", "pattern", "expected"), CASES)
def test_globs(path: str, pattern: str, expected: bool) -> None:
    assert path_matches(path, [pattern]) is expected


@pytest.mark.parametrize(("path", "pattern", "expected"), CASES)
def test_globs_agree_with_the_change_request_gate(path: str, pattern: str, expected: bool) -> None:
    """bot.changes validates protected/allowed paths with its own matcher: same answers."""
    paths = pytest.importorskip("bot.changes.paths")
    assert paths.matches_any(path, [pattern]) is expected


def test_empty_patterns_match_nothing() -> None:
    assert not path_matches("a.py", [])
    assert not path_matches("a.py", ["", "  "])
    assert first_match("src/a.py", ["docs/**", "src/**"]) == "src/**"
    assert first_match("x", ["docs/**"]) is None


def test_branch_names() -> None:
    assert name_matches("release/1.2", ["release/*"])
    assert not name_matches("main", ["release/*"])
    assert name_matches("hotfix", ["main", "hot*"])


def test_locator_finds_the_checkout_first() -> None:
    found = presets.policies_dir()
    assert (found / "recommended.yml").is_file()
    assert found == Path(presets.__file__).resolve().parents[2] / "policies"


def test_locator_looks_in_the_wheels_data_dir() -> None:
    expected = Path(sysconfig.get_path("data")) / "share" / "shunter" / "policies"
    assert expected in presets._candidates()


def test_pyproject_ships_the_presets_as_data_files() -> None:
    root = Path(presets.__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    shipped = config["tool"]["setuptools"]["data-files"]["share/shunter/policies"]
    listed = {p.name for pattern in shipped for p in root.glob(pattern)}
    assert {f"{name}.yml" for name in presets.preset_names()} <= listed
    assert "shunter.schema.json" in listed
