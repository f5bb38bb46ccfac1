"""Publishing to GitHub when GitHub misbehaves: failed requests, retried jobs, deleted or
numerous comments. Through the simulator with its fault injection and real Redis."""

from __future__ import annotations

import re

from bot.publishing.inline import fingerprint_in_comment
from bot.simulator.state import IssueComment, ReviewComment
from tests.pipeline.test_pipe_pull_request import (
    BASE,
    CHANGED,
    REPO,
    by_name,
    check_run_patches,
    open_pr,
    release_scheduled,
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


def test_a_summary_whose_create_failed_is_posted_by_the_retry(stack):
    sim = stack.sim
    number = planned(stack)
    fault = sim.faults.error(502, "POST /repos/octo/demo/issues/*/comments", times=FAILS)
    stack.work(("stages",))
    assert fault.fired == FAILS and summaries(sim, number) == []
    assert release_scheduled(stack) == 1
    stack.drain()
    assert len(summaries(sim, number)) == 1
    assert stack.runtime.store.get_summary_comment_id(REPO, number) == summaries(sim, number)[0].id


def test_a_summary_github_took_before_the_connection_broke_is_adopted_not_doubled(stack):
    sim = stack.sim
    number = planned(stack)
    sim.faults.error(502, "POST /repos/octo/demo/issues/*/comments", times=FAILS)
    stack.work(("stages",))
    with sim.world.lock:  # the lost answer's comment is on the PR after all
        cid = sim.world.next_id()
        now = sim.world.clock.now()
        sim.world.issue_comments[cid] = IssueComment(
            id=cid, repo=REPO, number=number, user=sim.bot_login, body=f"{SUMMARY}\nold table",
            created_at=now, updated_at=now,
        )
    release_scheduled(stack)
    stack.drain()
    [summary] = summaries(sim, number)
    assert summary.id == cid and "old table" not in summary.body  # adopted and edited


def test_a_summary_past_the_first_hundred_comments_is_adopted_not_doubled(stack):
    sim = stack.sim
    number = planned(stack)
    sim.faults.error(502, "POST /repos/octo/demo/issues/*/comments", times=FAILS)
    stack.work(("stages",))
    with sim.world.lock:  # a busy PR: 120 comments, then the summary whose answer was lost
        now = sim.world.clock.now()
        for i, user in [(i, "bob") for i in range(120)] + [(120, sim.bot_login)]:
            cid = sim.world.next_id()
            body = f"{SUMMARY}\nold table" if user == sim.bot_login else f"comment {i}"
            sim.world.issue_comments[cid] = IssueComment(
                id=cid, repo=REPO, number=number, user=user, body=body, created_at=now, updated_at=now
            )
    release_scheduled(stack)
    stack.drain()
    [summary] = summaries(sim, number)
    assert summary.id == cid and "old table" not in summary.body


def test_a_deleted_summary_comment_is_posted_again(stack):
    sim = stack.sim
    number = open_pr(sim, {"app.py": CHANGED})
    stack.drain()
    [summary] = summaries(sim, number)
    with sim.world.lock:  # a maintainer deletes it
        del sim.world.issue_comments[summary.id]
    sim.commit(REPO, "feature", {"README.md": "# demo v2\n"}, author="alice")
    stack.drain()
    [again] = summaries(sim, number)
    assert again.id != summary.id and again.id == stack.runtime.store.get_summary_comment_id(REPO, number)
    sim.commit(REPO, "feature", {"README.md": "# demo v3\n"}, author="alice")
    stack.drain()
    assert [c.id for c in summaries(sim, number)] == [again.id]  # edited from then on


def test_a_retry_after_the_verdict_neither_repeats_annotations_nor_reopens_the_check(
    redis_url, tmp_path
):
    from bot.stack import LocalStack

    # a tiny grace period: the retried job's in_progress mark would fire
    with LocalStack(tmp_path / "stack", redis_url=redis_url, progress_after=0.001) as stack:
        sim = stack.sim
        planned(stack)
        sim.faults.error(502, "POST /repos/octo/demo/issues/*/comments", times=FAILS)
        stack.work(("stages",))
        first = annotations(sim)
        assert first["shunter/review"] > 0
        patches = len(check_run_patches(sim))
        release_scheduled(stack)
        stack.drain()
        assert annotations(sim) == first
        runs = by_name(sim.check_runs(REPO))
        assert {r.status for r in runs.values()} == {"completed"}
        assert runs["shunter/review"].conclusion == "failure"
        assert len(check_run_patches(sim)) == patches  # the retry sent no check-run PATCH


def test_inline_comments_whose_review_failed_are_posted_by_the_retry(stack):
    sim = stack.sim
    number = planned(stack)
    sim.faults.error(502, "POST /repos/octo/demo/pulls/*/reviews", times=FAILS)
    stack.work(("stages",))
    assert sim.review_comments(REPO, number) == []
    review = by_name(sim.check_runs(REPO))["shunter/review"]
    assert review.conclusion == "failure"  # the verdict went out before the comments
    assert release_scheduled(stack) == 1
    stack.drain()
    posted = sim.review_comments(REPO, number)
    assert posted
    stored = stack.runtime.store.inline_comments(REPO, number)
    assert {c.fingerprint for c in stored} == {fingerprint_in_comment(c.body) for c in posted}
    assert len(by_name(sim.check_runs(REPO))["shunter/review"].annotations) == len(review.annotations)


def test_inline_comments_github_took_before_the_connection_broke_are_not_posted_twice(stack):
    sim = stack.sim
    number = planned(stack)
    sim.faults.error(502, "POST /repos/octo/demo/pulls/*/reviews", times=FAILS)
    stack.work(("stages",))
    [request] = [r for r in sim.recorder.requests if r.method == "POST" and r.path.endswith("/reviews")][:1]
    head = sim.pull(REPO, number).head_sha
    with sim.world.lock:  # the lost review's comments are on the PR after all
        for item in request.body["comments"]:
            cid = sim.world.next_id()
            sim.world.review_comments[cid] = ReviewComment(
                id=cid, review_id=0, repo=REPO, number=number, user=sim.bot_login,
                body=item["body"], path=item["path"], line=item["line"], side="RIGHT",
                start_line=None, start_side=None, commit_id=head, diff_hunk="@@", position=1,
                created_at=sim.world.clock.now(),
            )
    lost = {c.id for c in sim.review_comments(REPO, number)}
    release_scheduled(stack)
    stack.drain()
    assert {c.id for c in sim.review_comments(REPO, number)} == lost
    assert {c.comment_id for c in stack.runtime.store.inline_comments(REPO, number)} == lost


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


CLEAN = "def add(a, b):\n    return a + b\n"
BAD = "def add(a, b):\n    breakpoint()\n    return a + b\n"


def test_fixed_findings_are_marked_resolved_past_the_first_page_of_review_comments(stack):
    sim = stack.sim
    number = open_pr(sim, {"app.py": CLEAN})
    stack.drain()
    head = sim.pull(REPO, number).head_sha
    with sim.world.lock:  # a busy review: 100 human comments before Shunter's
        for i in range(100):
            cid = sim.world.next_id()
            sim.world.review_comments[cid] = ReviewComment(
                id=cid, review_id=0, repo=REPO, number=number, user="bob", body=f"nit {i}",
                path="app.py", line=1, side="RIGHT", start_line=None, start_side=None,
                commit_id=head, diff_hunk="@@", position=1, created_at=sim.world.clock.now(),
            )
    sim.commit(REPO, "feature", {"app.py": BAD}, author="alice")
    stack.drain()
    mine = [c for c in sim.review_comments(REPO, number) if c.user == sim.bot_login]
    assert mine
    sim.commit(REPO, "feature", {"app.py": CLEAN}, author="alice")  # the findings are fixed
    stack.drain()
    mine = [c for c in sim.review_comments(REPO, number) if c.user == sim.bot_login]
    assert all(c.body.startswith("✅ **Resolved**") for c in mine)
    assert all(c.resolved for c in stack.runtime.store.inline_comments(REPO, number))


RISKY = """import subprocess
import tempfile


def run(cmd):
    return subprocess.call(cmd, shell=True)


def tmp():
    return open("/tmp/x.txt", "w")
"""


def test_dismissing_what_the_security_stage_failed_on_clears_the_check(stack):
    # fails on warnings of high confidence: the shell call; the /tmp path is a medium one
    config = "stages:\n  security:\n    fail_on: warning\n    fail_on_confidence: high\n"
    sim = stack.sim
    number = open_pr(sim, {"app.py": RISKY}, base_files={**BASE, ".github/shunter.yml": config})
    stack.drain()
    security = [r for r in sim.check_runs(REPO) if r.name == "shunter/security"]
    assert [r.conclusion for r in security] == ["failure"]
    found = {a["message"]: a for a in security[0].annotations}
    shell = next(a for m, a in found.items() if "shell" in m)
    short = re.search(r"\b[0-9a-f]{8}\b", shell.get("raw_details") or "")
    assert short, shell
    short = short.group(0)
    sim.set_permission(REPO, "mona", "triage")
    sim.comment(REPO, number, f"/shunter dismiss {short} reviewed: the command is a constant", user="mona")
    sim.comment(REPO, number, "/shunter security", user="alice")
    stack.drain()
    latest = max((r for r in sim.check_runs(REPO) if r.name == "shunter/security"), key=lambda r: r.id)
    assert latest.conclusion == "success"  # the /tmp warning is left, below the confidence bar


def test_a_config_preview_github_failed_to_take_is_posted_by_the_retry(stack):
    sim = stack.sim
    number = open_pr(sim, {"app.py": CHANGED, ".github/shunter.yml": "version: 1\n"})
    sim.wait_for_deliveries()
    stack.work(("events",))  # planned: the stage jobs are queued
    fault = sim.faults.error(502, "POST /repos/octo/demo/check-runs", times=FAILS)
    stack.work(("stages",))
    assert fault.fired == FAILS
    assert release_scheduled(stack) >= 1
    stack.drain()
    head = sim.pull(REPO, number).head_sha
    assert [r.name for r in sim.check_runs(REPO, head_sha=head)].count("shunter/config") == 1


def test_fixes_the_policy_will_not_commit_are_not_offered_as_apply(stack):
    # default policy: patches.auto_apply is never, so neither a button nor /shunter apply works
    sim = stack.sim
    number = open_pr(sim, {"app.py": CHANGED})
    stack.drain()
    review = by_name(sim.check_runs(REPO))["shunter/review"]
    assert "apply" not in [a["identifier"] for a in review.actions]
    assert "Apply fixes" not in review.summary and "/shunter apply" not in review.summary
    assert "`patches.auto_apply.review` is `never`" in review.summary
    summary = summaries(sim, number)[0].body
    assert "/shunter apply" not in summary and "suggestions only" in summary


def test_fixes_the_policy_lets_people_apply_are_offered(stack):
    sim = stack.sim
    config = "patches:\n  auto_apply:\n    review: on_command\n"
    number = open_pr(sim, {"app.py": CHANGED}, base_files={**BASE, ".github/shunter.yml": config})
    stack.drain()
    review = by_name(sim.check_runs(REPO))["shunter/review"]
    assert "apply" in [a["identifier"] for a in review.actions]
    assert review.summary.count("/shunter apply") == 1  # once, not again in the stage's part
    assert "Apply the suggested fixes with `/shunter apply`" in summaries(sim, number)[0].body


def test_stage_summaries_count_in_plain_english(stack):
    sim = stack.sim
    open_pr(sim, {"app.py": CHANGED + "\n\ndef load(b):\n    import pickle\n    return pickle.loads(b)\n"})
    stack.drain()
    runs = by_name(sim.check_runs(REPO))
    review, security = runs["shunter/review"].summary, runs["shunter/security"].summary
    assert "**1 error, 2 warnings** in 1 file" in review and "Reviewed 1 changed file (1 Python)" in review
    assert "1 errors" not in review and "0 notices" not in review
    assert "1 changed file scanned" in security and re.search(r"\(\d+ errors?(, \d+ notices?)?\)", security)
    assert not re.search(r"\b1 (errors|warnings|notices)\b|\b[02-9] (error|warning|notice)\b", security)


BROKEN = "version: 1\nstages:\n  review:\n    fial_on: warning\n"


def config_line(sim, number):
    """The summary's line about the config, after checking it comes before the table."""
    body = summaries(sim, number)[0].body
    line = next(line for line in body.splitlines() if "shunter.yml" in line)
    assert body.index(line) < body.index("| Stage |")  # read before the table
    return line


def test_the_summary_says_the_config_is_broken_and_links_its_check(stack):
    sim = stack.sim
    number = open_pr(sim, {"app.py": CHANGED}, base_files={**BASE, ".github/shunter.yml": BROKEN})
    stack.drain()
    config = by_name(sim.check_runs(REPO))["shunter/config"]
    assert config.conclusion == "failure"
    line = config_line(sim, number)
    assert "`.github/shunter.yml` on `main` has 1 problem" in line
    assert f"/{REPO}/runs/{config.id})" in line  # the link to the check with the annotations
    assert "built-in defaults" in line  # which fallback is in force


def test_the_summary_names_the_last_good_config_and_drops_the_line_once_fixed(stack):
    sim = stack.sim
    good = "version: 1\nstages:\n  security:\n    fail_on: error\n"
    number = open_pr(sim, {"app.py": CHANGED}, base_files={**BASE, ".github/shunter.yml": good})
    stack.drain()
    assert "shunter.yml" not in summaries(sim, number)[0].body
    sim.commit(REPO, "main", {".github/shunter.yml": BROKEN}, author="alice")
    sim.commit(REPO, "feature", {"README.md": "# demo v2\n"}, author="alice")
    stack.drain()
    line = config_line(sim, number)
    assert "has 1 problem" in line and "last good configuration" in line
    sim.commit(REPO, "main", {".github/shunter.yml": good}, author="alice")
    sim.commit(REPO, "feature", {"README.md": "# demo v3\n"}, author="alice")
    stack.drain()
    [summary] = summaries(sim, number)
    assert "shunter.yml" not in summary.body and "| Stage |" in summary.body


def test_the_summary_says_the_config_a_pr_proposes_is_broken(stack):
    sim = stack.sim
    number = open_pr(sim, {"app.py": CHANGED, ".github/shunter.yml": BROKEN})
    stack.drain()
    preview = by_name(sim.check_runs(REPO))["shunter/config"]
    assert preview.conclusion == "failure"
    line = config_line(sim, number)
    assert "This pull request's `.github/shunter.yml` has 1 problem" in line
    assert f"/{REPO}/runs/{preview.id})" in line and "does not apply to this pull request" in line
    # fixed on the next push: the line goes
    sim.commit(REPO, "feature", {".github/shunter.yml": "version: 1\n"}, author="alice")
    stack.drain()
    assert "shunter.yml" not in summaries(sim, number)[0].body


def test_a_rerun_that_keeps_no_test_takes_back_the_earlier_runs_patch(stack):
    from bot.demo import PR_FILES

    sim = stack.sim
    config = "version: 1\npatches:\n  auto_apply:\n    tests: on_command\n"
    base = {"calc/__init__.py": "", "calc/core.py": "def add(a, b):\n    return a + b\n",
            "tests/test_core.py": "from calc.core import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
            ".github/shunter.yml": config}
    clamp = {"calc/core.py": PR_FILES["calc/core.py"].split("\n\n\ndef run")[0] + "\n"}
    sim.create_repo(REPO, base)
    sim.set_permission(REPO, "alice", "write")
    sim.commit(REPO, "feature", clamp, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Add clamp", user="alice")
    stack.drain()
    head = sim.pull(REPO, number).head_sha
    tests_row = lambda: next(x for x in summaries(sim, number)[0].body.splitlines() if "shunter/tests" in x)  # noqa: E731
    assert tests_row().split("|")[4].strip() == "1 generated test"  # the kept test for clamp, offered
    # the policy now generates no test, and the check is re-run on the same head
    sim.commit(REPO, "main", {".github/shunter.yml": config + "stages:\n  tests:\n    max_generated_tests: 0\n"},
               author="alice")
    stack.drain()
    rerun = by_name(sim.check_runs(REPO, head_sha=head))["shunter/tests"]
    sim.rerequest_check_run(rerun.id, user="alice")
    stack.drain()
    latest = max((r for r in sim.check_runs(REPO, head_sha=head) if r.name == "shunter/tests"), key=lambda r: r.id)
    assert latest.id != rerun.id and "max_generated_tests is 0" in (latest.text or "")
    assert "apply" not in [a["identifier"] for a in latest.actions]
    assert tests_row().split("|")[4].strip() == "–"
    # ... so /shunter apply tests must not land the test the earlier run kept
    sim.comment(REPO, number, "/shunter apply tests", user="alice")
    stack.drain()
    assert sim.pull(REPO, number).head_sha == head
    reply = [c.body for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:reply")][-1]
    assert "No fixes to apply" in reply


GOOD = "version: 1\nstages:\n  security:\n    fail_on: error\n"


def comment_edits(sim, comment_id):
    return len(sim.recorder.filter(f"PATCH /repos/{REPO}/issues/comments/{comment_id}"))


def two_prs_one_told_the_config_is_broken(stack):
    """PR 1 opened under a good config, PR 2 after it broke: only PR 2's summary says so."""
    sim = stack.sim
    first = open_pr(sim, {"app.py": CHANGED}, base_files={**BASE, ".github/shunter.yml": GOOD})
    stack.drain()
    sim.commit(REPO, "main", {".github/shunter.yml": BROKEN}, author="alice")
    sim.commit(REPO, "other", {"lib.py": "import os\n"}, author="bob")
    second = sim.open_pull_request(REPO, "other", title="Add lib", user="bob")
    stack.drain()
    assert "shunter.yml" not in summaries(sim, first)[0].body
    assert "has 1 problem" in config_line(sim, second)
    return first, second


def test_fixing_the_config_on_the_default_branch_clears_the_line_from_the_summaries_that_carry_it(stack):
    sim = stack.sim
    first, second = two_prs_one_told_the_config_is_broken(stack)
    [told], [untold] = summaries(sim, second), summaries(sim, first)
    runs, edits_untold = len(sim.check_runs(REPO)), comment_edits(sim, untold.id)
    edits_told = comment_edits(sim, told.id)
    sim.commit(REPO, "main", {".github/shunter.yml": GOOD}, author="alice")
    stack.drain()
    [summary] = summaries(sim, second)
    assert "shunter.yml" not in summary.body
    assert "`shunter/review`" in summary.body and "queued" not in summary.body  # the same table
    assert comment_edits(sim, told.id) == edits_told + 1  # one edit
    assert comment_edits(sim, untold.id) == edits_untold  # a summary without the line: untouched
    assert len(sim.check_runs(REPO)) == runs  # nothing re-ran, no check run added
    # and once it no longer says so, later default-branch pushes leave it alone
    sim.commit(REPO, "main", {".github/shunter.yml": GOOD + "# tuned\n"}, author="alice")
    stack.drain()
    assert comment_edits(sim, told.id) == edits_told + 1


def test_a_default_branch_push_that_leaves_the_config_broken_edits_no_summary(stack):
    sim = stack.sim
    _, second = two_prs_one_told_the_config_is_broken(stack)
    [told] = summaries(sim, second)
    edits = comment_edits(sim, told.id)
    sim.commit(REPO, "main", {".github/shunter.yml": BROKEN + "  tests:\n    enabled: nope\n"}, author="alice")
    stack.drain()
    assert comment_edits(sim, told.id) == edits
    assert "has 1 problem" in config_line(sim, second)


def test_a_config_found_good_when_another_pr_is_planned_clears_the_line_everywhere(stack):
    from bot.pipeline.config_loader import invalidate

    sim = stack.sim
    first = open_pr(sim, {"app.py": CHANGED}, base_files={**BASE, ".github/shunter.yml": BROKEN})
    stack.drain()
    sim.commit(REPO, "other", {"lib.py": "import os\n"}, author="bob")
    second = sim.open_pull_request(REPO, "other", title="Add lib", user="bob")
    stack.drain()
    assert "has 1 problem" in config_line(sim, first) and "has 1 problem" in config_line(sim, second)
    url, sim.webhook_url = sim.webhook_url, None  # the fixing push never reaches Shunter
    sim.commit(REPO, "main", {".github/shunter.yml": GOOD}, author="alice")
    sim.wait_for_deliveries()
    sim.webhook_url = url
    stack.drain()
    assert "shunter.yml" in summaries(sim, first)[0].body  # nothing told Shunter yet
    invalidate(stack.runtime, sim.installation_id(REPO), "octo", "demo")  # the cache's time is up
    sim.commit(REPO, "other", {"lib.py": "import sys\n"}, author="bob")  # PR 2 is planned again
    stack.drain()
    assert "shunter.yml" not in summaries(sim, second)[0].body
    assert "shunter.yml" not in summaries(sim, first)[0].body  # without a push of its own


def test_the_table_the_check_run_and_the_stage_count_fixes_not_patches(stack):
    """ruff's three safe fixes are one patch: every place says three fixes, not one."""
    sim = stack.sim
    on_command = "version: 1\npatches:\n  auto_apply:\n    review: on_command\n"
    imports = "import os\nimport sys\nimport re\n\n\ndef add(a, b):\n    return a + b\n"
    number = open_pr(sim, {"app.py": imports}, base_files={**BASE, ".github/shunter.yml": on_command})
    stack.drain()
    review = by_name(sim.check_runs(REPO))["shunter/review"]
    # the stage's table marks the three findings the fixes are for; the count is said once
    assert review.summary.count("_(fix available)_") == 3 and "ruff can fix" not in review.summary
    assert "3 fixes available: press **Apply fixes**" in review.summary
    assert [a["label"] for a in review.actions][0] == "Apply fixes"
    body = summaries(sim, number)[0].body
    assert "| Stage | Status | Findings | Fixes | Links |" in body
    row = next(line for line in body.splitlines() if "`shunter/review`" in line)
    assert row.split(" | ")[3] == "3 fixes", row


def test_file_names_holding_newlines_backticks_or_pipes_are_shown_whole_in_the_check_runs(stack):
    from markdown_it import MarkdownIt

    from bot.wording import shown_path

    def parsed(text):
        return MarkdownIt("commonmark").enable("table").parse(text)

    def spans(tokens):
        return [c.content for t in tokens if t.type == "inline" for c in t.children or [] if c.type == "code_inline"]

    sim = stack.sim
    odd, blob = "odd\n- [x] `tick`|<b>pipe.py", "bin\nfake|`x`.dat"
    # two findings on line 1: the unused import, and new code without a test
    open_pr(sim, {odd: "import os\n\n\ndef f():\n    return 1\n", blob: "\x00\x01binary" * 10})
    stack.drain()
    runs = by_name(sim.check_runs(REPO))
    review, security = runs["shunter/review"], runs["shunter/security"]
    assert shown_path(odd) == '"odd\\n- [x] `tick`|<b>pipe.py"'
    assert review.text is None  # the stage's table is the check run's only one
    tokens = parsed(review.summary)
    assert sum(t.type == "tr_open" for t in tokens) == 3, review.summary  # header + 2 findings, none split
    # F401's place; the untested-change warning is a remark on the PR that names the file whole
    assert spans(tokens).count(f"{shown_path(odd)}:1") == 1, review.summary
    assert spans(tokens).count(shown_path(odd)) == 1, review.summary
    assert not any(t.type == "bullet_list_open" for t in tokens), review.summary  # no "- [x]" list
    notes = [t for t in parsed(security.summary) if t.type == "inline" and t.content.startswith("Skipped")]
    assert notes and all(spans([note]) == [shown_path(blob)] for note in notes), security.summary


def test_fixing_the_config_settles_the_failing_config_check_of_the_heads_it_failed(stack):
    """A PR whose head got a failing shunter/config while main's file was broken is not left
    blocked by it (a required check) until its next push: that very run is concluded."""
    sim = stack.sim
    first, second = two_prs_one_told_the_config_is_broken(stack)
    head = sim.pull(REPO, second).head_sha
    [failed] = [r for r in sim.check_runs(REPO, head_sha=head) if r.name == "shunter/config"]
    assert failed.conclusion == "failure"
    first_head = sim.pull(REPO, first).head_sha
    assert not [r for r in sim.check_runs(REPO, head_sha=first_head) if r.name == "shunter/config"]
    sim.commit(REPO, "main", {".github/shunter.yml": GOOD}, author="alice")
    fix = sim.ref(REPO, "main")
    stack.drain()
    [settled] = [r for r in sim.check_runs(REPO, head_sha=head) if r.name == "shunter/config"]
    assert settled.id == failed.id and settled.conclusion == "success"  # the same run, edited
    assert settled.title.endswith("(fixed)") and "**Fixed on the default branch" in settled.summary
    assert fix is not None and f"`{fix[:12]}`" in settled.summary  # the push that fixed it
    # the PR opened under a good config has no shunter/config to settle, and gets none
    assert not [r for r in sim.check_runs(REPO, head_sha=first_head) if r.name == "shunter/config"]
    [audit] = stack.runtime.store.audit_events(repo=REPO, action="check_run.update")
    assert audit.reason_code == "config_fixed" and audit.target_id == str(failed.id)
