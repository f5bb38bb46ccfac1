"""PR code attacking the tests stage through the work dir it shares with the worker.

Sandboxed code can write the whole work dir, and the worker (root here) writes Shunter's
inputs there and reads the reports back between runs. These tests plant links to "host"
files (outside the work dir, invisible inside the sandbox) and forge Shunter's answer and
report files, then check that the worker wrote and read nothing outside the work dir and
that odd report shapes never crash the stage.

The first half drives ``measure``/``generate``/``validate`` with a stand-in sandbox whose
"run" plays the PR code's part (fast, no bubblewrap); the second half runs the whole stage
on a hostile PR module in the real sandbox.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.engines.coverage_probe import SHUNTER_DIR, measure
from bot.engines.ghostwriter import Candidate, generate
from bot.engines.testgen_changes import ChangedFunction
from bot.engines.testgen_validate import ValidationSetup, validate
from bot.models import StageResult
from bot.policies.schema import TestsStageConfig as StageOptions
from bot.sandbox import Limits, SandboxResult, Strength, hostfs
from bot.sandbox.bubblewrap import find_bwrap, probe
from bot.stages import tests as tests_stage

ADD = ChangedFunction(
    path="pkg/calc.py",
    module="pkg.calc",
    qualname="add",
    start_line=1,
    end_line=2,
    changed_lines=frozenset({1, 2}),
    is_method=False,
    is_async=False,
    is_private=False,
    decorators=(),
)
STOLEN = "HOST-SECRET-7f3a"
"""Appears only in host files; must never reach anything the stage produces."""
STOLEN_ANSWER = json.dumps(
    [
        {
            "id": "0",
            "candidates": [
                {
                    "writer": "magic",
                    "source": f"from pkg.calc import add\n\n\ndef test_stolen():\n    # {STOLEN}\n"
                    "    assert add(1, 2) == 3\n",
                }
            ],
        }
    ]
)


class PlayedSandbox:
    """Stands in for ``Sandbox``: ``run`` does what ``act`` says the PR code did."""

    run_as = None
    strength = Strength.BUBBLEWRAP

    def __init__(self, act: Callable[[Path], None]) -> None:
        self.act = act
        self.runs = 0

    def prepare(self, workdir: Path) -> None:
        pass

    def run(self, command: list[str], workdir: Path, **_kw: object) -> SandboxResult:
        self.runs += 1
        self.act(workdir)
        return SandboxResult(list(command), 0, "", "", False, None, Strength.BUBBLEWRAP, 0.1)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg/calc.py").write_text("def add(x: int, y: int) -> int:\n    return x + y\n")
    return root


@pytest.fixture
def host(tmp_path: Path) -> Path:
    outside = tmp_path / "host"
    outside.mkdir()
    (outside / "answer.json").write_text(STOLEN_ANSWER)
    (outside / "coverage.json").write_text(
        json.dumps({"files": {"pkg/calc.py": {"executed_lines": [1, 2], "missing_lines": []}}})
    )
    return outside


def _measure(sandbox: PlayedSandbox, work: Path, tag: str = "t") -> object:
    return measure(sandbox, work, python="python", tests=["t.py"], tag=tag, contexts=True)  # type: ignore[arg-type]


def _generate(sandbox: PlayedSandbox, work: Path) -> object:
    return generate(
        sandbox,  # type: ignore[arg-type]
        work,
        [ADD],
        python="python",
        limits=Limits(),
        ro_paths=[],
        pythonpath=str(work),
    )


# -- reports and answers are never read through a link --------------------------------


def test_coverage_report_linked_to_a_host_file_is_not_read(work: Path, host: Path) -> None:
    def plant(root: Path) -> None:
        (root / SHUNTER_DIR / "coverage.json").symlink_to(host / "coverage.json")

    m = _measure(PlayedSandbox(plant), work)
    assert m.coverage == {}  # type: ignore[attr-defined]
    assert "no coverage report" in (m.problem or "")  # type: ignore[attr-defined]


def test_ghostwriter_answer_linked_to_a_host_file_is_not_read(work: Path, host: Path) -> None:
    def plant(root: Path) -> None:
        (root / SHUNTER_DIR / "candidates.json").symlink_to(host / "answer.json")

    gen = _generate(PlayedSandbox(plant), work)
    assert gen.candidates == []  # type: ignore[attr-defined]
    assert STOLEN not in repr(gen)


def test_ghostwriter_answer_as_a_fifo_does_not_block(work: Path) -> None:
    def plant(root: Path) -> None:
        os.mkfifo(root / SHUNTER_DIR / "candidates.json")

    gen = _generate(PlayedSandbox(plant), work)
    assert gen.candidates == []  # type: ignore[attr-defined]


# -- inputs are never written through a link ---------------------------------------------


def test_candidate_written_over_a_planted_link_stays_in_the_work_dir(work: Path, host: Path) -> None:
    """The reviewer's attack: a link named like the next candidate file, to a host path."""
    target = host / "planted.pth"
    (work / SHUNTER_DIR / "cands").mkdir(parents=True)
    (work / SHUNTER_DIR / "cands/test_shunter_c1.py").symlink_to(target)
    (work / SHUNTER_DIR / "coveragerc").symlink_to(host / "rc")
    (work / SHUNTER_DIR / "shunter_contexts.py").symlink_to(host / "plugin.py")
    written: dict[str, str] = {}

    def look(root: Path) -> None:
        cand = root / SHUNTER_DIR / "cands/test_shunter_c1.py"
        written["cand"] = "" if cand.is_symlink() else cand.read_text()

    setup = ValidationSetup(
        sandbox=PlayedSandbox(look),  # type: ignore[arg-type]
        workdir=work,
        python="python",
        ro_paths=[],
        limits=Limits(),
        runs=1,
    )
    cand = Candidate(ADD, "magic", "import os\n", 1)
    validate(setup, [cand], uncovered={"pkg.calc.add": frozenset({2})}, max_kept=1)
    assert not target.exists()
    assert sorted(p.name for p in host.iterdir()) == ["answer.json", "coverage.json"]
    assert written["cand"] == "import os\n"


def test_shunter_dir_swapped_for_a_link_is_refused(work: Path, host: Path) -> None:
    (work / SHUNTER_DIR).symlink_to(host)
    with pytest.raises(hostfs.UnsafeWorkPath):
        _measure(PlayedSandbox(lambda _root: None), work)
    with pytest.raises(hostfs.UnsafeWorkPath):
        _generate(PlayedSandbox(lambda _root: None), work)
    assert sorted(p.name for p in host.iterdir()) == ["answer.json", "coverage.json"]


# -- odd shapes are "unreadable", never a crash ------------------------------------------


@pytest.mark.parametrize(
    "report",
    [
        "[]",
        "1",
        '{"files": [["pkg/calc.py", 1]]}',
        '{"files": {"pkg/calc.py": []}}',
        '{"files": {"pkg/calc.py": {"executed_lines": {"1": 2}}}}',
        '{"files": {"pkg/calc.py": {"executed_lines": [Infinity]}}}',
        '{"files": {"pkg/calc.py": {"executed_lines": [1], "contexts": ["1"]}}}',
        '{"files": {"pkg/calc.py": {"executed_lines": [1], "contexts": {"1": 5}}}}',
        "[" * 100_000 + "]" * 100_000,
    ],
)
def test_coverage_report_of_a_wrong_shape_is_unreadable(work: Path, report: str) -> None:
    def forge(root: Path) -> None:
        (root / SHUNTER_DIR / "coverage.json").write_text(report)

    m = _measure(PlayedSandbox(forge), work)
    assert m.coverage == {}  # type: ignore[attr-defined]
    assert "unreadable test report" in (m.problem or "")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "answer",
    ["[1]", '{"id": "0"}', '[null, "x", [1]]', '[{"id": "0", "candidates": [1, "s"]}]', "[" * 100_000],
)
def test_ghostwriter_answer_of_a_wrong_shape_gives_no_candidates(work: Path, answer: str) -> None:
    def forge(root: Path) -> None:
        (root / SHUNTER_DIR / "candidates.json").write_text(answer)

    gen = _generate(PlayedSandbox(forge), work)
    assert gen.candidates == []  # type: ignore[attr-defined]
    assert "pkg.calc.add" in gen.reasons  # type: ignore[attr-defined]


# -- the whole stage, real sandbox, hostile PR module --------------------------------------

bubblewrap = pytest.mark.skipif(
    find_bwrap() is None or probe(find_bwrap() or "", None) is not None,
    reason="bubblewrap is not usable on this machine",
)
BASE = {"pkg/__init__.py": "", "pkg/calc.py": "X = 1\n"}
CALC = """

def add(x: int, y: int) -> int:
    return x + y
"""


def _stage(make_context, tmp_path: Path, module: str, extra: dict[str, str] | None = None) -> StageResult:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHUNTER_SANDBOX_CACHE", str(tmp_path / "venvs"))
        head = {**BASE, "pkg/calc.py": module + CALC, **(extra or {})}
        ctx = make_context(
            BASE,
            head,
            trusted=False,
            options=StageOptions(run_untrusted=True, timeout_seconds=60, time_budget_seconds=120),
        )
        return tests_stage.run(ctx)


def _everything(res: StageResult) -> str:
    return res.model_dump_json()


@bubblewrap
def test_stage_never_writes_through_a_planted_candidate_link(make_context, tmp_path: Path) -> None:
    """The reviewer's reproduction: the module under test plants the next candidate file as
    a link to a host path and forges the ghostwriter's answer."""
    target = tmp_path / "PWNED.pth"
    ran = tmp_path / "PWNED_exec.txt"
    module = f"""import atexit, json, os

def _plant():
    os.makedirs(".shunter/cands", exist_ok=True)
    try:
        os.symlink({str(target)!r}, ".shunter/cands/test_shunter_c1.py")
    except FileExistsError:
        pass
    src = "import os\\nopen({str(ran)!r}, 'w').write('x')\\n"
    json.dump([{{"id": "0", "candidates": [{{"writer": "magic", "source": src}}]}}],
              open(".shunter/candidates.json", "w"))

atexit.register(_plant)
"""
    res = _stage(make_context, tmp_path, module)
    assert res.metrics["sandbox"] == "bubblewrap"
    assert not target.exists(), "the worker wrote a host file through a link PR code planted"
    assert not ran.exists()
    assert res.metrics["candidates"] >= 1  # the forged candidate was written and judged, in the tree


@bubblewrap
def test_stage_never_reads_a_host_file_through_a_planted_answer_link(make_context, tmp_path: Path) -> None:
    secret = tmp_path / "host-answer.json"
    secret.write_text(STOLEN_ANSWER)
    before = secret.stat()
    module = f"""import atexit, os

def _plant():
    try:
        os.remove(".shunter/candidates.json")
    except OSError:
        pass
    os.symlink({str(secret)!r}, ".shunter/candidates.json")

atexit.register(_plant)
"""
    res = _stage(make_context, tmp_path, module)
    assert STOLEN not in _everything(res), "a host file's content reached the stage's result"
    assert secret.read_text() == STOLEN_ANSWER
    assert secret.stat().st_mtime_ns == before.st_mtime_ns


@bubblewrap
def test_stage_never_writes_the_final_test_file_through_a_link(make_context, tmp_path: Path) -> None:
    target = tmp_path / "final-target.py"
    module = f"""import os

os.makedirs("tests", exist_ok=True)
try:
    os.symlink({str(target)!r}, "tests/test_calc.py")
except OSError:
    pass
"""
    res = _stage(make_context, tmp_path, module)
    assert not target.exists(), "the merged test file was written through a planted link"
    assert res.metrics["kept"] >= 1, res.summary
    assert res.patches and res.patches[0].files[0].path == "tests/test_calc.py"


@bubblewrap
def test_stage_stops_when_its_own_dir_becomes_a_link(make_context, tmp_path: Path) -> None:
    """An existing test imports the module, so PR code runs before the ghostwriter's inputs
    are written; it swaps ``.shunter`` for a link to a host directory."""
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    module = f"""import atexit, os

def _swap():
    if not os.path.islink(".shunter"):
        os.rename(".shunter", ".shunter-old")
        os.symlink({str(host_dir)!r}, ".shunter")

atexit.register(_swap)
"""
    test = "from pkg.calc import add\n\n\ndef test_imports():\n    assert add\n"
    res = _stage(make_context, tmp_path, module, {"tests/test_calc.py": test})
    assert list(host_dir.iterdir()) == [], "the worker wrote into a host dir through a link"
    assert res.neutral
    assert any("replaced Shunter's working files" in note for note in res.notes)
    assert "notes below" in res.summary  # the summary points at the reason, said once


@bubblewrap
def test_stage_survives_a_malformed_answer(make_context, tmp_path: Path) -> None:
    module = """import atexit, json

atexit.register(lambda: json.dump([1], open(".shunter/candidates.json", "w")))
"""
    res = _stage(make_context, tmp_path, module)
    assert res.metrics["candidates"] == 0
    assert "no test proposed" in res.summary
