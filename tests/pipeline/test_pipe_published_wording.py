"""What the review and security check runs say, read through the simulator: a finding
dismissed on the PR is listed nowhere, what fails the check is said once, and a message
an analyzer echoed from the code renders as text."""

from __future__ import annotations

import json

REPO = "octo/demo"
BASE = {"app.py": "def add(a, b):\n    return a + b\n", "README.md": "# demo\n"}
RISKY = (
    "import os\nimport subprocess\n\n\ndef add(a, b):\n    breakpoint()\n    return a + b\n\n\n"
    "def run(cmd):\n    return subprocess.call(cmd, shell=True)\n"
)


def _open_pr(stack, app: str, base=BASE) -> int:
    """A PR by alice changing ``app.py`` to ``app``, with every stage concluded; tina may triage."""
    stack.sim.create_repo(REPO, base)
    for user, level in {"alice": "write", "tina": "triage"}.items():
        stack.sim.set_permission(REPO, user, level)
    stack.sim.commit(REPO, "feature", {"app.py": app}, author="alice")
    number = stack.sim.open_pull_request(REPO, "feature", title="Change", user="alice")
    stack.drain()
    return number


def _latest(sim, name, head):
    return [r for r in sim.check_runs(REPO) if r.name == name and r.head_sha == head][-1]


def _summary_comment(sim, number):
    return next(c.body for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:summary -->"))


def _finding(stack, number, stage, rule):
    stored = stack.redis.hgetall(f"shunter:findings:{REPO}#{number}")
    found = [json.loads(v) for v in stored.values()]
    return next(f for f in found if f["stage"] == stage and f["rule_id"] == rule)


def test_a_dismissed_finding_is_listed_nowhere_on_the_next_push(stack):
    sim = stack.sim
    number = _open_pr(stack, RISKY)
    unused = _finding(stack, number, "review", "F401")
    shell = _finding(stack, number, "security", "shunter.subprocess-shell-injection")
    short_unused, short_shell = unused["fingerprint"][:8], shell["fingerprint"][:8]
    sim.comment(REPO, number, f"/shunter dismiss {short_unused} fine\n/shunter dismiss {short_shell} ok", user="tina")
    stack.drain()
    sim.commit(REPO, "feature", {"README.md": "# demo 2\n"}, author="alice")
    stack.drain()
    head = sim.pull(REPO, number).head_sha

    review = _latest(sim, "shunter/review", head)
    # the stage's table still had the dismissed F401 row, and a second table followed; its
    # id is named once, in the line that says how to show it again
    assert review.summary.count(short_unused) == 1 and "`F401`" not in review.summary, review.summary
    assert review.text is None, review.text
    assert "`debugger`" in review.summary  # what was not dismissed is still listed
    assert (
        "1 finding dismissed on this PR is not shown (dismissed by `tina`). "
        f"Comment `/shunter undismiss {short_unused}` to show it again." in review.summary
    ), review.summary
    assert review.conclusion == "failure" and review.title == "1 error, 1 warning"  # F401 not counted

    security = _latest(sim, "shunter/security", head)
    assert security.summary.count(short_shell) == 1 and "subprocess-shell-injection" not in security.summary
    assert (
        "1 finding dismissed on this PR is not shown (dismissed by `tina`). "
        f"Comment `/shunter undismiss {short_shell}` to show it again." in security.summary
    ), security.summary

    row = next(line for line in _summary_comment(sim, number).splitlines() if "`shunter/review`" in line)
    assert "| 1 error, 1 warning: Source changed without tests: `app.py`. Add or update tests. |" in row, row


def test_the_review_check_says_what_fails_it_once(stack):
    sim = stack.sim
    # two warnings: the unused import, and add's behaviour changed without a test
    number = _open_pr(stack, "import os\n\n\ndef add(a, b):\n    return a + b + 1\n")
    head = sim.pull(REPO, number).head_sha
    passing = _latest(sim, "shunter/review", head)
    assert passing.conclusion == "success"
    # the stage's line said "..., fails on `error`." and the sentence below said it again
    assert "fails on `error`" not in passing.summary, passing.summary
    assert passing.summary.count("fail_on: error") == 1, passing.summary
    assert passing.summary.count("2 warnings") == 2  # the counts once, the reason once

    sim.commit(REPO, "feature", {"app.py": RISKY}, author="alice")
    stack.drain()
    failing = _latest(sim, "shunter/review", sim.pull(REPO, number).head_sha)
    assert failing.conclusion == "failure"
    # "`error` or higher": nothing is higher than an error
    assert "The check fails on findings of severity `error`." in failing.summary, failing.summary
    assert failing.summary.count("`error`") == 1 and "fail_on" not in failing.summary


def test_a_review_that_never_fails_does_not_say_it_fails_on_never(stack):
    sim = stack.sim
    number = _open_pr(stack, RISKY, {**BASE, ".github/shunter.yml": "version: 1\nstages:\n  review:\n    fail_on: never\n"})
    review = _latest(sim, "shunter/review", sim.pull(REPO, number).head_sha)
    assert review.conclusion == "success"
    assert "This check never fails (`fail_on: never`)." in review.summary
    assert "fails on `never`" not in review.summary and review.summary.count("fail_on") == 1, review.summary


def test_a_message_ruff_echoes_from_the_code_renders_as_text_in_the_review_table(stack):
    """ruff's F601 quotes a repeated dict key: its backticks closed the message's code span,
    so the ``<details>`` in the key opened a collapsed block holding the rest of the check
    run, and ``|`` or ``@octo/team`` outside the span split the row or pinged the team."""
    sim = stack.sim
    key = '"x`<details>`@octo/team | y"'
    number = _open_pr(stack, BASE["app.py"] + f"\n\nD = {{{key}: 1, {key}: 2}}\n")
    review = _latest(sim, "shunter/review", sim.pull(REPO, number).head_sha)
    [row] = [line for line in review.summary.splitlines() if "`F601`" in line]
    assert "<details>" not in review.summary and "&lt;details&gt;" in row, row
    assert "@octo/team" not in review.summary and "@\u2060octo/team" in row, row
    assert row.count(" | ") == 4 and "team \\| y" in row, row  # five cells, the pipe in the key escaped



def test_a_finding_off_the_changed_lines_is_not_called_one_more_when_none_is_shown(stack):
    """``import os`` is on the base: the PR adds a clean line below it (and its test), so
    the review shows no finding and said "1 more finding outside the `added` filter"."""
    sim = stack.sim
    app = "import os\n\n\n" + BASE["app.py"]
    sim.create_repo(REPO, {**BASE, "app.py": app})
    test = "from app import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    sim.commit(REPO, "feature", {"app.py": app + "\n\nVERSION = 2\n", "tests/test_app.py": test}, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Change", user="alice")
    stack.drain()
    review = _latest(sim, "shunter/review", sim.pull(REPO, number).head_sha)
    assert review.conclusion == "success" and review.title == "No findings", review.summary
    assert "more finding" not in review.summary and "outside the `added` filter" not in review.summary
    assert (
        "No findings on the changed lines; 1 finding elsewhere in the changed files is not shown."
        in review.summary
    ), review.summary

    sim.commit(REPO, "feature", {"app.py": app + "\n\nVERSION = 2\nbreakpoint()\n"}, author="alice")
    stack.drain()
    review = _latest(sim, "shunter/review", sim.pull(REPO, number).head_sha)
    assert "`debugger`" in review.summary, review.summary  # one shown: the other is one more
    assert "1 more finding elsewhere in the changed files is not shown." in review.summary, review.summary
