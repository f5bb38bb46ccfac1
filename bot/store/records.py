"""What the store hands back: frozen dataclasses, detached from any database session.

Callers never see SQLAlchemy rows, so the rest of Shunter does not depend on the ORM and a
record can be passed to a pure function (e.g. ``bot.publishing``) as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"

    @property
    def active(self) -> bool:
        """True while the run may still change (it has not ended one way or another)."""
        return self in (RunStatus.QUEUED, RunStatus.IN_PROGRESS)


@dataclass(frozen=True)
class RunRecord:
    id: int
    repo: str
    pr: int | None
    head_sha: str
    stage: str
    status: RunStatus
    conclusion: str | None
    check_run_id: int | None
    delivery_id: str | None
    installation_id: int | None
    reason: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    metrics: dict[str, Any] = field(default_factory=dict)
    findings_count: int = 0

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class StepRecord:
    id: int
    run_id: int
    name: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: datetime
    repo: str
    pr: int | None
    run_id: int | None
    installation_id: int | None
    actor: str
    action: str
    target_type: str
    target_id: str | None
    delivery_id: str | None
    reason_code: str | None
    reason: str | None
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> str:
        """``check_run 123``, ``comment 456``, ``ref heads/main``: what was written."""
        return f"{self.target_type} {self.target_id}" if self.target_id else self.target_type


@dataclass(frozen=True)
class PostedComment:
    """An inline review comment Shunter posted (or claimed, while ``comment_id`` is None)."""

    repo: str
    pr: int
    fingerprint: str
    comment_id: int | None
    head_sha: str
    path: str
    line: int
    resolved: bool
    resolved_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class CommandRecord:
    id: int
    repo: str
    pr: int
    verb: str
    args: str
    user: str
    outcome: str
    detail: str | None
    comment_id: int | None
    at: datetime


@dataclass(frozen=True)
class DismissedFinding:
    fingerprint: str
    by: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class PullState:
    """Everything the summary comment shows about a PR besides its stages."""

    repo: str
    pr: int
    paused: bool = False
    paused_by: str | None = None
    paused_at: datetime | None = None
    recent_commands: tuple[CommandRecord, ...] = ()
    dismissed: tuple[DismissedFinding, ...] = ()

    @property
    def dismissed_fingerprints(self) -> frozenset[str]:
        return frozenset(item.fingerprint for item in self.dismissed)
