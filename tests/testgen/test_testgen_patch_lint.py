"""The generated test file must pass the project's lint as well as its tests: found on
more-itertools, where two kept candidates' ``from hypothesis import ...`` lines were both
copied into tests/test_more.py and the second redefined ``given`` and ``st`` (F811), so a
maintainer's ruff or flake8 run failed on Shunter's patch. Checked with the real ruff.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from bot.engines.ghostwriter import Candidate
from bot.engines.ruff_check import ruff_binary
from bot.engines.testgen_changes import changed_functions
from bot.engines.testgen_patch import merged_file

SOURCE = "def last(items: list[int]) -> int:\n    return items[-1]\n\n\ndef first(items: list[int]) -> int:\n    return items[0]\n"
LAST, FIRST = changed_functions("pkg/more.py", SOURCE, frozenset({2, 6})).functions
# as ghostwriter writes them: one fuzz test with reject(), one without
WITH_REJECT = (
    "import pkg.more\nfrom hypothesis import given, reject, strategies as st\n\n\n"
    "@given(items=st.lists(st.integers()))\ndef test_fuzz_last(items):\n    try:\n"
    "        pkg.more.last(items=items)\n    except IndexError:\n        reject()\n"
)
PLAIN = (
    "import pkg.more\nfrom hypothesis import given, strategies as st\n\n\n"
    "@given(items=st.lists(st.integers(), min_size=1))\ndef test_fuzz_first(items):\n"
    "    pkg.more.first(items=items)\n"
)


def lint(text: str, tmp_path: Path) -> str:
    path = tmp_path / "test_more.py"
    path.write_text(text)
    run = subprocess.run(
        [ruff_binary(), "check", "--isolated", "--select", "F", "--output-format", "concise", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return run.stdout if run.returncode else ""


def test_a_new_test_file_imports_each_name_once(tmp_path: Path) -> None:
    merged = merged_file(None, [Candidate(LAST, "fuzz", WITH_REJECT, 1), Candidate(FIRST, "fuzz", PLAIN, 2)])
    assert lint(merged, tmp_path) == ""
    assert merged.count("from hypothesis import given, reject, strategies as st\n") == 1
    assert "def test_fuzz_last(" in merged and "def test_fuzz_first(" in merged


def test_an_existing_test_file_gets_only_the_names_it_lacks(tmp_path: Path) -> None:
    existing = PLAIN.replace("test_fuzz_first", "test_first_by_hand")
    merged = merged_file(existing, [Candidate(LAST, "fuzz", WITH_REJECT, 1)])
    assert lint(merged, tmp_path) == ""
    assert "from hypothesis import reject\n" in merged
    assert merged.count("import pkg.more\n") == 1


def test_parenthesised_imports_stay_whole_and_merge(tmp_path: Path) -> None:
    # the llm engine writes imports over several lines; taken line by line, their names
    # and closing parenthesis were left among the tests
    multi = (
        "from hypothesis import (\n    given,\n    strategies as st,\n)\nimport pkg.more\n\n\n"
        "@given(items=st.lists(st.integers(), min_size=1))\ndef test_first_is_first(items):\n"
        "    assert pkg.more.first(items) == items[0]\n"
    )
    merged = merged_file(None, [Candidate(LAST, "fuzz", WITH_REJECT, 1), Candidate(FIRST, "llm", multi, 2)])
    compile(merged, "test_more.py", "exec")
    assert lint(merged, tmp_path) == ""
    assert merged.count("from hypothesis import given, reject, strategies as st\n") == 1
    assert "def test_first_is_first(" in merged and "given,\n" not in merged
