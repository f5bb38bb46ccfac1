"""Git over smart HTTP with the git CLI: clone, fetch refs/pull/N/head, push, auth."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "HOME": "/tmp",
       "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}


def git(*args, cwd=None, check=True):
    result = subprocess.run(["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                            timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result


def _clone(sim, tmp_path: Path, token=None, name="work") -> Path:
    dest = tmp_path / name
    git("clone", "-q", sim.clone_url("octo/demo", token), str(dest))
    git("config", "user.email", "bot@example.com", cwd=dest)
    git("config", "user.name", "bot", cwd=dest)
    return dest


def test_clone_and_fetch_pull_head_with_token(demo, tmp_path):
    token = demo.installation_token("octo/demo")
    work = _clone(demo, tmp_path, token)
    assert (work / "a.py").read_text().startswith("line 1\n")
    git("fetch", "-q", "origin", "refs/pull/1/head:pr-1", cwd=work)
    head = git("rev-parse", "pr-1", cwd=work).stdout.strip()
    assert head == demo.pull("octo/demo", 1).head_sha
    assert demo.recorder.filter("*", kind="git")


def test_private_repo_needs_a_valid_token(simulator, tmp_path):
    simulator.create_repo("octo/secret", {"k.py": "k = 1\n"}, private=True)
    url = simulator.clone_url("octo/secret")
    anonymous = git("clone", "-q", url, str(tmp_path / "a"), check=False)
    assert anonymous.returncode != 0
    bad = git("clone", "-q", simulator.clone_url("octo/secret", "ghs_not_a_token"),
              str(tmp_path / "b"), check=False)
    assert bad.returncode != 0
    good = git("clone", "-q", simulator.clone_url("octo/secret", simulator.installation_token("octo/secret")),
               str(tmp_path / "c"), check=False)
    assert good.returncode == 0, good.stderr
    statuses = [r.status for r in simulator.recorder.filter("*", kind="git")]
    assert 401 in statuses


def test_push_to_pr_head_emits_synchronize_and_push(demo, tmp_path):
    token = demo.installation_token("octo/demo")
    work = _clone(demo, tmp_path, token)
    git("checkout", "-q", "feature", cwd=work)
    (work / "b.py").write_text("b = 2\n")
    git("commit", "-qam", "fix b", cwd=work)
    before = demo.pull("octo/demo", 1).head_sha
    git("push", "-q", "origin", "feature", cwd=work)
    after = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    assert demo.pull("octo/demo", 1).head_sha == after
    assert demo.ref("octo/demo", "refs/pull/1/head") == after
    pushes = [d for d in demo.deliveries("push") if d.payload["ref"] == "refs/heads/feature"]
    assert pushes[-1].payload["before"] == before and pushes[-1].payload["after"] == after
    (commit,) = pushes[-1].payload["commits"]  # with the paths it touched, as GitHub sends them
    assert (commit["added"], commit["modified"], commit["removed"]) == ([], ["b.py"], [])
    sync = demo.deliveries("pull_request", "synchronize")
    assert [(d.payload["before"], d.payload["after"]) for d in sync] == [(before, after)]


def test_non_fast_forward_push_is_refused_unless_forced(demo, tmp_path):
    token = demo.installation_token("octo/demo")
    work = _clone(demo, tmp_path, token)
    git("checkout", "-q", "feature", cwd=work)
    git("reset", "-q", "--hard", "origin/main", cwd=work)
    (work / "c.py").write_text("c = 1\n")
    git("add", "c.py", cwd=work)
    git("commit", "-qm", "rewrite", cwd=work)
    before = demo.ref("octo/demo", "feature")
    refused = git("push", "-q", "origin", "feature", cwd=work, check=False)
    assert refused.returncode != 0
    assert demo.ref("octo/demo", "feature") == before
    git("push", "-q", "--force", "origin", "feature", cwd=work)
    assert demo.ref("octo/demo", "feature") != before
    forced = [d for d in demo.deliveries("push") if d.payload["ref"] == "refs/heads/feature"]
    assert forced[-1].payload["forced"] is True


def test_push_needs_contents_write_and_workflows_permission(demo, tmp_path):
    read_only = demo.installation_token("octo/demo", permissions={"contents": "read"})
    work = _clone(demo, tmp_path, read_only)
    git("checkout", "-q", "feature", cwd=work)
    (work / "b.py").write_text("b = 3\n")
    git("commit", "-qam", "change", cwd=work)
    denied = git("push", "-q", "origin", "feature", cwd=work, check=False)
    assert denied.returncode != 0
    assert any(r.status == 403 for r in demo.recorder.filter("*", kind="git"))

    writer = demo.installation_token("octo/demo")
    git("remote", "set-url", "origin", demo.clone_url("octo/demo", writer), cwd=work)
    (work / ".github" / "workflows").mkdir(parents=True)
    (work / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    git("add", ".", cwd=work)
    git("commit", "-qm", "ci", cwd=work)
    refused = git("push", "origin", "feature", cwd=work, check=False)
    assert refused.returncode != 0
    assert "without `workflows` permission" in refused.stderr
    assert demo.ref("octo/demo", "feature") == demo.pull("octo/demo", 1).head_sha


@pytest.mark.parametrize("ref", ["refs/pull/1/head"])
def test_pull_refs_cannot_be_pushed(demo, tmp_path, ref):
    work = _clone(demo, tmp_path, demo.installation_token("octo/demo"))
    before = demo.ref("octo/demo", ref)
    result = git("push", "origin", f"HEAD:{ref}", cwd=work, check=False)
    assert result.returncode != 0
    assert demo.ref("octo/demo", ref) == before


def test_pygit2_clone_fetch_and_push(demo, tmp_path):
    import pygit2

    token = demo.installation_token("octo/demo")
    callbacks = pygit2.RemoteCallbacks(credentials=pygit2.UserPass("x-access-token", token))
    repo = pygit2.clone_repository(demo.clone_url("octo/demo"), str(tmp_path / "p"),
                                   callbacks=callbacks)
    remote = repo.remotes["origin"]
    remote.fetch(["+refs/pull/1/head:refs/remotes/pull/1"], callbacks=callbacks)
    head = repo.references["refs/remotes/pull/1"].target
    assert str(head) == demo.pull("octo/demo", 1).head_sha
    commit = repo.get(head)
    blob = repo.create_blob(b"pushed = True\n")
    builder = repo.TreeBuilder(commit.tree)
    builder.insert("pushed.py", blob, pygit2.enums.FileMode.BLOB)
    sig = pygit2.Signature("bot", "bot@example.com")
    new = repo.create_commit(None, sig, sig, "push via pygit2", builder.write(), [head])
    repo.references.create("refs/heads/feature", new, force=True)
    remote.push(["refs/heads/feature:refs/heads/feature"], callbacks=callbacks)
    assert demo.pull("octo/demo", 1).head_sha == str(new)
    unauth = pygit2.RemoteCallbacks(credentials=pygit2.UserPass("x-access-token", "ghs_bad"))
    with pytest.raises(pygit2.GitError):
        remote.push(["refs/heads/feature:refs/heads/other"], callbacks=unauth)
    assert demo.ref("octo/demo", "other") is None
