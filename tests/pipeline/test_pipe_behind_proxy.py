"""Shunter behind a corporate proxy, against a GitHub Enterprise Server over HTTPS with a
certificate of its own, at a name only the proxy resolves (``ghes.proxied.invalid``): the
settings the README lists for it (``https_proxy``, ``no_proxy``, ``SSL_CERT_FILE``,
``GIT_SSL_CAINFO``) carry REST calls, git fetches and the merge queue's ``git push``."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pygit2
import pytest

from bot.stack import LocalStack
from tests.forward_proxy import ForwardProxy, self_signed_certificate
from tests.pipeline.test_pipe_apply import ON_COMMAND, REPO, open_pr, review_run

HOST = "ghes.proxied.invalid"


@pytest.fixture
def behind_proxy(redis_url, tmp_path, monkeypatch) -> Iterator[tuple[LocalStack, ForwardProxy]]:
    cert, key = self_signed_certificate(tmp_path, HOST)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    pygit2.settings.set_ssl_cert_locations(str(cert), None)  # SSL_CERT_FILE, read at start-up
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "GIT_CONFIG_COUNT"):
        monkeypatch.delenv(name, raising=False)
    with ForwardProxy() as proxy:
        for name, value in {"https_proxy": proxy.url, "HTTPS_PROXY": proxy.url,
                            "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost",
                            "SSL_CERT_FILE": str(cert), "GIT_SSL_CAINFO": str(cert)}.items():
            monkeypatch.setenv(name, value)
        options = {"api_prefix": "/api/v3", "url_host": HOST, "ssl_context": context}
        with LocalStack(tmp_path / "stack", redis_url=redis_url, simulator=options) as stack:
            yield stack, proxy


def test_checks_and_a_git_pushed_fix_reach_enterprise_server_through_the_proxy(behind_proxy):
    stack, proxy = behind_proxy
    sim = stack.sim
    assert stack.settings.github_url.startswith(f"https://{HOST}:")
    number = open_pr(stack, config=ON_COMMAND + "  push_method: git\n")
    head = sim.pull(REPO, number).head_sha
    review = review_run(sim, head)
    assert review.conclusion != "neutral", review.summary  # a failed fetch ends neutral
    sim.click_button(review.id, "apply", user="alice")
    stack.drain()
    new_head = sim.pull(REPO, number).head_sha
    assert new_head != head
    git = sim.recorder.filter("*", kind="git")
    assert any(r.path.endswith("/git-upload-pack") for r in git)  # fetched
    assert any(r.path.endswith("/git-receive-pack") for r in git)  # pushed by git
    assert proxy.seen and set(proxy.seen) == {f"CONNECT {sim.url.split('://')[1]}"}
