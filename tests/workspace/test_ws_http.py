"""Fetching over real HTTP with a token: git's own smart-HTTP backend behind Basic auth."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.errors import TransientError, WorkspaceError
from bot.git import open_workspace

TOKEN = "ghs_0123456789abcdefSECRET"


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        out = b""
        while True:
            size = int(handler.rfile.readline().strip(), 16)
            if size == 0:
                handler.rfile.readline()
                return out
            out += handler.rfile.read(size)
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def _handler(project_root: Path, seen: list[tuple[str, str | None]]):
    expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()

    class GitHandler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _serve(self) -> None:
            auth = self.headers.get("Authorization")
            seen.append((self.path, auth))
            if auth != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            env = {
                "PATH": os.environ["PATH"],
                "GIT_PROJECT_ROOT": str(project_root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "REMOTE_USER": "x-access-token",
            }
            body = _read_body(self) if self.command == "POST" else b""
            env["CONTENT_LENGTH"] = str(len(body))
            done = subprocess.run(
                ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
            )
            head, _, payload = done.stdout.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.decode().split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers.append((name, value.strip()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _serve
        do_POST = _serve

    return GitHandler


@pytest.fixture
def git_server(remote) -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    seen: list[tuple[str, str | None]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(remote.path.parent, seen))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{remote.path.name}", seen
    server.shutdown()
    server.server_close()


def test_fetch_over_http_with_token(remote, git_server, data_dir: Path) -> None:
    url, seen = git_server
    base = remote.commit("refs/heads/main", {"a.py": b"x = 1\n"})
    head = remote.commit("refs/pull/4/head", {"a.py": b"x = 2\n"}, [base])
    ws = open_workspace(data_dir, "octo/app", url, token=TOKEN)
    stats = ws.fetch_pull_request(4, base_branch="main")
    assert stats.received_objects >= 3
    assert ws.context_for("main", head).changed("a.py").added_lines == {1}
    assert seen and all(TOKEN not in path for path, _auth in seen)  # never in a URL
    assert any(auth is None for _p, auth in seen)  # the first request is a challenge
    for file in ws.path.rglob("*"):
        if file.is_file():
            assert TOKEN.encode() not in file.read_bytes()


def test_wrong_or_missing_token_is_a_clean_error(remote, git_server, data_dir: Path) -> None:
    url, _seen = git_server
    remote.commit("refs/heads/main", {"a.py": b"x = 1\n"})
    wrong = open_workspace(data_dir, "octo/app", url, token="ghs_wrong_token_value")
    with pytest.raises(WorkspaceError) as info:
        wrong.fetch(["+refs/heads/main:refs/heads/main"])
    assert "ghs_wrong_token_value" not in str(info.value)
    assert "refused the credentials" in str(info.value)
    anonymous = open_workspace(data_dir, "octo/app", url)
    with pytest.raises(WorkspaceError):
        anonymous.fetch(["+refs/heads/main:refs/heads/main"])


def test_token_inside_the_url_is_used_but_never_kept(remote, git_server, data_dir: Path) -> None:
    url, seen = git_server
    remote.commit("refs/heads/main", {"a.py": b"x = 1\n"})
    with_creds = url.replace("http://", f"http://x-access-token:{TOKEN}@")
    ws = open_workspace(data_dir, "octo/app", with_creds)
    ws.fetch(["+refs/heads/main:refs/heads/main"])
    assert ws.has_commit("main")
    assert all(TOKEN not in path for path, _auth in seen)
    assert TOKEN not in ws.remote_url and TOKEN not in repr(ws)


def test_a_silent_server_times_out(data_dir: Path) -> None:
    import socket
    import time

    import pygit2

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)  # accepts connections (kernel backlog) and never answers
    saved = pygit2.settings.server_timeout
    pygit2.settings.server_timeout = 700
    try:
        ws = open_workspace(data_dir, "octo/app", f"http://127.0.0.1:{listener.getsockname()[1]}/r.git")
        started = time.monotonic()
        with pytest.raises(TransientError, match="fetch from .* timed out"):  # rq retries it
            ws.fetch(["+refs/heads/main:refs/heads/main"])
        assert time.monotonic() - started < 10
    finally:
        pygit2.settings.server_timeout = saved
        listener.close()
