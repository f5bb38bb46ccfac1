"""SARIF upload to code scanning, against a loopback HTTP server speaking GitHub's shape."""

from __future__ import annotations

import base64
import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                fake.auth.append(self.headers.get("Authorization", ""))
                if not self.path.endswith("/code-scanning/sarifs"):
                    return self._send(404, {"message": "Not Found"})
                if fake.upload_status != 202:
                    return self._send(fake.upload_status, {"message": "Resource not accessible by integration"})
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                sarif = json.loads(gzip.decompress(base64.b64decode(body["sarif"])))
                sarif_id = f"id-{len(fake.uploads) + 1}"
                fake.uploads[sarif_id] = {**body, "sarif": sarif}
                self._send(202, {"id": sarif_id, "url": f"http://x/sarifs/{sarif_id}"})

            def do_GET(self) -> None:
                sarif_id = self.path.rsplit("/", 1)[-1]
                if sarif_id not in fake.uploads:
                    return self._send(404, {"message": "Not Found"})
                fake.polls[sarif_id] = fake.polls.get(sarif_id, 0) + 1
                if fake.polls[sarif_id] < 2:
                    return self._send(200, {"processing_status": "pending", "analyses_url": None})
                body = {"processing_status": fake.outcome, "analyses_url": "http://x/analyses"}
                if fake.outcome == "failed":
                    body["errors"] = fake.errors
                self._send(200, body)

        return Handler


@pytest.fixture
def fake() -> Iterator[tuple[FakeCodeScanning, GitHub]]:
    state = FakeCodeScanning()
    server = ThreadingHTTPServer(("127.0.0.1", 0), state.handler())
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    gh = GitHub(TokenAuthStrategy("ghs_test"), base_url=f"http://127.0.0.1:{server.server_port}/")
    yield state, gh
    server.shutdown()
    server.server_close()


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
