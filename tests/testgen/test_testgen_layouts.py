"""The tests stage on the repository layouts real projects use: a monorepo whose packages
each have their own ``pyproject.toml``, ``src/`` or flat layout and tests folder (shaped
after cachetools 5.3, with unittest ``TestCase`` tests, and toolz 0.12, with its tests
inside the package), a subfolder ``conftest.py``, and a namespace package (jaraco.functools).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.engines.coverage_probe import FileCoverage, Measurement, combine
from bot.engines.project_layout import import_roots, project_roots
from bot.engines.testgen_patch import target_test_file
from bot.git.workspace import context_from_local_repo
from bot.policies.schema import TestsStageConfig as StageOptions
from bot.sandbox.bubblewrap import find_bwrap, probe
from bot.sandbox.runner import SandboxResult, Strength
from bot.sandbox.venv import declared_requirements, write_metadata_shim, write_vcs_version_files
from bot.stages import tests as tests_stage
from bot.stages.tests import find_targets
from tests.testgen.test_testgen_gitrepo import git

KEYS = (
    b'"""Key functions for memoizing decorators."""\n\n\n'
    b"def hashkey(*args):\n    return tuple(args)\n"
)
TYPED_KEY = (
    b"\n\ndef clamp_size(size: int, limit: int) -> int:\n"
    b"    if size < 0:\n        return 0\n    return min(size, limit)\n"
)
UTILS = b"def raises(err, lamda):\n    try:\n        lamda()\n        return False\n    except err:\n        return True\n"
PAD = b"\n\ndef zero_pad(value: int, width: int) -> str:\n    text = str(value)\n    return text.rjust(width, '0')\n"
MONOREPO = {
    "pyproject.toml": b'[project]\nname = "workspace"\nversion = "0"\n',
    "packages/cachetools/pyproject.toml": b'[project]\nname = "cachetools"\nversion = "5.3.3"\n',
    # as many packages do, cachetools reads its version from its installed metadata
    "packages/cachetools/src/cachetools/__init__.py": (
        b'import importlib.metadata\n\n__version__ = importlib.metadata.version("cachetools")\n'
    ),
    "packages/cachetools/src/cachetools/keys.py": KEYS,
    "packages/cachetools/tests/__init__.py": b"",
    "packages/cachetools/tests/test_keys.py": (
        b"import unittest\n\nfrom cachetools import keys\n\n\nclass CacheKeysTest(unittest.TestCase):\n"
        b"    def test_hashkey(self):\n        self.assertEqual(keys.hashkey(1), (1,))\n\n"
        b"    def test_clamp(self):\n        self.assertEqual(keys.clamp_size(5, 3), 3)\n"
    ),
    "packages/toolz/setup.py": b"from setuptools import setup\n\nsetup(name='toolz')\n",
    "packages/toolz/toolz/__init__.py": b"",
    "packages/toolz/toolz/utils.py": UTILS,
    "packages/toolz/toolz/tests/unit/conftest.py": (
        b"import pytest\n\n\n@pytest.fixture\ndef error():\n    return ZeroDivisionError\n"
    ),
    "packages/toolz/toolz/tests/unit/test_utils.py": (
        b"from toolz.utils import raises\n\n\ndef test_raises(error):\n    assert raises(error, lambda: 1 / 0)\n"
    ),
    # the module ``tests.test_keys`` to pytest, as cachetools' is: one session collected one
    "packages/toolz/tests/__init__.py": b"",
    "packages/toolz/tests/test_keys.py": b"from toolz.utils import zero_pad\n\n\ndef test_pad():\n"
    b"    assert zero_pad(7, 1) == '7'\n",
    # a sibling package's test file of the same name, which must neither be run for
    # cachetools' keys.py nor receive its tests
    "packages/other/pyproject.toml": b'[project]\nname = "other"\nversion = "1"\n',
    "packages/other/tests/test_keys.py": b"import other_keys\n\n\ndef test_other():\n    assert other_keys\n",
}


def write(repo: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(data)


def monorepo_pr(repo: Path) -> str:
    """The monorepo committed as base, and a head changing both packages; returns the base."""
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    write(repo, MONOREPO)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    sha = git(repo, "rev-parse", "HEAD")
    write(
        repo,
        {
            "packages/cachetools/src/cachetools/keys.py": KEYS + TYPED_KEY,
            "packages/toolz/toolz/utils.py": UTILS + PAD,
        },
    )
    git(repo, "commit", "-q", "-am", "clamp_size and zero_pad")
    return sha


def test_a_monorepo_package_s_modules_are_named_as_its_tests_import_them(tmp_path: Path) -> None:
    """``packages/cachetools/src/cachetools/keys.py`` is ``cachetools.keys`` (it was
    ``packages.cachetools.src.cachetools.keys``, which no test imports), and its tests go
    beside the package's own, not into a sibling's ``test_keys.py`` or a new root ``tests/``."""
    repo = tmp_path / "repo"
    base = monorepo_pr(repo)
    ctx = context_from_local_repo(repo, base, "HEAD", options=StageOptions())
    targets, _notes = find_targets(ctx, StageOptions())
    assert sorted(t.fn.dotted for t in targets) == ["cachetools.keys.clamp_size", "toolz.utils.zero_pad"]
    paths = list(ctx.head.paths())
    assert target_test_file("packages/cachetools/src/cachetools/keys.py", paths) == (
        "packages/cachetools/tests/test_keys.py"
    )
    assert target_test_file("packages/cachetools/src/cachetools/func.py", paths) == (
        "packages/cachetools/tests/test_func.py"
    )
    assert target_test_file("packages/toolz/toolz/utils.py", paths) == "packages/toolz/toolz/tests/unit/test_utils.py"
    assert target_test_file("packages/toolz/toolz/dicttoolz.py", paths) == (
        "packages/toolz/toolz/tests/test_dicttoolz.py"
    )
    assert target_test_file("packages/toolz/tlz/__init__.py", paths) == "packages/toolz/tests/test_tlz.py"
    assert target_test_file("packages/new/src/new/mod.py", paths) == "tests/test_mod.py"  # no project file


def test_flat_layout_with_tests_inside_the_package_and_namespace_packages() -> None:
    """toolz keeps ``toolz/tests/``; jaraco.functools is ``jaraco/functools/__init__.py``
    under a namespace ``jaraco/`` with its test file at the root."""
    toolz = ["setup.py", "toolz/__init__.py", "toolz/utils.py", "toolz/sandbox/core.py", "toolz/tests/test_utils.py"]
    assert target_test_file("toolz/sandbox/core.py", toolz) == "toolz/tests/test_core.py"
    assert target_test_file("toolz/utils.py", toolz) == "toolz/tests/test_utils.py"
    jaraco = ["pyproject.toml", "conftest.py", "jaraco/functools/__init__.py", "test_functools.py"]
    assert target_test_file("jaraco/functools/__init__.py", jaraco) == "test_functools.py"
    src = ["pyproject.toml", "src/units/convert.py", "test/test_other.py"]
    assert target_test_file("src/units/convert.py", src) == "test/test_convert.py"


@pytest.mark.skipif(
    find_bwrap() is None or probe(find_bwrap() or "", None) is not None,
    reason="bubblewrap is not usable on this machine",
)
def test_a_monorepo_s_own_tests_measure_its_change_and_new_tests_land_beside_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each package's tests import it as ``cachetools``/``toolz`` (src layout, flat layout,
    unittest ``TestCase``, a fixture from a subfolder ``conftest.py``): the existing tests
    ran none of the changed lines (ModuleNotFoundError), and the generated ones were
    written for ``packages.cachetools.src.cachetools.keys``."""
    monkeypatch.setenv("SHUNTER_SANDBOX_CACHE", str(tmp_path / "venvs"))
    repo = tmp_path / "repo"
    base = monorepo_pr(repo)
    ctx = context_from_local_repo(
        repo, base, "HEAD", options=StageOptions(timeout_seconds=60, time_budget_seconds=120), trusted_author=True
    )
    result = tests_stage.run(ctx)
    assert not result.neutral, result.notes
    assert not any("existing tests" in note for note in result.notes), result.notes
    m = result.metrics
    assert m["functions_changed"] == 2
    # each package's existing test runs its change (clamp_size but for its `return 0`,
    # zero_pad whole), and a generated test, merged into cachetools' own test file, the rest
    rows = {line.split("|")[1].strip(): line.split("|")[2:5] for line in result.summary.splitlines() if line[:3] == "| `"}
    assert [cell.strip() for cell in rows["`cachetools.keys.clamp_size`"]] == ["4", "3", "4"], result.summary
    assert [cell.strip() for cell in rows["`toolz.utils.zero_pad`"]] == ["3", "3", "3"], result.summary
    assert [file.path for patch in result.patches for file in patch.files] == ["packages/cachetools/tests/test_keys.py"]
    assert "No module named" not in result.summary
    for patch in result.patches:
        for file in patch.files:
            assert file.path.startswith(("packages/cachetools/tests/", "packages/toolz/toolz/tests/")), file.path
            subprocess.run(["git", "apply", "--check", "-"], input=file.diff, text=True, cwd=repo, check=True)


def test_a_monorepo_package_s_own_dependencies_and_metadata_are_provided(tmp_path: Path) -> None:
    """jaraco.functools 4.0.1 as ``packages/jaraco.functools/`` declares ``more_itertools``
    in its own pyproject.toml; the root's says nothing. Only the root was read, so its
    tests failed on ``import more_itertools``; a dependency on a sibling package of the
    repository is not fetched from the index (its source is on the path), and each
    package gets the metadata ``importlib.metadata.version`` reads."""
    write(
        tmp_path,
        {
            "pyproject.toml": b'[project]\nname = "workspace"\nversion = "0"\ndependencies = ["attrs"]\n',
            "packages/jaraco.functools/pyproject.toml": (
                b'[project]\nname = "jaraco.functools"\ndynamic = ["version"]\n'
                b'dependencies = ["more_itertools", "jaraco-text"]\n\n'
                b'[project.optional-dependencies]\ntesting = ["pytest >= 6", "jaraco.classes"]\n'
            ),
            "packages/jaraco.text/pyproject.toml": b'[project]\nname = "jaraco.text"\nversion = "3.12"\n',
            "packages/jaraco.text/requirements.txt": b"autocommand\n",
            "packages/legacy/setup.py": b"from setuptools import setup\n\nsetup(install_requires=['six'])\n",
        },
    )
    workspace = ["", "packages/jaraco.functools", "packages/jaraco.text", "packages/legacy"]
    found = declared_requirements(tmp_path, ["packages/jaraco.functools", "packages/legacy"], workspace)
    assert found.requirements == ["attrs", "more_itertools", "pytest>=6", "jaraco.classes"]
    assert found.sources == ["pyproject.toml", "packages/jaraco.functools/pyproject.toml"]
    assert found.unsupported == ["packages/legacy/setup.py: install_requires is not read (it would run code)"]
    assert declared_requirements(tmp_path).requirements == ["attrs"]  # one project: the root alone
    meta = write_metadata_shim(tmp_path, ["packages/jaraco.functools", "packages/jaraco.text"])
    assert meta is not None
    assert sorted(p.name for p in Path(meta).iterdir()) == [
        "jaraco_functools-0.0.0+shunter.dist-info",
        "jaraco_text-3.12.dist-info",
        "workspace-0.dist-info",
    ]


def _run(exit_code: int, coverage: dict[str, FileCoverage], problem: str | None = None) -> Measurement:
    result = SandboxResult(["pytest"], exit_code, "", "", False, None, Strength.BUBBLEWRAP, 1.0)
    return Measurement(result=result, coverage=coverage, problem=problem)


def test_each_package_s_session_adds_its_lines_and_a_failure_is_kept() -> None:
    """The per-package pytest sessions are read as one run: a line either executed counts,
    contexts join, and the run that failed (not one that merely collected nothing) speaks."""
    first = _run(5, {"a/x.py": FileCoverage(frozenset({1}), frozenset({2, 3}), {1: frozenset({"t1"})})})
    second = _run(1, {"a/x.py": FileCoverage(frozenset({2}), frozenset({3}), {1: frozenset({"t2"})})}, "slow")
    both = combine([first, second])
    assert both.coverage["a/x.py"] == FileCoverage(frozenset({1, 2}), frozenset({3}), {1: frozenset({"t1", "t2"})})
    assert both.result.exit_code == 1 and both.problem == "slow"
    assert combine([first]) is first
    assert combine([first, _run(0, {})]).result.exit_code == 5  # nothing else failed


def test_the_version_file_a_build_would_write_is_provided(tmp_path: Path) -> None:
    """isodate 0.7 (``libs/isodate/`` in a monorepo) has setuptools-scm write
    ``src/isodate/version.py``, which git does not hold and its ``__init__`` imports."""
    write(
        tmp_path,
        {
            "libs/isodate/pyproject.toml": (
                b'[project]\nname = "isodate"\ndynamic = ["version", "readme"]\n\n'
                b'[tool.setuptools_scm]\nwrite_to = "src/isodate/version.py"\nfallback_version = "0.0.0.dev0"\n'
            ),
            "libs/isodate/src/isodate/__init__.py": b"from isodate.version import version as __version__\n",
            "pyproject.toml": b'[project]\nname = "root"\nversion = "2.1"\n\n[tool.hatch.build.hooks.vcs]\n'
            b'version-file = "_version.py"\n',
            "packages/kept/pyproject.toml": b'[tool.setuptools_scm]\nversion_file = "kept/_version.py"\n',
            "packages/kept/kept/_version.py": b"version = '9'\n",
            "packages/out/pyproject.toml": b'[tool.setuptools_scm]\nversion_file = "../../../escape.py"\n',
        },
    )
    written = write_vcs_version_files(tmp_path, ["libs/isodate", "packages/kept", "packages/out"])
    assert written == ["_version.py", "libs/isodate/src/isodate/version.py"]
    done = subprocess.run(
        [sys.executable, "-c", "import isodate; print(isodate.__version__)"],
        cwd=tmp_path / "libs/isodate/src", capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout == "0.0.0+shunter\n"
    assert (tmp_path / "packages/kept/kept/_version.py").read_bytes() == b"version = '9'\n"
    assert "version_tuple = (2, 1)" in (tmp_path / "_version.py").read_text()
    assert not (tmp_path.parent / "escape.py").exists()


def test_projects_inside_test_fixtures_are_data_not_packages(make_ctx) -> None:
    """pdm-backend 2.3 keeps the projects its tests build in
    ``tests/fixtures/projects/demo-*/`` (each with a pyproject.toml, some with ``src/``):
    their folders went on the tests stage's PYTHONPATH (``my_package``, ``single_module``
    shadowing whatever else has those names) and a test of pdm's own ``src/`` change in
    ``tests/`` was a test of another project."""
    fixture = "tests/fixtures/projects"
    tree = {
        "pyproject.toml": b'[project]\nname = "pdm-backend"\ndynamic = ["version"]\n',
        "src/pdm/backend/base.py": b"def build(root):\n    return root\n",
        "tests/test_api.py": b"from pdm.backend import base\n\n\ndef test_build():\n    assert base.build(1) == 1\n",
        f"{fixture}/demo-cextension-in-src/pyproject.toml": b'[project]\nname = "demo"\nversion = "0.1"\n',
        f"{fixture}/demo-cextension-in-src/src/my_package/__init__.py": b"",
        f"{fixture}/demo-package/pyproject.toml": b'[project]\nname = "demo-package"\nversion = "0.1"\n',
        f"{fixture}/demo-package/single_module.py": b"",
        "examples/plugin/setup.py": b"from setuptools import setup\n\nsetup()\n",
    }
    assert project_roots(tree) == {""}
    assert import_roots(tree, ["src/pdm/backend/base.py"]) == ["src"]
    head = tree | {"src/pdm/backend/base.py": b"def build(root):\n    return str(root)\n"}
    ctx = make_ctx(tree, head)
    assert [t.fn.dotted for t in find_targets(ctx, StageOptions())[0]] == ["pdm.backend.base.build"]
