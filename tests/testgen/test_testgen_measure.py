"""How the tests stage measures the existing tests' coverage of a change, in the real
sandbox on small fixture repositories (found running the stage on real releases: tomlkit,
more-itertools). Generation is off (``max_generated_tests: 0``): only the measurement is
under test, and it stays quick.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.models import StageResult
from bot.policies.schema import TestsStageConfig as StageOptions
from bot.sandbox.bubblewrap import find_bwrap, probe
from bot.stages import tests as tests_stage

pytestmark = pytest.mark.skipif(
    find_bwrap() is None or probe(find_bwrap() or "", None) is not None,
    reason="bubblewrap is not usable on this machine",
)

CORE = "def double(x: int) -> int:\n    return 2 * x\n"
CORE_HEAD = "def double(x: int) -> int:\n    if x == 0:\n        return 0\n    return 2 * x\n"
PACKAGE = {
    "pkg/__init__.py": "from pkg.core import double\n\n__all__ = ['double']\n",
    "pkg/core.py": CORE,
    # as tomlkit's tests do: the package's API, never the submodule by name
    "tests/test_api.py": "import pkg\n\n\ndef test_double():\n    assert pkg.double(0) == 0\n",
}


def run_stage(make_context, tmp_path: Path, base: dict[str, str], head: dict[str, str]) -> StageResult:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHUNTER_SANDBOX_CACHE", str(tmp_path / "venvs"))
        options = StageOptions(timeout_seconds=60, time_budget_seconds=120, max_generated_tests=0)
        return tests_stage.run(make_context(base, head, options=options))


def test_tests_of_the_package_api_count_for_its_submodules(make_context, tmp_path: Path) -> None:
    res = run_stage(make_context, tmp_path, PACKAGE, {**PACKAGE, "pkg/core.py": CORE_HEAD})
    assert "no existing test imports the changed modules" not in res.notes
    m = res.metrics
    assert (m["changed_lines"], m["covered_before"]) == (2, 2)
    assert res.findings == []
