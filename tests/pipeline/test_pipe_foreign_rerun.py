"""Re-runs of check runs and suites that belong to another App (GitHub Actions, a second
bot) are not Shunter's to act on, even when a workflow names its job ``shunter/review``:
Shunter would otherwise re-plan and run stages nobody asked it for."""

from __future__ import annotations

import structlog
from structlog.testing import capture_logs

from bot.simulator.driver import ACTIONS_APP_ID
from tests.pipeline.test_pipe_replan import REPO, open_pr


def shunters(sim, head: str, name: str) -> int:
    return sum(1 for r in sim.check_runs(REPO, head_sha=head, name=name) if r.app_id == sim.app_id)


def test_a_rerun_of_another_apps_check_named_shunter_is_ignored_and_logged(stack):
    number, head = open_pr(stack)
    sim = stack.sim
    sim.complete_workflow_run(REPO, pull_number=number, name="CI", job="shunter/review", conclusion="failure")
    stack.drain()
    foreign = next(r for r in sim.check_runs(REPO, head_sha=head, name="shunter/review") if r.app_id != sim.app_id)
    assert foreign.app_id == ACTIONS_APP_ID
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        sim.rerequest_check_run(foreign.id, user="alice")
        repo = sim.world.repo(REPO)
        suite = sim.hub.find_suite(repo, head, ACTIONS_APP_ID)
        sim.hub.emit(sim.hub.events.check_suite("rerequested", repo, suite, "alice"))
        stack.drain()
    assert shunters(sim, head, "shunter/review") == 1 and shunters(sim, head, "shunter/security") == 1
    guids = {d.guid for d in sim.deliveries("check_run", "rerequested") + sim.deliveries("check_suite", "rerequested")}
    ignored = [e for e in logs if str(e.get("event", "")).startswith("ignored an event about another App's")]
    assert {e.get("delivery") for e in ignored} == guids and {e.get("app_id") for e in ignored} == {ACTIONS_APP_ID}


def test_a_rerun_of_shunters_own_check_still_runs(stack):
    _, head = open_pr(stack)
    sim = stack.sim
    review = next(r for r in sim.check_runs(REPO, head_sha=head, name="shunter/review"))
    sim.rerequest_check_run(review.id, user="alice")
    sim.rerequest_check_suite(REPO, head, user="alice")
    stack.drain()
    assert shunters(sim, head, "shunter/review") == 3 and shunters(sim, head, "shunter/security") == 2
