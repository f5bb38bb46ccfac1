"""Plain data shared by stages, the publisher, the store and the merge queue.

These models are the functional core's vocabulary: stages return them, the shell
publishes and persists them. They carry no I/O and serialise to JSON (rq jobs carry JSON).
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Severity(StrEnum):
    """GitHub's three annotation levels, in our words (``notice`` < ``warning`` < ``error``)."""

    NOTICE = "notice"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"notice": 1, "warning": 2, "error": 3}[self.value]

    @property
    def annotation_level(self) -> str:
        """The ``annotation_level`` GitHub's check-run API expects."""
        return {"notice": "notice", "warning": "warning", "error": "failure"}[self.value]


class StageName(StrEnum):
    REVIEW = "review"
    SECURITY = "security"
    TESTS = "tests"

    @property
    def check_name(self) -> str:
        return f"shunter/{self.value}"


_WS = re.compile(r"\s+")


def fingerprint(rule_id: str, path: str, line_content: str) -> str:
    """A finding identity that survives line shifts: rule + path + normalised line text.

    Whitespace is folded so re-indentation does not make an old finding look new. A git
    path that is not UTF-8 reaches here with its bytes as surrogates: they are hashed as
    those bytes (a plain ``encode()`` raised, and took the whole stage down).
    """
    normalised = _WS.sub(" ", line_content).strip()
    digest = hashlib.sha256(f"{rule_id}\0{path}\0{normalised}".encode("utf-8", "surrogateescape")).hexdigest()
    return digest[:16]


class Finding(BaseModel):
    """One thing a stage wants a reviewer to see, anchored to lines of a file, or a remark
    about the whole pull request (:attr:`on_pull_request`: no path, no lines).

    A PR-wide remark ("this PR changes 2,000 lines") anchored on some file's first line
    read as being about that line: it became an annotation and an inline comment there.
    An empty path rather than ``None`` keeps every consumer's ``str`` (dict keys, sorting,
    the store's column); those that need a place ask :attr:`on_pull_request` first."""

    model_config = ConfigDict(frozen=True)

    stage: StageName
    rule_id: str
    severity: Severity
    message: str
    path: str = ""
    """The file, relative to the repository root; empty for a remark about the pull request."""
    start_line: int = Field(default=0, ge=0)
    end_line: int = Field(default=0, ge=0)
    """1-based lines of ``path``; 0 (both) exactly when there is no path."""
    engine: str = "builtin"
    title: str | None = None
    suggestion: str | None = None
    """Replacement text for lines ``start_line..end_line`` (a one-hunk fix), if any."""
    suggestion_held_back: bool = False
    """The fix had a replacement, dropped because the lines it rewrites hold a secret
    (:func:`bot.stages.filtering.without_secret_suggestions`): the finding is stored and
    published, so the replacement must not travel with it; the publisher says why instead."""
    fingerprint: str = ""
    confidence: str | None = None
    cwe: int | None = None
    help_uri: str | None = None
    suppressed: str | None = None
    """Why the finding is suppressed (e.g. ``# nosec``), or None when it is reported."""

    @model_validator(mode="after")
    def _placed_or_not(self) -> Finding:
        if bool(self.path) != (self.start_line >= 1 and self.end_line >= 1):
            raise ValueError("a finding has a path and lines (>= 1), or neither (a remark on the PR)")
        return self

    @property
    def on_pull_request(self) -> bool:
        """A remark about the whole pull request, at no file or line: it goes in the check
        run's summary and the summary comment, never in an annotation or inline comment."""
        return not self.path

    @property
    def short_id(self) -> str:
        """What people type after ``/shunter dismiss``: the fingerprint's first 8 characters."""
        return self.fingerprint[:8]


class FileDiff(BaseModel):
    """A unified diff for one file plus the pre-image blob it was computed against."""

    path: str
    old_path: str | None = None
    diff: str
    pre_image_blob: str | None = None
    """Hex blob id of the file before the change; None for new files."""


class PatchDraft(BaseModel):
    """A change a stage proposes; the merge queue turns it into a ``ChangeRequest``."""

    stage: StageName
    title: str
    files: list[FileDiff]
    finding_fingerprints: list[str] = Field(default_factory=list)


class StageResult(BaseModel):
    """Everything a stage produced for one head SHA; pure data, published by the shell."""

    stage: StageName
    head_sha: str
    findings: list[Finding] = Field(default_factory=list)
    patches: list[PatchDraft] = Field(default_factory=list)
    summary: str = ""
    notes: list[str] = Field(default_factory=list)
    """Sentences for the check summary (skipped files, engine failures, sandbox strength)."""
    metrics: dict[str, Any] = Field(default_factory=dict)
    neutral: bool = False
    """True when the stage could not judge (e.g. a service was unreachable)."""
