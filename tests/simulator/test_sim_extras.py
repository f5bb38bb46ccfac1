"""Conditional requests, SARIF processing, repos from directories, and use inside a loop."""

from __future__ import annotations

import base64
import gzip
import json

import httpx

from bot.simulator import Simulator


def test_etag_and_304_do_not_spend_the_budget(simulator):
    simulator.create_repo("octo/demo")
    auth = {"Authorization": f"token {simulator.installation_token('octo/demo')}"}
    first = httpx.get(f"{simulator.url}/repos/octo/demo", headers=auth)
    etag = first.headers["ETag"]
    used = int(first.headers["x-ratelimit-used"])
    again = httpx.get(f"{simulator.url}/repos/octo/demo", headers={**auth, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert int(again.headers["x-ratelimit-used"]) == used
    simulator.advance_time(5)
    simulator.commit("octo/demo", "main", {"new.txt": "x\n"})  # moves pushed_at
    changed = httpx.get(f"{simulator.url}/repos/octo/demo", headers={**auth, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def _sarif(document) -> str:
    return base64.b64encode(gzip.compress(json.dumps(document).encode())).decode()


def test_bad_sarif_is_accepted_then_fails_processing(simulator):
    simulator.create_repo("octo/demo")
    sha = simulator.ref("octo/demo", "main")
    auth = {"Authorization": f"token {simulator.installation_token('octo/demo')}"}
    url = f"{simulator.url}/repos/octo/demo/code-scanning/sarifs"
    upload = httpx.post(url, headers=auth, json={
        "commit_sha": sha, "ref": "refs/heads/main", "sarif": _sarif({"version": "1.0"})})
    assert upload.status_code == 202
    status = httpx.get(f"{url}/{upload.json()['id']}", headers=auth).json()
    assert status["processing_status"] == "failed" and status["errors"]
    garbage = httpx.post(url, headers=auth, json={
        "commit_sha": sha, "ref": "refs/heads/main", "sarif": "not gzip"})
    assert garbage.status_code == 400
    no_perm = simulator.installation_token("octo/demo", permissions={"contents": "read"})
    denied = httpx.post(url, headers={"Authorization": f"token {no_perm}"}, json={
        "commit_sha": sha, "ref": "refs/heads/main", "sarif": _sarif({})})
    assert denied.status_code == 403


def test_repo_from_directory_and_comment_with_permission(simulator, tmp_path):
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "mod.py").write_text("def f():\n    return 1\n")
    (src / "setup.cfg").write_text("[metadata]\nname = x\n")
    handle = simulator.create_repo("acme/lib", from_dir=src, owner_type="Organization")
    assert simulator.file("acme/lib", "main", "pkg/mod.py").startswith("def f")
    assert handle.default_branch == "main" and len(handle.head_sha) == 40
    simulator.commit("acme/lib", "topic", {"pkg/mod.py": "def f():\n    return 2\n"}, author="dev")
    number = simulator.open_pull_request("acme/lib", "topic", user="dev")
    simulator.comment("acme/lib", number, "/shunter apply", user="maint", permission="maintain")
    token = simulator.installation_token("acme/lib")
    perm = httpx.get(f"{simulator.url}/repos/acme/lib/collaborators/maint/permission",
                     headers={"Authorization": f"token {token}"}).json()
    assert (perm["permission"], perm["role_name"]) == ("write", "maintain")
    created = simulator.deliveries("issue_comment", "created")[-1].payload
    assert created["comment"]["author_association"] == "COLLABORATOR"
    assert created["organization"]["login"] == "acme"


async def test_runs_inside_an_event_loop(tmp_path):
    sim = Simulator(tmp_path)
    await sim.start()
    try:
        sim.create_repo("octo/demo")
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"{sim.url}/repos/octo/demo")
        assert answer.status_code == 200  # a public repo reads without credentials
        await sim.drain()
        assert sim.deliveries("installation")[0].status == "No webhook URL configured"
    finally:
        await sim.stop()


def test_check_run_lifecycle_events_can_be_turned_off(tmp_path):
    from bot.simulator import SimulatorThread

    for enabled in (True, False):
        with SimulatorThread(tmp_path / str(enabled), check_run_lifecycle_events=enabled) as sim:
            sim.create_repo("octo/demo")
            sha = sim.ref("octo/demo", "main")
            auth = {"Authorization": f"token {sim.installation_token('octo/demo')}"}
            run = httpx.post(f"{sim.url}/repos/octo/demo/check-runs", headers=auth,
                             json={"name": "x", "head_sha": sha}).json()
            for _ in range(2):
                httpx.patch(f"{sim.url}/repos/octo/demo/check-runs/{run['id']}", headers=auth,
                            json={"conclusion": "success"})
            actions = [d.action for d in sim.deliveries("check_run")]
            assert actions == (["created", "completed"] if enabled else [])


def test_conflicting_pull_request_is_not_mergeable(simulator, kit):
    simulator.create_repo("octo/demo", {"a.py": "x = 1\n"})
    simulator.commit("octo/demo", "topic", {"a.py": "x = 2\n"})
    number = simulator.open_pull_request("octo/demo", "topic")
    gh = kit.installation_client(simulator)
    assert gh.rest.pulls.get("octo", "demo", number).parsed_data.mergeable is True
    simulator.commit("octo/demo", "main", {"a.py": "x = 3\n"})
    pull = gh.rest.pulls.get("octo", "demo", number).parsed_data
    assert (pull.mergeable, pull.mergeable_state) == (False, "dirty")


def test_failed_ci_is_an_actions_check_run_shunter_cannot_modify(demo, kit):
    sim = demo
    run_id = sim.complete_workflow_run("octo/demo", pull_number=1, conclusion="failure")
    head = sim.pull("octo/demo", 1).head_sha
    gh = kit.installation_client(sim)
    runs = gh.rest.checks.list_for_ref("octo", "demo", head).parsed_data.check_runs
    ci = [r for r in runs if r.app.slug == "github-actions"]
    assert [(r.name, r.conclusion) for r in ci] == [("test", "failure")]
    answer = httpx.patch(f"{sim.url}/repos/octo/demo/check-runs/{ci[0].id}",
                         headers={"Authorization": f"token {sim.installation_token('octo/demo')}"},
                         json={"conclusion": "success"})
    assert answer.status_code == 403
    event = sim.deliveries("workflow_run")[-1].payload["workflow_run"]
    assert event["id"] == run_id and event["check_suite_id"] == ci[0].check_suite.id
    assert event["pull_requests"][0]["number"] == 1


def test_users_route_describes_the_apps_bot_user_and_people(simulator, kit):
    """``GET /users/{username}`` as githubkit reads it: the App's bot user is a Bot whose id
    is its own (not the App's), people are Users, and a login nobody has is 404."""
    simulator.create_repo("octo/demo")
    simulator.set_permission("octo/demo", "alice", "write")
    gh = kit.installation_client(simulator)
    login = f"{simulator.world.app.slug}[bot]"
    bot = gh.rest.users.get_by_username(login).json()
    assert (bot["login"], bot["type"]) == (login, "Bot")
    assert bot["id"] == simulator.world.user(login).id != simulator.world.app.id
    alice = httpx.get(f"{simulator.url}/users/alice").json()  # public: no token needed
    assert (alice["login"], alice["type"], alice["id"]) == ("alice", "User", simulator.world.user("alice").id)
    assert httpx.get(f"{simulator.url}/users/nobody-here").status_code == 404
