"""Precision: what maintainers of real projects dismiss as noise is not reported (or does not
fail the check), while the true findings beside it still are. Each case comes from running
the stage over consecutive releases of requests, flask, httpx and werkzeug."""

from __future__ import annotations

from bot.stages import security


def _reported(result):
    return [f for f in result.findings if not f.suppressed]


TEST_CODE = """\
import pickle


def test_roundtrip():
    data = pickle.loads(pickle.dumps(1))
    assert data == 1
"""

APP_CODE = """\
def check(x):
    assert x > 0
    return x
"""


def test_asserts_in_test_files_are_not_reported_by_default(pr) -> None:
    """bandit's B101 flagged every assert in tests/ (61 notices on one Shunter PR)."""
    head = {"tests/test_codec.py": TEST_CODE, "pkg/conftest.py": "def f():\n    assert 1\n", "app.py": APP_CODE}
    result = security.run(pr({"README.md": "x\n"}, head))
    reported = {(f.rule_id, f.path) for f in _reported(result)}
    assert ("B101", "app.py") in reported  # production asserts vanish under python -O
    assert not any(rid == "B101" and path != "app.py" for rid, path in reported)
    # the rest of bandit and Shunter's rules still look at tests
    assert ("shunter.unsafe-deserialisation", "tests/test_codec.py") in reported
    assert result.metrics["ignored_in_tests"] == 2
    assert "2 in test files not reported (`ignore_rules_in_tests`)" in result.summary


def test_ignore_rules_in_tests_can_be_emptied_or_extended(pr) -> None:
    head = {"tests/test_codec.py": TEST_CODE}
    everywhere = security.run(pr({"README.md": "x\n"}, head, ignore_rules_in_tests=[]))
    assert {f.rule_id for f in _reported(everywhere)} >= {"B101", "shunter.unsafe-deserialisation"}
    assert everywhere.metrics["ignored_in_tests"] == 0
    more = security.run(pr({"README.md": "x\n"}, head, ignore_rules_in_tests=["B101", "B301", "B403"]))
    # B301 is the alias of Shunter's pickle rule: ignoring it ignores the rule too
    assert _reported(more) == [] and more.metrics["ignored_in_tests"] == 3
