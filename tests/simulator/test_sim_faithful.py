"""Faithfulness: every route the simulator serves answers bodies that githubkit's typed models
parse, and every webhook it sends parses with githubkit's webhook models."""

from __future__ import annotations

import base64
import gzip
import json
import re

import pytest
from githubkit import webhooks
from githubkit.exception import RequestFailed

from bot.simulator.server import build_app


def _route_patterns(sim) -> list[tuple[str, re.Pattern[str]]]:
    out = []
    for resource in build_app(sim.hub).router.resources():
        if resource.name == "git":
            continue
        info = resource.get_info()
        pattern = info.get("pattern") or re.compile(re.escape(info["path"]))
        for route in resource:
            out.append((route.method, pattern))
    return out


def test_every_route_parses_with_githubkit_models(demo, kit):
    sim = demo
    app = kit.app_client(sim)
    gh = kit.installation_client(sim)
    o, r = "octo", "demo"

    # App and installations
    assert app.rest.apps.get_authenticated().parsed_data.id == sim.app_id
    inst = app.rest.apps.get_repo_installation(o, r).parsed_data
    assert [i.id for i in app.rest.apps.list_installations().parsed_data] == [inst.id]
    assert app.rest.apps.get_installation(inst.id).parsed_data.account.login == "octo"
    token = app.rest.apps.create_installation_access_token(
        inst.id, data={"repositories": ["demo"], "permissions": {"checks": "write"}}
    ).parsed_data
    assert token.token.startswith("ghs_") and token.permissions.checks == "write"
    repos = gh.rest.apps.list_repos_accessible_to_installation().parsed_data
    assert [x.full_name for x in repos.repositories] == ["octo/demo"]
    core = gh.rest.rate_limit.get().parsed_data.resources.core
    assert core.limit == 5000 and core.remaining < 5000
    bot_user = gh.rest.users.get_by_username(f"{sim.world.app.slug}[bot]").parsed_data
    assert (bot_user.type, bot_user.id) == ("Bot", sim.world.user(bot_user.login).id)

    # Repository and contents
    assert gh.rest.repos.get(o, r).parsed_data.default_branch == "main"
    content = gh.rest.repos.get_content(o, r, "a.py", ref="feature").parsed_data
    assert "line ten" in base64.b64decode(content.content).decode()
    listing = gh.rest.repos.get_content(o, r, "").parsed_data
    assert {e.name for e in listing} == {"a.py", "README.md"}
    sim.set_permission("octo/demo", "alice", "write")
    perm = gh.rest.repos.get_collaborator_permission_level(o, r, "alice").parsed_data
    assert (perm.permission, perm.role_name) == ("write", "write")

    # Pulls
    pull = gh.rest.pulls.get(o, r, 1).parsed_data
    assert (pull.head.ref, pull.base.ref, pull.changed_files) == ("feature", "main", 2)
    diff = gh.rest.pulls.get(o, r, 1, headers={"Accept": "application/vnd.github.diff"})
    assert diff.text.startswith("diff --git a/a.py b/a.py")
    assert [p.number for p in gh.rest.pulls.list(o, r).parsed_data] == [1]
    files = gh.rest.pulls.list_files(o, r, 1).parsed_data
    assert [(f.filename, f.status) for f in files] == [("a.py", "modified"), ("b.py", "added")]
    review = gh.rest.pulls.create_review(
        o,
        r,
        1,
        data={
            "event": "COMMENT",
            "body": "Shunter review",
            "comments": [{"path": "a.py", "line": 10, "side": "RIGHT", "body": "typo"}],
        },
    ).parsed_data
    assert review.state == "COMMENTED"
    assert [x.id for x in gh.rest.pulls.list_reviews(o, r, 1).parsed_data] == [review.id]
    comments = gh.rest.pulls.list_review_comments(o, r, 1).parsed_data
    assert comments[0].line == 10 and comments[0].diff_hunk.startswith("@@")
    one = gh.rest.pulls.get_review_comment(o, r, comments[0].id).parsed_data
    assert one.path == "a.py"
    fixed = gh.rest.pulls.update_review_comment(o, r, one.id, data={"body": "fixed"}).parsed_data
    eyes = gh.rest.reactions.create_for_pull_request_review_comment(o, r, one.id, data={"content": "eyes"})
    assert eyes.parsed_data.content == "eyes"
    listed = gh.rest.reactions.list_for_pull_request_review_comment(o, r, one.id).parsed_data
    assert [x.content for x in listed] == ["eyes"]
    assert gh.rest.reactions.delete_for_pull_request_comment(o, r, one.id, eyes.parsed_data.id).status_code == 204
    assert gh.rest.reactions.list_for_pull_request_review_comment(o, r, one.id).parsed_data == []
    assert fixed.body == "fixed"
    sim.commit("octo/demo", "fix", {"c.py": "c = 3\n"}, author="alice")
    created = gh.rest.pulls.create(o, r, data={"head": "fix", "base": "main", "title": "Fix"})
    assert created.status_code == 201 and created.parsed_data.user.login == sim.bot_login
    closed = gh.rest.pulls.update(o, r, created.parsed_data.number, data={"state": "closed"})
    assert closed.parsed_data.state == "closed"

    # Checks
    head = pull.head.sha
    run = gh.rest.checks.create(
        o,
        r,
        data={
            "name": "shunter/review",
            "head_sha": head,
            "status": "in_progress",
            "output": {
                "title": "Review",
                "summary": "1 finding",
                "annotations": [
                    {
                        "path": "a.py",
                        "start_line": 10,
                        "end_line": 10,
                        "annotation_level": "warning",
                        "message": "typo",
                    }
                ],
            },
            "actions": [{"label": "Apply fixes", "description": "Push fixes", "identifier": "apply"}],
        },
    ).parsed_data
    updated = gh.rest.checks.update(
        o, r, run.id, data={"status": "completed", "conclusion": "neutral"}
    ).parsed_data
    assert updated.conclusion == "neutral" and updated.output.annotations_count == 1
    assert gh.rest.checks.get(o, r, run.id).parsed_data.name == "shunter/review"
    assert gh.rest.checks.list_annotations(o, r, run.id).parsed_data[0].message == "typo"
    listed = gh.rest.checks.list_for_ref(o, r, head).parsed_data
    assert listed.total_count == 1 and listed.check_runs[0].id == run.id
    assert gh.rest.checks.rerequest_run(o, r, run.id).status_code == 201
    suite = gh.rest.checks.create_suite(o, r, data={"head_sha": head}).parsed_data
    assert suite.id == run.check_suite.id
    assert gh.rest.checks.get_suite(o, r, suite.id).parsed_data.conclusion == "neutral"
    assert gh.rest.checks.rerequest_suite(o, r, suite.id).status_code == 201
    assert gh.rest.checks.list_suites_for_ref(o, r, head).parsed_data.total_count == 1

    # Issues: comments, reactions, labels
    comment = gh.rest.issues.create_comment(o, r, 1, data={"body": "summary"}).parsed_data
    assert gh.rest.issues.get_comment(o, r, comment.id).parsed_data.body == "summary"
    edited = gh.rest.issues.update_comment(o, r, comment.id, data={"body": "v2"}).parsed_data
    assert edited.body == "v2"
    assert [c.id for c in gh.rest.issues.list_comments(o, r, 1).parsed_data] == [comment.id]
    reaction = gh.rest.reactions.create_for_issue_comment(
        o, r, comment.id, data={"content": "eyes"}
    ).parsed_data
    assert reaction.content == "eyes"
    assert len(gh.rest.reactions.list_for_issue_comment(o, r, comment.id).parsed_data) == 1
    assert gh.rest.reactions.delete_for_issue_comment(o, r, comment.id, reaction.id).status_code == 204
    assert gh.rest.reactions.list_for_issue_comment(o, r, comment.id).parsed_data == []
    with pytest.raises(RequestFailed) as gone:  # deleted already: nothing to delete
        gh.rest.reactions.delete_for_issue_comment(o, r, comment.id, reaction.id)
    assert gone.value.response.status_code == 404
    labels = gh.rest.issues.add_labels(o, r, 1, data={"labels": ["shunter:ok"]}).parsed_data
    assert [x.name for x in labels] == ["shunter:ok"]
    assert len(gh.rest.issues.list_labels_on_issue(o, r, 1).parsed_data) == 1
    assert gh.rest.issues.remove_label(o, r, 1, "shunter:ok").parsed_data == []
    assert gh.rest.issues.delete_comment(o, r, comment.id).status_code == 204

    # Git data
    blob = gh.rest.git.create_blob(o, r, data={"content": "z = 26\n"}).parsed_data
    assert base64.b64decode(gh.rest.git.get_blob(o, r, blob.sha).parsed_data.content) == b"z = 26\n"
    head_commit = gh.rest.git.get_commit(o, r, pull.head.sha).parsed_data
    tree = gh.rest.git.create_tree(
        o,
        r,
        data={
            "base_tree": head_commit.tree.sha,
            "tree": [{"path": "z.py", "mode": "100644", "type": "blob", "sha": blob.sha}],
        },
    ).parsed_data
    assert "z.py" in {e.path for e in gh.rest.git.get_tree(o, r, tree.sha).parsed_data.tree}
    commit = gh.rest.git.create_commit(
        o, r, data={"message": "Add z", "tree": tree.sha, "parents": [pull.head.sha]}
    ).parsed_data
    assert commit.verification.verified is True
    assert gh.rest.git.get_commit(o, r, commit.sha).parsed_data.message == "Add z"
    assert head_commit.verification.verified is False  # pushed by alice, not via the API
    ref = gh.rest.git.get_ref(o, r, "heads/feature").parsed_data
    assert ref.object_.sha == pull.head.sha
    moved = gh.rest.git.update_ref(o, r, "heads/feature", data={"sha": commit.sha}).parsed_data
    assert moved.object_.sha == commit.sha
    made = gh.rest.git.create_ref(o, r, data={"ref": "refs/heads/tmp", "sha": commit.sha})
    assert made.status_code == 201
    assert gh.rest.git.delete_ref(o, r, "heads/tmp").status_code == 204

    # Code scanning
    sarif = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "shunter"}}, "results": []}]}
    receipt = gh.rest.code_scanning.upload_sarif(
        o,
        r,
        data={
            "commit_sha": head,
            "ref": "refs/pull/1/head",
            "sarif": base64.b64encode(gzip.compress(json.dumps(sarif).encode())).decode(),
        },
    )
    assert receipt.status_code == 202
    status = gh.rest.code_scanning.get_sarif(o, r, receipt.parsed_data.id).parsed_data
    assert status.processing_status == "complete"

    # Deliveries (after everything above sent its webhooks)
    sim.wait_for_deliveries()
    deliveries = app.rest.apps.list_webhook_deliveries(per_page=100).parsed_data
    assert len(deliveries) == len(sim.deliveries())
    one = app.rest.apps.get_webhook_delivery(deliveries[0].id).parsed_data
    assert one.guid == deliveries[0].guid
    assert app.rest.apps.redeliver_webhook_delivery(deliveries[0].id).status_code == 202

    # Revoking the installation token (last: the client's token stops working)
    assert gh.rest.apps.revoke_installation_access_token().status_code == 204
    with pytest.raises(RequestFailed) as refused:
        gh.rest.repos.get(o, r)
    assert refused.value.response.status_code == 401

    # Coverage: every REST route the simulator serves was exercised above and answered 2xx.
    ok = [x for x in sim.recorder.filter("*") if 200 <= x.status < 300]
    missing = [
        (method, pattern.pattern)
        for method, pattern in _route_patterns(sim)
        if method != "HEAD"
        and not any(x.method == method and pattern.fullmatch(x.path) for x in ok)
    ]
    assert missing == []


def test_every_webhook_parses_with_githubkit_models(demo, kit):
    sim = demo
    gh = kit.installation_client(sim)
    pull = sim.pull("octo/demo", 1)
    run = gh.rest.checks.create(
        "octo",
        "demo",
        data={
            "name": "shunter/review",
            "head_sha": pull.head_sha,
            "status": "in_progress",
            "output": {"title": "t", "summary": "s"},
            "actions": [{"label": "Apply fixes", "description": "d", "identifier": "apply"}],
        },
    ).parsed_data
    gh.rest.checks.update("octo", "demo", run.id, data={"conclusion": "failure"})
    sim.create_repo("acme/web", {"x.py": "x = 1\n"}, owner_type="Organization")
    sim.set_permission("octo/demo", "bob", "write")
    comment_id = sim.comment("octo/demo", 1, "/shunter help", user="bob")
    sim.edit_comment(comment_id, "/shunter review")
    sim.commit("octo/demo", "feature", {"b.py": "b = 2\n"}, author="alice")
    sim.add_label("octo/demo", 1, "bug")
    sim.click_button(run.id, "apply", user="bob")
    sim.rerequest_check_run(run.id)
    sim.rerequest_check_suite("octo/demo", pull.head_sha)
    sim.complete_workflow_run("octo/demo", pull_number=1, conclusion="failure")
    sim.request_merge_group("octo/demo", 1)
    sim.close_pull_request("octo/demo", 1)
    sim.reopen_pull_request("octo/demo", 1)
    sim.commit("octo/demo", "draft", {"d.py": "d = 4\n"}, author="alice")
    draft = sim.open_pull_request("octo/demo", "draft", user="alice", draft=True)
    sim.ready_for_review("octo/demo", draft)
    sim.fork("octo/demo", "mallory")
    sim.commit("mallory/demo", "evil", {"e.py": "import os\n"}, author="mallory")
    sim.open_pull_request("octo/demo", "evil", user="mallory", from_fork="mallory")
    sim.wait_for_deliveries()

    seen = set()
    for d in sim.deliveries():
        event = webhooks.parse_obj(d.event, d.payload)
        assert event is not None
        seen.add((d.event, d.action))
    wanted = {
        ("installation", "created"),
        ("pull_request", "opened"),
        ("pull_request", "synchronize"),
        ("pull_request", "reopened"),
        ("pull_request", "ready_for_review"),
        ("pull_request", "closed"),
        ("pull_request", "labeled"),
        ("issue_comment", "created"),
        ("issue_comment", "edited"),
        ("check_run", "created"),
        ("check_run", "completed"),
        ("check_run", "rerequested"),
        ("check_run", "requested_action"),
        ("check_suite", "requested"),
        ("check_suite", "rerequested"),
        ("merge_group", "checks_requested"),
        ("push", None),
        ("workflow_run", "completed"),
    }
    assert wanted <= seen
    fork_pr = sim.deliveries("pull_request", "opened")[-1].payload["pull_request"]
    assert fork_pr["head"]["repo"]["full_name"] == "mallory/demo"
    assert fork_pr["head"]["repo"]["fork"] is True
    org_event = [d for d in sim.deliveries("push") if d.payload["repository"]["full_name"] == "acme/web"]
    assert org_event == [] or org_event[0].payload["organization"]["login"] == "acme"
