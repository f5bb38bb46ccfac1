"""Fixtures for the security stage tests: real git repositories built with pygit2, and
loopback JSON servers standing in for GitHub code scanning or an OSV service."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pygit2
import pytest

from bot.git.workspace import context_from_local_repo
from bot.models import Severity
from bot.policies.schema import SecurityStageConfig
from bot.stages.context import StageContext

SIG = pygit2.Signature("Test", "test@example.com", 1_700_000_000, 0)


class GitRepo:
    """A non-bare repo whose commits replace the whole tree with the given files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.repo = pygit2.init_repository(str(path), bare=False)

    def commit(self, files: dict[str, bytes | str], message: str = "c") -> str:
        for old in list(self.path.rglob("*")):
            if old.is_file() and ".git" not in old.relative_to(self.path).parts:
                old.unlink()
        for name, data in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data.encode() if isinstance(data, str) else data)
        index = self.repo.index
        index.read()
        index.add_all()
        for entry in list(index):
            if not (self.path / entry.path).exists():
                index.remove(entry.path)
        index.write()
        tree = index.write_tree()
        parents = [] if self.repo.head_is_unborn else [self.repo.head.target]
        oid = self.repo.create_commit("HEAD", SIG, SIG, message, tree, parents)
        return str(oid)

    def context(self, base: str, head: str, **options: object) -> StageContext:
        return context_from_local_repo(
            self.path, base, head, options=SecurityStageConfig(**options)
        )


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


@pytest.fixture
def pr(git_repo: GitRepo) -> Callable[..., StageContext]:
    """``pr(base_files, head_files, **security_options)`` -> a StageContext over real commits."""

    def make(base: dict[str, bytes | str], head: dict[str, bytes | str], **options: object):
        base_sha = git_repo.commit(base, "base")
        head_sha = git_repo.commit(head, "head")
        return git_repo.context(base_sha, head_sha, **options)

    return make


Respond = Callable[[str, str, Mapping[str, str], Any], tuple[int, Any]]


@pytest.fixture
def json_server() -> Iterator[Callable[[Respond], str]]:
    """``json_server(respond)`` -> the base URL of a loopback HTTP server, stopped after the test.

    Each request is answered by ``respond(method, path, headers, body)``, which gets the JSON
    body decoded (None when there is none) and returns the status and the JSON body to send.
    """
    servers: list[ThreadingHTTPServer] = []

    def start(respond: Respond) -> str:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                status, answer = respond(self.command, self.path, self.headers, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def assert_secrets_fail_at(result: Any, expected: set[tuple[str, int]], *values: str) -> None:
    """The secrets findings of ``result`` are warnings at exactly ``expected`` (path, line),
    each naming its place, the check fails, and none of ``values`` is shown anywhere."""
    found = {(f.path, f.start_line): f for f in result.findings if f.engine == "secrets" and not f.suppressed}
    assert set(found) == expected
    for (path, line), finding in found.items():
        assert finding.severity is Severity.WARNING, (path, line)
        assert f"{path}:{line}" in finding.message
    assert result.metrics["conclusion"] == "failure"
    dump = json.dumps([f.model_dump() for f in result.findings]) + result.summary
    assert not [value for value in values if value in dump]
