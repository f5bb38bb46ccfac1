"""The verdict a candidate gets must say what really happened to it, judged on real runs
in the real sandbox (pytest, coverage, JUnit XML, Hypothesis). Found running the stage on
real releases: toolz's ``TlzLoader.load_module`` raises ``ImportError`` for a name it
cannot load, and its fuzz test was discarded as "did not import" though it imported fine;
isodate's and tomlkit's functions were reported as "failed" when Hypothesis never found
an input to call them with.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.engines.failure_brief import brief
from bot.engines.ghostwriter import Candidate, generate
from bot.engines.testgen_changes import changed_functions
from bot.engines.testgen_llm import feedback_for
from bot.engines.testgen_validate import ValidationSetup, validate
from bot.policies.schema import TestsStageConfig as StageOptions
from bot.sandbox import Limits, Sandbox
from bot.sandbox.bubblewrap import find_bwrap, probe
from bot.stages import tests as tests_stage

pytestmark = pytest.mark.skipif(
    find_bwrap() is None or probe(find_bwrap() or "", None) is not None,
    reason="bubblewrap is not usable on this machine",
)

LOADER = (
    "def load(name: str) -> str:\n"
    "    if not name.startswith('pkg.'):\n"
    "        raise ImportError(f'cannot load {name}')\n"
    "    return name\n"
)
LOAD = changed_functions("pkg/loader.py", LOADER, frozenset({2, 3, 4})).functions[0]
RAISES = "from pkg.loader import load\n\n\ndef test_load_other():\n    load('os')\n"
# isodate: ghostwriter's fuzz test rejects the function's own error, and random text
# always is one, so Hypothesis gives up (FailedHealthCheck) before any input is kept
REJECTS_ALL = (
    "from hypothesis import given, reject, strategies as st\n\nfrom pkg.loader import load\n\n\n"
    "@given(name=st.text(max_size=3))\ndef test_fuzz_load(name):\n    try:\n"
    "        load(name)\n    except ImportError:\n        reject()\n"
)
# tomlkit: a method's ``self`` built from random arguments that its class refuses
BUILDS_FAIL = (
    "from hypothesis import given, strategies as st\n\nfrom pkg.loader import load\n\n\n"
    "class Owner:\n    def __init__(self, parts: list[int]) -> None:\n        self.first = parts[0]\n\n\n"
    "@given(owner=st.builds(Owner))\ndef test_load_owner(owner):\n    load('pkg.' + str(owner.first))\n"
)
BROKEN = "from pkg.no_such_module import load\n\n\ndef test_load():\n    load('pkg.x')\n"


def _setup(work: Path) -> ValidationSetup:
    (work / "pkg").mkdir()
    (work / "pkg/__init__.py").write_text("")
    (work / "pkg/loader.py").write_text(LOADER)
    limits = Limits(wall_seconds=120)
    return ValidationSetup(
        sandbox=Sandbox.for_pr(trusted_author=True, run_untrusted=False, limits=limits),
        workdir=work,
        python=sys.executable,
        ro_paths=[],
        limits=limits,
    )


def test_an_import_error_raised_by_the_code_under_test_is_a_failure(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    raises, broken = Candidate(LOAD, "fuzz", RAISES, index=1), Candidate(LOAD, "magic", BROKEN, index=2)
    validate(setup, [raises, broken], uncovered={"pkg.loader.load": frozenset({2, 3, 4})}, max_kept=5)
    assert (raises.verdict, raises.detail) == ("fails", "ImportError: cannot load os")
    assert broken.verdict == "does-not-import"


def test_hypothesis_finding_no_usable_input_is_not_the_code_failing(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    rejects, builds = (
        Candidate(LOAD, "fuzz", REJECTS_ALL, index=1),
        Candidate(LOAD, "magic", BUILDS_FAIL, index=2),
    )
    raises = Candidate(LOAD, "fuzz", RAISES, index=3)
    validate(
        setup, [rejects, builds, raises], uncovered={"pkg.loader.load": frozenset({2, 3, 4})}, max_kept=5
    )
    assert rejects.verdict == "no-inputs", rejects.detail
    assert rejects.detail.startswith("hypothesis.errors.FailedHealthCheck")
    assert builds.verdict == "no-inputs", builds.detail
    assert "while generating 'owner' from builds(Owner)" in builds.detail
    assert raises.verdict == "fails"  # the function's own error on a real input still fails


def test_a_function_without_arguments_is_said_so_without_noise(tmp_path: Path) -> None:
    # boltons' misc/linkify_changelog.py main(): magic writes nothing and says nothing,
    # which read "no test proposed: magic: None; fuzz: ..."
    setup = _setup(tmp_path)
    (tmp_path / "pkg/cli.py").write_text("def main() -> int:\n    return 1\n")
    main = changed_functions("pkg/cli.py", "def main() -> int:\n    return 1\n", frozenset({2})).functions[0]
    gen = generate(
        setup.sandbox, tmp_path, [main], python=sys.executable, limits=setup.limits, ro_paths=[],
        pythonpath=str(tmp_path),
    )  # fmt: skip
    assert gen.candidates == []
    reason = gen.reasons["pkg.cli.main"]
    assert reason.startswith("no test proposed: fuzz: InvalidArgument: ")
    assert "because there are no arguments to generate" in reason and "None" not in reason


# isodate's parse_datetime: Hypothesis found two distinct failures and raised them as one
# ExceptionGroup, whose message names neither exception nor input
TWO_FAILURES = (
    "from hypothesis import given, settings, strategies as st\n\nfrom pkg.loader import load\n\n\n"
    "@settings(derandomize=True)\n@given(values=st.sampled_from([[], [0]]))\ndef test_fuzz_spread(values):\n"
    "    load('pkg.' + str(values[0] / (len(values) - 1)))\n"
)


def test_distinct_failures_are_detailed_by_the_first_exception_and_its_input(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    cand = Candidate(LOAD, "magic", TWO_FAILURES, index=1)
    validate(setup, [cand], uncovered={"pkg.loader.load": frozenset({2, 3, 4})}, max_kept=5)
    assert cand.verdict == "fails"
    assert "ExceptionGroup" not in cand.detail and "distinct failures" not in cand.detail
    exception, _, example = cand.detail.partition("\nFailing test case: test_fuzz_spread(")
    inputs = {
        "IndexError: list index out of range": "values=[],",
        "ZeroDivisionError: division by zero": "values=[0],",
    }
    assert example.split()[0] == inputs[exception]  # that exception's own falsifying example


# isodate's parse_date('') raises its own, documented ISO8601Error: the magic candidate,
# written without allowing for it, failed on '' as if the PR's code were at fault
LEVELS = (
    "class LevelError(ValueError):\n    pass\n\n\n"
    "def parse_level(text: str) -> int:\n"
    '    """The level ``text`` names.\n\n    Raises:\n        LevelError: for an empty name.\n    """\n'
    "    if not text:\n        raise LevelError('an empty string names no level')\n"
    "    return len(text.strip())\n"
)


def test_magic_allows_for_the_functions_own_exceptions(make_context) -> None:
    base = {"lv/__init__.py": "", "lv/levels.py": "class LevelError(ValueError):\n    pass\n"}
    options = StageOptions(timeout_seconds=60, time_budget_seconds=120, attempts_per_function=1)
    result = tests_stage.run(make_context(base, {**base, "lv/levels.py": LEVELS}, options=options))
    m = result.metrics
    assert (m["candidates"], m["kept"], m["discards"]) == (1, 1, {}), result.summary
    (patch,) = result.patches
    assert "except lv.levels.LevelError:" in patch.files[0].diff


# pydantic's ValidationError for two fields runs to 8 lines: pytest (9.x) cuts the JUnit
# message at 500 characters, and the detail was cut at 300, both before Hypothesis' input
POINTS = (
    "from pydantic import BaseModel\n\n\nclass Point(BaseModel):\n    x: int\n    y: int\n\n\n"
    "def parse_point(text: str) -> Point:\n"
    "    x, _, y = text.partition(',')\n"
    "    return Point.model_validate({'x': x, 'y': y})\n"
)
POINT_TEST = (
    "from hypothesis import given, strategies as st\n\nfrom pkg.points import parse_point\n\n\n"
    "@given(text=st.text())\ndef test_fuzz_parse_point(text: str) -> None:\n    parse_point(text=text)\n"
)


def test_a_long_failure_keeps_the_input_that_fails(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    (tmp_path / "pkg/points.py").write_text(POINTS)
    parse = changed_functions("pkg/points.py", POINTS, frozenset({10, 11})).functions[0]
    cand = Candidate(parse, "llm", POINT_TEST, index=1)
    validate(setup, [cand], uncovered={"pkg.points.parse_point": frozenset({10, 11})}, max_kept=5)
    assert cand.verdict == "fails"
    assert cand.detail.startswith("pydantic_core._pydantic_core.ValidationError: 2 validation errors")
    example = "Failing test case: test_fuzz_parse_point(text='')"
    assert cand.detail.endswith(example) and len(cand.detail) <= 300, cand.detail
    assert brief(cand.detail).endswith(example)  # as the check run lists it
    assert feedback_for([cand])["pkg.points.parse_point"][0].endswith(example)  # as the model hears it
