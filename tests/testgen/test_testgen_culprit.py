"""A candidate that hangs or dies takes its whole batch down with it: the others must be
judged on runs of their own, and the culprit must not get a second run. One that hangs
on some input is stopped at the per-test limit: in the same pytest process when the
code comes back to Python, by ending the process when it does not.

Real bubblewrap sandbox, real pytest, coverage and Hypothesis; the crash
is a test that SIGKILLs its own interpreter, as a candidate exhausting a limit would be.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.engines.ghostwriter import Candidate
from bot.engines.testgen_changes import ChangedFunction, changed_functions
from bot.engines.testgen_validate import ValidationSetup, validate
from bot.policies.schema import TestsStageConfig as StageOptions
from bot.sandbox import Limits, Sandbox, SandboxResult
from bot.sandbox.bubblewrap import find_bwrap, probe
from bot.stages import tests as tests_stage
from bot.stages.context import StageContext

pytestmark = pytest.mark.skipif(
    find_bwrap() is None or probe(find_bwrap() or "", None) is not None,
    reason="bubblewrap is not usable here: without it a killed test reads as an exit status",
)

CALC = "def add(x: int, y: int) -> int:\n    return x + y\n"
ADD = changed_functions("pkg/calc.py", CALC, frozenset({1, 2})).functions[0]
HANGS = (
    "import itertools\n\n\n"
    "def settle(n: int) -> int:\n"
    "    # halve n down to 1; n <= 0 loops forever\n"
    "    while n != 1:\n"
    "        if n > 1:\n"
    "            n //= 2\n"
    "    return n\n\n\n"
    "def spin(n: int) -> int:\n"
    "    # sum over an iterator is C code: it never comes back to Python for the alarm\n"
    "    return sum(itertools.repeat(1, 10**12)) + n\n"
)
PASSES = "from pkg.calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
DIES = (
    "import os\nimport signal\nimport time\n\nfrom pkg.calc import add\n\n\n"
    "def test_add_dies():\n    assert add(1, 1) == 2\n    time.sleep(0.3)\n"
    "    os.kill(os.getpid(), signal.SIGKILL)\n"
)


class CountingSandbox:
    """The real sandbox, noting which candidates each run was given."""

    def __init__(self, inner: Sandbox) -> None:
        self.inner = inner
        self.strength = inner.strength
        self.run_as = inner.run_as
        self.runs: list[str] = []

    def prepare(self, workdir: Path) -> None:
        self.inner.prepare(workdir)

    def run(self, command: list[str], workdir: Path, **kw: object) -> SandboxResult:
        self.runs.append(command[-1])
        return self.inner.run(command, workdir, **kw)  # type: ignore[arg-type]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/__init__.py").write_text("")
    (tmp_path / "pkg/calc.py").write_text(CALC)
    (tmp_path / "pkg/hangs.py").write_text(HANGS)
    return tmp_path


def _setup(
    work: Path, deadline: float, test_limit: float | None = None
) -> tuple[ValidationSetup, CountingSandbox]:
    limits = Limits(wall_seconds=120)
    sandbox = CountingSandbox(Sandbox.for_pr(trusted_author=True, run_untrusted=False, limits=limits))
    setup = ValidationSetup(
        sandbox=sandbox,  # type: ignore[arg-type]
        workdir=work,
        python=sys.executable,
        ro_paths=[],
        limits=limits,
        deadline=deadline,
        test_limit=test_limit,
    )
    return setup, sandbox


def _candidates() -> list[Candidate]:
    return [
        Candidate(ADD, "fuzz", PASSES, index=1),
        Candidate(ADD, "magic", DIES, index=2),
        Candidate(ADD, "roundtrip", PASSES.replace("test_add", "test_add_again"), index=3),
    ]


def test_a_dying_candidate_runs_once_and_the_others_are_judged_without_it(work: Path) -> None:
    setup, sandbox = _setup(work, deadline=float("inf"))
    cands = _candidates()
    validate(setup, cands, uncovered={"pkg.calc.add": frozenset({2})}, max_kept=5)
    verdicts = {c.index: c.verdict for c in cands}
    assert verdicts[2] == "crashes", cands[1].detail
    assert sorted([verdicts[1], verdicts[3]]) == ["kept", "no-coverage-gain"]
    assert sum("test_shunter_c2" in run for run in sandbox.runs) == 1, sandbox.runs
    # the batch, the batch again without c2, then the two flakiness runs
    assert len(sandbox.runs) == 4, sandbox.runs


def test_candidates_not_run_again_before_the_deadline_are_over_budget_not_crashed(work: Path) -> None:
    # the dying test sleeps 0.3 s first, so this deadline has passed when the batch ends
    setup, sandbox = _setup(work, deadline=time.monotonic() + 0.2)
    cands = _candidates()
    validate(setup, cands, uncovered={"pkg.calc.add": frozenset({2})}, max_kept=5)
    assert [c.verdict for c in cands] == ["over-budget", "crashes", "over-budget"]
    assert cands[0].detail == "the stage's time budget ran out"
    assert len(sandbox.runs) == 1


def _hanging(name: str) -> tuple[ChangedFunction, str]:
    """The function of ``pkg/hangs.py`` called ``name``, and a fuzz test of it."""
    functions = changed_functions("pkg/hangs.py", HANGS, frozenset(range(1, 20))).functions
    test = (
        f"from hypothesis import given, strategies as st\n\nfrom pkg.hangs import {name}\n\n\n"
        f"@given(n=st.integers())\ndef test_fuzz_{name}(n: int) -> None:\n    {name}(n)\n"
    )
    return next(f for f in functions if f.qualname == name), test


def test_a_candidate_hanging_on_some_input_is_stopped_and_the_batch_goes_on(work: Path) -> None:
    setup, sandbox = _setup(work, deadline=float("inf"), test_limit=2)
    settle, test = _hanging("settle")
    cands = _candidates()
    cands[1] = Candidate(settle, "magic", test, index=2)
    uncovered = {"pkg.calc.add": frozenset({2}), "pkg.hangs.settle": frozenset({7})}
    validate(setup, cands, uncovered=uncovered, max_kept=5)
    assert cands[1].verdict == "timeout", cands[1].detail
    found = re.fullmatch(
        r"stopped at the 2 s per-test limit while running test_fuzz_settle\(n=(-?\d+)\) \(for [\d.]+ s\)",
        cands[1].detail,
    )
    assert found is not None and int(found.group(1)) <= 0, cands[1].detail
    assert sorted([cands[0].verdict, cands[2].verdict]) == ["kept", "no-coverage-gain"]
    # one batch, in which c2 was stopped and the others went on, then two flakiness runs
    assert len(sandbox.runs) == 3, sandbox.runs
    assert "test_shunter_c2" in sandbox.runs[0] and "test_shunter_c2" not in sandbox.runs[1]


def test_a_candidate_stuck_in_c_code_ends_its_run_and_is_named_with_where_it_was(work: Path) -> None:
    setup, sandbox = _setup(work, deadline=float("inf"), test_limit=1)
    spin, test = _hanging("spin")
    cands = _candidates()
    cands[1] = Candidate(spin, "magic", test, index=2)
    validate(setup, cands, uncovered={"pkg.calc.add": frozenset({2})}, max_kept=5)
    assert cands[1].verdict == "timeout", cands[1].detail
    assert cands[1].detail == (
        "ran past the per-test limit stuck in pkg/hangs.py:14 in spin, which never returned to Python"
    )
    assert sorted([cands[0].verdict, cands[2].verdict]) == ["kept", "no-coverage-gain"]
    # the batch (ended), the batch again without c2, then the two flakiness runs
    assert len(sandbox.runs) == 4, sandbox.runs
    assert sum("test_shunter_c2" in run for run in sandbox.runs) == 1, sandbox.runs


def test_the_stage_blames_a_hang_on_its_candidate_and_keeps_the_others(
    make_context: Callable[..., StageContext], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHUNTER_SANDBOX_CACHE", str(tmp_path / "venvs"))
    options = StageOptions(timeout_seconds=20, time_budget_seconds=120)
    assert tests_stage.per_test_limit(options) == 5
    head = {"pkg/__init__.py": "", "pkg/calc.py": CALC, "pkg/hangs.py": HANGS.replace("spin", "_spin")}
    result = tests_stage.run(make_context({"pkg/__init__.py": ""}, head, options=options))
    rows = {line.split("`")[1]: line for line in result.summary.splitlines() if line.startswith("| `")}
    assert "generated test kept" in rows["pkg.calc.add"], result.summary
    settle = rows["pkg.hangs.settle"]
    assert "timed out" in settle and "stopped at the 5 s per-test limit while running test_" in settle, settle
    assert "over-budget" not in result.metrics["discards"], result.metrics
