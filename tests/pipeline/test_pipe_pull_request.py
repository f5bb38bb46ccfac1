"""PR opened -> check runs queued at once -> completed with annotations; the summary comment;
re-push supersedes; merge groups; big outputs; a killed worker; config from the default branch."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

from rq import Queue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from bot.models import StageName

REPO = "octo/demo"
BASE = {
    "app.py": "def add(a, b):\n    return a + b\n",
    "tests/test_app.py": "from app import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
    "README.md": "# demo\n",
}
CHANGED = "import os\n\n\ndef add(a, b):\n    breakpoint()\n    return a + b\n"


def open_pr(sim, files, branch="feature", base_files=BASE, **kw):
    sim.create_repo(REPO, base_files)
    sim.commit(REPO, branch, files, author="alice")
    return sim.open_pull_request(REPO, branch, title="Change add", user="alice", **kw)


def by_name(runs):
    return {r.name: r for r in runs}


def calls(sim):
    return Counter(re.sub(r"/\d+", "/N", f"{r.method} {r.path}") for r in sim.recorder.requests)


def release_scheduled(stack, name="stages"):
    """Move the queue's scheduled jobs (retries, delayed jobs) in now, as rq's scheduler
    would once their time came; returns how many."""
    jobs = Queue(name, connection=stack.redis, serializer=JSONSerializer)
    scheduled = ScheduledJobRegistry(queue=jobs)
    due = scheduled.get_jobs_to_schedule(timestamp=10**12)
    for job_id in due:
        scheduled.remove(job_id)
        jobs.enqueue_job(jobs.fetch_job(job_id))
    return len(due)


def test_opened_pr_gets_queued_then_completed_checks_and_one_summary(stack):
    sim = stack.sim
    number = open_pr(sim, {"app.py": CHANGED})
    sim.wait_for_deliveries()
    stack.work(("events",))  # planning only
    runs = by_name(sim.check_runs(REPO))
    assert set(runs) == {"shunter/review", "shunter/security", "shunter/tests"}
    assert {r.status for r in runs.values()} == {"queued"}

    stack.drain()
    runs = by_name(sim.check_runs(REPO))
    review = runs["shunter/review"]
    assert review.status == "completed"
    assert review.conclusion == "failure"  # breakpoint() is an error by default
    messages = " ".join(a["message"] for a in review.annotations)
    assert "breakpoint" in messages.lower()
    assert all(a["path"] == "app.py" for a in review.annotations)
    # ruff could fix the import, but writing to branches is opt-in: no "Apply fixes" by default
    assert not any(b["identifier"] == "apply" for b in review.actions)
    assert any(b["identifier"] == "rerun" for b in review.actions)
    assert all(r.status == "completed" for r in runs.values())

    comments = sim.comments(REPO, number)
    summaries = [c for c in comments if c.body.startswith("<!-- shunter:summary -->")]
    assert len(summaries) == 1
    assert "shunter/review" in summaries[0].body and "shunter/security" in summaries[0].body
    # every write left an audit event with the delivery id
    events = stack.runtime.store.audit_events(repo=REPO)
    assert {e.action for e in events} >= {"check_run.create", "check_run.complete", "comment.create"}
    assert all(e.delivery_id for e in events)


def test_repush_supersedes_and_never_duplicates(stack):
    sim = stack.sim
    number = open_pr(sim, {"app.py": CHANGED})
    sim.wait_for_deliveries()
    stack.work(("events",))
    old_runs = by_name(sim.check_runs(REPO))
    # a newer push lands before the first stage jobs ran
    sim.commit(REPO, "feature", {"app.py": CHANGED + "\n\ndef sub(a, b):\n    return a - b\n"}, author="alice")
    stack.drain()
    for run in old_runs.values():
        now = next(r for r in sim.check_runs(REPO) if r.id == run.id)
        assert now.conclusion == "cancelled", now
        assert "Superseded by" in (now.title or "")
    head = sim.pull(REPO, number).head_sha
    current = [r for r in sim.check_runs(REPO) if r.head_sha == head]
    assert {r.status for r in current} == {"completed"} and len(current) == 3
    first_comments = len(sim.review_comments(REPO, number))
    # and once more: the same findings are not commented again
    sim.commit(REPO, "feature", {"README.md": "# demo v2\n"}, author="alice")
    stack.drain()
    summaries = [c for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:summary -->")]
    assert len(summaries) == 1
    assert len(sim.review_comments(REPO, number)) == first_comments
    assert first_comments > 0


def test_more_than_fifty_annotations_take_several_patches(stack):
    sim = stack.sim
    imports = "".join(f"import mod{i}\n" for i in range(120))
    open_pr(sim, {"many.py": imports})
    stack.drain()
    review = by_name(sim.check_runs(REPO))["shunter/review"]
    assert review.status == "completed"
    assert len(review.annotations) >= 100
    rejected = [r for r in sim.recorder.requests if "check-runs" in r.path and r.status >= 400]
    assert rejected == []
    assert calls(sim)["PATCH /repos/octo/demo/check-runs/N"] >= 3 + 2  # completes, follow-ups


def test_huge_summary_is_truncated_and_accepted(stack):
    sim = stack.sim
    imports = "".join(f"import a_really_long_module_name_number_{i:05d}_for_testing_limits\n" for i in range(3000))
    open_pr(sim, {"huge.py": imports})
    stack.drain()
    review = by_name(sim.check_runs(REPO))["shunter/review"]
    assert review.status == "completed"
    assert len(review.summary or "") <= 65535 and len(review.text or "") <= 65535
    assert "not shown" in (review.summary or "") + (review.text or "") or "left out" in (review.summary or "") + (review.text or "")
    assert [r for r in sim.recorder.requests if r.status == 422] == []


def test_merge_group_reports_on_the_group_head(stack):
    sim = stack.sim
    number = open_pr(sim, {"app.py": CHANGED})
    stack.drain()
    group_sha = sim.request_merge_group(REPO, number)
    stack.drain()
    group_runs = [r for r in sim.check_runs(REPO) if r.head_sha == group_sha]
    assert {r.name for r in group_runs} == {"shunter/review", "shunter/security", "shunter/tests"}
    assert all(r.status == "completed" for r in group_runs)


def worker_env(stack) -> dict[str, str]:
    st = stack.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUNTER_")}
    env.update(stack.sim.settings_env())
    env.update(SHUNTER_DATA_DIR=str(st.data_dir), SHUNTER_REDIS_URL=stack.runtime.redis_url,
               SHUNTER_MUTATION_INTERVAL="0", SHUNTER_LOG_LEVEL="WARNING",
               SHUNTER_PROGRESS_AFTER="0")  # mark in_progress at once: the test waits for it
    return env


def test_a_worker_killed_mid_stage_is_retried_and_concludes(stack):
    sim = stack.sim
    many = {f"pkg/mod{i}.py": "import os\n" + "".join(f"def f{j}(x):\n    return x + {j}\n" for j in range(40)) for i in range(120)}
    open_pr(sim, many)
    sim.wait_for_deliveries()
    stack.work(("events",))
    review = by_name(sim.check_runs(REPO))["shunter/review"]
    # its own process group: the worker forks a work horse per job and rq's scheduler, and
    # a SIGKILL to the worker alone left the scheduler running for good, holding the test
    # database's scheduler lock into later test runs
    worker = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "worker", "--queues", "stages"],
        env=worker_env(stack),
        start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if any(r.status == "in_progress" for r in sim.check_runs(REPO)):
                break
            time.sleep(0.01)
        else:
            raise AssertionError("no stage started")
        os.killpg(worker.pid, signal.SIGKILL)  # the machine dies mid-stage: no cleanup, no conclusion
        worker.wait(10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
    stuck = [r for r in sim.check_runs(REPO) if r.status == "in_progress"]
    assert stuck, "the kill should have left a check run in progress"
    # rq's maintenance, once the job's lease has expired, finds the job abandoned and retries it
    stages = Queue("stages", connection=stack.redis, serializer=JSONSerializer)
    StartedJobRegistry(queue=stages).cleanup(timestamp=10**12)
    release_scheduled(stack)
    stack.drain()
    for run in stuck:
        now = next(r for r in sim.check_runs(REPO) if r.id == run.id)
        assert now.status == "completed" and now.conclusion in {"success", "failure", "neutral"}, now
    assert by_name(sim.check_runs(REPO))["shunter/review"].id == review.id


def test_pr_cannot_disable_security_in_its_own_branch(stack):
    sim = stack.sim
    files = {"app.py": "import pickle\n\n\ndef load(b):\n    return pickle.loads(b)\n",
             ".github/shunter.yml": "version: 1\nstages:\n  security:\n    enabled: false\n"}
    open_pr(sim, files)
    stack.drain()
    runs = by_name(sim.check_runs(REPO))
    assert runs["shunter/security"].status == "completed"
    assert runs["shunter/security"].conclusion == "failure"
    preview = runs["shunter/config"]
    assert "does not take effect" in (preview.summary or "")


def test_invalid_config_on_default_branch_fails_config_check_with_line(stack):
    sim = stack.sim
    base = dict(BASE)
    base[".github/shunter.yml"] = "version: 1\nstages:\n  review:\n    enabled: true\n    fial_on: warning\n"
    open_pr(sim, {"app.py": CHANGED}, base_files=base)
    stack.drain()
    runs = by_name(sim.check_runs(REPO))
    config = runs["shunter/config"]
    assert config.conclusion == "failure"
    assert config.annotations and config.annotations[0]["start_line"] == 5
    assert "fail_on" in config.annotations[0]["message"]  # did you mean
    assert runs["shunter/review"].status == "completed"  # Shunter keeps working on defaults


def test_security_sarif_is_uploaded_when_the_config_asks(stack):
    sim = stack.sim
    base = dict(BASE)
    base[".github/shunter.yml"] = "version: 1\nstages:\n  security:\n    upload_sarif: true\n"
    open_pr(sim, {"app.py": "import yaml\n\n\ndef load(s):\n    return yaml.load(s)\n"}, base_files=base)
    stack.drain()
    uploads = [r for r in sim.recorder.requests if r.method == "POST" and r.path.endswith("/code-scanning/sarifs")]
    assert len(uploads) == 1 and uploads[0].status == 202
    actions = {e.action for e in stack.runtime.store.audit_events(repo=REPO)}
    assert "code_scanning.upload" in actions


def test_run_pages_show_the_trace_and_the_sarif(stack):
    import httpx

    sim = stack.sim
    open_pr(sim, {"app.py": "import yaml\n\n\ndef load(s):\n    return yaml.load(s)\n"})
    stack.drain()
    security = by_name(sim.check_runs(REPO))["shunter/security"]
    run_id = int(security.external_id)
    base = f"http://127.0.0.1:{stack.web.port}"
    # the check run's Details link carries the run's token
    assert security.details_url and security.details_url.startswith(f"{stack.settings.public_url}/runs/{run_id}?t=")
    token = security.details_url.split("?t=")[1]
    page = httpx.get(f"{base}/runs/{run_id}?t={token}")
    assert page.status_code == 200
    assert "check_run.complete" in page.text and "stage:security" in page.text
    assert f"/runs/{run_id}/sarif?t={token}" in page.text
    sarif = httpx.get(f"{base}/runs/{run_id}/sarif?t={token}").json()
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    # ids count up: without the token (or with another run's) a run's page and SARIF do not exist
    for url in (f"/runs/{run_id}", f"/runs/{run_id}?t=0000", f"/runs/{run_id}/sarif", f"/runs/{run_id - 1}?t={token}"):
        assert httpx.get(base + url).status_code == 404, url
    assert httpx.get(f"{base}/runs/999999?t={token}").status_code == 404
    assert httpx.get(f"{base}/runs/abc").status_code == 400


def test_bursts_for_one_head_collapse_into_one_plan(stack):
    sim = stack.sim
    number = open_pr(sim, {"app.py": CHANGED})
    sim.close_pull_request(REPO, number)
    sim.reopen_pull_request(REPO, number)
    opened = sim.deliveries("pull_request", "opened")[-1]
    sim.redeliver(opened.id)  # GitHub keeps the delivery id on redelivery: deduplicated
    sim.send_event("check_suite", {
        "action": "requested", "check_suite": {"head_sha": sim.pull(REPO, number).head_sha,
                                               "pull_requests": [{"number": number, "head": {"ref": "feature"},
                                                                  "base": {"ref": "main"}}]},
        "repository": opened.payload["repository"], "installation": opened.payload["installation"],
        "sender": {"login": "github", "type": "Bot"},
    })
    stack.drain()
    runs = sim.check_runs(REPO)
    assert sorted(r.name for r in runs) == ["shunter/review", "shunter/security", "shunter/tests"]
    assert sim.deliveries("pull_request", "opened")[-1].status_code in (200, 202)


def test_tests_stage_offers_a_generated_test_for_an_untested_function(stack):
    sim = stack.sim
    sim.create_repo(REPO, BASE)
    sim.set_permission(REPO, "alice", "write")
    sim.commit(REPO, "feature", {"mathx.py": (
        "def clamp(value: int, low: int, high: int) -> int:\n"
        '    """Keep value within [low, high]."""\n'
        "    if low > high:\n"
        "        raise ValueError('low > high')\n"
        "    return max(low, min(value, high))\n"
    )}, author="alice")
    sim.open_pull_request(REPO, "feature", title="clamp", user="alice")
    stack.drain(timeout=300)
    tests = by_name(sim.check_runs(REPO))["shunter/tests"]
    assert tests.status == "completed", tests
    text = (tests.summary or "") + (tests.text or "")
    assert "clamp" in text
    assert any(a["identifier"] == "rerun" for a in tests.actions)
    drafts = stack.redis.lrange(f"shunter:patches:{REPO}:{sim.pull(REPO, 1).head_sha}:tests", 0, -1)
    assert drafts, text[:2000]  # a kept test, offered as a patch
    assert b"def test_" in drafts[0]
    assert calls(sim)["GET /repos/octo/demo/collaborators/alice/permission"] == 1  # asked to run code


def test_no_permission_lookup_when_the_tests_stage_has_nothing_to_run(stack):
    sim = stack.sim
    open_pr(sim, {"README.md": "# demo\n\nMore words.\n", "data.json": "{}\n"})
    stack.drain()
    tests = by_name(sim.check_runs(REPO))["shunter/tests"]
    assert tests.status == "completed" and "No changed Python function" in (tests.summary or "")
    assert not [r for r in sim.recorder.requests if "/collaborators/" in r.path]


def test_fork_pr_code_is_not_run_by_the_tests_stage(stack):
    sim = stack.sim
    sim.create_repo(REPO, BASE)
    fork = sim.fork(REPO, "mallory")
    sim.commit(fork.full_name, "evil", {"mathx.py": "def f(x: int) -> int:\n    return x\n"}, author="mallory")
    sim.open_pull_request(REPO, "evil", title="fork", user="mallory", from_fork="mallory")
    stack.drain(timeout=300)
    tests = by_name(sim.check_runs(REPO))["shunter/tests"]
    assert tests.conclusion == "neutral"
    assert "comes from a fork or from an author without write permission" in (tests.summary or "")


def test_the_loop_with_postgresql_as_the_store(redis_url, postgres_url, tmp_path):
    import secrets

    from bot.stack import LocalStack

    repo = f"octo/pg-{secrets.token_hex(4)}"  # the database is shared with other test runs
    with LocalStack(tmp_path / "pg", redis_url=redis_url, database_url=postgres_url) as st:
        sim = st.sim
        sim.create_repo(repo, BASE)
        sim.commit(repo, "feature", {"app.py": CHANGED}, author="alice")
        number = sim.open_pull_request(repo, "feature", title="pg", user="alice")
        st.drain()
        assert {r.status for r in sim.check_runs(repo)} == {"completed"}
        assert st.runtime.store.dialect == "postgresql"
        runs = st.runtime.store.runs_for_pr(repo, number)
        assert len(runs) == 3 and all(r.conclusion for r in runs)
        assert st.runtime.store.get_summary_comment_id(repo, number) is not None


def test_a_stage_that_cannot_run_ends_neutral_and_is_not_retried(stack):
    sim = stack.sim
    open_pr(sim, {"app.py": CHANGED})
    sim.wait_for_deliveries()
    stack.work(("events",))
    sim.faults.error(403, "* /octo/demo.git/*", times=None)  # git refuses the mirror fetch
    stack.drain()
    runs = by_name(sim.check_runs(REPO))
    assert {r.conclusion for r in runs.values()} == {"neutral"}
    assert "could not finish" in (runs["shunter/review"].title or "").lower()
    failed = stack.redis.zrange("rq:failed:stages", 0, -1)
    scheduled = stack.redis.zrange("rq:scheduled:stages", 0, -1)
    assert len(failed) == 3 and scheduled == []


def test_transient_git_failures_are_retried_then_concluded(stack):
    from rq import Queue
    from rq.registry import ScheduledJobRegistry
    from rq.serializers import JSONSerializer

    sim = stack.sim
    open_pr(sim, {"app.py": CHANGED})
    sim.wait_for_deliveries()
    stack.work(("events",))
    fault = sim.faults.error(503, "* /octo/demo.git/*", times=None)  # git is down for now
    stack.work(("stages",))
    stages = Queue("stages", connection=stack.redis, serializer=JSONSerializer)
    scheduled = ScheduledJobRegistry(queue=stages)
    assert len(scheduled.get_job_ids()) == 3  # each stage waits for a retry, check in progress
    assert {r.status for r in sim.check_runs(REPO)} == {"in_progress"}
    sim.faults.remove(fault)  # git is back
    release_scheduled(stack)
    stack.drain()
    runs = by_name(sim.check_runs(REPO))
    assert {r.status for r in runs.values()} == {"completed"}
    assert runs["shunter/review"].conclusion == "failure"  # the real verdict, after the retry


def test_when_retries_run_out_the_check_is_concluded_not_left_in_progress(stack):
    from rq import Queue
    from rq.registry import FailedJobRegistry
    from rq.serializers import JSONSerializer

    sim = stack.sim
    open_pr(sim, {"app.py": CHANGED})
    sim.wait_for_deliveries()
    stack.work(("events",))
    sim.faults.error(503, "* /octo/demo.git/*", times=None)  # git stays down
    stages = Queue("stages", connection=stack.redis, serializer=JSONSerializer)
    for _ in range(5):
        stack.work(("stages",))
        release_scheduled(stack)
    runs = by_name(sim.check_runs(REPO))
    assert {r.conclusion for r in runs.values()} == {"neutral"}
    assert "gave up after retries" in (runs["shunter/review"].summary or "")
    assert len(FailedJobRegistry(queue=stages).get_job_ids()) == 3


def check_run_patches(sim):
    return [r for r in sim.recorder.requests if r.method == "PATCH" and "/check-runs/" in r.path]


def test_quick_stages_skip_the_in_progress_mark_and_the_summary_is_written_once(stack):
    sim = stack.sim
    number = open_pr(sim, {"app.py": CHANGED})
    stack.drain()
    runs = by_name(sim.check_runs(REPO))
    assert {r.status for r in runs.values()} == {"completed"}
    patches = check_run_patches(sim)
    # each stage ends well inside the 2 s grace period: queued -> completed, no spinner PATCH
    assert not [p for p in patches if p.body.get("status") == "in_progress"]
    concluding = [p for p in patches if p.body.get("status") == "completed"]
    assert len(concluding) == 3
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", p.body["started_at"]) for p in concluding)
    # one summary comment, created when the last stage finished: no create-then-edit
    assert calls(sim)["POST /repos/octo/demo/issues/N/comments"] == 1
    assert calls(sim)["PATCH /repos/octo/demo/issues/comments/N"] == 0
    summary = next(c for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:summary -->"))
    assert all(name in summary.body for name in runs)
    # the patient summary job, when its time comes, finds the last stage wrote it already
    assert release_scheduled(stack, "events") == 1
    stack.work(("events",))
    assert calls(sim)["PATCH /repos/octo/demo/issues/comments/N"] == 0
    # a new push edits it once, when its stages are all done
    sim.commit(REPO, "feature", {"README.md": "# demo v2\n"}, author="alice")
    stack.drain()
    assert calls(sim)["POST /repos/octo/demo/issues/N/comments"] == 1
    assert calls(sim)["PATCH /repos/octo/demo/issues/comments/N"] == 1


def test_stages_outlasting_the_grace_period_are_marked_in_progress_first(redis_url, tmp_path):
    from bot.stack import LocalStack

    with LocalStack(tmp_path / "stack", redis_url=redis_url, progress_after=0.001) as stack:
        sim = stack.sim
        open_pr(sim, {"app.py": CHANGED})
        stack.drain()
        by_run: dict[str, list[dict]] = {}
        for patch in check_run_patches(sim):
            by_run.setdefault(patch.path, []).append(patch.body)
        assert len(by_run) == 3
        for bodies in by_run.values():
            statuses = [b.get("status") for b in bodies]
            assert statuses[0] == "in_progress" and "started_at" in bodies[0]
            assert statuses[1] == "completed" and "started_at" not in bodies[1]


def test_a_config_pushed_to_the_default_branch_applies_to_the_next_pr_at_once(stack):
    sim = stack.sim
    open_pr(sim, {"app.py": CHANGED})
    stack.drain()
    assert by_name(sim.check_runs(REPO))["shunter/security"].conclusion != "skipped"
    reads = calls(sim)["GET /repos/octo/demo/contents/.github/shunter.yml"]
    # a second PR moments later reuses the answers every worker shares: no config request
    sim.commit(REPO, "second", {"lib.py": "X = 1\n"}, author="alice")
    sim.open_pull_request(REPO, "second", title="Second", user="alice")
    stack.drain()
    assert calls(sim)["GET /repos/octo/demo/contents/.github/shunter.yml"] == reads
    # the push of a new config drops them, so the next PR reads and obeys it
    sim.commit(REPO, "main", {".github/shunter.yml": "version: 1\nstages:\n  security:\n    enabled: false\n"},
               author="alice")
    stack.drain()
    sim.commit(REPO, "third", {"other.py": "Y = 2\n"}, author="alice")
    number = sim.open_pull_request(REPO, "third", title="Third", user="alice")
    stack.drain()
    assert calls(sim)["GET /repos/octo/demo/contents/.github/shunter.yml"] == reads + 1
    head = sim.pull(REPO, number).head_sha
    security = by_name([r for r in sim.check_runs(REPO) if r.head_sha == head]).get("shunter/security")
    assert security is None or security.conclusion == "skipped"


def test_a_force_push_that_undoes_a_config_change_applies_to_the_next_pr_at_once(stack):
    from bot.simulator import gitstore

    sim = stack.sim
    open_pr(sim, {"app.py": CHANGED})
    stack.drain()
    repo = sim._repo(REPO)
    good = gitstore.ref_sha(repo.git, "refs/heads/main")
    off = "version: 1\nstages:\n  security:\n    enabled: false\n"
    sim.commit(REPO, "main", {".github/shunter.yml": off}, author="alice")
    stack.drain()
    bad = gitstore.ref_sha(repo.git, "refs/heads/main")
    # `git push -f origin good:main`: the push lists no commit at all
    with sim.world.lock:
        repo.git.references.create("refs/heads/main", good, force=True)
        sim.hub.refs_changed(repo, [("refs/heads/main", bad, good)], "alice", forced={"refs/heads/main"})
    stack.drain()
    assert sim.deliveries("push")[-1].payload["commits"] == []
    sim.commit(REPO, "third", {"other.py": "import pickle\n\n\ndef f(b):\n    return pickle.loads(b)\n"},
               author="alice")
    number = sim.open_pull_request(REPO, "third", title="Third", user="alice")
    stack.drain()
    head = sim.pull(REPO, number).head_sha
    security = by_name([r for r in sim.check_runs(REPO) if r.head_sha == head])["shunter/security"]
    assert security.conclusion not in (None, "skipped")


def test_a_config_with_a_number_python_cannot_read_is_reported_and_checks_still_run(stack):
    sim = stack.sim
    open_pr(sim, {"app.py": CHANGED}, base_files={**BASE, ".github/shunter.yml": "version: 1\npatches:\n  max_files: 0x_\n"})
    stack.drain()
    runs = by_name(sim.check_runs(REPO))
    assert runs["shunter/config"].conclusion == "failure" and "3:14" in (runs["shunter/config"].summary or "") + str(
        runs["shunter/config"].annotations
    )
    assert runs["shunter/review"].status == "completed"


def test_a_bug_in_a_stage_is_retried_and_the_last_attempt_concludes_the_check(stack, monkeypatch):
    from rq.registry import FailedJobRegistry

    import bot.pipeline.stage_job as stage_job

    def broken(stage, ctx, payload):
        raise KeyError("ghs_should_never_be_shown")

    monkeypatch.setattr(stage_job, "_run_engine", broken)
    sim = stack.sim
    open_pr(sim, {"app.py": CHANGED})
    sim.wait_for_deliveries()
    stack.work(("events",))
    stages = Queue("stages", connection=stack.redis, serializer=JSONSerializer)
    stack.work(("stages",))
    assert {r.status for r in sim.check_runs(REPO)} == {"in_progress"}  # waiting for a retry
    for _ in range(3):
        release_scheduled(stack)
        stack.work(("stages",))
    runs = by_name(sim.check_runs(REPO))
    assert {r.conclusion for r in runs.values()} == {"neutral"}
    summary = runs["shunter/review"].summary or ""
    assert "internal error (KeyError)" in summary and "ghs_" not in summary
    assert len(FailedJobRegistry(queue=stages).get_job_ids()) == 3


def test_the_owner_of_a_personal_repository_is_trusted_without_asking(stack):
    sim = stack.sim
    sim.create_repo("alice/tool", BASE)
    sim.commit("alice/tool", "feature", {"mathx.py": "def double(x: int) -> int:\n    return 2 * x\n"},
               author="alice")
    sim.open_pull_request("alice/tool", "feature", title="double", user="alice")
    stack.drain(timeout=300)
    tests = by_name(sim.check_runs("alice/tool"))["shunter/tests"]
    assert tests.status == "completed"
    assert "without write permission" not in (tests.summary or "")  # her code was run
    assert not [r for r in sim.recorder.requests if "/collaborators/" in r.path]


def test_a_late_in_progress_mark_never_reopens_a_superseded_check(redis_url, tmp_path):
    from bot.pipeline import heads
    from bot.pipeline.facts import Target
    from bot.pipeline.publisher import Publisher
    from bot.stack import LocalStack

    with LocalStack(tmp_path / "stack", redis_url=redis_url, progress_after=0) as stack:
        sim = stack.sim
        open_pr(sim, {"app.py": CHANGED})
        sim.wait_for_deliveries()
        stack.work(("events",))
        stages = Queue("stages", connection=stack.redis, serializer=JSONSerializer)
        payload = stages.fetch_job(stages.job_ids[0]).args[0]
        target = Target.model_validate(payload["target"])
        check_run_id = int(payload["check_run_id"])
        sim.commit(REPO, "feature", {"app.py": CHANGED + "\nX = 1\n"}, author="alice")
        sim.wait_for_deliveries()
        stack.work(("events",))  # the planner concludes the old head's checks: cancelled
        assert heads.is_superseded(stack.redis, REPO, target.number, target.head_sha)

        def patches() -> int:
            return len([p for p in check_run_patches(sim) if p.path.endswith(f"/{check_run_id}")])

        before = patches()
        gh = stack.runtime.github.installation(target.installation_id)
        publisher = Publisher(gh, stack.runtime, target, delivery_id=None)
        # the old job's mark, were it to fire now, asks first and stays silent
        publisher.start_check(
            check_run_id, StageName.REVIEW,
            wanted=lambda: not heads.is_superseded(stack.redis, REPO, target.number, target.head_sha),
        )
        assert patches() == before
        old = next(r for r in sim.check_runs(REPO) if r.id == check_run_id)
        assert (old.status, old.conclusion) == ("completed", "cancelled")
        Publisher(gh, stack.runtime, target, delivery_id=None).start_check(check_run_id, StageName.REVIEW)
        assert patches() == before + 1  # without the question it would have gone out


def test_a_slow_stage_does_not_hide_the_summary_beyond_the_patience(stack):
    sim = stack.sim
    number = open_pr(sim, {"app.py": CHANGED})
    sim.wait_for_deliveries()
    stack.work(("events",))
    stages = Queue("stages", connection=stack.redis, serializer=JSONSerializer)
    slow = next(stages.fetch_job(i) for i in stages.job_ids if "-tests-" in i)
    stages.remove(slow.id)  # the tests stage is still "running"
    stack.work(("stages",))

    def summaries():
        return [c for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:summary -->")]

    assert summaries() == []  # two of three stages done: not yet
    assert release_scheduled(stack, "events") == 1  # one patient job per head: its time has come
    stack.work(("events",))
    (early,) = summaries()
    early_id, early_body = early.id, early.body
    tests_row = next(line for line in early_body.splitlines() if "`shunter/tests`" in line)
    assert "queued" in tests_row or "running" in tests_row
    assert "`shunter/review`" in early_body
    stages.enqueue_job(slow)
    stack.drain()
    (final,) = summaries()  # the same comment, edited with the last result
    assert final.id == early_id and final.body != early_body
    tests_row = next(line for line in final.body.splitlines() if "`shunter/tests`" in line)
    assert "queued" not in tests_row and "running" not in tests_row
    assert calls(sim)["POST /repos/octo/demo/issues/N/comments"] == 1


def test_a_bug_after_the_verdict_was_published_leaves_the_verdict_standing(stack, monkeypatch):
    import bot.pipeline.stage_job as stage_job
    from bot.pipeline import heads

    def broken(*args, **kwargs):
        raise KeyError("after the check was concluded")

    monkeypatch.setattr(stage_job, "_maybe_auto_apply", broken)
    sim = stack.sim
    open_pr(sim, {"app.py": CHANGED})
    sim.wait_for_deliveries()
    stack.work(("events",))
    for _ in range(4):
        stack.work(("stages",))
        release_scheduled(stack)
    runs = by_name(sim.check_runs(REPO))
    assert runs["shunter/review"].conclusion == "failure"  # breakpoint(): the real verdict
    assert not any("internal error" in (r.summary or "") for r in runs.values())
    head = runs["shunter/review"].head_sha
    assert heads.all_done(stack.redis, REPO, head)  # so the summary is not waited for forever


def test_a_pr_whose_stages_are_all_skipped_still_gets_its_config_previewed(stack):
    sim = stack.sim
    base = dict(BASE)
    off = "\n".join(f"  {stage}:\n    enabled: false" for stage in ("review", "security", "tests"))
    base[".github/shunter.yml"] = f"version: 1\nstages:\n{off}\n"  # every stage switched off
    turn_on = base[".github/shunter.yml"].replace("enabled: false", "enabled: true", 1)
    number = open_pr(sim, {".github/shunter.yml": turn_on}, base_files=base)
    stack.drain()
    runs = by_name(sim.check_runs(REPO))
    assert not {"shunter/review", "shunter/security", "shunter/tests"} & set(runs)  # nothing ran
    preview = runs["shunter/config"]
    assert preview.status == "completed"
    assert "does not take effect" in (preview.summary or "")
    assert "stages.review.enabled" in (preview.summary or "") + (preview.text or "")
    # a later event on the same head (a label) fetches and posts nothing again
    before = len(sim.recorder.requests)
    sim.add_label(REPO, number, "later")
    stack.drain()
    assert [r.name for r in sim.check_runs(REPO)].count("shunter/config") == 1
    assert not any("check-runs" in r.path for r in sim.recorder.requests[before:])


def test_a_draft_that_does_not_touch_the_config_gets_no_preview(stack):
    sim = stack.sim
    open_pr(sim, {"app.py": CHANGED}, draft=True)
    stack.drain()
    runs = by_name(sim.check_runs(REPO))
    assert "shunter/config" not in runs
    assert runs["shunter/review"].conclusion == "skipped"
