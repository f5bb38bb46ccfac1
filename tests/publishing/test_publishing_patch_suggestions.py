"""Patch drafts turned into review suggestions: exact regions, and only on diff lines."""

from __future__ import annotations

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
