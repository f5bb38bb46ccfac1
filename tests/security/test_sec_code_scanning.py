"""SARIF upload to code scanning, against a loopback HTTP server speaking GitHub's shape."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Mapping
from typing import Any

import pytest
from githubkit import GitHub, TokenAuthStrategy

from bot.errors import GitHubError
from bot.github import code_scanning
from bot.models import Finding, Severity, StageName, StageResult
from bot.sarif import to_sarif


class FakeCodeScanning:
    """Stores uploads; each status poll advances ``pending`` -> the configured outcome."""

    def __init__(self) -> None:
        self.uploads: dict[str, dict] = {}
        self.polls: dict[str, int] = {}
        self.outcome = "complete"
        self.errors: list[str] = []
        self.upload_status = 202
        self.auth: list[str] = []

    def respond(self, method: str, path: str, headers: Mapping[str, str], body: Any) -> tuple[int, dict]:
        if method == "POST":
            self.auth.append(headers.get("Authorization", ""))
            if not path.endswith("/code-scanning/sarifs"):
                return 404, {"message": "Not Found"}
            if self.upload_status != 202:
                return self.upload_status, {"message": "Resource not accessible by integration"}
            sarif = json.loads(gzip.decompress(base64.b64decode(body["sarif"])))
            sarif_id = f"id-{len(self.uploads) + 1}"
            self.uploads[sarif_id] = {**body, "sarif": sarif}
            return 202, {"id": sarif_id, "url": f"http://x/sarifs/{sarif_id}"}
        sarif_id = path.rsplit("/", 1)[-1]
        if sarif_id not in self.uploads:
            return 404, {"message": "Not Found"}
        self.polls[sarif_id] = self.polls.get(sarif_id, 0) + 1
        if self.polls[sarif_id] < 2:
            return 200, {"processing_status": "pending", "analyses_url": None}
        answer = {"processing_status": self.outcome, "analyses_url": "http://x/analyses"}
        if self.outcome == "failed":
            answer["errors"] = self.errors
        return 200, answer


@pytest.fixture
def fake(json_server) -> tuple[FakeCodeScanning, GitHub]:
    state = FakeCodeScanning()
    url = json_server(state.respond)
    return state, GitHub(TokenAuthStrategy("ghs_test"), base_url=f"{url}/")


def _sarif() -> dict:
    finding = Finding(stage=StageName.SECURITY, rule_id="B602", severity=Severity.ERROR,
                      message="shell", path="a.py", start_line=3, end_line=3, fingerprint="ff00")
    return to_sarif([StageResult(stage=StageName.SECURITY, head_sha="a" * 40, findings=[finding])])


def test_upload_is_gzip_base64_and_polled_to_completion(fake) -> None:
    state, gh = fake
    sarif = _sarif()
    status = code_scanning.upload_and_wait(
        gh, "octo", "app", "a" * 40, "refs/pull/7/head", sarif, interval=0.01
    )
    assert status.processing_status == "complete" and status.analyses_url
    stored = state.uploads[status.sarif_id]
    assert stored["sarif"] == sarif
    assert stored["commit_sha"] == "a" * 40 and stored["ref"] == "refs/pull/7/head"
    assert state.polls[status.sarif_id] == 2
    assert state.auth[0] in {"token ghs_test", "Bearer ghs_test"}


def test_processing_failure_is_reported_with_githubs_errors(fake) -> None:
    state, gh = fake
    state.outcome = "failed"
    state.errors = ["locationFromSarifResult: expected artifact location"]
    sarif_id = code_scanning.upload_sarif(gh, "octo", "app", "b" * 40, "refs/heads/main", _sarif())
    with pytest.raises(GitHubError, match="expected artifact location"):
        code_scanning.wait_for_processing(gh, "octo", "app", sarif_id, interval=0.01)


def test_missing_permission_is_a_clear_error(fake) -> None:
    state, gh = fake
    state.upload_status = 403
    with pytest.raises(GitHubError) as info:
        code_scanning.upload_sarif(gh, "octo", "app", "c" * 40, "refs/heads/main", _sarif())
    assert info.value.status == 403 and "security_events" in str(info.value)


async def test_async_upload_and_wait(fake) -> None:
    state, gh = fake
    sarif_id = await code_scanning.async_upload_sarif(
        gh, "octo", "app", "d" * 40, "refs/heads/main", _sarif()
    )
    status = await code_scanning.async_wait_for_processing(gh, "octo", "app", sarif_id, interval=0.01)
    assert status.processing_status == "complete"


def test_oversized_sarif_is_refused_before_upload() -> None:
    import os

    noise = base64.b64encode(os.urandom(11 * 1024 * 1024)).decode()
    with pytest.raises(GitHubError, match="10 MB"):
        code_scanning.encode_sarif({"version": "2.1.0", "runs": [], "x": noise})
