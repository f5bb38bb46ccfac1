"""Branch protection and rulesets refusing the merge queue's push, through the simulator over
loopback HTTP, real git and real Redis: a refusal that will never pass is dead-lettered at
once (no backoff, no second push), quotes GitHub's own lines and says which rule refused it
and what to change."""

from __future__ import annotations

import pytest

from bot.queue.merge_worker import process_once
from tests.mergequeue.test_mq_simulator import ORIGINAL, REPO, change, sim, wiring  # noqa: F401


def _refused(sim, tmp_path, mq, method: str):  # noqa: F811
    """Queue one fix for ``main`` and run the worker once: the head before, and the outcome."""
    store, pushers, policy = wiring(sim, tmp_path, method)
    cr = change(sim, "app.py", ORIGINAL.replace("line 5\n", "line five\n"))
    mq.enqueue(cr, policy)
    before = sim.ref(REPO, "main")
    return cr, before, process_once(mq, store, owner_id="w", pushers=pushers)


def _pushes(sim) -> int:  # noqa: F811
    return sum(
        1
        for r in sim.recorder.requests
        if r.path.endswith("/git-receive-pack") and r.method == "POST"
        or (r.method == "PATCH" and "/git/refs/" in r.path)
    )


def test_unsigned_git_push_is_dead_lettered_at_once_with_githubs_reason_and_the_api_advice(sim, tmp_path, mq):  # noqa: F811
    sim.protect_branch(REPO, "main", required_signatures=True)
    cr, before, outcome = _refused(sim, tmp_path, mq, "git")
    assert sim.ref(REPO, "main") == before and outcome.report is None and not outcome.retried
    [letter] = outcome.dead
    assert letter.reason == "push_rejected"
    assert "GH006: Protected branch update failed for refs/heads/main." in letter.detail, letter.detail
    assert "Commits must have verified signatures." in letter.detail, letter.detail
    assert "push_method: api" in (letter.hint or ""), letter.hint
    assert mq.get(cr.id).state == "dead" and mq.get(cr.id).attempts == 1
    assert _pushes(sim) == 1


def test_api_push_passes_required_signatures(sim, tmp_path, mq):  # noqa: F811
    """GitHub signs the commits it makes through the Git Data API: the rule lets them in."""
    sim.protect_branch(REPO, "main", required_signatures=True, ruleset=True)
    _, before, outcome = _refused(sim, tmp_path, mq, "api")
    assert outcome.report is not None and not outcome.dead
    assert sim.ref(REPO, "main") == outcome.report.commit_sha != before


@pytest.mark.parametrize("method", ["api", "git"])
@pytest.mark.parametrize("ruleset", [False, True])
def test_a_branch_the_app_may_not_push_to_says_to_allow_it_or_open_a_pull_request(
    sim, tmp_path, mq, method, ruleset  # noqa: F811
):
    sim.protect_branch(REPO, "main", push_allowances=["mona"], ruleset=ruleset)
    cr, before, outcome = _refused(sim, tmp_path, mq, method)
    assert sim.ref(REPO, "main") == before and not outcome.retried
    [letter] = outcome.dead
    sentence = "Cannot update this protected ref." if ruleset else "You're not authorized to push to this branch."
    assert sentence in letter.detail, letter.detail
    assert "push_to: pull_request" in (letter.hint or "") and "allow" in (letter.hint or ""), letter.hint
    assert mq.get(cr.id).attempts == 1 and _pushes(sim) == 1


@pytest.mark.parametrize("method", ["api", "git"])
def test_required_status_checks_refuse_a_new_commit_and_say_to_use_a_pull_request(sim, tmp_path, mq, method):  # noqa: F811
    sim.protect_branch(REPO, "main", required_checks=["ci"])
    _, before, outcome = _refused(sim, tmp_path, mq, method)
    assert sim.ref(REPO, "main") == before and not outcome.retried
    [letter] = outcome.dead
    assert 'Required status check "ci" is expected.' in letter.detail, letter.detail
    assert "push_to: pull_request" in (letter.hint or ""), letter.hint


def test_the_default_branch_without_rules_takes_unsigned_git_pushes(sim, tmp_path, mq):  # noqa: F811
    sim.protect_branch(REPO, "other", required_signatures=True)
    _, before, outcome = _refused(sim, tmp_path, mq, "git")
    assert outcome.report is not None and sim.ref(REPO, "main") == outcome.report.commit_sha != before


def test_the_quoted_refusal_keeps_githubs_lines_and_drops_tokens_and_progress():
    from bot.git.push_refusals import remote_refusal, rule_advice

    token = "ghs_" + "a1" * 18
    output = (
        "To https://github.com/octo/demo.git\n"
        "!\tabc:refs/heads/main\t[remote rejected] (protected branch hook declined)\nDone\n"
        "remote: Resolving deltas: 100% (1/1), completed with 1 local object.\n"
        "remote: error: GH006: Protected branch update failed for refs/heads/main.\n"
        f"remote: error: hook saw https://x-access-token:{token}@github.com/octo/demo.git\n"
        "error: failed to push some refs to 'https://github.com/octo/demo.git'\n"
    )
    said = remote_refusal(output, token)
    assert said.splitlines() == [
        "error: GH006: Protected branch update failed for refs/heads/main.",
        "error: hook saw https://x-access-token:***@github.com/octo/demo.git",
        "refs/heads/main [remote rejected] (protected branch hook declined)",
    ]
    assert rule_advice(said, "git") is None  # no rule named: the reply keeps its usual advice
