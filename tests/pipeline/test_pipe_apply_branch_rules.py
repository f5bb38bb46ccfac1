"""``/shunter apply`` on a pull request whose branch GitHub's rules guard: the author's reply
quotes GitHub's refusal line by line as code, says which rule refused the push and what to
change in ``.github/shunter.yml``, and nothing is retried. Through the simulator (its git
smart HTTP and its branch protection), the real workers, real git and real Redis."""

from __future__ import annotations

from tests.pipeline.test_pipe_apply import ON_COMMAND, REPO, open_pr, replies


def _apply_refused(stack, **rules) -> tuple[str, str]:
    number = open_pr(stack, config=ON_COMMAND + "  push_method: git\n")
    sim = stack.sim
    head = sim.pull(REPO, number).head_sha
    sim.protect_branch(REPO, "feature", **rules)
    sim.comment(REPO, number, "/shunter apply", user="alice")
    stack.drain()
    assert sim.pull(REPO, number).head_sha == head  # nothing landed
    [body] = [r.body for r in replies(sim, number) if "could not apply" in r.body]
    return body, head


def test_required_signatures_say_to_push_through_the_api_and_quote_gh006(stack):
    body, _ = _apply_refused(stack, required_signatures=True)
    assert "> `error: GH006: Protected branch update failed for refs/heads/feature.`" in body, body
    assert "> `- Commits must have verified signatures.`" in body, body
    assert "set `patches.push_method: api` in `.github/shunter.yml`" in body, body
    assert "shunter queue retry" not in body and "failed to push some refs" not in body, body
    assert "ghs_" not in body and "x-access-token" not in body
    pushes = [r for r in stack.sim.recorder.requests if r.method == "POST" and r.path.endswith("/git-receive-pack")]
    assert len(pushes) == 1  # dead-lettered at once, no backoff and push again
    events = [e for e in stack.runtime.store.audit_events(repo=REPO) if e.action == "change.dead_letter"]
    assert [e.reason for e in events] == ["push_rejected"]


def test_a_ruleset_the_app_may_not_bypass_says_to_allow_it_or_use_a_follow_up_pull_request(stack):
    body, _ = _apply_refused(stack, push_allowances=["mona"], ruleset=True)
    assert "> `error: GH013: Repository rule violations found for refs/heads/feature.`" in body, body
    assert "> `- Cannot update this protected ref.`" in body, body
    assert "allow the Shunter App" in body and "set `patches.push_to: pull_request`" in body, body
