"""A stage whose ``paths`` match none of the pull request's changed files is skipped, as
GitHub Actions' ``paths`` filter skips a workflow: the planner never fetches the changed
files, so the stage job decides once it has the diff, before any engine runs."""

from __future__ import annotations

REPO = "octo/demo"
CONFIG = """version: 1
stages:
  review:
    paths:
      include: ["src/**"]
      exclude: ["src/vendor/**"]
  security:
    enabled: false
  tests:
    enabled: false
"""
BASE = {"app.py": "def add(a, b):\n    return a + b\n", ".github/shunter.yml": CONFIG}
# an error the review reports anywhere it looks (breakpoint), outside its paths here
CHANGED = "import os\n\n\ndef add(a, b):\n    breakpoint()\n    return a + b\n"


def test_a_stage_whose_paths_match_no_changed_file_concludes_skipped_with_the_reason(stack):
    sim = stack.sim
    sim.create_repo(REPO, BASE)
    sim.commit(REPO, "feature", {"app.py": CHANGED}, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Change add", user="alice")
    stack.drain()

    review = next(r for r in sim.check_runs(REPO) if r.name == "shunter/review")
    assert (review.status, review.conclusion) == ("completed", "skipped")
    assert review.title.startswith("Skipped: No changed file matches stages.review.paths")
    assert 'include: ["src/**"], exclude: ["src/vendor/**"]' in (review.summary or "")
    assert review.annotations == [] and sim.review_comments(REPO, number) == []

    summary = next(c for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:summary -->"))
    assert "⏭️ skipped (no changed file matches its paths)" in summary.body

    store = stack.runtime.store
    run = store.latest_runs(REPO, number)["review"]
    assert (run.conclusion, run.metrics["reason_code"]) == ("skipped", "no_matching_paths")
    skips = [e for e in store.audit_events(repo=REPO) if e.action == "check_run.skip"]
    assert [(e.reason_code, e.run_id) for e in skips] == [("no_matching_paths", run.id)]

    # asking for it changes nothing: the paths choose what the stage looks at
    sim.comment(REPO, number, "/shunter review", user="alice")
    stack.drain()
    reviews = [r for r in sim.check_runs(REPO) if r.name == "shunter/review"]
    assert len(reviews) == 2 and {r.conclusion for r in reviews} == {"skipped"}
