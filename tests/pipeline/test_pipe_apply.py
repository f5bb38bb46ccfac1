"""Agent patches through the merge queue, end to end: opt-in policy, "Apply fixes",
`/shunter apply`, protected paths with `/shunter approve`, conflicts, and no loops."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit

import httpx
import pytest
from rq import Queue
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from tests.pipeline.test_pipe_pull_request import release_scheduled, worker_env

REPO = "octo/demo"
ON_COMMAND = "version: 1\npatches:\n  auto_apply:\n    review: on_command\n"
BASE = {"app.py": "def add(a, b):\n    return a + b\n", "README.md": "# demo\n"}
CHANGED = {"app.py": "import os\nimport sys\n\n\ndef add(a, b):\n    return a + b\n"}


def open_pr(stack, config: str | None = ON_COMMAND, files=CHANGED):
    sim = stack.sim
    base = dict(BASE)
    if config:
        base[".github/shunter.yml"] = config
    sim.create_repo(REPO, base)
    sim.set_permission(REPO, "alice", "write")
    sim.set_permission(REPO, "mona", "maintain")
    sim.commit(REPO, "feature", files, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Change", user="alice")
    stack.drain()
    return number


def review_run(sim, head):
    return next(r for r in sim.check_runs(REPO, head_sha=head) if r.name == "shunter/review")


def replies(sim, number):
    return [c for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:reply -->")]


def test_by_default_nothing_is_written_and_the_reply_says_why(stack):
    number = open_pr(stack, config=None)
    sim = stack.sim
    head = sim.pull(REPO, number).head_sha
    assert not any(a["identifier"] == "apply" for a in review_run(sim, head).actions)
    sim.comment(REPO, number, "/shunter apply", user="alice")
    stack.drain()
    assert sim.pull(REPO, number).head_sha == head
    assert "auto_apply" in replies(sim, number)[-1].body


def test_apply_fixes_button_lands_one_commit_and_reruns(stack):
    number = open_pr(stack)
    sim = stack.sim
    head = sim.pull(REPO, number).head_sha
    review = review_run(sim, head)
    assert any(a["identifier"] == "apply" for a in review.actions)
    sim.click_button(review.id, "apply", user="alice")
    stack.drain()
    new_head = sim.pull(REPO, number).head_sha
    assert new_head != head
    content = sim.file(REPO, new_head, "app.py")
    assert "import os" not in content and "import sys" not in content
    reply = replies(sim, number)[-1]
    assert "Shunter pushed" in reply.body and new_head[:7] in reply.body
    # the merge queue's word in the reply is a write like any other: audited
    updates = [e for e in stack.runtime.store.audit_events(repo=REPO) if e.action == "comment.update"]
    assert any(e.target_id == str(reply.id) and e.reason_code == "change_report" for e in updates)
    # the new head was checked again, and the same fix is not offered twice
    assert review_run(sim, new_head).status == "completed"
    events = {e.action for e in stack.runtime.store.audit_events(repo=REPO)}
    assert {"change.requested", "change.landed"} <= events
    # pressing again on the old check run: the change id is the same, nothing lands twice
    sim.click_button(review.id, "apply", user="alice")
    stack.drain()
    assert sim.pull(REPO, number).head_sha == new_head


def test_reader_cannot_apply(stack):
    number = open_pr(stack)
    sim = stack.sim
    sim.set_permission(REPO, "bob", "read")
    head = sim.pull(REPO, number).head_sha
    sim.comment(REPO, number, "/shunter apply review", user="bob")
    stack.drain()
    assert sim.pull(REPO, number).head_sha == head
    assert "needs write permission" in replies(sim, number)[-1].body


def waiting_change(stack, number: int, command: str = "/shunter apply", user: str = "alice") -> tuple[str, str]:
    """Ask for the PR's fixes; returns the reply's text and the id of the change it says
    waits for a maintainer's approval."""
    stack.sim.comment(REPO, number, command, user=user)
    stack.drain()
    body = replies(stack.sim, number)[-1].body
    assert "waits for approval" in body, body
    return body, body.split("/shunter approve ")[1].split("`")[0]


def test_protected_path_waits_for_a_maintainer_approval(stack):
    config = ON_COMMAND + "  protected_paths: ['app.py']\n"
    number = open_pr(stack, config=config)
    sim = stack.sim
    head = sim.pull(REPO, number).head_sha
    _, change_id = waiting_change(stack, number)
    assert sim.pull(REPO, number).head_sha == head
    sim.comment(REPO, number, f"/shunter approve {change_id}", user="alice")  # write is not enough
    stack.drain()
    assert "needs maintain permission" in replies(sim, number)[-1].body
    sim.comment(REPO, number, f"/shunter approve {change_id}", user="mona")
    stack.drain()
    assert sim.pull(REPO, number).head_sha != head


def test_a_change_is_approved_or_retried_only_on_the_pull_request_that_proposed_it(stack):
    config = ON_COMMAND + "  protected_paths: ['app.py']\n"
    number = open_pr(stack, config=config)
    sim = stack.sim
    head = sim.pull(REPO, number).head_sha
    _, change_id = waiting_change(stack, number)
    # eve has no rights on octo/demo, but admin on her own fork, where the App is installed too
    eve = sim.fork(REPO, "eve")
    sim.install("eve")
    sim.set_permission(eve.full_name, "eve", "admin")
    eve_pr = sim.open_pull_request(eve.full_name, "feature", title="mine", user="eve")
    stack.drain()
    for verb in ("approve", "retry"):
        sim.comment(eve.full_name, eve_pr, f"/shunter {verb} {change_id}", user="eve")
        stack.drain()
        assert "on this pull request" in sim.comments(eve.full_name, eve_pr)[-1].body
    assert sim.pull(REPO, number).head_sha == head
    assert not [e for e in stack.runtime.store.audit_events(repo=eve.full_name) if e.action == "change.approved"]
    sim.comment(REPO, number, f"/shunter approve {change_id}", user="mona")  # where it belongs
    stack.drain()
    assert sim.pull(REPO, number).head_sha != head


def test_a_maintainers_approval_lets_a_change_over_the_size_limits_land(stack):
    number = open_pr(stack, config=ON_COMMAND + "  max_lines: 1\n")
    sim = stack.sim
    head = sim.pull(REPO, number).head_sha
    body, change_id = waiting_change(stack, number)
    assert "max_lines" in body
    sim.comment(REPO, number, f"/shunter approve {change_id}", user="mona")
    stack.drain()
    assert sim.pull(REPO, number).head_sha != head


def test_an_approved_change_for_a_fork_pr_lands_on_the_fork(stack):
    sim = stack.sim
    base = {**BASE, ".github/shunter.yml": ON_COMMAND + "  protected_paths: ['app.py']\n"}
    sim.create_repo(REPO, base)
    sim.set_permission(REPO, "mona", "maintain")
    fork = sim.fork(REPO, "carol")
    sim.commit(fork.full_name, "feature", CHANGED, author="carol")
    number = sim.open_pull_request(
        REPO, "feature", title="from a fork", user="carol", from_fork="carol", maintainer_can_modify=True
    )
    stack.drain()
    head = sim.pull(REPO, number).head_sha
    _, change_id = waiting_change(stack, number, "/shunter apply review", user="mona")
    sim.comment(REPO, number, f"/shunter approve {change_id}", user="mona")
    stack.drain()
    assert sim.ref(fork.full_name, "refs/heads/feature") != head


def test_a_true_conflict_is_dead_lettered_with_a_reply(stack):
    number = open_pr(stack)
    sim = stack.sim
    # someone rewrites the same lines before Shunter's change lands
    sim.comment(REPO, number, "/shunter apply", user="alice")
    sim.wait_for_deliveries()
    stack.work(("events",))  # the change is queued; the merge job has not run yet
    sim.commit(REPO, "feature", {"app.py": "import json\n\n\ndef add(a, b):\n    return a + b + 0\n"}, author="alice")
    stack.drain()
    body = "\n".join(r.body for r in replies(sim, number))
    assert "could not apply" in body
    assert "shunter queue retry" in body or "/shunter apply" in body


def test_auto_apply_always_lands_once_and_never_loops(stack):
    number = open_pr(stack, config="version: 1\npatches:\n  auto_apply:\n    review: always\n")
    sim = stack.sim
    stack.drain()
    pull = sim.pull(REPO, number)
    content = sim.file(REPO, pull.head_sha, "app.py")
    assert "import os" not in content  # the fix landed without anyone asking
    pushes = [d for d in sim.deliveries("pull_request", "synchronize")]
    assert len(pushes) == 1  # Shunter's own commit did not trigger another auto-apply
    landed = [e for e in stack.runtime.store.audit_events(repo=REPO) if e.action == "change.landed"]
    assert len(landed) == 1


def open_fork_pr(stack, author, **pull):
    """A PR from ``author``'s fork, with mona a maintainer and patches applied on command;
    returns the simulator, the fork and the PR number, once the PR's checks ran."""
    sim = stack.sim
    base = dict(BASE)
    base[".github/shunter.yml"] = ON_COMMAND
    sim.create_repo(REPO, base)
    sim.set_permission(REPO, "mona", "maintain")
    fork = sim.fork(REPO, author)
    sim.commit(fork.full_name, "feature", CHANGED, author=author)
    number = sim.open_pull_request(REPO, "feature", title="from a fork", user=author, from_fork=author, **pull)
    stack.drain()
    return sim, fork, number


def test_fork_pr_with_maintainer_edits_gets_the_commit_on_the_fork(stack):
    sim, fork, number = open_fork_pr(stack, "carol", maintainer_can_modify=True)
    head = sim.pull(REPO, number).head_sha
    sim.comment(REPO, number, "/shunter apply review", user="mona")
    stack.drain()
    fork_head = sim.ref(fork.full_name, "refs/heads/feature")
    assert fork_head != head, replies(sim, number)[-1].body
    assert "import os" not in sim.file(fork.full_name, fork_head, "app.py")
    assert "Shunter pushed" in replies(sim, number)[-1].body
    assert sim.pull(REPO, number).head_sha == fork_head  # GitHub sent synchronize ...
    assert review_run(sim, fork_head).status == "completed"  # ... and the new head was checked


def test_fork_pr_without_maintainer_edits_falls_back_to_suggestions(stack):
    sim, fork, number = open_fork_pr(stack, "dave")
    before = sim.ref(fork.full_name, "refs/heads/feature")
    sim.comment(REPO, number, "/shunter apply", user="mona")
    stack.drain()
    assert sim.ref(fork.full_name, "refs/heads/feature") == before
    body = replies(sim, number)[-1].body
    assert "posted as 1 suggestion in a review" in body, body
    assert body.count("posted as") == 1, body  # said once, not by the route's reason too
    suggestion = [c for c in sim.review_comments(REPO, number) if "```suggestion" in c.body and "Fix from Shunter" in c.body]
    assert len(suggestion) == 1 and suggestion[0].path == "app.py"


def test_push_to_pull_request_opens_a_follow_up_pr(stack):
    config = ON_COMMAND + "  push_to: pull_request\n"
    number = open_pr(stack, config=config)
    sim = stack.sim
    head = sim.pull(REPO, number).head_sha
    sim.comment(REPO, number, "/shunter apply", user="alice")
    stack.drain()
    assert sim.pull(REPO, number).head_sha == head  # the PR's own branch is untouched
    fixes = sim.ref(REPO, "refs/heads/shunter/feature-fixes")
    assert fixes and fixes != head
    follow_up = sim.pull(REPO, number + 1)
    assert follow_up.head_ref == "shunter/feature-fixes" and follow_up.base_ref == "feature"
    assert f"pull request #{number + 1}" in replies(sim, number)[-1].body


def backing_off_after_a_502(stack) -> tuple[int, str]:
    """A PR whose fixes were applied but not landed: GitHub failed every try of the push's
    ref update (githubkit's three retries included), so the change backs off. Returns the
    PR's number and its head."""
    number = open_pr(stack)
    sim = stack.sim
    head = sim.pull(REPO, number).head_sha
    sim.faults.error(502, pattern="PATCH /repos/*/git/refs/*", times=4)
    sim.click_button(review_run(sim, head).id, "apply", user="alice")
    stack.drain()
    assert sim.pull(REPO, number).head_sha == head  # not landed: the change backs off
    return number, head


def test_a_change_backing_off_after_a_failed_push_lands_when_its_wait_is_over(stack):
    import time

    from rq import Queue
    from rq.registry import ScheduledJobRegistry
    from rq.serializers import JSONSerializer

    from tests.pipeline.test_pipe_pull_request import release_scheduled

    number, head = backing_off_after_a_502(stack)
    sim = stack.sim
    [(_, due_ms)] = stack.redis.zrange(f"shunter:mq:delayed:{REPO}:feature", 0, -1, withscores=True)
    merge = Queue("merge", connection=stack.redis, serializer=JSONSerializer)
    [(_, wake_at)] = stack.redis.zrange(ScheduledJobRegistry(queue=merge).key, 0, -1, withscores=True)
    assert due_ms / 1000 - 1 < wake_at <= due_ms / 1000 + 2  # a job is due when the wait ends (rq keeps whole seconds)
    time.sleep(max(0.0, wake_at - time.time()))  # as rq's scheduler would wait
    assert release_scheduled(stack, "merge") == 1
    stack.drain()
    new_head = sim.pull(REPO, number).head_sha
    assert new_head != head and "import os" not in sim.file(REPO, new_head, "app.py")
    assert "Shunter pushed" in replies(sim, number)[-1].body
    release_scheduled(stack, "merge")
    stack.drain()
    assert ScheduledJobRegistry(queue=merge).count == 0  # nothing left: no job keeps waking up


TWO_STAGES = {
    "app.py": "import os\nimport sys\n\n\ndef add(a, b):\n    return a + b\n",
    "conf.py": "import yaml\n\n\ndef load(text):\n    return yaml.load(text)\n",
    "net.py": "import requests\n\n\ndef get(url):\n    return requests.get(url, verify=False)\n",
}
"""Fixes from two stages: one review change (ruff) and two security changes (one a file)."""


def reports(sim, number):
    return [c for c in sim.comments(REPO, number) if "Shunter pushed" in c.body and not c.body.startswith("<!-- shunter:reply -->")]


def test_changes_auto_applied_together_get_one_report_listing_them(stack):
    config = "version: 1\npatches:\n  auto_apply:\n    review: always\n    security: always\n"
    number = open_pr(stack, config=config, files=TWO_STAGES)
    sim = stack.sim
    landed = [e for e in stack.runtime.store.audit_events(repo=REPO) if e.action == "change.landed"]
    assert len(landed) == 3  # one commit with the three changes, each audited
    [report] = reports(sim, number)
    assert "with 3 changes" in report.body
    assert all(f"`{e.target_id}`" in report.body for e in landed)


def test_each_command_reply_is_told_of_the_landing_it_asked_for(stack):
    config = ON_COMMAND + "    security: on_command\n"
    number = open_pr(stack, config=config, files=TWO_STAGES)
    sim = stack.sim
    sim.comment(REPO, number, "/shunter apply review", user="alice")
    sim.comment(REPO, number, "/shunter apply security", user="alice")
    sim.wait_for_deliveries()
    stack.work(("events",))  # both queued: they land in one batch, one commit
    stack.drain()
    asked = replies(sim, number)
    assert len(asked) == 2
    for reply in asked:
        assert reply.body.count("Shunter pushed") == 1 and "with 3 changes" in reply.body, reply.body
    assert not reports(sim, number)


def test_apply_by_finding_id_takes_only_that_fix_and_a_too_short_id_nothing(stack):
    from types import SimpleNamespace

    from bot.models import StageName
    from bot.pipeline.patches import stored_drafts

    config = ON_COMMAND + "    security: on_command\n"
    number = open_pr(stack, config=config, files=TWO_STAGES)
    sim = stack.sim
    head = sim.pull(REPO, number).head_sha
    pr = SimpleNamespace(repo=REPO, head_sha=head)
    offered = {stage: stored_drafts(stack.redis, pr, stage) for stage in StageName}  # type: ignore[arg-type]
    assert offered[StageName.REVIEW] and offered[StageName.SECURITY]
    sim.comment(REPO, number, "/shunter apply a", user="alice")  # it matched every fix starting with "a"
    stack.drain()
    body = replies(sim, number)[-1].body
    assert "too short to name a finding" in body, body
    assert sim.pull(REPO, number).head_sha == head  # nothing queued, nothing landed
    sim.comment(REPO, number, "/shunter apply Security abcdef12", user="alice")  # no such finding
    stack.drain()
    assert "`abcdef12` is not the id of a finding" in replies(sim, number)[-1].body
    assert sim.pull(REPO, number).head_sha == head
    review_id = offered[StageName.REVIEW][0].finding_fingerprints[0][:8]
    sim.comment(REPO, number, f"/shunter apply {review_id.upper()}", user="alice")
    stack.drain()
    new_head = sim.pull(REPO, number).head_sha
    assert new_head != head
    assert "import os" not in sim.file(REPO, new_head, "app.py")  # the review fix landed
    assert "yaml.load(" in sim.file(REPO, new_head, "conf.py")  # the security fix did not


def test_a_finding_id_that_fits_several_fixes_names_them_and_queues_nothing():
    from bot.models import FileDiff, PatchDraft, StageName
    from bot.pipeline.patches import _finding_ids_problem

    def draft(stage: StageName, title: str, *fingerprints: str) -> PatchDraft:
        files = [FileDiff(path="a.py", diff="", pre_image_blob=None)]
        return PatchDraft(stage=stage, title=title, files=files, finding_fingerprints=list(fingerprints))

    ruff = draft(StageName.REVIEW, "Apply 2 safe ruff fixes", "f9220a2e" + "0" * 32, "c0ffee11" + "0" * 32)
    yaml = draft(StageName.SECURITY, "Security fixes in conf.py", "f9220aae" + "1" * 32)
    assert _finding_ids_problem({"f9220a2e"}, [ruff, yaml]) is None  # an exact id: one fix
    assert _finding_ids_problem({"c0ffee"}, [ruff, yaml]) is None  # a unique prefix: one fix
    problem = _finding_ids_problem({"f9220a"}, [ruff, yaml])
    assert problem is not None and "fits findings of 2 different fixes" in problem
    assert "review: Apply 2 safe ruff fixes" in problem and "security: Security fixes in conf.py" in problem
    assert "too short" in (_finding_ids_problem({"f92"}, [ruff, yaml]) or "")
    # an id that names no offered fix is said so, not ignored beside a stage name
    assert "is not the id of a finding with a fix" in (_finding_ids_problem({"abcdef12"}, [ruff, yaml]) or "")


def test_a_merge_job_woken_early_by_a_fast_scheduler_clock_schedules_the_next(stack):
    """rq's scheduler runs on some worker's clock: one a few seconds fast (another host)
    wakes the job before the backoff ends. That job must not take its own wake-up for one
    still to come, or the change would wait for the next change to be submitted."""
    import time

    from rq import Queue
    from rq.registry import ScheduledJobRegistry
    from rq.serializers import JSONSerializer

    from tests.pipeline.test_pipe_pull_request import release_scheduled

    number, head = backing_off_after_a_502(stack)
    sim = stack.sim
    merge = Queue("merge", connection=stack.redis, serializer=JSONSerializer)
    assert release_scheduled(stack, "merge") == 1  # early: the backoff has seconds to go
    stack.drain()
    assert sim.pull(REPO, number).head_sha == head  # nothing claimable yet ...
    [(_, wake_at)] = stack.redis.zrange(ScheduledJobRegistry(queue=merge).key, 0, -1, withscores=True)
    time.sleep(max(0.0, wake_at - time.time()))  # ... so a job waits for the backoff again
    assert release_scheduled(stack, "merge") == 1
    stack.drain()
    assert sim.pull(REPO, number).head_sha != head
    assert "Shunter pushed" in replies(sim, number)[-1].body


@pytest.mark.parametrize(
    ("asked_by", "push_method"), [("button", "git"), ("comment", "git"), ("button", "api")]
)
def test_landed_commit_is_the_bot_users_and_credits_the_requesters_account(stack, asked_by, push_method):
    """GitHub links a commit to the account owning its e-mail: the merge queue's commit is
    the App's bot user's (``<id>+<slug>[bot]@users.noreply.<host>``, the id of
    ``GET /users/<slug>[bot]``), and the trailer credits whoever asked by their account id,
    never ``<login>@users.noreply.github.com`` (the user "shunter", or a renamed login's heir).
    Through the Git Data API, GitHub itself makes the commit the bot user's."""
    number = open_pr(stack, config=ON_COMMAND + f"  push_method: {push_method}\n")
    sim = stack.sim
    head = sim.pull(REPO, number).head_sha
    if asked_by == "button":
        sim.click_button(review_run(sim, head).id, "apply", user="alice")
    else:
        sim.comment(REPO, number, "/shunter apply", user="alice")
    stack.drain()
    new_head = sim.pull(REPO, number).head_sha
    assert new_head != head
    commit = sim.world.repo(REPO).git[new_head]
    bot = httpx.get(f"{sim.url}/users/{sim.world.app.slug}[bot]").json()
    alice = httpx.get(f"{sim.url}/users/alice").json()
    assert bot["type"] == "Bot" and bot["id"] != sim.world.app.id
    domain = f"users.noreply.{urlsplit(sim.url).hostname}"
    if push_method == "git":
        who = (bot["login"], f"{bot['id']}+{bot['login']}@{domain}")
        assert (commit.author.name, commit.author.email) == who
        assert (commit.committer.name, commit.committer.email) == who
    else:  # the simulator's own no-reply domain; the id is what links the account
        assert commit.author.name == bot["login"]
        assert commit.author.email.startswith(f"{bot['id']}+{bot['login']}@users.noreply.")
    assert f"Co-authored-by: alice <{alice['id']}+alice@{domain}>" in commit.message.splitlines()
    assert "users.noreply.github.com" not in commit.message


def kill_events_worker_at(stack, stall) -> None:
    """Run a `shunter worker --no-fork` on the events queue until ``stall`` (a latency
    fault) holds it mid-job, and SIGKILL it there (no cleanup, as when a host dies)."""
    worker = subprocess.Popen(
        # --no-fork: the job runs in the process killed (a forking worker's horse has a
        # process group of its own and would live on), and rq's scheduler dies with it
        [sys.executable, "-m", "bot.cli", "worker", "--no-fork", "--queues", "events"],
        env=worker_env(stack),
        start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while not stall.fired and time.time() < deadline:
            time.sleep(0.01)
        assert stall.fired, "the worker never reached the stalled request"
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)


def retry_abandoned_events(stack) -> None:
    """Retry the killed worker's job as rq's maintenance does once its lease has lapsed."""
    events = Queue("events", connection=stack.redis, serializer=JSONSerializer)
    StartedJobRegistry(queue=events).cleanup(timestamp=10**12)
    release_scheduled(stack, "events")
    stack.drain()


def test_a_worker_killed_mid_command_is_retried_and_the_command_runs(stack):
    """A `shunter worker` SIGKILLed after it marked the comment as processed: rq's retry of
    the delivery used to drop the command as a repeat, so nothing landed, the command's
    record stayed `running` and (killed a moment later) the reply said "Working on it…" for
    good. The retry runs it, once."""
    number = open_pr(stack)
    sim = stack.sim
    head = sim.pull(REPO, number).head_sha
    # the 👀 on the comment comes right after the mark: hold the worker there, then kill it
    stall = sim.faults.latency(15, "POST /repos/*/issues/comments/*/reactions", times=1)
    sim.comment(REPO, number, "/shunter apply", user="alice")
    sim.wait_for_deliveries()
    kill_events_worker_at(stack, stall)
    retry_abandoned_events(stack)
    new_head = sim.pull(REPO, number).head_sha
    assert new_head != head, "the retried /shunter apply did not run"
    [reply] = replies(sim, number)
    assert "Working on it" not in reply.body and f"Shunter pushed [{new_head[:7]}]" in reply.body
    outcomes = [c.outcome for c in stack.runtime.store.recent_commands(REPO, number) if c.verb == "apply"]
    assert outcomes == ["done"]
    # the same delivery once more (its job ended): a repeat again, nothing runs twice
    sim.redeliver(sim.deliveries("issue_comment", "created")[-1].id)
    stack.drain()
    assert sim.pull(REPO, number).head_sha == new_head and len(replies(sim, number)) == 1


def test_a_worker_killed_mid_button_press_leaves_one_reply_that_ends(stack):
    """Apply fixes pressed, the worker killed after its "Working on it…" reply: rq's retry
    of the press used to post a second reply and leave the first saying "Working on it…"
    for good. The retry edits the reply it made."""
    number = open_pr(stack)
    sim = stack.sim
    head = sim.pull(REPO, number).head_sha
    # the apply fetches the PR once its reply is up: hold the worker there, then kill it
    stall = sim.faults.latency(15, f"GET /{REPO}.git/info/refs", times=1)
    sim.click_button(review_run(sim, head).id, "apply", user="alice")
    sim.wait_for_deliveries()
    kill_events_worker_at(stack, stall)
    [working] = replies(sim, number)
    assert "Working on it" in working.body
    retry_abandoned_events(stack)
    new_head = sim.pull(REPO, number).head_sha
    assert new_head != head
    [reply] = replies(sim, number)
    assert reply.id == working.id and "Working on it" not in reply.body
    assert f"Shunter pushed [{new_head[:7]}]" in reply.body
