"""Events on a head that was already planned: a stage the policy skipped runs once a later
event lets it (ready for review, a label, a new title), and check suites are judged like the
pull request they belong to, in whatever order GitHub delivers them."""

from __future__ import annotations

import copy

from rq.job import Job
from rq.serializers import JSONSerializer

from bot.pipeline import heads

REPO = "octo/demo"
BASE = {"app.py": "def add(a, b):\n    return a + b\n", "README.md": "# demo\n"}
CHANGED = {"app.py": "import os\n\n\ndef add(a, b):\n    print(a)\n    return a + b\n"}


def conclusions(sim, head: str, name: str | None = None) -> dict[str, str | None]:
    """The latest check run of each name on ``head`` (what GitHub shows and requires)."""
    latest = {}
    for run in sorted(sim.check_runs(REPO, head_sha=head), key=lambda r: r.id):
        if name is None or run.name == name:
            latest[run.name] = run.conclusion
    return latest


def open_pr(stack, config: str | None = None, **pull) -> tuple[int, str]:
    sim = stack.sim
    sim.create_repo(REPO, {**BASE, **({".github/shunter.yml": config} if config else {})})
    sim.set_permission(REPO, "alice", "write")
    sim.commit(REPO, "feature", CHANGED, author="alice")
    number = sim.open_pull_request(REPO, "feature", user="alice", **{"title": "Change", **pull})
    stack.drain()
    return number, sim.pull(REPO, number).head_sha


def test_a_draft_marked_ready_for_review_runs_its_stages(stack):
    number, head = open_pr(stack, draft=True)
    assert set(conclusions(stack.sim, head).values()) == {"skipped"}
    stack.sim.ready_for_review(REPO, number, user="alice")
    stack.drain()
    after = conclusions(stack.sim, head)
    assert after["shunter/review"] == "success" and after["shunter/security"] == "success"
    stack.sim.ready_for_review(REPO, number, user="alice")  # again (a redelivery): nothing new
    stack.drain()
    assert len(stack.sim.check_runs(REPO, head_sha=head, name="shunter/review")) == 2


def test_adding_the_enable_label_runs_the_stage(stack):
    config = "stages:\n  tests:\n    on: [opened, synchronize, labeled]\n    labels:\n      enable: [needs-tests]\n"
    number, head = open_pr(stack, config)
    assert conclusions(stack.sim, head, "shunter/tests") == {"shunter/tests": "skipped"}
    stack.sim.add_label(REPO, number, "needs-tests", user="alice")
    stack.drain()
    assert conclusions(stack.sim, head, "shunter/tests")["shunter/tests"] != "skipped"


def test_a_new_title_is_judged_again_when_edited_is_a_trigger(stack):
    config = "ignore:\n  title_patterns: ['^WIP']\nstages:\n  review:\n    on: [opened, synchronize, edited]\n"
    number, head = open_pr(stack, config, title="WIP: change")
    assert conclusions(stack.sim, head, "shunter/review") == {"shunter/review": "skipped"}
    opened = stack.sim.deliveries("pull_request", "opened")[-1].payload
    body_only = copy.deepcopy(opened) | {"action": "edited", "changes": {"body": {"from": ""}}}
    stack.sim.send_event("pull_request", body_only)
    stack.drain()
    assert conclusions(stack.sim, head, "shunter/review") == {"shunter/review": "skipped"}
    retitled = copy.deepcopy(opened) | {"action": "edited", "changes": {"title": {"from": "WIP: change"}}}
    retitled["pull_request"]["title"] = "change"
    stack.sim.send_event("pull_request", retitled)
    stack.drain()
    assert conclusions(stack.sim, head, "shunter/review") == {"shunter/review": "success"}


def check_suite_first(stack) -> None:
    """Handle the push's check_suite.requested before its pull_request.synchronize (GitHub
    does not promise an order; with several workers either may go first)."""
    stack.sim.wait_for_deliveries()
    key = "rq:queue:events"
    ids = [raw.decode() for raw in stack.redis.lrange(key, 0, -1)]
    suites = [
        i
        for i in ids
        if Job.fetch(i, connection=stack.redis, serializer=JSONSerializer).description.startswith(
            "check_suite.requested"
        )
    ]
    assert suites
    for job_id in suites:
        stack.redis.lrem(key, 0, job_id)
        stack.redis.lpush(key, job_id)
    stack.drain()


def test_a_check_suite_handled_first_respects_pause_and_drafts(stack):
    number, _ = open_pr(stack)
    stack.sim.comment(REPO, number, "/shunter pause", user="alice")
    stack.drain()
    stack.sim.commit(REPO, "feature", {"README.md": "# demo 2\n"}, author="alice")
    check_suite_first(stack)
    paused = conclusions(stack.sim, stack.sim.pull(REPO, number).head_sha)
    assert paused and set(paused.values()) == {"skipped"}

    draft = stack.sim.open_pull_request(REPO, "feature", title="Draft twin", user="alice", draft=True)
    stack.drain()
    stack.sim.commit(REPO, "feature", {"README.md": "# demo 3\n"}, author="alice")
    check_suite_first(stack)
    head = stack.sim.pull(REPO, draft).head_sha
    assert set(conclusions(stack.sim, head).values()) == {"skipped"}


def test_a_late_check_suite_or_a_rerun_of_an_older_commit_leaves_the_current_head_alone(stack):
    number, first = open_pr(stack)
    old_review = next(r for r in stack.sim.check_runs(REPO, head_sha=first) if r.name == "shunter/review")
    stack.sim.commit(REPO, "feature", {"README.md": "# demo B\n"}, author="alice")
    suite_b = copy.deepcopy(stack.sim.deliveries("check_suite", "requested")[-1].payload)
    stack.drain()
    stack.sim.commit(REPO, "feature", {"README.md": "# demo C\n"}, author="alice")
    c = stack.sim.pull(REPO, number).head_sha
    stack.drain()
    before = conclusions(stack.sim, c)
    stack.sim.send_event("check_suite", suite_b)  # B's suite, delivered late
    stack.sim.rerequest_check_run(old_review.id, user="alice")  # "Re-run" on the first commit
    stack.drain()
    assert heads.current_head(stack.redis, REPO, number, c) == c
    assert conclusions(stack.sim, c) == before and "cancelled" not in before.values()


def test_re_runs_on_a_fork_pr_find_the_pull_request_github_does_not_name(stack):
    sim = stack.sim
    sim.create_repo(REPO, BASE)
    fork = sim.fork(REPO, "carol")
    sim.commit(fork.full_name, "feature", CHANGED, author="carol")
    number = sim.open_pull_request(REPO, "feature", title="from a fork", user="carol", from_fork="carol")
    stack.drain()
    head = sim.pull(REPO, number).head_sha
    review = next(r for r in sim.check_runs(REPO, head_sha=head) if r.name == "shunter/review")
    sim.rerequest_check_run(review.id, user="mona")
    stack.drain()
    assert len(sim.check_runs(REPO, head_sha=head, name="shunter/review")) == 2
    sim.rerequest_check_suite(REPO, head, user="mona")
    stack.drain()
    assert len(sim.check_runs(REPO, head_sha=head, name="shunter/security")) == 2


def test_a_rerun_whose_check_suite_comes_without_head_sha_reruns_the_runs_commit(stack):
    # GitHub's webhook schema lets a check run's suite carry head_sha null; the run's own
    # head_sha is the commit to re-run (the planner crashed building a Target from the null)
    number, head = open_pr(stack)
    sim = stack.sim
    review = next(r for r in sim.check_runs(REPO, head_sha=head) if r.name == "shunter/review")
    event, payload = sim.hub.events.check_run("rerequested", sim.world.repo(REPO), review, "alice", None)
    payload["check_run"]["check_suite"]["head_sha"] = None
    assert payload["check_run"]["check_suite"]["pull_requests"], "GitHub names the PR here"
    sim.send_event(event, payload)
    stack.drain()
    assert len(sim.check_runs(REPO, head_sha=head, name="shunter/review")) == 2
