"""Upload SARIF to GitHub code scanning and wait for GitHub to process it.

GitHub takes the SARIF gzip-compressed and base64-encoded (``POST
/repos/{o}/{r}/code-scanning/sarifs``), answers 202 with an upload id, and processes it
asynchronously; an upload that GitHub later rejects (bad SARIF, too many results) is only
visible by polling ``GET .../sarifs/{id}``. So ``upload_and_wait`` reports failures
instead of assuming an accepted upload was a successful one. Needs the App permission
``security_events: write``.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from githubkit import GitHub
from githubkit.exception import RequestFailed

if TYPE_CHECKING:
    from githubkit_schemas.latest.types import ReposOwnerRepoCodeScanningSarifsPostBodyType as SarifBody

from bot.errors import GitHubError, TransientError

MAX_COMPRESSED_BYTES = 10 * 1024 * 1024  # GitHub's limit for the gzip-compressed SARIF


@dataclass(frozen=True)
class UploadStatus:
    sarif_id: str
    processing_status: str  # "pending" | "complete" | "failed"
    errors: list[str] = field(default_factory=list)
    analyses_url: str | None = None

    @property
    def failed(self) -> bool:
        return self.processing_status == "failed"


def encode_sarif(sarif: dict[str, Any]) -> str:
    """gzip then base64, as the endpoint requires; refuse what GitHub would refuse."""
    raw = json.dumps(sarif, separators=(",", ":")).encode("utf-8")
    packed = gzip.compress(raw, mtime=0)
    if len(packed) > MAX_COMPRESSED_BYTES:
        raise GitHubError(
            f"SARIF is {len(packed) / 1e6:.1f} MB compressed, over GitHub's 10 MB limit",
            hint="narrow the scan or split the upload by category",
        )
    return base64.b64encode(packed).decode("ascii")


def _body(commit_sha: str, ref: str, sarif: dict[str, Any]) -> SarifBody:
    return {
        "commit_sha": commit_sha,
        "ref": ref,
        "sarif": encode_sarif(sarif),
        "tool_name": "Shunter",
    }


def _fail(exc: RequestFailed, what: str) -> GitHubError:
    status = exc.response.status_code
    hint = (
        "the App needs the security_events: write permission and code scanning enabled"
        if status in (403, 404)
        else None
    )
    return GitHubError(f"{what} failed with HTTP {status}", status=status, hint=hint)


def _sarif_id(data: Any) -> str:
    """The upload id from GitHub's 202 answer."""
    if not data.id:
        raise GitHubError("SARIF upload was accepted without an id")
    return str(data.id)


def upload_sarif(
    gh: GitHub[Any], owner: str, repo: str, commit_sha: str, ref: str, sarif: dict[str, Any]
) -> str:
    """Upload ``sarif`` for ``commit_sha`` on ``ref`` (``refs/pull/N/head`` or a branch)."""
    try:
        response = gh.rest.code_scanning.upload_sarif(
            owner, repo, data=_body(commit_sha, ref, sarif)
        )
    except RequestFailed as exc:
        raise _fail(exc, "SARIF upload") from exc
    return _sarif_id(response.parsed_data)


async def async_upload_sarif(
    gh: GitHub[Any], owner: str, repo: str, commit_sha: str, ref: str, sarif: dict[str, Any]
) -> str:
    try:
        response = await gh.rest.code_scanning.async_upload_sarif(
            owner, repo, data=_body(commit_sha, ref, sarif)
        )
    except RequestFailed as exc:
        raise _fail(exc, "SARIF upload") from exc
    return _sarif_id(response.parsed_data)


def _status(sarif_id: str, data: Any) -> UploadStatus:
    return UploadStatus(
        sarif_id=sarif_id,
        processing_status=str(data.processing_status or "pending"),
        errors=[str(e) for e in (data.errors or [])],
        analyses_url=str(data.analyses_url) if data.analyses_url else None,
    )


def _status_refused(sarif_id: str, exc: RequestFailed) -> UploadStatus:
    """A refused status look: a 404 means "not visible yet", i.e. pending; anything else fails."""
    if exc.response.status_code == 404:
        return UploadStatus(sarif_id, "pending")
    raise _fail(exc, "SARIF status") from exc


def upload_status(gh: GitHub[Any], owner: str, repo: str, sarif_id: str) -> UploadStatus:
    """One look at the processing status; a 404 means "not visible yet", i.e. pending."""
    try:
        response = gh.rest.code_scanning.get_sarif(owner, repo, sarif_id)
    except RequestFailed as exc:
        return _status_refused(sarif_id, exc)
    return _status(sarif_id, response.parsed_data)


async def async_upload_status(gh: GitHub[Any], owner: str, repo: str, sarif_id: str) -> UploadStatus:
    try:
        response = await gh.rest.code_scanning.async_get_sarif(owner, repo, sarif_id)
    except RequestFailed as exc:
        return _status_refused(sarif_id, exc)
    return _status(sarif_id, response.parsed_data)


def _finished(status: UploadStatus, deadline: float, timeout: float) -> bool:
    """Whether polling stops at ``status``; raises when GitHub rejected the upload or time is up."""
    if status.failed:
        detail = "; ".join(status.errors[:5]) or "no detail given"
        raise GitHubError(f"code scanning rejected SARIF upload {status.sarif_id}: {detail}")
    if status.processing_status == "complete":
        return True
    if time.monotonic() >= deadline:
        raise TransientError(f"SARIF upload {status.sarif_id} still pending after {timeout:.0f} s")
    return False


def wait_for_processing(
    gh: GitHub[Any],
    owner: str,
    repo: str,
    sarif_id: str,
    *,
    timeout: float = 120.0,
    interval: float = 2.0,
) -> UploadStatus:
    """Poll until GitHub finishes; raise ``GitHubError`` with its errors when it failed."""
    deadline = time.monotonic() + timeout
    while True:
        status = upload_status(gh, owner, repo, sarif_id)
        if _finished(status, deadline, timeout):
            return status
        time.sleep(interval)


async def async_wait_for_processing(
    gh: GitHub[Any],
    owner: str,
    repo: str,
    sarif_id: str,
    *,
    timeout: float = 120.0,
    interval: float = 2.0,
) -> UploadStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = await async_upload_status(gh, owner, repo, sarif_id)
        if _finished(status, deadline, timeout):
            return status
        await asyncio.sleep(interval)


def upload_and_wait(
    gh: GitHub[Any],
    owner: str,
    repo: str,
    commit_sha: str,
    ref: str,
    sarif: dict[str, Any],
    *,
    timeout: float = 120.0,
    interval: float = 2.0,
) -> UploadStatus:
    sarif_id = upload_sarif(gh, owner, repo, commit_sha, ref, sarif)
    return wait_for_processing(gh, owner, repo, sarif_id, timeout=timeout, interval=interval)
