"""Publishing to GitHub when GitHub misbehaves: failed requests, retried jobs, deleted or
numerous comments. Through the simulator with its fault injection and real Redis."""

from __future__ import annotations

from tests.pipeline.test_pipe_pull_request import (
    BASE,
    CHANGED,
    REPO,
    by_name,
    open_pr,
)

SUMMARY = "<!-- shunter:summary -->"
# githubkit retries a 5xx three times: four answers make the job's request fail
FAILS = 4


def summaries(sim, number):
    return [c for c in sim.comments(REPO, number) if c.body.startswith(SUMMARY)]


def annotations(sim):
    return {name: len(run.annotations) for name, run in by_name(sim.check_runs(REPO)).items()}


def planned(stack):
    """Open the PR and plan it; the stage jobs are queued, not run."""
    number = open_pr(stack.sim, {"app.py": CHANGED})
    stack.sim.wait_for_deliveries()
    stack.work(("events",))
    return number


def test_a_config_with_more_than_fifty_problems_is_annotated_in_batches(stack):
    sim = stack.sim
    base = dict(BASE)
    keys = "".join(f"    typo_{i}: true\n" for i in range(60))
    base[".github/shunter.yml"] = "version: 1\nstages:\n  review:\n" + keys
    open_pr(sim, {"app.py": CHANGED}, base_files=base)
    stack.drain()
    assert [r for r in sim.recorder.requests if "check-runs" in r.path and r.status >= 400] == []
    runs = by_name(sim.check_runs(REPO))
    assert runs["shunter/config"].conclusion == "failure"
    assert len(runs["shunter/config"].annotations) == 60
    assert runs["shunter/review"].status == "completed"


