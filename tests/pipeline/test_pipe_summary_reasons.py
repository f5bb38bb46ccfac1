"""The summary comment's row says why a stage with findings passed, as its check run does."""

from __future__ import annotations

REPO = "octo/demo"
CONFIG = "version: 1\nstages:\n  security:\n    fail_on_confidence: high\n"
# bandit's B608 alone: a warning it is not sure of (low confidence)
SQL = "def f(user):\n    query = \"SELECT * FROM users WHERE name = '%s'\" % user\n    return query\n"


def test_a_passing_security_row_with_a_warning_says_why(stack) -> None:
    sim = stack.sim
    sim.create_repo(REPO, {"README.md": "# demo\n", ".github/shunter.yml": CONFIG})
    sim.commit(REPO, "feature", {"db.py": SQL}, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Query", user="alice")
    stack.drain()

    security = next(r for r in sim.check_runs(REPO) if r.name == "shunter/security")
    assert (security.conclusion, security.title) == ("success", "1 warning")
    assert "1 warning is below the confidence that fails the check (`fail_on_confidence: high`)." in (
        security.summary or ""
    )
    [summary] = [c.body for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:summary -->")]
    [row] = [line for line in summary.splitlines() if line.startswith("| `shunter/security`")]
    # the row said "✅ passed | 1 warning": a green row with a warning on it and no why
    assert "| ✅ passed (1 warning below `fail_on_confidence: high`) | 1 warning |" in row
    [review] = [line for line in summary.splitlines() if line.startswith("| `shunter/review`")]
    # the row said "✅ passed | 2 warnings" (the check run's summary gave no why either)
    assert "| ✅ passed (2 warnings below `fail_on: error`) | 2 warnings: Source changed without tests:" in review
    check = next(r for r in sim.check_runs(REPO) if r.name == "shunter/review")
    assert (check.conclusion, check.title) == ("success", "2 warnings")
    said = "2 warnings are below the severity that fails the check (`fail_on: error`)."
    assert said in (check.summary or "")
