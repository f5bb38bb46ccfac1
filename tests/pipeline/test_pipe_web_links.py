"""Addresses Shunter derives from where GitHub's REST API is, here GHE.com's
``api.SUBDOMAIN.ghe.com``, reached as a real one would be, through a proxy that sends every
name to the simulator (git goes direct to it): links in comments open the web pages, not
the API, and the no-reply addresses commits credit are github.com's, as GHE.com's are."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pygit2
import pytest

from bot.stack import LocalStack
from tests.forward_proxy import ForwardProxy
from tests.pipeline.test_pipe_apply import REPO, open_pr, replies, review_run

LINK = re.compile(r"https?://[^\s)\"'<>\]]+")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ghe_com(redis_url, tmp_path, monkeypatch) -> Iterator[tuple[LocalStack, int]]:
    port = free_port()
    with ForwardProxy() as proxy:
        for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        options = {"url_host": "localhost", "port": port}
        api = f"http://api.octocorp.ghe.com:{port}"
        with LocalStack(tmp_path / "stack", redis_url=redis_url, simulator=options, github_url=api) as st:
            yield st, port
        assert any(seen.startswith(f"GET {api}/") for seen in proxy.seen)


def fixed_pull_request(stack: LocalStack) -> tuple[int, str]:
    """A pull request whose fixes alice applied: its number and its new head."""
    sim = stack.sim
    number = open_pr(stack)
    head = sim.pull(REPO, number).head_sha
    sim.click_button(review_run(sim, head).id, "apply", user="alice")
    stack.drain()
    new_head = sim.pull(REPO, number).head_sha
    assert new_head != head
    return number, new_head


def test_commit_and_check_run_links_open_the_web_host_not_the_api_host(ghe_com):
    stack, port = ghe_com
    sim = stack.sim
    number, new_head = fixed_pull_request(stack)
    web = f"http://octocorp.ghe.com:{port}/{REPO}"
    assert f"({web}/commit/{new_head})" in replies(sim, number)[-1].body
    links = {link for c in sim.comments(REPO, number) for link in LINK.findall(c.body)}
    ours = {link for link in links if "ghe.com" in link}
    assert any(link.startswith(f"{web}/runs/") for link in ours)
    assert all(link.startswith(f"{web}/") for link in ours), ours


def test_the_fix_commit_credits_the_requester_by_githubs_no_reply_address(ghe_com):
    stack, _port = ghe_com
    sim = stack.sim
    _number, new_head = fixed_pull_request(stack)
    message = pygit2.Repository(str(sim._repo(REPO).git.path))[new_head].message
    alice = sim.world.user("alice").id
    assert f"Co-authored-by: alice <{alice}+alice@users.noreply.github.com>" in message, message
