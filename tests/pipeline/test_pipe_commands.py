"""Slash commands end to end through the simulator: allowed and refused users, one reply
per command comment, reactions, edits, storms, closed PRs, and Shunter's own comments."""

from __future__ import annotations

import json

import pytest

from tests.pipeline.test_pipe_apply import open_pr as open_apply_pr
from tests.pipeline.test_pipe_pull_request import release_scheduled

REPO = "octo/demo"
BASE = {"app.py": "def add(a, b):\n    return a + b\n", "README.md": "# demo\n"}
CHANGED = {"app.py": "import os\n\n\ndef add(a, b):\n    print(a)\n    return a + b\n"}


def setup_pr(stack, **perms):
    sim = stack.sim
    sim.create_repo(REPO, BASE)
    for user, level in {"alice": "write", **perms}.items():
        sim.set_permission(REPO, user, level)
    sim.commit(REPO, "feature", CHANGED, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Change", user="alice")
    stack.drain()
    return number


def replies(sim, number):
    return [c for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:reply -->")]


def answer(stack, number, text, *, user):
    """Comment ``text`` on the PR as ``user``; Shunter's reply, once everything settled."""
    stack.sim.comment(REPO, number, text, user=user)
    stack.drain()
    return replies(stack.sim, number)[-1].body


def reactions(sim, number, comment_id):
    comment = next(c for c in sim.comments(REPO, number) if c.id == comment_id)
    return [r.content for r in comment.reactions]


def test_help_lists_only_what_the_user_may_run(stack):
    number = setup_pr(stack, carol="read")
    sim = stack.sim
    comment_id = sim.comment(REPO, number, "/shunter help", user="carol")
    stack.drain()
    body = replies(sim, number)[-1].body
    assert "`/shunter help`" in body and "`/shunter config`" in body
    assert "`/shunter approve" not in body  # needs maintain
    assert "`/shunter dismiss" not in body  # needs triage
    assert "`/shunter apply" not in body  # needs write (carol is not the author)
    assert reactions(sim, number, comment_id) == ["eyes", "rocket"]


def test_help_shows_each_command_with_its_arguments_and_options(stack):
    number = setup_pr(stack)
    sim = stack.sim
    sim.comment(REPO, number, "/shunter help", user="alice")
    stack.drain()
    rows = [line for line in replies(sim, number)[-1].body.splitlines() if line.startswith("| `/shunter")]
    cells = {row.split("`")[1] for row in rows}
    for stage in ("review", "security", "tests", "all"):
        assert f"/shunter {stage} [--full]" in cells
    assert "/shunter apply [all\\|review\\|security\\|tests\\|<finding id>...]" in cells
    assert {"/shunter explain <finding id>", "/shunter retry <change id>", "/shunter pause"} <= cells
    apply_row = next(row for row in rows if row.startswith("| `/shunter apply"))
    assert apply_row.count("apply") == 1  # the synopsis, not repeated in the description


def test_unknown_verb_suggests_and_refused_user_is_told_the_permission(stack):
    number = setup_pr(stack, bob="read")
    sim = stack.sim
    sim.comment(REPO, number, "/shunter reveiw", user="bob")
    stack.drain()
    assert "Did you mean `/shunter review`" in replies(sim, number)[-1].body
    comment_id = sim.comment(REPO, number, "/shunter approve abc", user="bob")
    stack.drain()
    body = replies(sim, number)[-1].body
    assert "needs maintain permission" in body and "@bob has read" in body
    assert reactions(sim, number, comment_id) == ["eyes", "confused"]


def test_rerun_command_creates_new_check_runs_on_the_head(stack):
    number = setup_pr(stack)
    sim = stack.sim
    before = len([r for r in sim.check_runs(REPO) if r.name == "shunter/review"])
    sim.comment(REPO, number, "/shunter review", user="alice")
    stack.drain()
    after = [r for r in sim.check_runs(REPO) if r.name == "shunter/review"]
    assert len(after) == before + 1 and after[-1].status == "completed"
    assert "Running `shunter/review`" in replies(sim, number)[-1].body


def test_pause_and_resume_show_in_the_summary_and_stop_automatic_runs(stack):
    number = setup_pr(stack)
    sim = stack.sim
    sim.comment(REPO, number, "/shunter pause", user="alice")
    stack.drain()
    summary = next(c for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:summary -->"))
    assert "Paused" in summary.body and "pause" in summary.body
    sim.commit(REPO, "feature", {"README.md": "# demo 2\n"}, author="alice")
    stack.drain()
    head = sim.pull(REPO, number).head_sha
    head_runs = [r for r in sim.check_runs(REPO) if r.head_sha == head]
    assert head_runs and all(r.conclusion == "skipped" for r in head_runs)
    sim.comment(REPO, number, "/shunter resume", user="alice")
    stack.drain()
    summary = next(c for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:summary -->"))
    assert "Paused" not in summary.body.split("Last commands")[0]


def test_dismiss_and_explain_a_finding(stack):
    number = setup_pr(stack, tina="triage")
    sim = stack.sim
    findings = stack.redis.hgetall(f"shunter:findings:{REPO}#{number}")
    short = sorted(k.decode() for k in findings)[0]
    sim.comment(REPO, number, f"/shunter explain {short}", user="alice")
    stack.drain()
    assert "Reported because" in replies(sim, number)[-1].body
    sim.comment(REPO, number, f"/shunter dismiss {short} false positive", user="tina")
    stack.drain()
    assert "Dismissed 1 finding on this PR (false positive). It will not be reported" in replies(sim, number)[-1].body
    assert stack.runtime.store.dismissed_fingerprints(REPO, number)


def test_config_command_shows_sources(stack):
    number = setup_pr(stack)
    sim = stack.sim
    sim.comment(REPO, number, "/shunter config", user="alice")
    stack.drain()
    assert "Effective config" in replies(sim, number)[-1].body


def test_several_commands_one_reply_and_edit_reuses_it(stack):
    number = setup_pr(stack)
    sim = stack.sim
    comment_id = sim.comment(REPO, number, "/shunter help\n/shunter config", user="alice")
    stack.drain()
    assert len(replies(sim, number)) == 1
    # an edit that changes nothing a command says runs nothing
    sim.edit_comment(comment_id, "/shunter help\n/shunter config\n\nthanks!", user="alice")
    stack.drain()
    assert len(replies(sim, number)) == 1
    before = stack.runtime.store.recent_commands(REPO, number)
    # an edit with a new command runs it, and edits the same reply
    sim.edit_comment(comment_id, "/shunter pause", user="alice")
    stack.drain()
    assert len(replies(sim, number)) == 1
    assert "paused" in replies(sim, number)[0].body
    assert len(stack.runtime.store.recent_commands(REPO, number)) == len(before) + 1


@pytest.mark.parametrize("merged", [False, True])
def test_commands_on_a_closed_pr_do_nothing(stack, merged):
    number = setup_pr(stack)
    sim = stack.sim
    sim.close_pull_request(REPO, number, merged=merged)
    stack.drain()
    summary = next(c for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:summary -->")).body
    sim.recorder.clear()
    comment_id = sim.comment(REPO, number, "/shunter review", user="alice")
    stack.drain()
    state = "merged" if merged else "closed"
    assert f"This pull request is {state}: Shunter commands do nothing here." in replies(sim, number)[-1].body
    edits = [r.path for r in sim.recorder.requests if r.kind == "api" and r.method == "PATCH"]
    assert edits == [], edits  # the summary is left as it was: nothing ran
    assert not stack.runtime.store.recent_commands(REPO, number)
    assert reactions(sim, number, comment_id) == ["eyes", "confused"]
    assert summary in {c.body for c in sim.comments(REPO, number)}

def test_code_blocks_quotes_and_own_comments_never_trigger(stack):
    number = setup_pr(stack)
    sim = stack.sim
    sim.comment(REPO, number, "```\n/shunter pause\n```\n> /shunter pause", user="alice")
    sim.comment(REPO, number, "/shunter pause", user=sim.bot_login)
    stack.drain()
    assert replies(sim, number) == []
    assert not stack.runtime.store.is_paused(REPO, number)


def test_command_storm_is_rate_limited_without_duplicate_work(stack, monkeypatch):
    # the storm must fall within one rate window however slow this machine is today: 100
    # commands took 116 s on a loaded machine, opened a second 60 s window and got 20 answers.
    # 25 commands are a storm still (2.5 times the limit) at a quarter of the suite's time.
    monkeypatch.setattr("bot.pipeline.commands.RATE_WINDOW", 3600)
    monkeypatch.setattr("bot.pipeline.commands.PERMISSION_TTL", 3600)  # likewise: one answer cached
    number = setup_pr(stack)
    sim = stack.sim
    for _ in range(25):
        sim.comment(REPO, number, "/shunter config", user="alice")
    stack.drain(timeout=300)
    bodies = [r.body for r in replies(sim, number)]
    assert len(bodies) == 25  # one reply per command comment, never more
    done = sum("Effective config" in b for b in bodies)
    limited = sum("Slow down" in b for b in bodies)
    assert done == 10 and limited == 15
    permission_calls = [r for r in sim.recorder.requests if r.path.endswith("/collaborators/alice/permission")]
    assert len(permission_calls) <= 2  # cached


def test_buttons_run_the_matching_command_with_the_clicker_permission(stack):
    number = setup_pr(stack, bob="read")
    sim = stack.sim
    review = next(r for r in sim.check_runs(REPO) if r.name == "shunter/review")
    sim.click_button(review.id, "rerun", user="alice")
    stack.drain()
    assert len([r for r in sim.check_runs(REPO) if r.name == "shunter/review"]) == 2
    sim.click_button(review.id, "dismiss", user="bob")
    stack.drain()
    assert "needs triage permission" in replies(sim, number)[-1].body


def test_commands_in_review_comments(stack):
    number = setup_pr(stack)
    sim = stack.sim
    posted = sim.review_comments(REPO, number)
    assert posted, "the review stage posted inline comments"
    opened = sim.deliveries("pull_request", "opened")[-1].payload
    comment = {"id": posted[0].id, "body": "/shunter pause", "user": {"login": "alice", "type": "User"},
               "pull_request_review_id": posted[0].review_id, "path": posted[0].path, "line": posted[0].line}
    sim.send_event("pull_request_review_comment", {
        "action": "created", "comment": comment, "pull_request": opened["pull_request"],
        "repository": opened["repository"], "installation": opened["installation"],
        "sender": {"login": "alice", "type": "User"},
    })
    stack.drain()
    assert stack.runtime.store.is_paused(REPO, number)
    assert "paused" in replies(sim, number)[-1].body
    reacted = next(c for c in sim.review_comments(REPO, number) if c.id == posted[0].id)
    assert [r.content for r in reacted.reactions] == ["eyes", "rocket"]
    # edited into a command that is refused: its 🚀 goes, so it reads 👀😕, not 👀🚀😕
    sim.send_event("pull_request_review_comment", {
        "action": "edited", "comment": {**comment, "body": "/shunter reveiw"},
        "changes": {"body": {"from": "/shunter pause"}}, "pull_request": opened["pull_request"],
        "repository": opened["repository"], "installation": opened["installation"],
        "sender": {"login": "alice", "type": "User"},
    })
    stack.drain()
    reacted = next(c for c in sim.review_comments(REPO, number) if c.id == posted[0].id)
    assert [r.content for r in reacted.reactions] == ["eyes", "confused"]


def test_commands_added_to_someone_elses_comment_run_as_the_editor(stack):
    # GitHub lets write users edit anyone's comment: the edit must not borrow the author's permission
    number = setup_pr(stack, mona="maintain", wally="write")
    sim = stack.sim
    comment_id = sim.comment(REPO, number, "Looks good to me", user="mona")
    stack.drain()
    sim.edit_comment(comment_id, "Looks good to me\n/shunter approve deadbeef", user="wally")
    stack.drain()
    body = replies(sim, number)[-1].body
    assert "> @wally" in body and "> @mona" not in body
    assert "run as the editor" in body
    assert "needs maintain permission" in body and "@wally has write" in body
    assert reactions(sim, number, comment_id) == ["eyes", "confused"]
    latest = stack.runtime.store.recent_commands(REPO, number)[0]
    assert (latest.verb, latest.user, latest.outcome) == ("approve", "wally", "refused")


@pytest.mark.parametrize("failing", ["GET /repos/octo/demo/pulls/*", "POST */reactions"])
def test_a_command_hit_by_a_github_5xx_runs_on_the_retry_exactly_once(stack, failing):
    number = setup_pr(stack)
    sim = stack.sim
    outage = sim.faults.error(502, pattern=failing, times=None)  # outlasts the client's own retries
    sim.comment(REPO, number, "/shunter pause", user="alice")
    stack.drain()
    sim.faults.remove(outage)
    assert outage.fired, "the request failed"
    assert release_scheduled(stack, "events") >= 1  # the delivery waits for rq's retry
    stack.drain()
    assert stack.runtime.store.is_paused(REPO, number)  # the retry ran the command, not "a repeat"
    assert len(replies(sim, number)) == 1
    assert [c.verb for c in stack.runtime.store.recent_commands(REPO, number)] == ["pause"]
    release_scheduled(stack, "events")  # whatever else waits: the command never runs a second time
    stack.drain()
    assert len(replies(sim, number)) == 1
    assert [c.verb for c in stack.runtime.store.recent_commands(REPO, number)] == ["pause"]


def test_with_aliases_off_editing_an_alias_looking_line_runs_nothing_again(stack):
    number = setup_pr(stack)  # commands.aliases is off by default: "/review ..." is plain text
    sim = stack.sim
    comment_id = sim.comment(REPO, number, "/shunter config\n/review this part again please", user="alice")
    stack.drain()
    before = stack.runtime.store.recent_commands(REPO, number)
    assert [c.verb for c in before] == ["config"]
    sim.edit_comment(comment_id, "/shunter config\n/review that part instead", user="alice")
    stack.drain()
    assert stack.runtime.store.recent_commands(REPO, number) == before
    assert len(replies(sim, number)) == 1


def test_buttons_on_a_fork_pr_find_their_pull_request(stack):
    # GitHub names no pull request in the checks of a fork's branch
    sim = stack.sim
    sim.create_repo(REPO, BASE)
    sim.set_permission(REPO, "mona", "maintain")
    fork = sim.fork(REPO, "carol")
    sim.commit(fork.full_name, "feature", CHANGED, author="carol")
    number = sim.open_pull_request(REPO, "feature", title="from a fork", user="carol", from_fork="carol")
    stack.drain()
    review = next(r for r in sim.check_runs(REPO) if r.name == "shunter/review")
    sim.click_button(review.id, "dismiss", user="mona")
    stack.drain()
    assert "Dismissed" in replies(sim, number)[-1].body


def test_a_custom_role_counts_as_the_role_it_builds_on(stack):
    number = setup_pr(stack)
    sim = stack.sim
    sim.set_permission(REPO, "sam", "maintain", custom_role="release-manager")
    sim.comment(REPO, number, "/shunter pause", user="sam")
    stack.drain()
    assert "paused" in replies(sim, number)[-1].body and "refused" not in replies(sim, number)[-1].body


def test_commands_in_the_text_of_a_submitted_review(stack):
    number = setup_pr(stack)
    sim = stack.sim
    opened = sim.deliveries("pull_request", "opened")[-1].payload
    review = {"id": 424242, "body": "Looks fine.\n/shunter pause", "state": "commented",
              "user": {"login": "alice", "type": "User"}}
    event = {
        "action": "submitted", "review": review, "pull_request": opened["pull_request"],
        "repository": opened["repository"], "installation": opened["installation"],
        "sender": {"login": "alice", "type": "User"},
    }
    sim.send_event("pull_request_review", event)
    stack.drain()
    assert stack.runtime.store.is_paused(REPO, number)
    assert "paused" in replies(sim, number)[-1].body
    count = len(replies(sim, number))
    sim.send_event("pull_request_review", event | {"action": "edited"})  # same text: nothing again
    stack.drain()
    assert len(replies(sim, number)) == count


def test_a_reply_whose_answer_was_lost_is_not_posted_twice(stack):
    number = setup_pr(stack, carol="read")
    sim = stack.sim
    posts = "POST /repos/octo/demo/issues/*/comments"
    before = sim.recorder.count(posts)
    sim.faults.lost_response(pattern=posts, times=1)
    sim.comment(REPO, number, "/shunter help", user="carol")
    stack.drain()
    [reply] = replies(sim, number)
    assert "`/shunter help`" in reply.body
    assert sim.recorder.count(posts) == before + 1  # found, not sent again


def test_dismiss_button_clears_the_failing_check_and_the_summary_at_once(stack):
    sim = stack.sim
    sim.create_repo(REPO, BASE)
    sim.set_permission(REPO, "alice", "write")
    sim.set_permission(REPO, "tina", "triage")
    sim.commit(REPO, "feature", {"app.py": "def add(a, b):\n    breakpoint()\n    return a + b\n"}, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Change", user="alice")
    stack.drain()
    review = [r for r in sim.check_runs(REPO) if r.name == "shunter/review"][-1]
    assert review.conclusion == "failure"
    sim.click_button(review.id, "dismiss", user="tina")
    stack.drain()
    latest = [r for r in sim.check_runs(REPO) if r.name == "shunter/review"][-1]
    assert latest.id != review.id and latest.head_sha == review.head_sha
    assert latest.conclusion == "success" and latest.annotations == []
    assert "dismissed on this PR are not shown" in latest.summary
    body = replies(sim, number)[-1].body
    assert "Dismissed" in body and "Re-running `shunter/review`" in body
    summary = next(c for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:summary -->"))
    row = next(line for line in summary.body.splitlines() if "`shunter/review`" in line)
    assert "passed" in row and "error" not in row
    # dismissing them again changes nothing and says so
    sim.comment(REPO, number, "/shunter dismiss all-review", user="tina")
    stack.drain()
    assert "Already dismissed" in replies(sim, number)[-1].body


def test_a_mistyped_option_is_refused_not_dropped(stack):
    number = setup_pr(stack)
    sim = stack.sim
    before = len([r for r in sim.check_runs(REPO) if r.name == "shunter/review"])
    comment_id = sim.comment(REPO, number, "/shunter review --ful", user="alice")
    stack.drain()
    body = replies(sim, number)[-1].body
    assert "Unknown option `--ful` (did you mean `--full`?)" in body and "not run" in body
    assert len([r for r in sim.check_runs(REPO) if r.name == "shunter/review"]) == before
    assert reactions(sim, number, comment_id) == ["eyes", "confused"]
    summary = next(c for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:summary -->"))
    assert "`/shunter review --ful`" in summary.body  # the table shows what was typed


def test_explain_gives_the_reason_the_repository_config_gives(stack):
    sim = stack.sim
    sim.create_repo(REPO, {**BASE, ".github/shunter.yml": "stages:\n  review:\n    filter: file\n"})
    sim.set_permission(REPO, "alice", "write")
    sim.commit(REPO, "feature", CHANGED, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Change", user="alice")
    stack.drain()
    findings = stack.redis.hgetall(f"shunter:findings:{REPO}#{number}")
    by_stage = {json.loads(v)["stage"]: k.decode() for k, v in findings.items()}
    body = answer(stack, number, f"/shunter explain {by_stage['review']}", user="alice")
    assert "filter `file`" in body and "filter `added`" not in body


# two stray prints whose fingerprints share their first 6 characters (f9220a2e…, f9220aae…)
TWINS = "def add(a, b):\n    print(146)\n    print(3697)\n    return a + b\n"


def test_an_ambiguous_finding_id_lists_the_candidates_and_does_nothing(stack):
    sim = stack.sim
    sim.create_repo(REPO, BASE)
    sim.set_permission(REPO, "alice", "write")
    sim.set_permission(REPO, "tina", "triage")
    sim.commit(REPO, "feature", {"app.py": TWINS}, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Change", user="alice")
    stack.drain()
    assert {"f9220a2e", "f9220aae"} <= {k.decode() for k in stack.redis.hgetall(f"shunter:findings:{REPO}#{number}")}
    for verb in ("explain", "dismiss"):
        comment_id = sim.comment(REPO, number, f"/shunter {verb} f9220a", user="tina")
        stack.drain()
        body = replies(sim, number)[-1].body
        assert "fits 2 findings" in body and "nothing was done" in body, body
        assert "`f9220a2e` stray-print at `app.py:2`" in body and "`f9220aae` stray-print at `app.py:3`" in body
        assert "Reported because" not in body and "Dismissed" not in body
        assert reactions(sim, number, comment_id) == ["eyes", "confused"]
    assert not stack.runtime.store.dismissed_fingerprints(REPO, number)
    # the full short id, or a prefix only one finding has, works as before
    sim.comment(REPO, number, "/shunter dismiss f9220aa noisy", user="tina")
    stack.drain()
    assert "Dismissed 1 finding" in replies(sim, number)[-1].body
    assert set(stack.runtime.store.dismissed_fingerprints(REPO, number)) == {"f9220aae7df18b74"}


def test_extra_words_are_named_as_ignored_and_a_word_meaning_an_option_is_refused(stack):
    number = setup_pr(stack)
    sim = stack.sim
    comment_id = sim.comment(REPO, number, "/shunter pause now\n/shunter config please", user="alice")
    stack.drain()
    body = replies(sim, number)[-1].body
    assert stack.runtime.store.is_paused(REPO, number)
    assert "paused on this PR" in body and "(ignored: `now`; usage: `/shunter pause`)" in body
    assert "Effective config" in body and "(ignored: `please`; usage: `/shunter config`)" in body
    assert reactions(sim, number, comment_id) == ["eyes", "rocket"]
    before = len([r for r in sim.check_runs(REPO) if r.name == "shunter/review"])
    comment_id = sim.comment(REPO, number, "/shunter review full", user="alice")
    stack.drain()
    body = replies(sim, number)[-1].body
    assert "not run" in body and "`full` (did you mean `--full`?)" in body
    assert "usage: `/shunter review [--full]`" in body
    assert len([r for r in sim.check_runs(REPO) if r.name == "shunter/review"]) == before
    assert reactions(sim, number, comment_id) == ["eyes", "confused"]


def test_run_stage_suggests_the_stage_command(stack):
    number = setup_pr(stack)
    sim = stack.sim
    comment_id = sim.comment(REPO, number, "/shunter run review\n/shunter rerun security --full", user="alice")
    stack.drain()
    body = replies(sim, number)[-1].body
    assert "`/shunter run review`: there is no such command. Did you mean `/shunter review`?" in body
    assert "Did you mean `/shunter security --full`?" in body
    assert reactions(sim, number, comment_id) == ["eyes", "confused"]


def test_a_reply_whose_create_stayed_unknown_is_looked_for_before_the_final_text(stack):
    # /shunter apply posts "Working on it…" first: its answer is lost and looking for it
    # fails too, so the final text must find that reply (by its nonce) and edit it, not
    # post a second one and leave the first "Working on it…" forever
    number = open_apply_pr(stack)
    sim = stack.sim
    sim.faults.lost_response(pattern="POST /repos/octo/demo/issues/*/comments", times=1)
    sim.faults.error(502, pattern="GET /repos/octo/demo/issues/*/comments", times=4)
    sim.comment(REPO, number, "/shunter apply", user="alice")
    stack.drain()
    [reply] = replies(sim, number)
    assert "Working on it" not in reply.body and "`/shunter apply`" in reply.body, reply.body


def test_apply_and_dismiss_on_a_check_run_for_an_older_commit_do_nothing_and_say_where_to_press(stack):
    # the old check run showed the old head's fixes and findings: acting on the new head's
    # would commit a diff, or hide findings, the person pressing never saw
    number = open_apply_pr(stack)
    sim = stack.sim
    sim.set_permission(REPO, "tina", "triage")
    old = sim.pull(REPO, number).head_sha
    old_review = next(r for r in sim.check_runs(REPO, head_sha=old) if r.name == "shunter/review")
    sim.commit(REPO, "feature", {"app.py": "import json\n\n\ndef add(a, b):\n    print(a)\n    return a + b\n"}, author="alice")
    stack.drain()
    new = sim.pull(REPO, number).head_sha
    new_review = next(r for r in sim.check_runs(REPO, head_sha=new) if r.name == "shunter/review")
    assert any(a["identifier"] == "apply" for a in new_review.actions)  # the head has fixes of its own
    sim.click_button(old_review.id, "apply", user="alice")
    stack.drain()
    body = replies(sim, number)[-1].body
    assert sim.pull(REPO, number).head_sha == new, "nothing was committed"
    assert f"That check run is for `{old[:7]}`, an older commit" in body and f"head is now `{new[:7]}`" in body, body
    assert f"Press **Apply fixes** on the `shunter/review` check run of `{new[:7]}`" in body, body
    assert "`/shunter apply review`" in body, body
    sim.click_button(old_review.id, "dismiss", user="tina")
    stack.drain()
    body = replies(sim, number)[-1].body
    assert not stack.runtime.store.dismissed_fingerprints(REPO, number)
    assert "**Dismiss** on `shunter/review`: not done" in body and "`/shunter dismiss all-review`" in body, body
    outcomes = [(c.verb, c.outcome, c.detail) for c in stack.runtime.store.recent_commands(REPO, number)[:2]]
    assert outcomes == [("dismiss", "refused", "outdated_check_run"), ("apply", "refused", "outdated_check_run")]
    # Re-run shows nothing of the old commit's: it runs on the head, as its reply says
    runs = len([r for r in sim.check_runs(REPO, head_sha=new) if r.name == "shunter/review"])
    sim.click_button(old_review.id, "rerun", user="alice")
    stack.drain()
    assert len([r for r in sim.check_runs(REPO, head_sha=new) if r.name == "shunter/review"]) == runs + 1
    assert f"Running `shunter/review` on `{new[:12]}`" in replies(sim, number)[-1].body


def test_an_edit_back_to_earlier_commands_runs_them_again_once(stack):
    # pause, edited to resume, edited back to pause: the PR must end paused, as the comment says
    number = setup_pr(stack)
    sim = stack.sim
    comment_id = sim.comment(REPO, number, "/shunter pause", user="alice")
    stack.drain()
    sim.edit_comment(comment_id, "/shunter resume", user="alice")
    stack.drain()
    assert not stack.runtime.store.is_paused(REPO, number)
    sim.edit_comment(comment_id, "/shunter pause", user="alice")
    stack.drain()
    assert stack.runtime.store.is_paused(REPO, number)
    [reply] = replies(sim, number)
    assert "paused on this PR" in reply.body, reply.body
    assert [c.verb for c in stack.runtime.store.recent_commands(REPO, number)] == ["pause", "resume", "pause"]
    # the same edit delivered again runs nothing; an edit that changes no command neither
    sim.redeliver(sim.deliveries("issue_comment", "edited")[-1].id)
    sim.edit_comment(comment_id, "/shunter pause\n\nthanks", user="alice")
    stack.drain()
    assert [c.verb for c in stack.runtime.store.recent_commands(REPO, number)] == ["pause", "resume", "pause"]
    # a command added below one already run: only the new one runs, and the reply says why
    # the other did not (the web UI sends CRLF); an edit that only takes one out asks nothing
    sim.edit_comment(comment_id, "/shunter pause\r\n/shunter config\r\n", user="alice")
    stack.drain()
    assert [c.verb for c in stack.runtime.store.recent_commands(REPO, number)] == [
        "config", "pause", "resume", "pause"
    ]
    [reply] = replies(sim, number)
    assert "Not run again: `/shunter pause`, which an earlier version of this comment asked for" in reply.body
    assert "Effective config" in reply.body and "paused on this PR" not in reply.body, reply.body
    sim.edit_comment(comment_id, "/shunter pause\r\n", user="alice")
    stack.drain()
    assert len(stack.runtime.store.recent_commands(REPO, number)) == 4
    assert [r.body for r in replies(sim, number)] == [reply.body]


def test_every_write_a_command_makes_has_an_audit_event(stack):
    number = setup_pr(stack)
    sim = stack.sim
    sim.recorder.clear()
    before = len(stack.runtime.store.audit_events(repo=REPO))
    comment_id = sim.comment(REPO, number, "/shunter pause", user="alice")
    stack.drain()
    writes = [r for r in sim.recorder.requests if r.method in ("POST", "PATCH", "PUT", "DELETE")
              and r.kind == "api" and not r.path.endswith("/access_tokens")]
    events = stack.runtime.store.audit_events(repo=REPO)[before:]
    assert len(events) == len(writes), ([w.route for w in writes], [e.action for e in events])
    acks = [(e.action, e.target_id, e.reason_code) for e in events if e.action == "reaction.create"]
    assert acks == [("reaction.create", str(comment_id), "command_ack")] * 2  # 👀, then 🚀


def test_a_command_line_too_long_to_run_is_answered_not_dropped(stack):
    number = setup_pr(stack)
    sim = stack.sim
    question = "/shunter ask " + "why is this so " * 80  # 1213 characters
    comment_id = sim.comment(REPO, number, f"{question}\n/shunter config", user="alice")
    stack.drain()
    body = replies(sim, number)[-1].body
    assert f"Line 1: a command line may be at most 1000 characters and this one has {len(question)}" in body, body
    assert "Effective config" in body  # the other line still ran
    assert reactions(sim, number, comment_id) == ["eyes", "confused"]
    assert [c.verb for c in stack.runtime.store.recent_commands(REPO, number)] == ["config"]


def test_dismiss_all_of_a_misspelt_stage_suggests_the_stage(stack):
    number = setup_pr(stack, tina="triage")
    body = answer(stack, number, "/shunter dismiss all-reveiw", user="tina")
    assert "`all-reveiw` names no stage. Did you mean `all-review`?" in body, body
    assert "`all-review`, `all-security`, `all-tests`" in body, body
    assert not stack.runtime.store.dismissed_fingerprints(REPO, number)


def test_what_was_typed_is_echoed_as_one_code_span_that_pings_no_one(stack):
    from markdown_it import MarkdownIt

    number = setup_pr(stack, tina="triage")
    body = answer(stack, number, "/shunter x`hi` @org/team <img src=x>\n/shunter dismiss ab```cd`ef", user="tina")
    assert "@org/team" not in body, body
    paragraphs = [t for t in MarkdownIt("commonmark").parse(body) if t.type == "inline"][1:]
    spans = [[c.content.replace("\u2060", "") for c in p.children if c.type == "code_inline"] for p in paragraphs]
    assert spans[0][0] == "/shunter x`hi` @org/team <img src=x>", body
    assert spans[1] == ["ab```cd`ef"], body
    assert not [c for p in paragraphs for c in p.children if c.type == "html_inline"], body


def test_a_command_given_without_its_argument_says_what_it_does_and_each_form(stack):
    number = setup_pr(stack, mia="maintain")
    sim = stack.sim
    comment_id = sim.comment(REPO, number, "/shunter dismiss\n/shunter approve\n/shunter retry", user="mia")
    stack.drain()
    body = replies(sim, number)[-1].body
    assert "`/shunter dismiss` did nothing: it needs an argument. Hide a finding on this PR" in body, body
    assert "- `/shunter dismiss <finding id> [reason]`\n- `/shunter dismiss all-<stage> [reason]`" in body, body
    assert "Approve a change that touches protected paths.\n\n- `/shunter approve <change id>`" in body, body
    assert "Put a dead-lettered change back in the queue.\n\n- `/shunter retry <change id>`" in body, body
    assert reactions(sim, number, comment_id) == ["eyes", "confused"]
    assert not stack.runtime.store.dismissed_fingerprints(REPO, number)


def test_an_edit_that_runs_takes_back_the_outcome_of_the_earlier_version(stack):
    number = setup_pr(stack)
    sim = stack.sim
    comment_id = sim.comment(REPO, number, "/shunter reveiw", user="alice")
    stack.drain()
    assert reactions(sim, number, comment_id) == ["eyes", "confused"]
    before = len(stack.runtime.store.audit_events(repo=REPO))
    sim.edit_comment(comment_id, "/shunter pause", user="alice")
    stack.drain()
    assert reactions(sim, number, comment_id) == ["eyes", "rocket"]  # not 👀😕🚀
    events = stack.runtime.store.audit_events(repo=REPO)[before:]
    removed = [(e.target_id, e.reason) for e in events if e.action == "reaction.delete"]
    assert removed == [(str(comment_id), "confused of an earlier version of @alice's edited command")]
    # someone else's 😕 on the comment is theirs to keep
    sim.react(comment_id, "confused", user="bob")
    sim.edit_comment(comment_id, "/shunter resume", user="alice")
    stack.drain()
    comment = next(c for c in sim.comments(REPO, number) if c.id == comment_id)
    assert [(r.user, r.content) for r in comment.reactions] == [
        (sim.bot_login, "eyes"), ("bob", "confused"), (sim.bot_login, "rocket")
    ]


def _review_findings(stack, number):
    stored = stack.redis.hgetall(f"shunter:findings:{REPO}#{number}")
    return sorted(
        (f for f in (json.loads(v) for v in stored.values()) if f["stage"] == "review"),
        key=lambda f: f["start_line"],
    )


def _latest_review(sim):
    return [r for r in sim.check_runs(REPO) if r.name == "shunter/review"][-1]


def _summary_row(sim, number):
    summary = next(c for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:summary -->"))
    return next(line for line in summary.body.splitlines() if "`shunter/review`" in line)


def test_undismiss_shows_a_finding_dismissed_by_mistake_again(stack):
    sim = stack.sim
    sim.create_repo(REPO, BASE)
    for user, level in {"alice": "write", "tina": "triage", "bob": "read"}.items():
        sim.set_permission(REPO, user, level)
    app = "import os\n\n\ndef add(a, b):\n    breakpoint()\n    return a + b\n"
    sim.commit(REPO, "feature", {"app.py": app}, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Change", user="alice")
    stack.drain()
    unused, debugger = (f for f in _review_findings(stack, number) if f["rule_id"] != "untested-change")
    short, other = debugger["fingerprint"][:8], unused["fingerprint"][:8]
    assert _latest_review(sim).conclusion == "failure"

    body = answer(stack, number, f"/shunter dismiss {short}", user="tina")
    assert f"`/shunter undismiss {short}` shows it again." in body, body
    hidden = _latest_review(sim)
    assert hidden.conclusion == "success" and short not in hidden.summary.split("Comment")[0]
    # the check run says how to take the dismissal back, with the id to type
    assert (
        f"1 finding dismissed on this PR is not shown (dismissed by `tina`). "
        f"Comment `/shunter undismiss {short}` to show it again." in hidden.summary
    ), hidden.summary

    body = answer(stack, number, f"/shunter undismiss {short}", user="bob")
    assert "`/shunter undismiss`: refused. /shunter undismiss needs triage permission; @bob has read." in body, body
    typo = short[:7] + ("0" if short[7] != "0" else "1")
    body = answer(stack, number, f"/shunter undismiss {typo}", user="tina")
    assert f"No dismissed finding `{typo}` on this PR. Did you mean `{short}`? Dismissed here:" in body, body
    assert f"- `{short}` {debugger['rule_id']} at `app.py:5` (dismissed by `tina`)" in body, body
    body = answer(stack, number, f"/shunter undismiss {other}", user="tina")
    assert f"`{other}` F401 at `app.py:1` is not dismissed on this PR: it is shown already" in body, body
    assert stack.runtime.store.dismissed_fingerprints(REPO, number) == {debugger["fingerprint"]}
    assert not [e for e in stack.runtime.store.audit_events(repo=REPO) if e.action == "finding.undismiss"]

    comment_id = sim.comment(REPO, number, f"/shunter undismiss {short} wrong id", user="tina")
    stack.drain()
    body = replies(sim, number)[-1].body
    assert (
        f"Restored `{short}` {debugger['rule_id']} at `app.py:5` (dismissed by `tina`): it is reported on this "
        "PR again. Reason: wrong id. Re-running `shunter/review` so the checks show it again." in body
    ), body
    assert reactions(sim, number, comment_id) == ["eyes", "rocket"]
    assert not stack.runtime.store.dismissed_fingerprints(REPO, number)
    shown = _latest_review(sim)
    assert shown.id != hidden.id and shown.conclusion == "failure", shown.summary
    assert any(a["start_line"] == 5 for a in shown.annotations) and "dismissed" not in shown.summary
    assert "failed" in _summary_row(sim, number), _summary_row(sim, number)
    [event] = [e for e in stack.runtime.store.audit_events(repo=REPO) if e.action == "finding.undismiss"]
    assert (event.actor, event.target_id, event.reason) == ("tina", debugger["fingerprint"], "wrong id")
    assert [e.actor for e in stack.runtime.store.audit_events(repo=REPO) if e.action == "finding.dismiss"] == ["tina"]

    body = answer(stack, number, f"/shunter undismiss {short}", user="tina")
    assert f"`{short}` {debugger['rule_id']} at `app.py:5` is not dismissed on this PR" in body, body


def test_undismiss_all_of_a_stage_and_its_usage(stack):
    number = setup_pr(stack, tina="triage")
    sim = stack.sim
    answer(stack, number, "/shunter dismiss all-review", user="tina")
    dismissed = stack.runtime.store.dismissed_fingerprints(REPO, number)
    ids = sorted(fp[:8] for fp in dismissed)
    assert len(ids) >= 2
    hidden = _latest_review(sim)
    hint = "Comment `/shunter undismiss all-review` to show them again, or `/shunter undismiss <id>` for one of"
    assert f"{hint} `{ids[0]}`" in hidden.summary, hidden.summary

    lines = "/shunter undismiss all-reveiw\n/shunter undismiss all-security\n/shunter undismiss"
    body = answer(stack, number, lines, user="tina")
    assert "`all-reveiw` names no stage. Did you mean `all-review`?" in body, body
    assert "No `security` finding is dismissed on this PR: nothing to restore." in body, body
    assert "`/shunter undismiss` did nothing: it needs an argument. Show a finding dismissed on this PR again" in body
    assert "- `/shunter undismiss <finding id> [reason]`\n- `/shunter undismiss all-<stage> [reason]`" in body, body
    assert stack.runtime.store.dismissed_fingerprints(REPO, number) == dismissed

    body = answer(stack, number, "/shunter undismiss all-review", user="tina")
    assert f"Restored {len(ids)} findings: they are reported on this PR again." in body, body
    assert all(f"- `{short}` " in body for short in ids), body
    assert not stack.runtime.store.dismissed_fingerprints(REPO, number)
    assert "dismissed on this PR" not in _latest_review(sim).summary
    help_body = answer(stack, number, "/shunter help", user="tina")
    assert "`/shunter undismiss <finding id>\\|all-<stage> [reason]`" in help_body, help_body


def test_a_dismiss_reason_is_echoed_as_plain_text_that_pings_no_one(stack):
    from markdown_it import MarkdownIt

    number = setup_pr(stack, tina="triage")
    short = sorted(k.decode() for k in stack.redis.hgetall(f"shunter:findings:{REPO}#{number}"))[0]
    body = answer(stack, number, f"/shunter dismiss {short} ask @org/team *now* <b>x</b>", user="tina")
    assert "@org/team" not in body, body
    assert "Dismissed 1 finding on this PR (ask @\u2060org/team \\*now\\* \\<b\\>x\\</b\\>)." in body, body
    assert "Re-running `shunter/review` so the checks leave it out." in body, body
    inline = [t for t in MarkdownIt("commonmark").parse(body) if t.type == "inline"]
    assert not [c for t in inline for c in t.children if c.type in {"html_inline", "em"}], body
    # the store keeps the reason as typed: the audit log says what the person wrote
    [event] = [e for e in stack.runtime.store.audit_events(repo=REPO) if e.action == "finding.dismiss"]
    assert event.reason == "ask @org/team *now* <b>x</b>"
