"""Patch drafts as review suggestions, for branches Shunter may not push to (pure).

When a fork's author did not allow edits from maintainers, the fixes are offered the way a
human reviewer would: one ```suggestion``` per hunk, which the author applies with one click.
GitHub only accepts review comments on lines of the PR's diff, so hunks that touch other
lines are left out and counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.changes.unified import DiffFormatError, Hunk, parse_file_diff
from bot.engines.secrets_scan import holds_secret
from bot.models import PatchDraft
from bot.publishing import limits
from bot.publishing.inline import HELD_BACK_SUGGESTION, by_hand_block, keeps_line_endings, suggestion_block
from bot.stages.context import ChangedFile
from bot.store.redaction import redact_secrets
from bot.wording import prose_text


@dataclass(frozen=True)
class Suggestion:
    path: str
    start_line: int
    end_line: int
    replacement: str
    title: str

    @property
    def holds_secret(self) -> bool:
        """The replaced lines carry a secret: the comment says where the fix is, not what."""
        return holds_secret(self.path, [self.replacement])

    def to_payload(self) -> dict[str, Any]:
        """The review comment; the fence outlasts any backtick run in the replacement (a
        fixed ``` would end the suggestion at a ``` line of the code, and "Commit
        suggestion" would then delete the rest of the region), and the title is untrusted
        text (a draft's title may quote the PR)."""
        title = prose_text(redact_secrets(self.title), max_chars=200)  # it may name a file
        if self.holds_secret:
            shown = HELD_BACK_SUGGESTION
        elif keeps_line_endings(self.replacement):
            shown = suggestion_block(self.replacement)
        else:
            shown = by_hand_block(self.replacement)
        body = f"Fix from Shunter ({title}):\n\n{shown}"
        payload: dict[str, Any] = {"path": self.path, "line": self.end_line, "side": "RIGHT", "body": body}
        if self.start_line < self.end_line:
            payload["start_line"] = self.start_line
            payload["start_side"] = "RIGHT"
        return payload


def _region(hunk: Hunk) -> tuple[int, int, str] | None:
    """The head lines a hunk replaces (first..last changed line) and their new text."""
    ops = hunk.lines
    changed = [i for i, (op, _) in enumerate(ops) if op != " "]
    if not changed:
        return None
    first, last = changed[0], changed[-1]
    start = hunk.old_start + sum(1 for op, _ in ops[:first] if op in " -")
    replaced = sum(1 for op, _ in ops[first : last + 1] if op in " -")
    new_text = "".join(line.decode("utf-8", "replace") for op, line in ops[first : last + 1] if op in " +")
    if replaced == 0:  # a pure insertion: suggest the line before it plus the new lines
        if first == 0:
            return None
        before = ops[first - 1][1].decode("utf-8", "replace")
        return start - 1, start - 1, before + new_text
    if new_text and not new_text.endswith("\n"):
        new_text += "\n"
    return start, start + replaced - 1, new_text


def suggestions_from_drafts(
    drafts: Iterable[PatchDraft], files: Sequence[ChangedFile], *, limit: int = 50
) -> tuple[list[Suggestion], int]:
    """Suggestions for every hunk on the PR's diff lines; and how many hunks were left out."""
    by_path = {f.path: f for f in files}
    out: list[Suggestion] = []
    skipped = 0
    for draft in drafts:
        for file in draft.files:
            changed = by_path.get(file.path)
            try:
                hunks = parse_file_diff(file.diff).hunks
            except DiffFormatError:
                skipped += 1
                continue
            for hunk in hunks:
                region = _region(hunk)
                on_diff = (
                    region is not None
                    and changed is not None
                    and all(n in changed.diff_lines for n in range(region[0], region[1] + 1))
                )
                if region is None or not on_diff or len(out) >= limit:
                    skipped += 1
                    continue
                suggestion = Suggestion(file.path, region[0], region[1], region[2], draft.title)
                if limits.comment_problems(suggestion.to_payload()["body"]):
                    skipped += 1  # too long for a comment, and a cut suggestion commits wrong code
                    continue
                out.append(suggestion)
    return out, skipped
