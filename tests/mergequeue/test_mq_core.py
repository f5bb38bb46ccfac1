"""Pure parts: the unified-diff applier, commit messages, delivery routes, globbing."""

from __future__ import annotations

import pytest

from bot.changes.model import ChangeRequest, Priority
from bot.changes.paths import matches_any
from bot.changes.route import Route, decide_route
from bot.changes.unified import DiffFormatError, HunkMismatch, apply_hunks, parse_file_diff
from bot.git.apply import commit_message
from bot.models import FileDiff, PatchDraft, StageName


def test_apply_multiple_hunks_and_missing_newline():
    pre = b"".join(f"{i}\n".encode() for i in range(1, 21)) + b"end"
    diff = (
        "--- a/f\n+++ b/f\n"
        "@@ -2,3 +2,4 @@\n 2\n-3\n+three\n+3.5\n 4\n"
        "@@ -19,3 +20,3 @@\n 19\n 20\n-end\n\\ No newline at end of file\n+END\n"
    )
    post = apply_hunks(pre, parse_file_diff(diff))
    assert post.startswith(b"1\n2\nthree\n3.5\n4\n5\n") and post.endswith(b"20\nEND\n")


def test_crlf_lines_survive():
    pre = b"a\r\nb\r\n"
    diff = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\r\n-b\r\n+B\r\n"
    assert apply_hunks(pre, parse_file_diff(diff)) == b"a\r\nB\r\n"


def test_mismatch_names_the_line():
    with pytest.raises(HunkMismatch, match="line 2"):
        apply_hunks(b"a\nX\n", parse_file_diff("@@ -1,2 +1,2 @@\n a\n-b\n+c\n"))


def test_parser_refuses_ambiguity():
    with pytest.raises(DiffFormatError):
        parse_file_diff("hello\n@@ -1 +1 @@\n-a\n+b\n")
    with pytest.raises(DiffFormatError):
        parse_file_diff("--- a/x\n+++ b/x\n")
    with pytest.raises(DiffFormatError):
        parse_file_diff("@@ -1,2 +1,2 @@\n a\n")
    assert parse_file_diff("@@ -1 +1 @@\n-a\n+b\n").changed_lines == 2


def make(title: str, requester: str = "alice", email: str | None = None) -> ChangeRequest:
    draft = PatchDraft(
        stage=StageName.TESTS, title=title, files=[FileDiff(path="a.py", diff="@@ -1 +1 @@\n-a\n+b\n")]
    )
    return ChangeRequest.from_draft(
        draft,
        repo="o/r",
        branch="b",
        head_sha="a" * 40,
        requester=requester,
        requester_email=email,
        priority=Priority.AUTO,
    )


def test_commit_message_template_and_trailers():
    one = make("add tests", email="al@example.com")
    msg = commit_message("shunter({stage}): {title} [{requester}] {title.__class__}", [one])
    assert msg.splitlines()[0] == "shunter(tests): add tests [alice] {title.__class__}"
    assert f"Shunter-Change: {one.id}" in msg
    assert "Co-authored-by: alice <al@example.com>" in msg
    assert commit_message("   ", [one]).startswith("shunter: add tests\n")
    two = make("other", requester="dependabot[bot]")
    batch = commit_message("shunter: {title}", [one, two])
    assert batch.startswith("shunter: apply 2 changes\n\n- add tests (")
    assert batch.count("Shunter-Change:") == 2 and "dependabot" not in batch.split("\n\n")[-1]


def test_no_co_author_trailer_without_the_requesters_address():
    """Without the id-based address the event gave, no trailer: the login's legacy
    ``<login>@users.noreply.github.com`` belongs to whoever holds that login now (for an
    auto-apply, requested by "shunter", an unrelated GitHub user called shunter)."""
    for cr in (make("auto", requester="shunter"), make("old entry", requester="alice")):
        msg = commit_message("shunter: {title}", [cr])
        assert "Co-authored-by" not in msg and "users.noreply" not in msg, msg


def test_commit_message_fills_every_placeholder_the_policy_schema_accepts():
    """``{pr_number}`` (used by the autofix preset) is filled and ``{{``/``}}`` are literal
    braces, as the schema's validator promises; nothing the schema accepts stays raw."""
    from bot.changes.model import Origin
    from bot.policies.schema import COMMIT_MESSAGE_FIELDS, Patches

    one = make("tidy").model_copy(update={"origin": Origin(stage=StageName.REVIEW, pull_number=42)})
    template = Patches(
        commit_message="chore({{skip ci}}): {title} ({stage}, #{pr_number}) x{count}"
    ).commit_message
    assert commit_message(template, [one]).splitlines()[0] == "chore({skip ci}): tidy (review, #42) x1"
    every = Patches(commit_message=" ".join("{" + f + "}" for f in COMMIT_MESSAGE_FIELDS)).commit_message
    assert "{" not in commit_message(every, [one]).splitlines()[0]
    assert commit_message("{id} by {requester}", [one]).splitlines()[0] == f"{one.id} by alice"
    assert (
        commit_message("{title!r:>40} {title.__class__}", [one]).splitlines()[0] == "tidy {title.__class__}"
    )
    two = make("other").model_copy(update={"origin": Origin(pull_number=7)})
    assert commit_message("#{pr_number}", [one, two]).startswith("#42,7\n")


def test_same_draft_same_id():
    assert make("x").id == make("x").id


def test_routes():
    same = decide_route(base_repo="o/r", head_repo="o/r", head_branch="f", maintainer_can_modify=False)
    assert same.route is Route.BRANCH and same.uses_queue
    fork = decide_route(base_repo="o/r", head_repo="c/r", head_branch="f", maintainer_can_modify=True)
    assert fork.route is Route.FORK and fork.repo == "c/r" and fork.uses_queue
    closed = decide_route(
        base_repo="o/r",
        head_repo="c/r",
        head_branch="f",
        maintainer_can_modify=False,
        app_installed_on_fork=True,
    )
    assert closed.route is Route.FOLLOW_UP_PR and not closed.uses_queue
    fallback = decide_route(base_repo="o/r", head_repo="c/r", head_branch="f", maintainer_can_modify=False)
    assert fallback.route is Route.SUGGESTIONS and "cannot open pull requests" in fallback.reason
    policy = decide_route(
        base_repo="o/r", head_repo="o/r", head_branch="f", maintainer_can_modify=True, push_to="pull_request"
    )
    assert policy.route is Route.FOLLOW_UP_PR


def test_globs():
    assert matches_any(".github/workflows/ci.yml", [".github/workflows/**"])
    assert not matches_any(".github/workflowsx/ci.yml", [".github/workflows/**"])
    assert matches_any("a/b/c.py", ["**/*.py"]) and matches_any("c.py", ["**/*.py"])
    assert not matches_any("a/c.py", ["*.py"])


def test_auto_apply_loop_guard_and_priorities():
    from bot.changes import Priority, auto_apply_decision, priority_for
    from bot.policies.schema import AutoApplyPolicy, Patches

    always = Patches(auto_apply=AutoApplyPolicy(tests="always"))
    human = "fix typo\n"
    ours = "shunter: add tests\n\nShunter-Change: cr-1\n"
    assert auto_apply_decision(always, StageName.TESTS, human).allowed
    blocked = auto_apply_decision(always, StageName.TESTS, ours)
    assert not blocked.allowed and "loop" in blocked.reason
    assert auto_apply_decision(always, StageName.TESTS, ours, head_stage="review").allowed
    assert not auto_apply_decision(Patches(), StageName.TESTS, human).allowed
    assert priority_for(requested_by_person=True, permission="admin") is Priority.MAINTAINER
    assert priority_for(requested_by_person=True, permission="read") is Priority.REQUESTED
    assert priority_for(requested_by_person=False, permission="admin") is Priority.AUTO


def test_replies_say_what_and_how_to_retry():
    from bot.changes import DeadLetter, LandingReport
    from bot.changes.replies import dead_letter_reply, landed_reply

    cr = make("add tests")
    report = LandingReport("o/r", "b", "abcdef1234", [cr.id], ["a.py"], 1, 0, "api", "0" * 40, changes=[cr])
    text = landed_reply(report)
    assert "[abcdef1](https://github.com/o/r/commit/abcdef1234)" in text
    assert f"- add tests (`{cr.id}`)" in text and "`a.py`" in text
    letter = DeadLetter(cr, "conflict", "conflict on a.py against 0123: lines L3-L7")
    reply = dead_letter_reply(letter)
    assert "conflicts with changes" in reply and "L3-L7" in reply
    assert f"shunter queue retry {cr.id}" in reply and "/shunter apply" in reply


def test_a_change_confirmed_on_a_retry_reads_like_a_landing():
    """The push went through but its answer was lost: the retry found Shunter's own commit
    on the branch. The reply links it and lists the change and files, as a landing does;
    a commit Shunter did not make is only named, with its link."""
    from bot.changes import LandingReport
    from bot.changes.replies import landed_reply

    ours = make("drop unused imports")
    theirs = make("add tests").model_copy(update={"id": "cr-0123456789abcdef"})
    report = LandingReport("o/r", "b", None, [], [], 0, 0, "api", "0" * 40, changes=[ours, theirs])
    report.already_landed = {ours.id: "abcdef1234", theirs.id: "1234567890"}
    report.confirmed = {"abcdef1234": ["a.py"]}
    text = landed_reply(report)
    assert "Shunter pushed [abcdef1](https://github.com/o/r/commit/abcdef1234) to `b` with 1 change:" in text
    assert f"- drop unused imports (`{ours.id}`)" in text and "Files: `a.py`." in text
    assert "Confirmed on a retry" in text
    assert f"`{theirs.id}` was already on the branch in [1234567](https://github.com/o/r/commit/1234567890)" in text


def test_a_dead_letter_says_how_the_branch_moved_since_the_fix_was_computed():
    """No "(force-push?)" guess: the worker knows whether the branch's new head still has the
    fix's commit in its history, and the reply says which and where to get the new fixes."""
    from bot.changes import DeadLetter
    from bot.changes.replies import dead_letter_reply

    cr = make("add tests")
    pushed = dead_letter_reply(DeadLetter(cr, "conflict", "conflict on a.py", "b" * 40, rewritten=False))
    assert "New commits were pushed to `b` since the fix was computed: it moved from `aaaaaaa` to `bbbbbbb`." in pushed
    assert "force" not in pushed and "**Apply fixes** on the new head's `shunter/tests` check run" in pushed
    forced = dead_letter_reply(DeadLetter(cr, "base_missing", "not in the history", "b" * 40, rewritten=True))
    assert "`b` was force-pushed since the fix was computed" in forced and "?" not in forced
    assert "`/shunter tests` runs the stage again" in forced
