"""Patch drafts turned into review suggestions: exact regions, and only on diff lines."""

from __future__ import annotations

import re

from bot.models import FileDiff, PatchDraft, StageName
from bot.publishing.patch_suggestions import suggestions_from_drafts
from bot.stages.context import ChangedFile


def draft(diff: str, path: str = "a.py") -> PatchDraft:
    return PatchDraft(stage=StageName.REVIEW, title="fix", files=[FileDiff(path=path, diff=diff)])


def changed(lines: range, path: str = "a.py") -> ChangedFile:
    return ChangedFile(path=path, status="modified", added_lines=frozenset(lines))


DELETE = "--- a/a.py\n+++ b/a.py\n@@ -1,4 +1,2 @@\n-import os\n-import sys\n x = 1\n y = 2\n"
REPLACE = "--- a/a.py\n+++ b/a.py\n@@ -2,3 +2,3 @@\n a = 1\n-b = yaml.load(s)\n+b = yaml.safe_load(s)\n c = 3\n"
INSERT = "--- a/a.py\n+++ b/a.py\n@@ -3,2 +3,3 @@\n x = 1\n+y = 2\n z = 3\n"


def test_deleted_lines_become_an_empty_suggestion_over_them():
    [s], skipped = suggestions_from_drafts([draft(DELETE)], [changed(range(1, 5))])
    assert (s.start_line, s.end_line, s.replacement, skipped) == (1, 2, "", 0)
    payload = s.to_payload()
    assert payload["start_line"] == 1 and payload["line"] == 2 and "```suggestion\n```" in payload["body"]


def test_a_replaced_line_keeps_only_the_changed_region():
    [s], _ = suggestions_from_drafts([draft(REPLACE)], [changed(range(1, 10))])
    assert (s.start_line, s.end_line, s.replacement) == (3, 3, "b = yaml.safe_load(s)\n")
    assert "start_line" not in s.to_payload()


def test_an_insertion_is_suggested_on_the_line_before():
    [s], _ = suggestions_from_drafts([draft(INSERT)], [changed(range(1, 10))])
    assert (s.start_line, s.end_line, s.replacement) == (3, 3, "x = 1\ny = 2\n")


def test_hunks_off_the_diff_or_in_unchanged_files_are_left_out_and_counted():
    suggestions, skipped = suggestions_from_drafts(
        [draft(REPLACE), draft(REPLACE, path="other.py")], [changed(range(7, 9))]
    )
    assert suggestions == [] and skipped == 2


FENCED = (
    "--- a/a.py\n+++ b/a.py\n@@ -1,5 +1,5 @@\n"
    ' """Module docs.\n'
    "-Example:   \n"
    "+Example:\n"
    " ```\n"
    "-f()   \n"
    "+f()\n"
    " ```\n"
)


def _suggested_text(body: str) -> str:
    """What GitHub commits: the lines between the ``suggestion`` opening fence and the
    first closing fence at least as long (CommonMark)."""
    lines = body.split("\n")
    start = next(i for i, line in enumerate(lines) if line.lstrip("`") == "suggestion")
    fence = len(lines[start]) - len("suggestion")
    end = next(
        i for i in range(start + 1, len(lines))
        if re.fullmatch(r" {0,3}(`+)\s*", lines[i]) and len(lines[i].strip()) >= fence
    )
    return "".join(line + "\n" for line in lines[start + 1 : end])


def test_a_replacement_holding_a_code_fence_is_suggested_whole():
    [s], _ = suggestions_from_drafts([draft(FENCED)], [changed(range(1, 6))])
    assert "```\n" in s.replacement
    assert _suggested_text(s.to_payload()["body"]) == s.replacement


def test_the_draft_title_cannot_forge_a_marker_or_mention():
    d = PatchDraft(stage=StageName.REVIEW, title="fix <!-- shunter:summary --> @org/team\nx",
                   files=[FileDiff(path="a.py", diff=REPLACE)])
    [s], _ = suggestions_from_drafts([d], [changed(range(1, 10))])
    body = s.to_payload()["body"]
    assert "<!--" not in body and "@org" not in body and body.startswith("Fix from Shunter (fix ")


def test_a_suggestion_too_long_for_a_comment_is_left_out_and_counted():
    huge = "".join(f"+x{i} = {'y' * 100}\n" for i in range(700))
    diff = f"--- a/a.py\n+++ b/a.py\n@@ -1,1 +1,700 @@\n-x = 1\n{huge}"
    suggestions, skipped = suggestions_from_drafts([draft(diff)], [changed(range(1, 800))])
    assert suggestions == [] and skipped == 1


SECRET_LINE = (
    "--- a/a.py\n+++ b/a.py\n@@ -1,2 +1,2 @@\n"
    '-KEY = f"AKIAQ7RZ3KX5LMN2PW4T"\n+KEY = "AKIAQ7RZ3KX5LMN2PW4T"\n x = 1\n'
)


def test_a_fix_rewriting_a_line_that_holds_a_secret_is_not_quoted():
    """The fork fallback posted the rewritten line whole: the AWS key in a suggestion."""
    [s], skipped = suggestions_from_drafts([draft(SECRET_LINE)], [changed(range(1, 3))])
    assert (s.start_line, s.end_line, skipped) == (1, 1, 0)
    body = s.to_payload()["body"]
    assert "AKIAQ7RZ3KX5LMN2PW4T" not in body and "```suggestion" not in body
    assert "No suggestion shown: the lines this fix rewrites hold a secret" in body


CRLF = 'a.py\n+++ b/a.py\n@@ -2,3 +2,3 @@\n a = 1\r\n-b = f"x"\r\n+b = "x"\r\n c = 3\r\n'


def test_crlf_lines_are_shown_as_code_to_type_not_a_suggestion_that_would_change_their_endings():
    [s], skipped = suggestions_from_drafts([draft("--- a/" + CRLF)], [changed(range(1, 10))])
    body = s.to_payload()["body"]
    assert (s.start_line, s.end_line, skipped) == (3, 3, 0)
    assert "```suggestion" not in body and "\r" not in body
    assert "CRLF" in body and '```python\nb = "x"\n```' in body


def test_a_file_name_in_the_draft_title_is_shown_as_text():
    """The security stage titles a draft "Security fixes in <path>: ...": a file named
    ``<img src=x> #12.py`` showed an image and linked issue 12 in the fork's suggestion."""
    from markdown_it import MarkdownIt

    d = PatchDraft(stage=StageName.SECURITY, title="Security fixes in src/<img src=x> #12 [a](b).py: yaml.load",
                   files=[FileDiff(path="a.py", diff=REPLACE)])
    [s], _ = suggestions_from_drafts([d], [changed(range(1, 10))])
    body = s.to_payload()["body"]
    [first] = [t for t in MarkdownIt("commonmark").parse(body) if t.type == "inline"][:1]
    assert [c.type for c in first.children or []] == ["text"], first.children  # no HTML, no link
    assert first.content.replace("\\", "").replace("\u2060", "").startswith(
        "Fix from Shunter (Security fixes in src/<img src=x> #12 [a](b).py: yaml.load)"
    ), body
    assert "#12" not in body, body
