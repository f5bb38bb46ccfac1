"""Shunter against a GitHub Enterprise Server: the simulator serves its REST API under
``/api/v3`` on a host name of its own, and web pages and git at the root, as GHES does.

A pull request runs through every stage and lands its fixes with "Apply fixes"; then every
request Shunter made and every link it wrote is checked: REST calls under ``/api/v3``, git
at ``/<owner>/<repo>.git``, links to the web root, no address of github.com anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from bot.stack import LocalStack
from tests.pipeline.test_pipe_apply import REPO, open_pr, review_run

LINK = re.compile(r"https?://[^\s)\"'<>\]]+")


@pytest.fixture
def ghes(redis_url, tmp_path) -> Iterator[LocalStack]:
    options = {"api_prefix": "/api/v3", "url_host": "localhost"}
    with LocalStack(tmp_path / "stack", redis_url=redis_url, simulator=options) as st:
        yield st


def test_a_pull_request_on_enterprise_server_is_checked_fixed_and_linked_on_its_web_host(ghes):
    sim = ghes.sim
    web = sim.url  # http://localhost:PORT
    assert ghes.settings.github_url == f"{web}/api/v3"
    number = open_pr(ghes)
    head = sim.pull(REPO, number).head_sha
    review = review_run(sim, head)
    assert {"apply", "rerun"} <= {a["identifier"] for a in review.actions}
    sim.click_button(review.id, "apply", user="alice")
    ghes.drain()
    new_head = sim.pull(REPO, number).head_sha
    assert new_head != head
    assert "import os" not in (sim.file(REPO, new_head, "app.py") or "")

    sent = sim.world.deliveries[-1].request_headers
    assert sent["X-GitHub-Enterprise-Host"] == web.split("://")[1]
    api = sim.recorder.filter("*", kind="api")
    assert api and all(r.path.startswith("/api/v3/") for r in api), {r.path for r in api} - {
        r.path for r in api if r.path.startswith("/api/v3/")
    }
    assert all(r.status != 404 or "/contents/" in r.path for r in api)  # config lookups may miss
    git = sim.recorder.filter("*", kind="git")
    assert git and all(r.path.startswith(f"/{REPO}.git/") for r in git)

    bodies = [c.body for c in sim.comments(REPO, number)]
    for run in sim.check_runs(REPO):
        bodies += [run.summary or "", run.text or "", run.details_url or ""]
        bodies += [str(value) for a in run.annotations for value in a.values()]
    links = {link for body in bodies for link in LINK.findall(body)}
    assert f"{web}/{REPO}/commit/{new_head}" in links
    assert any(link.startswith(f"{web}/{REPO}/runs/") for link in links)
    # links to this GitHub point at its web pages, never at its API
    here = {link for link in links if link.startswith(web)}
    assert here and all(link.startswith(f"{web}/{REPO}/") for link in here), here
    assert not any("github.com" in body for body in bodies)
