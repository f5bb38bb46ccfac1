"""The tests stage's pure parts: AST mapping, test selection, candidate filtering, merging."""

from __future__ import annotations

import dataclasses

import pytest

from bot.changes.unified import apply_hunks, parse_file_diff
from bot.engines.coverage_probe import (
    FileCoverage,
    Measurement,
    TestOutcome,
    parse_junit,
    pytest_args,
    select_tests,
    statement_lines,
)
from bot.engines.ghostwriter import Candidate, placeholder_args, split_candidates, tidy
from bot.engines.testgen_changes import (
    callers_of,
    changed_functions,
    is_test_path,
    module_name,
)
from bot.engines.testgen_patch import git_blob_id, merged_file, patch_draft, target_test_file
from bot.engines.testgen_validate import judge_run, lines_by_candidate
from bot.sandbox import SandboxResult, Strength
from bot.stages.tests import brief, verdict_counts

SOURCE = """import functools


def top(a: int) -> int:
    def inner(b):
        return b + 1
    return inner(a)


class Shape:
    @functools.cache
    def area(self, k: int) -> int:
        return k * k

    async def fetch(self):
        return 1


def _helper():
    return 2

CONSTANT = 3
"""


def test_changed_lines_map_to_addressable_functions() -> None:
    mod = changed_functions("src/pkg/geo.py", SOURCE, frozenset({6, 11, 16, 19, 21}))
    assert mod.module == "pkg.geo"
    found = {f.qualname: f for f in mod.functions}
    assert set(found) == {"top", "Shape.area", "Shape.fetch", "_helper"}
    assert found["top"].changed_lines == {6}  # a nested def belongs to its outer function
    assert found["Shape.area"].is_method and found["Shape.area"].decorators == ("functools.cache",)
    assert found["Shape.area"].changed_lines == {11}  # the decorator line counts
    assert found["Shape.fetch"].is_async and found["_helper"].is_private
    assert found["top"].dotted == "pkg.geo.top"


def test_unparseable_file_is_reported_not_raised() -> None:
    mod = changed_functions("bad.py", "def broken(:\n", frozenset({1}))
    assert mod.functions == [] and mod.parse_error and "bad.py" in mod.parse_error


def test_paths_and_module_names() -> None:
    assert module_name("pkg/__init__.py") == "pkg"
    assert module_name("src/pkg/a.py") == "pkg.a"
    assert is_test_path("tests/test_a.py") and is_test_path("pkg/a_test.py")
    assert is_test_path("conftest.py") and not is_test_path("pkg/testing_utils.py")


def test_statement_lines_skip_comments_and_docstrings() -> None:
    src = 'def f(x):\n    """Doc."""\n    # note\n    return x\n'
    assert statement_lines(src) == {1, 4}


def test_select_tests_by_name_and_by_import() -> None:
    tests = {
        "tests/test_geo.py": "def test_x(): pass\n",
        "tests/test_api.py": "from pkg.geo import top\n",
        "tests/test_pkg.py": "from pkg import geo, other\n",
        "tests/test_other.py": "import pkg.geometry\n",
        "tests/test_top.py": "import pkg\n",
        "tests/test_parse.py": "from pkg import parse\n",
        "tests/test_pkgx.py": "import pkgx\nfrom pkgx import geo\n",
    }
    assert select_tests("pkg/geo.py", "pkg.geo", tests) == [
        "tests/test_api.py",
        "tests/test_geo.py",
        "tests/test_parse.py",
        "tests/test_pkg.py",
        "tests/test_top.py",
    ]


def test_test_command_override() -> None:
    assert pytest_args("pytest -k fast tests/unit") == (["-k", "fast", "tests/unit"], None)
    assert pytest_args("python -m pytest tests") == (["tests"], None)
    args, problem = pytest_args("make test")
    assert args == [] and problem and "not a pytest command" in problem


def test_junit_with_entities_is_refused() -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><testsuites/>'
    with pytest.raises(ValueError, match="entities"):
        parse_junit(bomb)
    ok = parse_junit(
        '<testsuites><testsuite><testcase classname="c.test_shunter_c1" name="t"/>'
        '<testcase classname="c.test_shunter_c2" name="u"><failure message="boom">'
        "Flaky</failure></testcase></testsuite></testsuites>"
    )
    assert [o.passed for o in ok] == [True, False] and "boom" in ok[1].message


GHOST = """# This test code was written by the `hypothesis.extra.ghostwriter` module

import pkg.geo
from hypothesis import given, strategies as st

# TODO: replace st.nothing() with an appropriate strategy


@given(self=st.builds(pkg.geo.Shape), k=st.integers())
def test_fuzz_Shape_area(self, k: int) -> None:
    pkg.geo.Shape.area(self=self, k=k)
"""


def test_placeholders_are_dropped_and_reasoned() -> None:
    mod = changed_functions("pkg/geo.py", SOURCE, frozenset({4, 11}))
    top, area = mod.functions
    answers = [
        {"id": "0", "candidates": [{"writer": "fuzz", "source": "@given(a=st.nothing())\n"}]},
        {"id": "1", "candidates": [{"writer": "fuzz", "source": GHOST}]},
    ]
    gen = split_candidates({"0": top, "1": area}, answers)
    assert [c.verdict for c in gen.candidates] == ["placeholder", "pending"]
    assert "values for argument a (" in gen.reasons[top.dotted]
    assert area.dotted not in gen.reasons
    assert "TODO" not in gen.candidates[1].source  # the stale TODO comment is tidied away
    assert placeholder_args("x = 1  # st.nothing()\n") == []
    assert tidy("a\n# TODO: replace st.nothing() here\nb\n") == "a\nb\n"


def _measurement(outcomes, coverage=None, timed_out=False) -> Measurement:
    result = SandboxResult(
        command=["pytest"],
        exit_code=None if timed_out else 1,
        stdout_tail="",
        stderr_tail="",
        timed_out=timed_out,
        killed_by="the wall-clock timeout (1s)" if timed_out else None,
        strength=Strength.BUBBLEWRAP,
        seconds=1.0,
    )
    return Measurement(result=result, outcomes=outcomes, coverage=coverage or {})


def test_judging_runs_like_testgen_llm() -> None:
    fn = changed_functions("pkg/geo.py", SOURCE, frozenset({4}))
    cand = Candidate(fn.functions[0], "fuzz", "src", index=7)
    passed = TestOutcome("c.test_shunter_c7", "test_fuzz_top", True)
    failed = TestOutcome("c.test_shunter_c7", "test_fuzz_top", False, "failure: AssertionError")
    flaky = TestOutcome("c.test_shunter_c7", "t", False, "failure: FlakyFailure ...")
    broken = TestOutcome("c.test_shunter_c7", "t", False, "error: collection failure ImportError")
    assert judge_run(cand, _measurement([passed]), first=True) is None
    assert judge_run(cand, _measurement([failed]), first=True) == "fails"
    assert judge_run(cand, _measurement([failed]), first=False) == "flaky"
    assert judge_run(cand, _measurement([flaky]), first=True) == "flaky"
    assert judge_run(cand, _measurement([broken]), first=True) == "does-not-import"
    assert judge_run(cand, _measurement([]), first=True) == "does-not-import"
    assert judge_run(cand, _measurement([], timed_out=True), first=True) == "timeout"
    crashed = _measurement([])
    crashed.result = dataclasses.replace(crashed.result, killed_by="an abort")
    assert judge_run(cand, crashed, first=True) == "crashes"
    cov = {
        "pkg/geo.py": FileCoverage(
            executed=frozenset({4, 5}),
            missing=frozenset(),
            contexts={4: frozenset({"x/test_shunter_c7.py::t"}), 5: frozenset({""})},
        )
    }
    assert lines_by_candidate(cand, _measurement([passed], cov), "pkg/geo.py") == {4}


def test_candidate_one_is_not_judged_on_candidate_ten() -> None:
    """Ten candidates are common (five functions, two writers); ``test_shunter_c1`` is a
    prefix of ``test_shunter_c10``, whose failure and lines are not candidate 1's."""
    fn = changed_functions("pkg/geo.py", SOURCE, frozenset({4}))
    first = Candidate(fn.functions[0], "fuzz", "src", index=1)
    tenth = Candidate(fn.functions[0], "magic", "src", index=10)
    outcomes = [
        TestOutcome(".shunter.cands.test_shunter_c1 .shunter/cands/test_shunter_c1.py", "test_fuzz_top", True),
        TestOutcome(".shunter.cands.test_shunter_c10 .shunter/cands/test_shunter_c10.py", "test_top", False, "failure: E"),
    ]
    cov = {
        "pkg/geo.py": FileCoverage(
            executed=frozenset({4, 5}),
            missing=frozenset(),
            contexts={
                4: frozenset({".shunter/cands/test_shunter_c1.py::test_fuzz_top"}),
                5: frozenset({".shunter/cands/test_shunter_c10.py::test_top"}),
            },
        )
    }
    run = _measurement(outcomes, cov)
    assert judge_run(first, run, first=True) is None
    assert judge_run(tenth, run, first=True) == "fails"
    assert lines_by_candidate(first, run, "pkg/geo.py") == {4}
    assert lines_by_candidate(tenth, run, "pkg/geo.py") == {5}


def test_merging_into_an_existing_test_file() -> None:
    fn = changed_functions("pkg/geo.py", SOURCE, frozenset({4})).functions[0]
    body = "import pkg.geo\nfrom hypothesis import given\n\n\n@given()\ndef test_fuzz_top():\n    pass\n"
    existing = '"""Doc."""\nimport pytest\n\n\ndef test_fuzz_top():\n    assert True\n'
    merged = merged_file(existing, [Candidate(fn, "fuzz", body, 1)])
    lines = merged.splitlines()
    assert lines[:4] == ['"""Doc."""', "import pytest", "import pkg.geo", "from hypothesis import given"]
    assert "def test_fuzz_top_2():" in merged and merged.count("def test_fuzz_top():") == 1
    compile(merged, "t.py", "exec")
    fresh = merged_file(None, [Candidate(fn, "fuzz", body, 1)])
    assert fresh.startswith('"""Tests generated by Shunter') and "def test_fuzz_top():" in fresh


@pytest.mark.parametrize("end", [b"\r\n", b""], ids=["crlf", "crlf-no-final-newline"])
def test_merging_into_a_crlf_test_file_keeps_its_lines_and_the_patch_lands_them(end: bytes) -> None:
    fn = changed_functions("pkg/geo.py", SOURCE, frozenset({4})).functions[0]
    body = "import pkg.geo\nfrom hypothesis import given\n\n\n@given()\ndef test_fuzz_top():\n    pass\n"
    existing = b'"""Doc."""\r\nimport pytest\r\n\r\n\r\ndef test_old():\r\n    assert True' + end
    cand = Candidate(fn, "fuzz", body, 1)
    merged = merged_file(existing.decode(), [cand]).encode()
    assert merged.count(b"\r\n") == merged.count(b"\n")  # every line CRLF, none turned to LF
    assert merged.startswith(b'"""Doc."""\r\nimport pytest\r\nimport pkg.geo\r\n')
    assert b"def test_old():\r\n    assert True\r\n\r\n\r\n@given()\r\n" in merged
    compile(merged, "t.py", "exec")
    [diff] = patch_draft({"tests/test_geo.py": (existing, merged.decode())}, [cand]).files
    assert diff.pre_image_blob == git_blob_id(existing)
    # the diff names only the lines the merge added (and the last one, given its newline)
    assert diff.diff.count("\n-") == (0 if end else 1)
    assert apply_hunks(existing, parse_file_diff(diff.diff)) == merged


def test_layout_and_blob_ids() -> None:
    assert target_test_file("pkg/geo.py", ["tests/unit/test_geo.py"]) == "tests/unit/test_geo.py"
    assert target_test_file("pkg/geo.py", ["test/test_x.py"]) == "test/test_geo.py"
    assert target_test_file("src/pkg/geo.py", ["README.md"]) == "tests/test_geo.py"
    assert git_blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_private_helpers_are_reached_through_public_callers() -> None:
    src = (
        "def _norm(x):\n    return x\n\n\n"
        "def public(x: int) -> int:\n    return _norm(x)\n\n\n"
        "def _private_caller(x):\n    return _norm(x)\n\n\n"
        "class Box:\n    def size(self) -> int:\n        return self._norm(1)\n"
    )
    helper = changed_functions("pkg/h.py", src, frozenset({2})).functions[0]
    assert helper.qualname == "_norm" and helper.is_private
    assert [c.qualname for c in callers_of("pkg/h.py", src, helper)] == ["public", "Box.size"]


def test_stage_without_python_changes_runs_nothing(make_context) -> None:
    from bot.stages import tests as tests_stage

    ctx = make_context({"README.md": "a\n"}, {"README.md": "b\n", "docs/x.md": "c\n"})
    res = tests_stage.run(ctx)
    assert res.summary == "No changed Python function to measure."
    assert res.metrics["functions_changed"] == 0 and not res.neutral


EXPRESS_BEFORE = (
    "res.clearCookie = function clearCookie(name, options) {\n"
    "  var opts = merge({ expires: new Date(1), path: '/' }, options);\n"
    "  return this.cookie(name, '', opts);\n"
    "};\n"
)
EXPRESS_AFTER = EXPRESS_BEFORE.replace(
    "options) {\n",
    "options) {\n  if (options && options.maxAge) {\n"
    "    deprecate('res.clearCookie: Passing \"options.maxAge\" is deprecated.');\n  }\n",
)


def test_a_pr_changing_no_python_says_the_stage_measures_python_only(make_context) -> None:
    """express 4.19.2 -> 4.20.0 (``lib/response.js``, ``History.md``, ``package.json``)
    concluded ``success``, "No findings", as if its JavaScript had been measured."""
    from bot.stages import tests as tests_stage

    ctx = make_context(
        {"lib/response.js": EXPRESS_BEFORE, "History.md": "4.19.2\n", "src/x.go": "package x\n"},
        {"lib/response.js": EXPRESS_AFTER, "History.md": "4.20.0\n", "src/x.go": "package x\n\nvar A = 1\n"},
    )
    res = tests_stage.run(ctx)
    assert res.neutral and res.metrics["incomplete"] == "measures Python only"
    assert "Python code only" in res.summary and "(its changed source is JavaScript, Go)" in res.summary
    # with a Python file in the change, the stage measures what it can, as before
    mixed = make_context(
        {"lib/response.js": EXPRESS_BEFORE, "pkg/a.py": "X = 1\n"},
        {"lib/response.js": EXPRESS_AFTER, "pkg/a.py": "X = 2\n"},
    )
    assert not tests_stage.run(mixed).neutral


def test_changed_test_files_are_not_targets(make_context) -> None:
    from bot.stages import tests as tests_stage

    base = {"tests/test_a.py": "def test_a():\n    pass\n"}
    head = {"tests/test_a.py": "def test_a():\n    assert True\n"}
    res = tests_stage.run(make_context(base, head))
    assert res.metrics["functions_changed"] == 0


def test_documented_and_raised_exceptions_are_the_contract() -> None:
    from bot.engines.ghostwriter_script import _documented_raises, _raised

    doc = (
        "Do it.\n\nRaises:\n    OverflowError: If too large.\n    ValueError: when bad\n\nExamples:\n    x\n"
    )
    assert _documented_raises(doc) == ["OverflowError", "ValueError"]
    assert _documented_raises("Raises\n------\nTypeError\n    if wrong\n") == ["TypeError"]
    assert _documented_raises(":raises KeyError: never") == ["KeyError"]

    def parse(text: str) -> int:
        """Parse.

        Raises:
            Exception: anything at all (too broad to accept)
            LookupError: unknown key
        """
        if not text:
            raise ValueError("empty")
        return int(text)

    assert _raised(parse) == (ValueError, LookupError)


def test_junit_headline_is_the_first_message_without_the_traceback() -> None:
    (outcome,) = parse_junit(
        '<testsuites><testsuite><testcase classname="c.test_shunter_c1" name="t">'
        '<failure message="ValueError: bad input&#10;Falsifying example: t(x=0)">'
        "Traceback (most recent call last):\n  File 'x.py', line 3\n    raise ValueError</failure>"
        "</testcase></testsuite></testsuites>"
    )
    assert outcome.headline == "ValueError: bad input\nFalsifying example: t(x=0)"
    assert "Traceback" in outcome.message and "Traceback" not in outcome.headline


def test_brief_keeps_a_short_failure_whole_and_tidies_hypothesis_calls() -> None:
    detail = "failure: subprocess.CalledProcessError: exit status 127.\nFailing test case: t(\n    command='0',\n)"
    assert brief(detail) == "subprocess.CalledProcessError: exit status 127. Failing test case: t(command='0')"


def test_brief_cuts_at_a_sentence_or_a_word_with_an_ellipsis() -> None:
    sentence = "AssertionError: the totals differ. " + "x" * 300
    assert brief(sentence) == "AssertionError: the totals differ. …"
    words = "word " * 60
    cut = brief(words, limit=50)
    assert cut.endswith(" …") and len(cut) <= 52
    assert all(part == "word" for part in cut.removesuffix(" …").split())  # no word cut in half


ISO_FAILURE = (
    "isodate.isoerror.ISO8601Error: Unrecognised ISO 8601 date format: '"
    + "2020-01-01T00:00:00+00:00/P1Y2M3DT4H5M6S" * 8
    + "'\nFailing test case: test_fuzz_parse_datetime(\n    datetimestring='T',  # or any other generated value\n)"
)


def test_brief_keeps_the_exception_and_the_failing_test_case_of_a_long_failure() -> None:
    """The check run keeps 160 characters of each discarded candidate; cutting from the end
    dropped Hypothesis' input, the part the PR's author reproduces the failure with."""
    example = "Failing test case: test_fuzz_parse_datetime(datetimestring='T')"
    for line in (brief(ISO_FAILURE, limit=300), brief(brief(ISO_FAILURE, limit=300))):
        assert line.startswith("isodate.isoerror.ISO8601Error: Unrecognised ISO 8601 date format")
        assert line.endswith(" … " + example)
    assert len(brief(ISO_FAILURE)) <= 160


def test_brief_caps_a_long_failing_test_case_and_stays_within_the_limit() -> None:
    detail = "ValueError: " + "bad input " * 30 + "Falsifying example: t(" + ", ".join(f"a{i}={i}" for i in range(80)) + ")"
    for limit in (60, 160, 300):
        line = brief(detail, limit=limit)
        assert len(line) <= limit, line
        assert line.startswith("ValueError: bad input") and "Falsifying example: t(a0=0, a1=1" in line
        assert line.endswith(" …")


def test_verdict_counts_read_as_english_most_common_first() -> None:
    from collections import Counter

    assert verdict_counts(Counter({"fails": 1, "flaky": 2, "no-coverage-gain": 1})) == (
        "2 flaky, 1 failed, 1 added no coverage"
    )
    assert verdict_counts(Counter({"something-new": 3})) == "3 something new"


def test_the_tests_stage_selects_paths_by_the_documented_globs(make_context) -> None:
    """``src/**/*.py`` covers ``src/a.py`` and ``*.py`` only root files, as for the other
    stages (the stage's own fnmatch rules skipped src/a.py and let ``*.py`` reach below)."""
    from bot.policies.schema import PathFilter, TestsStageConfig
    from bot.stages.tests import find_targets

    head = {"src/a.py": "def f(x):\n    return x\n", "tools/b.py": "def g(y):\n    return y\n", "c.py": "def h():\n    return 1\n"}

    def chosen(include: list[str]) -> set[str]:
        opts = TestsStageConfig(paths=PathFilter(include=include))
        targets, _ = find_targets(make_context({}, head, options=opts), opts)
        return {t.fn.path for t in targets}

    assert chosen(["src/**/*.py"]) == {"src/a.py"}
    assert chosen(["*.py"]) == {"c.py"}
    assert chosen(["**"]) == {"src/a.py", "tools/b.py", "c.py"}
