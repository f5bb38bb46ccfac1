"""The change request: one agent patch on its way to a branch, as plain JSON-able data.

A ``ChangeRequest`` is what the merge queue stores and what an operator inspects with
``shunter queue show``. It carries everything needed to apply the patch later on a head
that may have moved (the base SHA and the pre-image blob ids) and to explain it afterwards
(origin, requester, approval).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import IntEnum

from pydantic import BaseModel, ConfigDict, Field

from bot.models import FileDiff, PatchDraft, StageName


class Priority(IntEnum):
    """Queue bands: lower lands first. FIFO holds within a band."""

    MAINTAINER = 0
    """``/shunter apply`` (or the Apply button) pressed by someone with write access or more."""
    REQUESTED = 1
    """Asked for by the PR's author or another person without write access."""
    AUTO = 2
    """The policy's ``auto_apply: always``; never ahead of a person's request."""


class Origin(BaseModel):
    """Where the patch came from, so landing can mark the right findings and audit the run."""

    stage: StageName | None = None
    run_id: str | None = None
    finding_fingerprints: list[str] = Field(default_factory=list)
    pull_number: int | None = None
    repo: str | None = None
    """``owner/name`` of the repository ``pull_number`` belongs to: for a fork's pull request
    not the change's own ``repo`` (the fork). None in changes queued before it was kept."""


class Approval(BaseModel):
    """A ``/shunter approve`` by ``approver``, whose permission was ``permission`` at the time."""

    approver: str
    permission: str
    approved_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class ChangeRequest(BaseModel):
    """One agent patch bound for ``repo``'s ``branch``, computed on ``head_sha``."""

    model_config = ConfigDict(extra="forbid")

    id: str
    repo: str
    """``owner/name`` of the repository the branch lives in (the fork for fork PRs)."""
    branch: str
    head_sha: str
    title: str
    files: list[FileDiff]
    origin: Origin = Field(default_factory=Origin)
    requester: str
    requester_email: str | None = None
    priority: Priority = Priority.REQUESTED
    approval: Approval | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    attempts: int = 0

    @property
    def paths(self) -> list[str]:
        """Every path the change writes or removes (renames count both names)."""
        out: list[str] = []
        for file in self.files:
            out.append(file.path)
            if file.old_path and file.old_path != file.path:
                out.append(file.old_path)
        return out

    @classmethod
    def from_draft(
        cls,
        draft: PatchDraft,
        *,
        repo: str,
        branch: str,
        head_sha: str,
        requester: str,
        requester_email: str | None = None,
        priority: Priority = Priority.REQUESTED,
        run_id: str | None = None,
        pull_number: int | None = None,
        pull_repo: str | None = None,
        approval: Approval | None = None,
    ) -> ChangeRequest:
        """Turn a stage's draft into a request; the id is derived from content, see below."""
        origin = Origin(
            stage=draft.stage,
            run_id=run_id,
            finding_fingerprints=list(draft.finding_fingerprints),
            pull_number=pull_number,
            repo=pull_repo,
        )
        return cls(
            id=change_id(repo, branch, head_sha, draft.files),
            repo=repo,
            branch=branch,
            head_sha=head_sha,
            title=draft.title,
            files=list(draft.files),
            origin=origin,
            requester=requester,
            requester_email=requester_email,
            priority=priority,
            approval=approval,
        )


def change_id(repo: str, branch: str, head_sha: str, files: list[FileDiff]) -> str:
    """A content id: the same patch on the same base asked for twice is one queue entry.

    This is what makes a double-clicked "Apply fixes" button idempotent.
    """
    payload = json.dumps([repo, branch, head_sha, [f.model_dump(mode="json") for f in files]], sort_keys=True)
    return "cr-" + hashlib.sha256(payload.encode()).hexdigest()[:16]
