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
SLOW_TEST = "\n\ndef test_slow():\n    import time\n\n    time.sleep(3600)\n"


def run_stage(
    make_context,
    tmp_path: Path,
    base: dict[str, str],
    head: dict[str, str],
    options: StageOptions | None = None,
) -> StageResult:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHUNTER_SANDBOX_CACHE", str(tmp_path / "venvs"))
        options = options or StageOptions(timeout_seconds=60, time_budget_seconds=120, max_generated_tests=0)
        return tests_stage.run(make_context(base, head, options=options))


def test_tests_of_the_package_api_count_for_its_submodules(make_context, tmp_path: Path) -> None:
    res = run_stage(make_context, tmp_path, PACKAGE, {**PACKAGE, "pkg/core.py": CORE_HEAD})
    assert "no existing test imports the changed modules" not in res.notes
    m = res.metrics
    assert (m["changed_lines"], m["covered_before"]) == (2, 2)
    assert res.findings == []


def test_existing_tests_stopped_at_the_wall_clock_are_not_reported_as_covering_nothing(
    make_context, tmp_path: Path
) -> None:
    # as more-itertools' suite was: still running at timeout_seconds, killed, no coverage
    slow = {**PACKAGE, "tests/test_api.py": PACKAGE["tests/test_api.py"] + SLOW_TEST}
    options = StageOptions(timeout_seconds=5, time_budget_seconds=120)
    res = run_stage(make_context, tmp_path, slow, {**slow, "pkg/core.py": CORE_HEAD}, options)
    assert res.neutral
    assert res.findings == []  # no "runs under no test": nobody knows
    assert res.metrics["candidates"] == 0 and res.patches == []
    assert res.summary.startswith(
        "**Not measured**: the existing tests' coverage of the changed lines is unknown"
    )
    # one clause, not the runner's note in parentheses inside the stage's own: that read
    # 'unknown (no coverage report (stopped: the wall-clock timeout (5s); ...))'
    why = "the run left no coverage report, as it was stopped at the wall-clock timeout (5s)"
    assert f"is unknown; {why}. The notes below say what to change." in res.summary
    (note,) = [n for n in res.notes if "coverage of the changed lines is unknown" in n]
    assert note.startswith(f"the existing tests' coverage of the changed lines is unknown; {why}. No test")
    assert "`stages.tests.timeout_seconds` (now 5)" in note and "`stages.tests.test_command`" in note


def test_coverage_after_counts_only_lines_a_kept_test_ran(make_context, tmp_path: Path) -> None:
    # isodate's parse_date: its changed def line ran when a kept test of a sibling imported
    # the module, and read '0 -> 1 covered' beside 'no test proposed'
    base = {"pkg/__init__.py": "", "pkg/core.py": CORE + "\n\ndef lookup(table):\n    return table.get(0)\n"}
    head = CORE_HEAD + "\n\ndef lookup(table, key=None):\n    return table.get(key)\n"
    options = StageOptions(timeout_seconds=60, time_budget_seconds=120)
    res = run_stage(make_context, tmp_path, base, {**base, "pkg/core.py": head}, options)
    assert res.metrics["kept"] == 1 and res.patches  # for double, whose test imports pkg.core
    rows = [[cell.strip() for cell in line.split("|")[1:5]] for line in res.summary.splitlines()]
    # function, changed lines, covered before, after
    assert ["`pkg.core.lookup`", "2", "0", "0"] in rows
    assert ["`pkg.core.double`", "2", "0", "2"] in rows
    assert res.metrics["covered_after"] == 2
