"""Deliveries shaped as GitHub sends them, not as Shunter's simulator does, signed and POSTed
to Shunter's web app on loopback (``sim.send_event``) and handled by a real rq worker.

The simulator writes the fields Shunter's engineers knew about; GitHub's payloads differ in
ways that bite. Each fixture below is compact but keeps the real shape of the fields that
matter, and says where that shape comes from (GitHub's example payloads in octokit/webhooks,
``payload-examples/api.github.com/<event>/<action>.payload.json``, and the REST docs).
"""

from __future__ import annotations

from typing import Any

from rq.job import Job
from rq.serializers import JSONSerializer

REPO = "octo/demo"
BASE = {"app.py": "def add(a, b):\n    return a + b\n", "README.md": "# demo\n"}


def opened_pr(stack) -> tuple[int, dict[str, Any]]:
    """A PR opened and fully checked; returns its number and the ``opened`` delivery's payload."""
    sim = stack.sim
    sim.create_repo(REPO, BASE)
    sim.commit(
        REPO, "feature", {"app.py": "import os\n\n\ndef add(a, b):\n    return a + b\n"}, author="alice"
    )
    number = sim.open_pull_request(REPO, "feature", title="Change add", user="alice")
    stack.drain()
    return number, sim.deliveries("pull_request", "opened")[0].payload


def handled(stack, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """POST the payload as a signed delivery, run the events worker, return the job's outcome
    (failing the test with the job's traceback when the handler raised)."""
    delivery = stack.sim.send_event(event, payload)
    stack.sim.wait_for_deliveries()
    assert delivery.status_code == 202, delivery.response_body
    stack.work(("events",))
    keys = list(stack.redis.scan_iter(f"rq:job:delivery-{delivery.guid}-*"))
    assert len(keys) == 1
    job = Job.fetch(keys[0].decode().split(":", 2)[2], connection=stack.redis, serializer=JSONSerializer)
    assert job.is_finished, job.exc_info
    return job.return_value()


def from_app(opened: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """``fields`` plus what every delivery of the App on this repository carries."""
    return {**fields, **{key: opened[key] for key in ("repository", "sender", "installation")}}


def upstream_pull(head_sha: str) -> dict[str, Any]:
    """A pull request as check suites and check runs list it (GitHub's check-run-pull-request
    schema: ``url, id, number, head, base``, each end naming its repository by ``id, url,
    name``), here the one the suite's branch has in *another* repository: GitHub lists the
    pull requests whose head branch is the suite's, wherever they were opened, so a
    repository whose branch is also proposed upstream sees the upstream PR, numbered there."""
    return {
        "url": "https://api.github.com/repos/upstream/demo/pulls/77",
        "id": 1440942501,
        "number": 77,
        "head": {"ref": "feature", "sha": head_sha, "repo": {"id": 1, "url": "https://api.github.com/repos/octo/demo", "name": "demo"}},
        "base": {"ref": "main", "sha": "d" * 40, "repo": {"id": 619082494, "url": "https://api.github.com/repos/upstream/demo", "name": "demo"}},
    }  # fmt: skip


def test_rerun_of_a_suite_that_lists_only_another_repositorys_pr_reruns_this_repositorys_pr(stack):
    """Before: Shunter read ``pull_requests[0]`` as one of this repository's, asked for
    octo/demo#77 and the job failed with GitHub's 404; "Re-run all checks" did nothing."""
    number, opened = opened_pr(stack)
    head_sha = opened["pull_request"]["head"]["sha"]
    before = len(stack.sim.check_runs(REPO, head_sha=head_sha))
    suite = from_app(
        opened,
        action="rerequested",
        # check_suite/rerequested.payload.json: head_branch, head_sha, pull_requests, app
        check_suite={
            "id": 118578174, "head_branch": "feature", "head_sha": head_sha, "status": "completed",
            "pull_requests": [upstream_pull(head_sha)], "app": {"id": stack.sim.app_id},
        },
    )  # fmt: skip
    outcome = handled(stack, "check_suite", suite)
    assert "planning.planned" in outcome["handled_by"], outcome
    # the stages were planned again for this repository's PR (found from Shunter's own runs)
    assert len(stack.sim.check_runs(REPO, head_sha=head_sha)) == before + 3
    assert stack.sim.pull(REPO, number).head_sha == head_sha


def test_a_suite_requested_for_another_repositorys_pr_plans_nothing_and_fails_no_job(stack):
    _, opened = opened_pr(stack)
    head_sha = "c" * 40  # a push to the branch the upstream PR proposes
    suite = from_app(
        opened,
        action="requested",
        check_suite={
            "id": 7,
            "head_branch": "feature",
            "head_sha": head_sha,
            "pull_requests": [upstream_pull(head_sha)],
        },
    )
    outcome = handled(stack, "check_suite", suite)
    assert outcome["notes"] == ["the check suite's commit belongs to no pull request of this repository"]


def test_a_button_on_a_check_run_listing_another_repositorys_pr_acts_on_this_repositorys_pr(stack):
    """Before: the Re-run button read octo/demo#77 and the job failed with GitHub's 404."""
    _, opened = opened_pr(stack)
    head_sha = opened["pull_request"]["head"]["sha"]
    review = stack.sim.check_runs(REPO, head_sha=head_sha, name="shunter/review")[-1]
    listed = [upstream_pull(head_sha)]
    press = from_app(
        opened,
        action="requested_action",
        # check_run/requested_action.payload.json: check_run.pull_requests, check_suite, app
        check_run={
            "id": review.id, "name": review.name, "head_sha": head_sha, "status": "completed",
            "pull_requests": listed, "app": {"id": stack.sim.app_id},
            "check_suite": {"id": 7, "head_branch": "feature", "head_sha": head_sha, "pull_requests": listed},
        },
        requested_action={"identifier": "rerun"},
    )  # fmt: skip
    outcome = handled(stack, "check_run", press)
    assert "buttons.ran" in outcome["handled_by"], outcome
    assert len(stack.sim.check_runs(REPO, head_sha=head_sha, name="shunter/review")) == 2


def test_fixes_for_a_pr_whose_fork_was_deleted_are_suggested_not_queued_for_a_branch_here(stack):
    """GitHub sends ``pull_request.head.repo: null`` once the fork a PR came from is deleted
    (the REST schema's ``head.repo`` is nullable; the PR and its head commit stay). Before,
    Shunter took such a PR for one of this repository's branches: with ``auto_apply:
    always`` it queued the fix for octo/demo's own ``feature`` branch (bob's, unrelated) and
    told the PR that ``feature`` had been force-pushed; had that branch held the PR's head,
    Shunter would have pushed onto it."""
    sim = stack.sim
    sim.create_repo(
        REPO, {**BASE, ".github/shunter.yml": "version: 1\npatches:\n  auto_apply:\n    review: always\n"}
    )
    sim.commit(REPO, "feature", {"README.md": "# bob's own work\n"}, author="bob")
    fork = sim.fork(REPO, "carol")
    sim.commit(
        fork.full_name,
        "feature",
        {"app.py": "import os\n\n\ndef add(a, b):\n    return a + b\n"},
        author="carol",
    )
    url, sim.webhook_url = sim.webhook_url, None  # the opened event is recorded, not sent
    number = sim.open_pull_request(REPO, "feature", title="from a fork", user="carol", from_fork="carol")
    sim.wait_for_deliveries()
    sim.webhook_url = url
    opened = sim.deliveries("pull_request", "opened")[-1].payload
    pull = {**opened["pull_request"], "head": {**opened["pull_request"]["head"], "repo": None}}
    refs = sim.refs(REPO)

    handled(stack, "pull_request", {**opened, "pull_request": pull})
    stack.drain()

    assert sim.refs(REPO) == refs
    actions = [e.action for e in stack.runtime.store.audit_events(repo=REPO)]
    assert "change.requested" not in actions and "change.dead_letter" not in actions
    assert any("suggestions" in (r.body or "") for r in sim.reviews(REPO, number))
    assert not any("force-pushed" in c.body for c in sim.comments(REPO, number))


def test_a_command_on_a_plain_issue_is_ignored_with_the_reason_in_the_outcome(stack):
    """issue_comment/created.payload.json: an ``issue`` with no ``pull_request`` key (a plain
    issue; ``body`` null), a comment with ``performed_via_github_app: null``. Before, the job
    ended with nothing handled and no note: an operator could not tell why nothing ran."""
    _, opened = opened_pr(stack)
    comment = from_app(
        opened,
        action="created",
        issue={"number": 99, "title": "Spelling error in the README file", "state": "open", "locked": False,
               "body": None, "user": {"login": "Codertocat", "type": "User"}, "performed_via_github_app": None},
        comment={"id": 492700400, "body": "/shunter review", "user": {"login": "Codertocat", "type": "User"},
                 "performed_via_github_app": None},
    )  # fmt: skip
    outcome = handled(stack, "issue_comment", comment)
    assert outcome["handled_by"] == ["comments.ignored"]
    assert outcome["notes"] == [
        "a comment on an issue, not on a pull request: Shunter commands run on pull requests only"
    ]
    assert stack.sim.comments(REPO, 99) == []
