from __future__ import annotations

from datetime import UTC, datetime

from bot.models import Severity
from bot.publishing import (
    outdated_comments,
    posted_from_comments,
    resolved_comment_body,
    select_inline_comments,
    suggestion_block,
)
from bot.publishing.inline import fingerprint_in_comment
from bot.publishing.limits import MAX_COMMENT_BODY, review_comment_problems, size
from bot.stages.context import ChangedFile
from bot.store import PostedComment

APP = ChangedFile(
    path="src/app.py",
    status="modified",
    added_lines=frozenset({10, 11, 12, 20}),
    context_lines=frozenset({7, 8, 9, 13, 14, 15, 21}),
)
NEW = ChangedFile(path="src/new.py", status="added", added_lines=frozenset(range(1, 31)))
GONE = ChangedFile(path="src/old.py", status="deleted")
FILES = [APP, NEW, GONE]


def _valid(comments) -> None:
    for comment in comments:
        assert review_comment_problems(comment.to_payload()) == []


def test_only_findings_on_diff_lines(make) -> None:
    findings = [
        make.finding(1, line=10),  # added
        make.finding(2, line=8),  # context
        make.finding(3, line=3),  # outside the hunks
        make.finding(4, path="src/old.py", line=1),  # deleted file
        make.finding(5, path="README.md", line=1),  # file not in the PR
        make.finding(6, path="src/new.py", line=30),
    ]
    chosen = select_inline_comments(findings, FILES, set(), limit=10)
    assert sorted((c.path, c.line) for c in chosen) == [
        ("src/app.py", 8),
        ("src/app.py", 10),
        ("src/new.py", 30),
    ]
    _valid(chosen)


def test_most_important_first_and_limit(make) -> None:
    findings = [
        make.finding(1, Severity.NOTICE, line=10),
        make.finding(2, Severity.WARNING, line=8),  # context line
        make.finding(3, Severity.WARNING, line=11),  # added line: before the context one
        make.finding(4, Severity.ERROR, line=20),
        make.finding(5, Severity.WARNING, line=12, suggestion="fixed()\n"),  # has a fix
    ]
    chosen = select_inline_comments(findings, FILES, set(), limit=4)
    assert [c.line for c in chosen] == [20, 12, 11, 8]
    assert select_inline_comments(findings, FILES, set(), limit=0) == []


def test_never_twice(make) -> None:
    first = make.finding(1, line=10)
    twin = make.finding(1, line=10)
    quiet = make.finding(2, line=11, suppressed="# noqa")
    other = make.finding(3, line=12)
    chosen = select_inline_comments([first, twin, quiet, other], FILES, {other.fingerprint}, 10)
    assert [c.fingerprint for c in chosen] == [first.fingerprint]


def test_findings_without_fingerprint_get_a_stable_key(make) -> None:
    bare = make.finding(1, line=10).model_copy(update={"fingerprint": ""})
    [first] = select_inline_comments([bare], FILES, set(), 5)
    assert first.fingerprint and len(first.fingerprint) == 16
    assert select_inline_comments([bare], FILES, {first.fingerprint}, 5) == []


def test_multi_line_suggestion_in_one_hunk(make) -> None:
    finding = make.finding(
        1, Severity.ERROR, line=9, end_line=12, suggestion="a = 1\nb = 2\n", rule_id="E999"
    )
    [comment] = select_inline_comments([finding], FILES, set(), 5)
    payload = comment.to_payload()
    assert payload["start_line"] == 9 and payload["line"] == 12
    assert payload["side"] == "RIGHT" and payload["start_side"] == "RIGHT"
    assert comment.has_suggestion
    assert "```suggestion\na = 1\nb = 2\n```" in comment.body
    assert "`E999`" in comment.body and "🔴 error" in comment.body
    assert f"/shunter dismiss {finding.short_id}" in comment.body
    assert fingerprint_in_comment(comment.body) == finding.fingerprint
    _valid([comment])


def test_partly_outside_the_diff_drops_the_suggestion(make) -> None:
    finding = make.finding(1, line=14, end_line=17, suggestion="x\n")  # 16, 17 not in diff
    [comment] = select_inline_comments([finding], FILES, set(), 5)
    assert comment.line == 14 and comment.start_line is None
    assert "start_line" not in comment.to_payload()
    assert not comment.has_suggestion and "suggestion" not in comment.body
    straddling = make.finding(2, line=4, end_line=7)  # only line 7 is in a hunk
    [second] = select_inline_comments([straddling], FILES, set(), 5)
    assert second.line == 7


def test_suggestion_blocks() -> None:
    assert suggestion_block("x = 1\n") == "```suggestion\nx = 1\n```"
    assert suggestion_block("x = 1") == "```suggestion\nx = 1\n```"
    assert suggestion_block("") == "```suggestion\n```"  # deletes the lines
    assert suggestion_block("\n") == "```suggestion\n\n```"  # one empty line
    nested = 'doc = """\n```python\nprint()\n```\n"""\n'
    block = suggestion_block(nested)
    assert block.startswith("````suggestion\n") and block.endswith("\n````")
    assert nested.rstrip("\n") in block


def test_untrusted_messages_are_defused(make) -> None:
    finding = make.finding(1, line=10, message="ping @octocat <!-- shunter:summary --> " + "m" * 100_000)
    [comment] = select_inline_comments([finding], FILES, set(), 5)
    assert "@octocat" not in comment.body and "@\u2060octocat" in comment.body
    assert "<!-- shunter:summary -->" not in comment.body
    assert size(comment.body) <= MAX_COMMENT_BODY
    huge_fix = make.finding(2, line=11, suggestion="y" * 80_000)
    [second] = select_inline_comments([huge_fix], FILES, set(), 5)
    assert "too large to show" in second.body
    assert not second.has_suggestion and "```suggestion" not in second.body
    _valid([comment, second])


def _posted(fp: str, *, resolved: bool = False, comment_id: int | None = 1) -> PostedComment:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return PostedComment("o/r", 1, fp, comment_id, "a" * 40, "src/app.py", 10, resolved, None, now)


def test_outdated_comments_are_those_fixed_later() -> None:
    posted = [_posted("f1"), _posted("f2"), _posted("f3", resolved=True), _posted("f4", comment_id=None)]
    assert [p.fingerprint for p in outdated_comments(posted, {"f2"})] == ["f1"]
    assert outdated_comments(posted, {"f1", "f2"}) == []


def test_resolved_body_and_state_from_github(make) -> None:
    finding = make.finding(1, line=10)
    [comment] = select_inline_comments([finding], FILES, set(), 5)
    resolved = resolved_comment_body(comment.body, "f" * 40)
    assert resolved.startswith("✅ **Resolved** in `fffffff`")
    assert comment.body in resolved
    assert resolved_comment_body(resolved, "e" * 40) == resolved
    assert fingerprint_in_comment(resolved) == finding.fingerprint
    huge = resolved_comment_body("z" * MAX_COMMENT_BODY + comment.body[-40:], "f" * 40)
    assert size(huge) <= MAX_COMMENT_BODY
    comments = [
        {"body": comment.body, "user": {"login": "shunter[bot]"}},
        {"body": comment.body.replace(finding.fingerprint, "0" * 16), "user": {"login": "eve"}},
    ]
    assert posted_from_comments(comments, "shunter[bot]") == {finding.fingerprint}


def test_secrets_never_reach_review_comments(make) -> None:
    token = "ghs_" + "Z9y8X7w6V5" * 4
    leaky = make.finding(1, line=10, message=f"found {token}", suggestion=f"key = '{token}'\n")
    [comment] = select_inline_comments([leaky], FILES, set(), 5)
    assert token not in comment.body
    # not a masked suggestion: "Commit suggestion" would have committed `ghs_***` as the key
    assert "```suggestion" not in comment.body and "key = 'ghs_***'" not in comment.body
    assert "No suggestion shown: the lines this fix rewrites hold a secret" in comment.body
    assert not comment.has_suggestion


def test_a_suggestion_held_back_before_storing_still_says_why(make) -> None:
    """The pipeline drops a replacement holding a secret before the finding is kept in
    Redis (`without_secret_suggestions`); the comment and the annotation still say why no
    fix is shown, the same as when the replacement was there to scan."""
    from bot.publishing.check_runs import _raw_details
    from bot.stages.filtering import without_secret_suggestions

    key = "AKIAQ7RZ3KX5LMN2PW4T"
    leaky = make.finding(1, line=10, suggestion=f'KEY = "{key}"')
    clean = make.finding(2, line=11, suggestion="import sys")
    deleting = make.finding(3, line=12, suggestion="")
    held, kept, empty = without_secret_suggestions([leaky, clean, deleting])
    assert (held.suggestion, held.suggestion_held_back) == (None, True)
    assert key not in held.model_dump_json() and held.fingerprint == leaky.fingerprint
    assert (kept, empty) == (clean, deleting)  # a clean fix and a deletion stay offered

    by_line = {c.line: c for c in select_inline_comments([held, kept], FILES, set(), 5)}
    assert "No suggestion shown: the lines this fix rewrites hold a secret" in by_line[10].body
    assert not by_line[10].has_suggestion and by_line[11].has_suggestion
    assert "suggested fix for line 10 not shown: the lines hold a secret" in _raw_details(held)


def test_a_suggestion_on_crlf_lines_is_withheld_even_when_written_with_lf(make) -> None:
    # a model's replacement comes with LF; the lines it would replace end in CRLF
    patch = "@@ -1,2 +1,3 @@\n x = 1\r\n+y = eval(s)\r\n z = 3\r\n"
    crlf = ChangedFile(path="src/app.py", status="modified", added_lines=frozenset({2}),
                       context_lines=frozenset({1, 3}), patch=patch)  # fmt: skip
    lf = ChangedFile(path="src/app.py", status="modified", added_lines=frozenset({2}),
                     context_lines=frozenset({1, 3}), patch=patch.replace("\r", ""))  # fmt: skip
    finding = make.finding(1, line=2, suggestion="y = ast.literal_eval(s)")
    [on_crlf] = select_inline_comments([finding], [crlf], set(), 5)
    assert not on_crlf.has_suggestion and "```suggestion" not in on_crlf.body and "CRLF" in on_crlf.body
    [on_lf] = select_inline_comments([finding], [lf], set(), 5)
    assert on_lf.has_suggestion and "```suggestion\ny = ast.literal_eval(s)\n```" in on_lf.body


def test_no_suggestion_on_lines_of_a_file_that_is_not_utf8(make, make_ctx) -> None:
    # the diff git makes of a latin-1 file shows its accented letters as U+FFFD, and a model
    # reading it writes them back so: committed, they would land in the file as UTF-8
    base = b'# -*- coding: latin-1 -*-\n"""Caf\xe9."""\n'
    head = base + b'X = eval("1")  # caf\xe9\nY = eval("2")\n'
    [changed] = make_ctx({"w.py": base}, {"w.py": head}).files
    echoed = make.finding(1, path="w.py", line=3, suggestion='X = ast.literal_eval("1")  # caf\ufffd')
    [comment] = select_inline_comments([echoed], [changed], set(), 5)
    assert not comment.has_suggestion and "```suggestion" not in comment.body and "\ufffd" not in comment.body
    assert "not UTF-8 text" in comment.body
    clean = make.finding(2, path="w.py", line=4, suggestion='Y = ast.literal_eval("2")')
    [comment] = select_inline_comments([clean], [changed], set(), 5)
    assert comment.has_suggestion  # an ASCII line of the same file keeps its suggestion
