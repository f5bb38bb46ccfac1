"""Repositories and installations changing under Shunter: renamed, transferred, given
another default branch, archived, deleted; the App suspended and unsuspended. Through the
simulator (which renames, transfers, archives and suspends as GitHub does, with its
webhooks and its redirects), real git, real Redis and the real workers.

Before, a rename left a paused pull request running again and its dismissed findings back
(both were keyed by the old name), the old name's git copies stayed on disk, and the
``repository`` event was not even subscribed to. A job on an archived repository or a
suspended installation failed with a traceback into rq's failed registry each time (and a
stage's run record stayed queued) instead of stopping with a word on why.
"""

from __future__ import annotations

import pytest
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from bot.git.mirror import mirror_path
from bot.pipeline import heads
from bot.queue.merge import MergeQueue
from tests.pipeline.test_pipe_access_lost import queue_a_fix
from tests.pipeline.test_pipe_apply import BASE, CHANGED, REPO, open_pr

NEW = "octo/renamed"


def failed_jobs(stack) -> list[str]:
    found = []
    for name in ("events", "stages", "merge"):
        registry = FailedJobRegistry(name, connection=stack.redis, serializer=JSONSerializer)
        found += registry.get_job_ids()
    return found


def shunter_runs(sim, repo, head):
    return {r.name: (r.status, r.conclusion) for r in sim.check_runs(repo, head_sha=head)}


def test_after_a_rename_a_paused_pull_request_stays_paused_under_the_new_name(stack):
    sim = stack.sim
    number = open_pr(stack)
    sim.comment(REPO, number, "/shunter pause", user="alice")
    stack.drain()
    assert stack.runtime.store.is_paused(REPO, number)
    old_mirror = mirror_path(stack.runtime.settings.data_dir, REPO)
    assert (old_mirror / "HEAD").is_file()
    sim.rename_repo(REPO, "renamed")
    stack.drain()
    assert not old_mirror.exists()  # the next job fetches under the new name
    sim.commit(NEW, "feature", {"later.py": "x = 1\n"}, author="alice")
    stack.drain()
    head = sim.pull(NEW, number).head_sha
    runs = shunter_runs(sim, NEW, head)
    assert runs and all(conclusion == "skipped" for _, conclusion in runs.values()), runs
    [event] = stack.runtime.store.audit_events(repo=NEW, action="repository.moved")
    assert event.target_id == REPO
    assert failed_jobs(stack) == []


def test_after_a_rename_checks_run_under_the_new_name_and_a_queued_change_still_lands(stack):
    sim = stack.sim
    number = open_pr(stack)
    change_id = queue_a_fix(stack, number)
    sim.rename_repo(REPO, "renamed")
    stack.drain()  # the merge job for the old name follows GitHub's redirects
    entry = MergeQueue(stack.redis).get(change_id)
    assert entry is not None and entry.state == "landed", entry
    head = sim.pull(NEW, number).head_sha
    assert "import os" not in sim.file(NEW, head, "app.py")
    assert "Shunter pushed" in replies_in(sim, NEW, number)[-1].body
    assert set(shunter_runs(sim, NEW, head).values()) == {("completed", "success")}
    summaries = [c for c in sim.comments(NEW, number) if "<!-- shunter:summary -->" in c.body]
    assert len(summaries) == 1
    assert failed_jobs(stack) == []


def replies_in(sim, repo, number):
    return [c for c in sim.comments(repo, number) if c.body.startswith("<!-- shunter:reply -->")]


def test_config_is_read_from_the_new_default_branch(stack):
    sim = stack.sim
    review_only = "version: 1\nstages:\n  tests:\n    enabled: false\n  security:\n    enabled: false\n"
    tests_only = "version: 1\nstages:\n  review:\n    enabled: false\n  security:\n    enabled: false\n"
    sim.create_repo(REPO, {**BASE, ".github/shunter.yml": review_only})
    sim.commit(REPO, "trunk", {".github/shunter.yml": tests_only})
    sim.commit(REPO, "feature", CHANGED, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Change", user="alice")
    stack.drain()
    assert set(shunter_runs(sim, REPO, sim.pull(REPO, number).head_sha)) == {"shunter/review"}
    sim.set_default_branch(REPO, "trunk")
    sim.commit(REPO, "feature", {"later.py": "x = 1\n"}, author="alice")
    stack.drain()
    assert set(shunter_runs(sim, REPO, sim.pull(REPO, number).head_sha)) == {"shunter/tests"}


def test_an_archived_repository_stops_shunter_quietly_with_a_reason(stack):
    sim = stack.sim
    number = open_pr(stack)
    change_id = queue_a_fix(stack, number)
    sim.commit(REPO, "feature", {"later.py": "x = 1\n"}, author="alice")
    sim.wait_for_deliveries()
    stack.work(("events",))  # the stages of the new head are planned, not run
    head = sim.pull(REPO, number).head_sha
    sim.comment(REPO, number, "/shunter help", user="alice")
    sim.wait_for_deliveries()  # its event job is queued
    sim.archive(REPO)
    stack.drain()
    assert failed_jobs(stack) == []  # nothing failed, nothing to retry
    assert MergeQueue(stack.redis).get(change_id) is None
    audit = {(e.action, e.reason_code) for e in stack.runtime.store.audit_events(repo=REPO)}
    expected = {("change.dropped", "archived"), ("stage.dropped", "archived"), ("event.dropped", "archived")}
    assert expected <= audit, audit
    runs = stack.runtime.store.runs_for_head(REPO, head)
    assert runs and {run.conclusion for run in runs} == {"skipped"}


def test_a_suspended_installation_stops_jobs_quietly_and_unsuspending_resumes(stack):
    sim = stack.sim
    number = open_pr(stack)
    sim.commit(REPO, "feature", {"later.py": "x = 1\n"}, author="alice")
    sim.wait_for_deliveries()
    stack.work(("events",))
    sim.suspend("octo")
    stack.drain()
    assert failed_jobs(stack) == []
    audit = {(e.action, e.reason_code) for e in stack.runtime.store.audit_events(repo=REPO)}
    assert ("stage.dropped", "suspended") in audit, audit
    sim.unsuspend("octo")
    sim.commit(REPO, "feature", {"later.py": "x = 2\n"}, author="alice")
    stack.drain()
    head = sim.pull(REPO, number).head_sha
    assert set(shunter_runs(sim, REPO, head).values()) == {("completed", "success")}


def test_a_deleted_repository_leaves_no_copy(stack):
    sim = stack.sim
    open_pr(stack)
    mirror = mirror_path(stack.runtime.settings.data_dir, REPO)
    assert (mirror / "HEAD").is_file()
    sim.send_event(*sim.hub.events.repository("deleted", sim.world.repo(REPO), "octo"))
    stack.drain()
    assert not mirror.exists()


def test_a_change_for_an_archived_repository_is_not_retried_when_no_event_said_so(stack):
    """An App whose settings predate the ``repository`` subscription hears of no archive:
    the merge worker meets GitHub's 403 and dead-letters the change at once, naming why,
    instead of delaying it for retries that all fail the same way."""
    sim = stack.sim
    number = open_pr(stack)
    change_id = queue_a_fix(stack, number)
    sim.world.repo(REPO).archived = True  # archived with no webhook
    stack.drain()
    entry = MergeQueue(stack.redis).get(change_id)
    assert entry is not None and entry.state == "dead", entry
    assert entry.fields.get("attempts") == "1"
    [event] = stack.runtime.store.audit_events(repo=REPO, action="change.dead_letter")
    assert event.reason == "archived", event
    assert failed_jobs(stack) == []


def test_newly_accepted_permissions_apply_at_once_not_when_the_cached_token_expires(stack):
    """An installation token carries the permissions it was minted with: one cached before
    the owner accepted new permissions lacked them for up to an hour."""
    sim = stack.sim
    sim.create_repo(REPO, dict(BASE))
    inst_id = sim.installation_id(REPO)
    before = stack.runtime.github.installation_token(inst_id)
    inst = sim.world.installations[inst_id]
    inst.permissions = {**inst.permissions, "workflows": "write"}
    sim.send_event(*sim.hub.events.installation("new_permissions_accepted", inst, "octo"))
    stack.drain()
    after = stack.runtime.github.installation_token(inst_id)
    assert after != before
    assert sim.world.tokens[after].permissions.get("workflows") == "write"


def test_after_a_rename_a_job_under_the_old_name_sees_the_new_head_and_the_close(stack):
    # Before, heads and closed state stayed keyed by the old name: a stage job queued or
    # running under the old name was never superseded by a push after the rename (it went on
    # publishing for a head the PR no longer had) and never saw the PR closed.
    sim = stack.sim
    number = open_pr(stack)
    first = sim.pull(REPO, number).head_sha
    sim.rename_repo(REPO, "renamed")
    stack.drain()
    assert heads.current_head(stack.redis, NEW, number, first) == first
    sim.commit(NEW, "feature", {"later.py": "x = 1\n"}, author="alice")
    stack.drain()
    second = sim.pull(NEW, number).head_sha
    assert heads.is_superseded(stack.redis, REPO, number, first) == second
    assert heads.is_superseded(stack.redis, NEW, number, second) is None
    sim.close_pull_request(NEW, number)
    stack.drain()
    assert heads.closed_state(stack.redis, REPO, number) == "closed"
    assert failed_jobs(stack) == []


def summaries_in(sim, repo, number):
    return [c for c in sim.comments(repo, number) if "<!-- shunter:summary -->" in c.body]


@pytest.mark.parametrize("event_first", [True, False])
def test_an_event_under_the_new_name_before_or_after_the_rename_runs_nothing_twice(stack, event_first):
    # Before, a pull request event carrying the new name handled before ``repository
    # renamed`` found no state under that name: the stages of the same head ran again (a
    # second set of check runs) and the inline comments were posted twice. The repository's
    # id (the same after a rename) now tells the event the name it had. In order, the
    # stages planned for the head stayed under the old name and ran again too.
    sim = stack.sim
    number = open_pr(stack)
    head = sim.pull(REPO, number).head_sha
    sim.close_pull_request(REPO, number)
    stack.drain()
    inline = len(sim.review_comments(REPO, number))
    runs = len(sim.check_runs(REPO, head_sha=head))
    assert inline and runs
    if event_first:
        url = sim.webhook_url
        sim.webhook_url = None  # hold the deliveries, to send them in the other order
        sim.rename_repo(REPO, "renamed")
        sim.reopen_pull_request(NEW, number)
        stack.drain()
        sim.webhook_url = url
        sim.redeliver(sim.deliveries("pull_request", "reopened")[-1].id)
        stack.drain()
        sim.redeliver(sim.deliveries("repository", "renamed")[-1].id)
    else:
        sim.rename_repo(REPO, "renamed")
        stack.drain()
        sim.reopen_pull_request(NEW, number)
    stack.drain()
    assert len(sim.review_comments(NEW, number)) == inline
    assert len(sim.check_runs(NEW, head_sha=head)) == runs
    assert len(summaries_in(sim, NEW, number)) == 1
    assert len(stack.runtime.store.audit_events(repo=NEW, action="repository.moved")) == 1
    assert failed_jobs(stack) == []
