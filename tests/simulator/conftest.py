"""Helpers for the simulator's own tests: githubkit clients and a webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from githubkit import AppAuthStrategy, GitHub

LINES = "".join(f"line {i}\n" for i in range(1, 41))


def app_client(sim: Any, *, pem: str | None = None, app_id: int | None = None) -> GitHub:
    return GitHub(
        AppAuthStrategy(str(app_id or sim.app_id), pem or sim.private_key_path.read_text()),
        base_url=sim.url,
        http_cache=False,
        auto_retry=False,
    )


def token_client(sim: Any, token: str) -> GitHub:
    return GitHub(token, base_url=sim.url, http_cache=False, auto_retry=False)


def installation_client(sim: Any, full_name: str = "octo/demo") -> GitHub:
    gh = app_client(sim)
    owner, name = full_name.split("/")
    inst = gh.rest.apps.get_repo_installation(owner, name).parsed_data
    return gh.with_auth(gh.auth.as_installation(inst.id))


class Kit:
    """The helpers above, as a fixture (test modules cannot import conftest)."""

    lines = LINES
    app_client = staticmethod(app_client)
    token_client = staticmethod(token_client)
    installation_client = staticmethod(installation_client)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit


@pytest.fixture
def demo(simulator: Any) -> Any:
    """octo/demo with a PR #1 (feature -> main) changing line 10 and adding b.py."""
    simulator.create_repo("octo/demo", {"a.py": LINES, "README.md": "# demo\n"})
    changed = LINES.replace("line 10\n", "line ten\n")
    simulator.commit("octo/demo", "feature", {"a.py": changed, "b.py": "b = 1\n"}, author="alice")
    simulator.open_pull_request("octo/demo", "feature", title="Change", user="alice")
    return simulator


class Receiver:
    """A loopback HTTP server that stores every webhook POSTed to it."""

    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        return [(h["X-GitHub-Event"], json.loads(b)) for h, b in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()
