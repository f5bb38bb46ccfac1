"""Declared requirements and the per-repo cached environment, built in the sandbox."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.sandbox import Sandbox
from bot.sandbox.bubblewrap import find_bwrap, probe
from bot.sandbox.venv import declared_requirements, ensure_venv, unsatisfied

needs_bwrap = pytest.mark.skipif(
    find_bwrap() is None or probe(find_bwrap() or "", None) is not None,
    reason="bubblewrap is not usable on this machine",
)


def test_requirements_files_and_pyproject(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "# runtime\nattrs>=21  # inline comment\n-r requirements-test.txt\n"
        "git+https://example.com/x.git\n-e .\n"
    )
    (tmp_path / "requirements-test.txt").write_text("pytest\n")
    (tmp_path / "requirements-docs.txt").write_text("sphinx\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\ndependencies = ["packaging>=20"]\n'
        '[project.optional-dependencies]\ntest = ["hypothesis", "demo[extra]"]\n'
        'docs = ["mkdocs"]\n'
    )
    found = declared_requirements(tmp_path)
    assert sorted(found.requirements) == ["attrs>=21", "hypothesis", "packaging>=20", "pytest"]
    assert "requirements-docs.txt" not in found.sources
    assert len(found.unsupported) == 2
    assert all("ignored" in item for item in found.unsupported)


def test_setup_py_is_not_executed(tmp_path: Path) -> None:
    (tmp_path / "setup.py").write_text("raise SystemExit('must not run')\n")
    found = declared_requirements(tmp_path)
    assert found.requirements == []
    assert "setup.py" in found.unsupported[0]


def test_what_the_worker_already_has_is_not_installed() -> None:
    assert unsatisfied(["pytest", "coverage>=5", "hypothesis"]) == []
    assert unsatisfied(["pytest<1", "no-such-dist-shunter"]) == ["pytest<1", "no-such-dist-shunter"]
    assert unsatisfied(['pytest<1; python_version < "3"']) == []


@pytest.fixture
def offline_pip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """pip pointed at a local index only, so the test needs no network."""
    index = Path("/opt/pypi/simple")
    if not index.is_dir():
        index = tmp_path / "empty-index"
        index.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", f"file://{index}")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    return index


@needs_bwrap
def test_missing_dependency_is_named(offline_pip: Path, tmp_path: Path) -> None:
    box = Sandbox.for_pr(trusted_author=True, run_untrusted=False)
    result = ensure_venv(["shunter-no-such-dist==1.0"], sandbox=box, cache_root=tmp_path / "c", time_limit=60)
    assert not result.ok
    assert result.failed == ["shunter-no-such-dist==1.0"]
    assert "could not install shunter-no-such-dist==1.0" in result.note
    assert not any(p.name.startswith(".build") for p in (tmp_path / "c").iterdir())


@needs_bwrap
def test_dependency_installed_once_then_cached(offline_pip: Path, tmp_path: Path) -> None:
    if not (offline_pip / "appdirs").is_dir():
        pytest.skip("the local package index has no appdirs wheel")
    box = Sandbox.for_pr(trusted_author=True, run_untrusted=False)
    first = ensure_venv(["appdirs"], sandbox=box, cache_root=tmp_path / "c", time_limit=60)
    assert first.ok and not first.cached, first.note
    second = ensure_venv(["appdirs"], sandbox=box, cache_root=tmp_path / "c", time_limit=60)
    assert second.ok and second.cached and second.python == first.python
    work = tmp_path / "w"
    work.mkdir()
    box.prepare(work)
    check = box.run(
        [second.python, "-c", "import appdirs, pytest, hypothesis; print('ok')"],
        work,
        extra_ro_paths=second.ro_paths,
    )
    assert check.ok and check.stdout_tail.strip() == "ok", check.stderr_tail
    tamper = box.run(
        [second.python, "-c", f"open({second.python!r} + '.x', 'w')"],
        work,
        extra_ro_paths=second.ro_paths,
    )
    assert tamper.exit_code == 1  # the cached venv is read-only to sandboxed code
