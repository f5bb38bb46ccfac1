"""Remarks on the whole pull request ("this PR changes 1,200 lines", "source changed
without tests") through the simulator: they are said in the check run's summary and the
summary comment's row and count toward the conclusion, but are neither an annotation on
some file's first line nor an inline comment there (a reader took them for remarks on
that line)."""

from __future__ import annotations

from tests.pipeline.test_pipe_commands import replies
from tests.pipeline.test_pipe_pull_request import BASE, REPO, open_pr

CONFIG = "version: 1\nstages:\n  review:\n    large_pr_lines: 5\n    fail_on: warning\n"
# twelve added lines of behaviour and no test changed: both PR-wide warnings, nothing else
SOURCE = "def add(a, b):\n    return a + b\n" + "".join(f"\n\ndef f{i}(x):\n    return x * {i}\n" for i in range(3))


def _review(sim):
    return max((r for r in sim.check_runs(REPO) if r.name == "shunter/review"), key=lambda r: r.id)


def _summary_row(sim, number):
    summary = next(c for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:summary -->"))
    return next(line for line in summary.body.splitlines() if "`shunter/review`" in line)


def test_remarks_on_the_pull_request_are_in_the_summaries_not_on_a_line(stack):
    sim = stack.sim
    number = open_pr(sim, {"app.py": SOURCE}, base_files={**BASE, ".github/shunter.yml": CONFIG})
    stack.drain()
    review = _review(sim)
    assert review.conclusion == "failure", review.summary  # fail_on: warning counts them
    assert review.annotations == [], review.annotations
    assert sim.review_comments(REPO, number) == []
    assert "**2 warnings** in the pull request on" in review.summary, review.summary
    assert "| warning | `large-pr` | _the pull request_ | This PR changes 12 lines in 1 file" in review.summary
    assert "| warning | `untested-change` | _the pull request_ | Source changed without tests: `app.py`" in (
        review.summary
    )
    row = _summary_row(sim, number)
    assert "2 warnings: This PR changes 12 lines in 1 file (limit 5)" in row, row
    assert "Source changed without tests: `app.py`. Add or update tests." in row, row

    # the id the table shows is what /shunter explain and dismiss take
    findings = {k.decode(): v for k, v in stack.redis.hgetall(f"shunter:findings:{REPO}#{number}").items()}
    large = next(k for k, v in findings.items() if b'"large-pr"' in v)
    sim.set_permission(REPO, "tina", "triage")
    sim.comment(REPO, number, f"/shunter explain {large}", user="alice")
    stack.drain()
    assert "(warning, review stage, engine `heuristics`) on the pull request: This PR changes" in (
        replies(sim, number)[-1].body
    )
    sim.comment(REPO, number, f"/shunter dismiss {large} split later", user="tina")
    stack.drain()
    again = _review(sim)
    assert again.id != review.id and "large-pr" not in again.summary.split("dismissed")[0], again.summary
    row = _summary_row(sim, number)
    assert "This PR changes" not in row and "1 warning: Source changed without tests" in row, row


def _grown(n: int) -> str:
    return SOURCE + "".join(f"\n\ndef g{j}(x):\n    return x - {j}\n" for j in range(n))


def test_a_dismissed_remark_stays_dismissed_on_later_pushes_until_it_is_about_another_file(stack):
    """Dismissed with the button, the large-PR and untested-change remarks stay dismissed
    on a push that grows the same file (the counts in their messages change, their meaning
    does not). Source changed without tests in another file is a new remark: before, the
    untested-change fingerprint was its rule alone, so the dismissal hid it too."""
    sim = stack.sim
    config = CONFIG + "  security:\n    enabled: false\n  tests:\n    enabled: false\n"
    number = open_pr(sim, {"app.py": SOURCE}, base_files={**BASE, ".github/shunter.yml": config})
    stack.drain()
    sim.set_permission(REPO, "tina", "triage")
    sim.click_button(_review(sim).id, "dismiss", user="tina")
    stack.drain()
    assert len(stack.runtime.store.dismissed_fingerprints(REPO, number)) == 2

    sim.commit(REPO, "feature", {"app.py": _grown(2)}, author="alice")
    stack.drain()
    review = _review(sim)
    assert review.head_sha == sim.pull(REPO, number).head_sha
    assert (review.conclusion, review.summary.splitlines()[0]) == ("success", f"**No findings** on `{review.head_sha[:7]}`.")
    assert "none" in _summary_row(sim, number)

    sim.commit(REPO, "feature", {"app.py": _grown(3), "util.py": "def twice(x):\n    return 2 * x\n"}, author="alice")
    stack.drain()
    review = _review(sim)
    assert review.conclusion == "failure", review.summary
    assert "| warning | `untested-change` | _the pull request_ | Source changed without tests: `app.py`, `util.py`" in (
        review.summary
    )
    assert "`large-pr`" not in review.summary.split("dismissed")[0], review.summary
    row = _summary_row(sim, number)
    assert "1 warning: Source changed without tests: `app.py`, `util.py`" in row and "This PR changes" not in row, row
