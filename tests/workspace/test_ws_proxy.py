"""Fetching through an HTTPS proxy, as behind a corporate firewall: git's smart-HTTP
backend over TLS at a host name only the proxy can reach (``ghes.proxied.invalid``)."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pygit2
import pytest

from bot.errors import WorkspaceError
from bot.git import open_workspace
from bot.git.push import GitRemote, fetch_branch
from tests.forward_proxy import ForwardProxy, self_signed_certificate
from tests.workspace.test_ws_http import TOKEN, _handler

HOST = "ghes.proxied.invalid"


@pytest.fixture
def tls_git_server(remote, tmp_path: Path) -> Iterator[str]:
    """``https://ghes.proxied.invalid:PORT/<repo>``, served on 127.0.0.1 with a certificate
    for that name, which libgit2 is told to trust."""
    cert, key = self_signed_certificate(tmp_path, HOST)
    pygit2.settings.set_ssl_cert_locations(str(cert), None)  # adds to the trusted set
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(remote.path.parent, []))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://{HOST}:{server.server_address[1]}/{remote.path.name}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardProxy]:
    for name in ("no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with ForwardProxy() as running:
        monkeypatch.setenv("https_proxy", running.url)
        yield running


def test_pull_request_fetch_and_branch_lookup_go_through_https_proxy(
    remote, tls_git_server: str, proxy: ForwardProxy, data_dir: Path
) -> None:
    base = remote.commit("refs/heads/main", {"a.py": b"x = 1\n"})
    head = remote.commit("refs/pull/4/head", {"a.py": b"x = 2\n"}, [base])
    ws = open_workspace(data_dir, "octo/app", tls_git_server, token=TOKEN)
    ws.fetch_pull_request(4, base_branch="main")
    assert ws.context_for("main", head).changed("a.py").added_lines == {1}
    port = tls_git_server.split(":")[2].split("/")[0]
    assert f"CONNECT {HOST}:{port}" in proxy.seen
    # the merge queue's look at a branch before it pushes (ls-remote, then fetch)
    tip = remote.commit("refs/heads/feature", {"a.py": b"x = 3\n"}, [base])
    assert fetch_branch(ws.repo, GitRemote(tls_git_server, TOKEN), "feature") == str(tip)


def test_no_proxy_sends_the_fetch_direct(
    remote, tls_git_server: str, proxy: ForwardProxy, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("no_proxy", HOST)
    remote.commit("refs/heads/main", {"a.py": b"x = 1\n"})
    ws = open_workspace(data_dir, "octo/app", tls_git_server, token=TOKEN)
    with pytest.raises(WorkspaceError, match="resolve"):  # direct, the name does not resolve
        ws.fetch(["+refs/heads/main:refs/heads/main"])
    assert proxy.seen == []


def test_git_push_keeps_the_git_settings_the_environment_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git reads ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` as config, a
    container's way to set ``http.proxy`` or ``http.sslCAInfo``; the push's own header
    (its token) used to take slot 0 and the count, so git lost the proxy and could not
    reach the server."""
    from bot.git.push import leased_push
    from bot.simulator import SimulatorThread

    with ForwardProxy() as proxy, SimulatorThread(tmp_path / "sim", url_host=HOST) as sim:
        sim.create_repo("octo/demo", {"app.py": "x = 1\n"})
        token = sim.installation_token("octo/demo")
        url = f"{sim.url}/octo/demo.git"
        for name, value in {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.proxy",
                            "GIT_CONFIG_VALUE_0": proxy.url}.items():
            monkeypatch.setenv(name, value)
        checkout = tmp_path / "checkout"
        authed = url.replace("://", f"://x-access-token:{token}@")
        subprocess.run(["git", "clone", "-q", authed, str(checkout)], check=True, capture_output=True)
        repo = pygit2.Repository(str(checkout))
        base = repo.head.target
        blob = repo.create_blob(b"x = 2\n")
        builder = repo.TreeBuilder(repo[base].tree)
        builder.insert("app.py", blob, pygit2.enums.FileMode.BLOB)
        sig = pygit2.Signature("Shunter", "shunter@noreply.invalid")
        sha = repo.create_commit(None, sig, sig, "fix", builder.write(), [base])
        outcome = leased_push(repo, GitRemote(url, token), "main", str(sha), str(base))
        assert outcome.status == "landed", outcome
        assert sim.ref("octo/demo", "main") == str(sha)
        assert any(seen.startswith(f"POST {url}/git-receive-pack") for seen in proxy.seen)
