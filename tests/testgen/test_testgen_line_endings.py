"""Generated tests merged into test files as Windows and older projects keep them: CRLF
line endings, a latin-1 coding declaration. In the real sandbox, over a real git mirror."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.changes.unified import apply_hunks, parse_file_diff
from bot.models import StageResult
from bot.policies.schema import TestsStageConfig as StageOptions
from bot.sandbox.bubblewrap import find_bwrap, probe
from bot.stages import tests as tests_stage

pytestmark = pytest.mark.skipif(
    find_bwrap() is None or probe(find_bwrap() or "", None) is not None,
    reason="bubblewrap is not usable on this machine",
)

MODULE = b'"""Geo."""\r\n\r\n\r\ndef add(a, b):\r\n    """Add."""\r\n    return a + b\r\n'
CLAMP = (
    b'\r\n\r\ndef clamp(x: int, lo: int, hi: int) -> int:\r\n    """Clamp."""\r\n'
    b"    if x < lo:\r\n        return lo\r\n    if x > hi:\r\n        return hi\r\n    return x\r\n"
)
CRLF_TESTS = b'"""Tests."""\r\nfrom pkg.geo import add\r\n\r\n\r\ndef test_add():\r\n    assert add(1, 2) == 3\r\n'
LATIN1_TESTS = (
    b'# -*- coding: latin-1 -*-\n"""Tests de g\xe9o."""\nfrom pkg.geo import add\n\n'
    b'CAF\xc9 = "caf\xe9"\n\n\ndef test_add():\n    assert add(1, 2) == 3\n'
)


def run_stage(make_ctx, tmp_path: Path, tests: bytes) -> StageResult:
    base = {"pkg/__init__.py": b"", "pkg/geo.py": MODULE, "tests/__init__.py": b"", "tests/test_geo.py": tests}
    head = {**base, "pkg/geo.py": MODULE + CLAMP}
    options = StageOptions(timeout_seconds=60, time_budget_seconds=120)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHUNTER_SANDBOX_CACHE", str(tmp_path / "venvs"))
        return tests_stage.run(make_ctx(base, head, options=options, trusted_author=True))


def test_tests_merged_into_a_crlf_test_file_keep_it_crlf(make_ctx, tmp_path: Path) -> None:
    res = run_stage(make_ctx, tmp_path, CRLF_TESTS)
    [patch] = res.patches
    [diff] = patch.files
    assert diff.path == "tests/test_geo.py" and "\n-" not in diff.diff  # nothing rewritten
    after = apply_hunks(CRLF_TESTS, parse_file_diff(diff.diff))
    assert after.startswith(CRLF_TESTS[: CRLF_TESTS.index(b"\r\n\r\n")])
    assert after.count(b"\r\n") == after.count(b"\n") and b"def test_fuzz_clamp" in after


def test_a_latin1_test_file_is_left_alone_and_the_note_says_why(make_ctx, tmp_path: Path) -> None:
    res = run_stage(make_ctx, tmp_path, LATIN1_TESTS)
    assert res.patches == []
    assert any("`tests/test_geo.py` is not UTF-8 text" in note for note in res.notes)
    assert not any("did not pass as a whole" in note for note in res.notes)
