"""Repository and installation lifecycle in the simulator, as GitHub does it: a renamed
repository's old name redirects (301 for reads, 307 for writes, repeated as they were), an
archived one refuses writes with 403 (REST and git pushes), a suspended installation gets
no token, and each change sends GitHub's webhook."""

from __future__ import annotations

import subprocess

import httpx
import pytest
from githubkit.exception import RequestFailed


def test_a_renamed_repository_redirects_its_old_name_and_says_so(simulator):
    simulator.create_repo("octo/demo", {"a.txt": "a\n"})
    token = simulator.installation_token("octo/demo")
    simulator.rename_repo("octo/demo", "renamed")
    simulator.wait_for_deliveries()
    [delivery] = simulator.deliveries("repository", "renamed")
    assert delivery.payload["changes"] == {"repository": {"name": {"from": "demo"}}}
    assert delivery.payload["repository"]["full_name"] == "octo/renamed"
    auth = {"Authorization": f"token {token}"}
    read = httpx.get(f"{simulator.url}/repos/octo/demo", headers=auth)
    assert read.status_code == 301 and read.headers["Location"].endswith("/repos/octo/renamed")
    followed = httpx.get(f"{simulator.url}/repos/octo/demo", headers=auth, follow_redirects=True)
    assert followed.json()["full_name"] == "octo/renamed"
    write = httpx.post(f"{simulator.url}/repos/octo/demo/git/blobs", headers=auth, json={"content": "x"})
    assert write.status_code == 307
    landed = httpx.post(
        f"{simulator.url}/repos/octo/demo/git/blobs", headers=auth, json={"content": "x"}, follow_redirects=True
    )
    assert landed.status_code == 201


def test_a_transfer_names_the_former_owner(simulator):
    simulator.create_repo("octo/demo")
    simulator.install("neworg")
    simulator.transfer_repo("octo/demo", "neworg")
    simulator.wait_for_deliveries()
    [delivery] = simulator.deliveries("repository", "transferred")
    assert delivery.payload["changes"]["owner"]["from"]["user"]["login"] == "octo"
    assert delivery.payload["repository"]["full_name"] == "neworg/demo"
    assert simulator.installation_id("neworg/demo") == delivery.payload["installation"]["id"]


def test_an_archived_repository_refuses_writes_and_pushes(simulator, tmp_path):
    simulator.create_repo("octo/demo", {"a.txt": "a\n"})
    token = simulator.installation_token("octo/demo")
    simulator.archive("octo/demo")
    simulator.wait_for_deliveries()
    [delivery] = simulator.deliveries("repository", "archived")
    assert delivery.payload["repository"]["archived"] is True
    auth = {"Authorization": f"token {token}"}
    assert httpx.get(f"{simulator.url}/repos/octo/demo", headers=auth).status_code == 200
    refused = httpx.post(f"{simulator.url}/repos/octo/demo/git/blobs", headers=auth, json={"content": "x"})
    assert refused.status_code == 403
    assert refused.json()["message"] == "Repository was archived so is read-only."
    work = tmp_path / "clone"
    url = simulator.clone_url("octo/demo", token)
    subprocess.run(["git", "clone", "-q", url, str(work)], check=True)
    (work / "b.txt").write_text("b\n")
    git = ["git", "-C", str(work), "-c", "user.name=a", "-c", "user.email=a@example.com"]
    subprocess.run([*git, "commit", "-qam", "b", "--allow-empty"], check=True)
    pushed = subprocess.run([*git, "push", "-q", "origin", "HEAD:main"], capture_output=True, text=True)
    assert pushed.returncode != 0 and "archived" in pushed.stderr


def test_a_suspended_installation_gets_no_token_until_unsuspended(simulator, kit):
    simulator.create_repo("octo/demo")
    inst = simulator.installation_id("octo/demo")
    simulator.suspend("octo")
    simulator.wait_for_deliveries()
    [delivery] = simulator.deliveries("installation", "suspend")
    assert delivery.payload["installation"]["suspended_by"]["login"] == "octo"
    assert delivery.payload["installation"]["suspended_at"]
    app = kit.app_client(simulator)
    with pytest.raises(RequestFailed) as refused:
        app.rest.apps.create_installation_access_token(inst)
    assert refused.value.response.status_code == 403
    assert "suspended" in refused.value.response.json()["message"]
    simulator.unsuspend("octo")
    assert simulator.installation_token("octo/demo")
