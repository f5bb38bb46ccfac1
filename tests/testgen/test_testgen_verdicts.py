"""The verdict a candidate gets must say what really happened to it, judged on real runs
in the real sandbox (pytest, coverage, JUnit XML): found running the stage on toolz, whose
``TlzLoader.load_module`` raises ``ImportError`` for a name it cannot load, and whose
fuzz test was discarded as "did not import" though it imported fine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.engines.ghostwriter import Candidate
from bot.engines.testgen_changes import changed_functions
from bot.engines.testgen_validate import ValidationSetup, validate
from bot.sandbox import Limits, Sandbox
from bot.sandbox.bubblewrap import find_bwrap, probe

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
BROKEN = "from pkg.no_such_module import load\n\n\ndef test_load():\n    load('pkg.x')\n"


def test_an_import_error_raised_by_the_code_under_test_is_a_failure(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/__init__.py").write_text("")
    (tmp_path / "pkg/loader.py").write_text(LOADER)
    limits = Limits(wall_seconds=120)
    setup = ValidationSetup(
        sandbox=Sandbox.for_pr(trusted_author=True, run_untrusted=False, limits=limits),
        workdir=tmp_path,
        python=sys.executable,
        ro_paths=[],
        limits=limits,
    )
    raises, broken = Candidate(LOAD, "fuzz", RAISES, index=1), Candidate(LOAD, "magic", BROKEN, index=2)
    validate(setup, [raises, broken], uncovered={"pkg.loader.load": frozenset({2, 3, 4})}, max_kept=5)
    assert (raises.verdict, raises.detail) == ("fails", "ImportError: cannot load os")
    assert broken.verdict == "does-not-import"
