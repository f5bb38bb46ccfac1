"""A candidate that hangs or dies takes its whole batch down with it: the others must be
judged on runs of their own, and the culprit must not get a second run.

Real bubblewrap sandbox, real pytest, coverage and Hypothesis; the crash
is a test that SIGKILLs its own interpreter, as a candidate exhausting a limit would be.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from bot.engines.ghostwriter import Candidate
from bot.engines.testgen_changes import changed_functions
from bot.engines.testgen_validate import ValidationSetup, validate
from bot.sandbox import Limits, Sandbox, SandboxResult
from bot.sandbox.bubblewrap import find_bwrap, probe

pytestmark = pytest.mark.skipif(
    find_bwrap() is None or probe(find_bwrap() or "", None) is not None,
    reason="bubblewrap is not usable here: without it a killed test reads as an exit status",
)

CALC = "def add(x: int, y: int) -> int:\n    return x + y\n"
ADD = changed_functions("pkg/calc.py", CALC, frozenset({1, 2})).functions[0]
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
    return tmp_path


def _setup(work: Path, deadline: float) -> tuple[ValidationSetup, CountingSandbox]:
    limits = Limits(wall_seconds=120)
    sandbox = CountingSandbox(Sandbox.for_pr(trusted_author=True, run_untrusted=False, limits=limits))
    setup = ValidationSetup(
        sandbox=sandbox,  # type: ignore[arg-type]
        workdir=work,
        python=sys.executable,
        ro_paths=[],
        limits=limits,
        deadline=deadline,
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
