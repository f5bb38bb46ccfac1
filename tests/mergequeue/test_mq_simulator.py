"""Both push methods against the GitHub simulator over real HTTP on loopback: the Git Data
API path (githubkit's sync client, ``PATCH /git/refs`` with ``force: false``) and ``git push``
over smart HTTP with an installation token."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

import pytest
from githubkit import GitHub

from bot.changes.model import ChangeRequest
from bot.git.push import GitHubKitRefUpdater, GitRemote
from bot.models import FileDiff, PatchDraft, StageName
from bot.policies.schema import Patches
from bot.queue.merge_worker import LocalRepoStore, NoHooks, default_pushers, process_once
from bot.simulator import SimulatorThread

REPO = "octo/demo"
ORIGINAL = "".join(f"line {i}\n" for i in range(1, 21))


@pytest.fixture
def sim(tmp_path) -> Iterator:
    with SimulatorThread(tmp_path / "sim") as simulator:
        simulator.create_repo(REPO, {"app.py": ORIGINAL, "README.md": "# demo\n"})
        yield simulator


def change(sim, path: str, new: str, title: str = "fix") -> ChangeRequest:
    head = sim.ref(REPO, "main")
    old = sim.file(REPO, head, path)
    import pygit2

    blob = str(pygit2.hash(old.encode()))
    diff = "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    )
    draft = PatchDraft(
        stage=StageName.SECURITY,
        title=title,
        files=[FileDiff(path=path, diff=diff, pre_image_blob=blob)],
    )
    return ChangeRequest.from_draft(draft, repo=REPO, branch="main", head_sha=head, requester="alice")


def wiring(sim, tmp_path, method: str):
    token = sim.installation_token(REPO)
    store = LocalRepoStore(
        tmp_path / "worker", lambda repo: GitRemote(url=f"{sim.url}/{repo}.git", token=token)
    )
    gh = GitHub(token, base_url=sim.url)
    pushers = default_pushers(lambda repo: GitHubKitRefUpdater(gh, *repo.split("/")))
    return store, pushers, Patches(push_method=method)


@pytest.mark.parametrize("method", ["api", "git"])
def test_lands_through_the_simulator(sim, tmp_path, mq, method):
    store, pushers, policy = wiring(sim, tmp_path, method)
    cr = change(sim, "app.py", ORIGINAL.replace("line 5\n", "line five\n"))
    mq.enqueue(cr, policy)
    outcome = process_once(mq, store, owner_id="w", pushers=pushers)
    report = outcome.report
    assert report is not None and report.method == method
    assert report.change_ids == [cr.id] and report.pushes == 1
    assert sim.ref(REPO, "main") == report.commit_sha
    assert "line five\n" in sim.file(REPO, "main", "app.py")
    assert mq.get(cr.id).fields["landed_sha"] == report.commit_sha
    if method == "api":
        calls = [r for r in sim.recorder.requests if "/git/" in r.path]
        assert any(r.method == "PATCH" for r in calls)


@pytest.mark.parametrize("method", ["api", "git"])
def test_human_push_race_is_refused_then_lands(sim, tmp_path, mq, method):
    store, pushers, policy = wiring(sim, tmp_path, method)
    cr = change(sim, "app.py", ORIGINAL.replace("line 15\n", "line fifteen\n"))
    mq.enqueue(cr, policy)

    class Racer(NoHooks):
        done = False

        def before_push(self, claim, commit_sha):  # type: ignore[override]
            if not self.done:
                self.done = True
                sim.commit(
                    REPO,
                    "main",
                    {"app.py": ORIGINAL.replace("line 2\n", "line two\n")},
                    message="human",
                    author="bob",
                )

    outcome = process_once(mq, store, owner_id="w", pushers=pushers, hooks=Racer())
    report = outcome.report
    assert report.pushes == 2 and report.refused_pushes == 1
    text = sim.file(REPO, "main", "app.py")
    assert "line two\n" in text and "line fifteen\n" in text
    assert sim.ref(REPO, "main") == report.commit_sha


def test_api_refusal_that_is_not_a_race_dead_letters(sim, tmp_path, mq):
    """A 422 for a missing ``workflows`` permission is not a compare-and-swap refusal:
    the entry goes to the dead-letter set at once instead of being retried."""
    store, pushers, policy = wiring(sim, tmp_path, "api")
    sim.commit(REPO, "main", {".github/workflows/ci.yml": "on: push\n"}, message="ci")
    cr = change(sim, ".github/workflows/ci.yml", "on: [push, pull_request]\n")
    mq.enqueue(cr, policy)  # bypasses validation on purpose: the push side must hold too
    before = sim.ref(REPO, "main")
    outcome = process_once(mq, store, owner_id="w", pushers=pushers)
    assert outcome.report is None and sim.ref(REPO, "main") == before
    [letter] = outcome.dead
    assert letter.reason == "push_rejected" and "workflows" in letter.detail
    assert mq.get(cr.id).state == "dead"


def test_production_wiring_app_jwt_installation_token_api_push(
    sim, tmp_path, mq, redis_client, clean_env, monkeypatch
):
    """The worker as ``--github`` runs it: settings from SHUNTER_*, the App's JWT, an
    installation token shared through Redis, clone_url from REST, Git Data API push."""
    from bot.github.client import GitHubFactory
    from bot.queue.merge_worker import GitHubRepoStore
    from bot.settings import load_settings

    for name, value in sim.settings_env().items():
        monkeypatch.setenv(name, value)
    store = GitHubRepoStore(GitHubFactory(load_settings(), redis_client), tmp_path / "w")
    cr = change(sim, "app.py", ORIGINAL.replace("line 9\n", "line nine\n"))
    mq.enqueue(cr, Patches())  # the default push method: api
    outcome = process_once(mq, store, owner_id="w", pushers=store.pushers())
    assert outcome.report is not None and outcome.report.method == "api"
    assert sim.ref(REPO, "main") == outcome.report.commit_sha
    assert "line nine\n" in sim.file(REPO, "main", "app.py")
    assert store.remote(REPO).token not in repr(store.remote(REPO))


@pytest.mark.parametrize("method", ["api", "git"])
def test_branch_rewound_between_fetch_and_push_is_refused_not_restored(sim, tmp_path, mq, method):
    """The author force-pushes the branch back (dropping a commit that leaked a secret)
    while Shunter is between its fetch and its push. Shunter's commit is still a
    fast-forward of the rewound branch; the push must be refused anyway (it was built on a
    head that is no longer there) and the change re-applied on the rewound branch, so the
    dropped commit does not come back."""
    import pygit2

    store, pushers, policy = wiring(sim, tmp_path, method)
    good = sim.ref(REPO, "main")
    # computed on ``good``, which the rewound branch still has (a change computed on the
    # dropped commit is dead-lettered instead: see test_mq_landing)
    cr = change(sim, "app.py", ORIGINAL.replace("line 3\n", "line three\n"))
    sim.commit(REPO, "main", {"secret.env": "TOKEN=hunter2\n"}, message="oops: secret", author="bob")
    mq.enqueue(cr, policy)
    remote_path = str(sim.world.repo(REPO).path)

    class Rewinder(NoHooks):
        done = False

        def before_push(self, claim, commit_sha):  # type: ignore[override]
            if not self.done:  # `git push --force origin <good>:main`
                self.done = True
                ref = pygit2.Repository(remote_path).references["refs/heads/main"]
                ref.set_target(pygit2.Oid(hex=good))

    outcome = process_once(mq, store, owner_id="w", pushers=pushers, hooks=Rewinder())
    report = outcome.report
    assert report is not None and report.change_ids == [cr.id]
    assert report.pushes == 2 and report.refused_pushes == 1
    assert sim.file(REPO, "main", "secret.env") is None
    assert "line three\n" in sim.file(REPO, "main", "app.py")
    head = pygit2.Repository(remote_path)[sim.ref(REPO, "main")]
    assert [str(p) for p in head.parent_ids] == [good]
