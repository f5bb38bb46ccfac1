"""A pull request on a monorepo, through the simulator: two packages (shaped after
cachetools 5.3 in the src layout and toolz 0.12 with its tests inside the package), each
with its own pyproject.toml or ruff.toml, one of them extending the root's ruff config.
The review follows each file's nearest config, as ``ruff check`` run at the repository's
root does; a test changed in one package does not stand for the other's untested change;
the security check treats each package's tests folder as tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from bot.engines.heuristics import is_test_path
from bot.engines.ruff_check import ruff_binary
from tests.pipeline.test_pipe_pull_request import REPO, by_name, open_pr

ROOT_CONFIG = '[project]\nname = "workspace"\nversion = "0"\n\n[tool.ruff]\nline-length = 100\n\n' + (
    '[tool.ruff.lint]\nselect = ["E", "F", "W", "I"]\n'
)
CACHETOOLS_CONFIG = (
    '[project]\nname = "cachetools"\nversion = "5.3.3"\n\n[tool.ruff]\nextend = "../../pyproject.toml"\n'
    'line-length = 79\n\n[tool.ruff.lint]\nextend-select = ["B", "S"]\n\n'
    '[tool.ruff.lint.per-file-ignores]\n"tests/*" = ["B", "S"]\n'
)
TOOLZ_CONFIG = 'line-length = 120\n\n[lint]\nselect = ["E", "W", "UP"]\n'
KEYS = '"""Key functions for memoizing decorators."""\n\n\ndef hashkey(*args):\n    return tuple(args)\n'
UTILS = "def raises(err, lamda):\n    try:\n        lamda()\n        return False\n    except err:\n        return True\n"
TEST_UTILS = "from toolz.utils import raises\n\n\ndef test_raises():\n    assert raises(ZeroDivisionError, lambda: 1 / 0)\n"
BASE = {
    "pyproject.toml": ROOT_CONFIG,
    "packages/cachetools/pyproject.toml": CACHETOOLS_CONFIG,
    "packages/cachetools/src/cachetools/__init__.py": '__version__ = "5.3.3"\n',
    "packages/cachetools/src/cachetools/keys.py": KEYS,
    "packages/cachetools/tests/__init__.py": "",
    "packages/cachetools/tests/test_keys.py": (
        "import unittest\n\nfrom cachetools import keys\n\n\nclass CacheKeysTest(unittest.TestCase):\n"
        "    def test_hashkey(self):\n        self.assertEqual(keys.hashkey(1), (1,))\n"
    ),
    "packages/toolz/setup.py": "from setuptools import setup\n\nsetup(name='toolz')\n",
    "packages/toolz/ruff.toml": TOOLZ_CONFIG,
    "packages/toolz/toolz/__init__.py": "",
    "packages/toolz/toolz/utils.py": UTILS,
    "packages/toolz/toolz/tests/test_utils.py": TEST_UTILS,
    "README.md": "# workspace\n",
}
# 89 characters: over cachetools' 79, under the root's 100 and toolz's 120
LONG_DOC = '    """Return a cache key for the arguments, keyword arguments sorted by their names."""\n'
SORTED_KEY = "\n\ndef sortedkey(*args, extra=[], **kwargs):\n" + LONG_DOC + (
    "    return hashkey(*args, *extra, *sorted(kwargs.items()))\n"
)
FIRST_TRUE = "\n\nclass Missing(object):\n" + LONG_DOC + "    pass\n"
HEAD = {
    "packages/cachetools/src/cachetools/keys.py": KEYS + SORTED_KEY,
    "packages/toolz/toolz/utils.py": UTILS + FIRST_TRUE,
    "packages/toolz/toolz/tests/test_utils.py": TEST_UTILS
    + "\n\ndef test_tmp():\n    assert raises(OSError, lambda: open('/tmp/missing/file'))\n",
}


def ruff_at_root(tmp_path: Path, files: dict[str, str]) -> set[tuple[str, int, str]]:
    """What plain ``ruff check`` run at the repository's root reports on the changed files'
    added lines (each head appends to its base): the rules a maintainer sees locally."""
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    changed = [p for p in HEAD if not is_test_path(p)]
    done = subprocess.run(
        [ruff_binary(), "check", "--no-cache", "--output-format", "json", "--exit-zero", *changed],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = set()
    for item in json.loads(done.stdout):
        path = Path(item["filename"]).relative_to(tmp_path).as_posix()
        if item["location"]["row"] > BASE[path].count("\n"):
            out.add((path, item["location"]["row"], item["code"]))
    return out


def test_a_monorepo_pr_is_reviewed_by_each_package_s_own_rules(stack, tmp_path: Path) -> None:
    sim = stack.sim
    open_pr(sim, HEAD, base_files=BASE)
    stack.drain()
    runs = by_name(sim.check_runs(REPO))
    review = runs["shunter/review"]
    found = {(a["path"], a["start_line"], a["title"].split(":")[0]) for a in review.annotations}
    # cachetools: its own line length (79) and its extend-select B (mutable default); toolz:
    # 120 columns, so the same docstring is no E501 there, and its own UP rules
    keys = "packages/cachetools/src/cachetools/keys.py"
    utils = "packages/toolz/toolz/utils.py"
    assert found == {(keys, 8, "B006"), (keys, 9, "E501"), (utils, 9, "UP004")}
    assert found == ruff_at_root(tmp_path, BASE | HEAD)
    # toolz's changed test does not stand for cachetools' change
    remark = review.summary.split("without tests", 1)[1].split("\n", 1)[0]
    assert f"`{keys}`" in remark and utils not in remark, review.summary
    security = runs["shunter/security"]
    # the tests folder inside toolz's package is tests: its assert (B101) and /tmp path
    # (B108) are not reported
    assert [a for a in security.annotations if "/tests/" in a["path"]] == [], security.annotations
