"""What the merge queue hands back: a landing report or a dead letter, as plain data.

The GitHub side (replies on the PR, marking findings applied, audit events) consumes these;
``bot.changes.replies`` renders them as comment text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.changes.model import ChangeRequest


@dataclass
class LandingReport:
    """What landed, for the caller to reply on the PR, mark findings and audit."""

    repo: str
    branch: str
    commit_sha: str | None
    change_ids: list[str]
    files: list[str]
    pushes: int
    refused_pushes: int
    method: str
    previous_head: str | None
    changes: list[ChangeRequest] = field(default_factory=list)
    already_landed: dict[str, str] = field(default_factory=dict)
    """Ids found already on the branch (by trailer) -> the commit that carries them."""
    already_present: list[str] = field(default_factory=list)
    """Ids whose change was already in the branch's files; nothing was committed for them."""
    confirmed: dict[str, list[str]] = field(default_factory=dict)
    """Commits of ``already_landed`` that are Shunter's own earlier push (a push that went
    through but whose answer was lost) -> the files each changed: the reply reads like any
    landing's, not like a change someone else brought."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "branch": self.branch,
            "commit_sha": self.commit_sha,
            "change_ids": self.change_ids,
            "files": self.files,
            "pushes": self.pushes,
            "refused_pushes": self.refused_pushes,
            "method": self.method,
            "previous_head": self.previous_head,
            "already_landed": self.already_landed,
            "already_present": self.already_present,
            "confirmed": self.confirmed,
            "finding_fingerprints": sorted(
                {fp for c in self.changes for fp in c.origin.finding_fingerprints}
            ),
        }


@dataclass(frozen=True)
class DeadLetter:
    """A change that will not land without a person: the reason code and what to do."""

    change: ChangeRequest
    reason: str
    detail: str
    branch_head: str | None = None
    """Where the branch was when the change failed, when that differs from the commit the
    change was computed on (the author pushed since); None when unknown or the same."""
    rewritten: bool | None = None
    """With ``branch_head``: whether the branch's new history no longer holds the commit the
    change was computed on (a force-push) rather than adding commits on top of it."""
    hint: str | None = None
    """What to change so the change can land (Markdown of Shunter's own), when the cause is
    known and retrying as things stand fails the same way: a branch rule refusing the push."""

    @property
    def retry_hint(self) -> str:
        """One sentence for operators; ``bot.changes.replies`` has the PR wording."""
        return f"fix the cause, then `shunter queue retry {self.change.id}` (or re-run the stage)"
