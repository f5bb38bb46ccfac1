"""GitHub's rules: pagination, check-run limits, review lines, ref compare-and-swap, workflows."""

from __future__ import annotations

import httpx
import pytest
from githubkit.exception import RequestFailed


def _api(sim, method, path, token, **kwargs):
    return httpx.request(
        method, sim.url + path, headers={"Authorization": f"token {token}"}, **kwargs
    )


def test_pull_files_paginate_with_link_headers(simulator):
    simulator.create_repo("octo/big", {"README.md": "x\n"})
    simulator.commit("octo/big", "many", {f"f{i:02}.py": f"v = {i}\n" for i in range(35)})
    number = simulator.open_pull_request("octo/big", "many")
    token = simulator.installation_token("octo/big")
    seen, url, pages = [], f"{simulator.url}/repos/octo/big/pulls/{number}/files?per_page=10", 0
    while url:
        answer = httpx.get(url, headers={"Authorization": f"token {token}"})
        pages += 1
        seen += [f["filename"] for f in answer.json()]
        url = answer.links.get("next", {}).get("url")
        if pages == 1:
            assert 'rel="last"' in answer.headers["Link"] and "page=4" in answer.links["last"]["url"]
    assert pages == 4
    assert seen == [f"f{i:02}.py" for i in range(35)]


def _run_body(sha, **extra):
    return {"name": "shunter/review", "head_sha": sha, **extra}


def _annotations(n, path="a.py"):
    return [
        {"path": path, "start_line": i + 1, "end_line": i + 1, "annotation_level": "warning",
         "message": f"finding {i}"}
        for i in range(n)
    ]


def test_check_run_limits_answer_githubs_422(demo):
    sim = demo
    token = sim.installation_token("octo/demo")
    sha = sim.pull("octo/demo", 1).head_sha
    path = "/repos/octo/demo/check-runs"

    too_many = _api(sim, "POST", path, token, json=_run_body(
        sha, output={"title": "t", "summary": "s", "annotations": _annotations(51)}))
    assert too_many.status_code == 422
    assert too_many.json()["message"] == (
        "Invalid request.\n\nNo more than 50 items are allowed; 51 were supplied."
    )
    long_summary = _api(sim, "POST", path, token, json=_run_body(
        sha, output={"title": "t", "summary": "x" * 65536}))
    assert long_summary.status_code == 422 and "65535" in long_summary.json()["message"]
    long_text = _api(sim, "POST", path, token, json=_run_body(
        sha, output={"title": "t", "summary": "s", "text": "x" * 70000}))
    assert long_text.status_code == 422

    button = {"label": "Apply fixes", "description": "Push the fixes", "identifier": "apply"}
    four = _api(sim, "POST", path, token, json=_run_body(sha, actions=[button] * 4))
    assert four.status_code == 422 and "No more than 3" in four.json()["message"]
    for field, limit in (("label", 20), ("description", 40), ("identifier", 20)):
        bad = dict(button, **{field: "x" * (limit + 1)})
        answer = _api(sim, "POST", path, token, json=_run_body(sha, actions=[bad]))
        assert answer.status_code == 422, field
        assert f"Only {limit} characters are allowed" in answer.json()["message"]
    assert _api(sim, "POST", path, token, json=_run_body(sha, actions=[button] * 3)).status_code == 201
    unknown = _api(sim, "POST", path, token, json=_run_body("0" * 40))
    assert unknown.status_code == 422
    assert sim.recorder.count("POST /repos/octo/demo/check-runs", status=422) == 8


def test_annotations_append_across_patches(demo, kit):
    sim = demo
    gh = kit.installation_client(sim)
    sha = sim.pull("octo/demo", 1).head_sha
    all_annotations = _annotations(120)
    run = gh.rest.checks.create("octo", "demo", data=_run_body(
        sha, status="in_progress",
        output={"title": "t", "summary": "s", "annotations": all_annotations[:50]},
    )).parsed_data
    for start in (50, 100):
        gh.rest.checks.update("octo", "demo", run.id, data={
            "output": {"title": "t", "summary": "s", "annotations": all_annotations[start:start + 50]}
        })
    gh.rest.checks.update("octo", "demo", run.id, data={"conclusion": "failure"})
    stored = sim.check_runs("octo/demo", name="shunter/review")[0]
    assert [a["message"] for a in stored.annotations] == [f"finding {i}" for i in range(120)]
    assert (stored.status, stored.conclusion) == ("completed", "failure")
    listed = gh.rest.checks.list_annotations("octo", "demo", run.id, per_page=100, page=2).parsed_data
    assert len(listed) == 20
    assert gh.rest.checks.get("octo", "demo", run.id).parsed_data.output.annotations_count == 120


def test_review_comment_outside_the_diff_is_refused_whole(demo, kit):
    sim = demo
    gh = kit.installation_client(sim)
    good = {"path": "a.py", "line": 10, "body": "on the changed line"}
    context = {"path": "a.py", "line": 13, "body": "a context line of the hunk"}
    for bad in (
        {"path": "a.py", "line": 30, "body": "far from the hunk"},
        {"path": "a.py", "line": 9, "side": "LEFT", "start_line": 1, "body": "range across"},
        {"path": "nope.py", "line": 1, "body": "not in the PR"},
    ):
        with pytest.raises(RequestFailed) as caught:
            gh.rest.pulls.create_review("octo", "demo", 1, data={
                "event": "COMMENT", "body": "x", "comments": [good, bad]})
        answer = caught.value.response
        assert answer.status_code == 422
        assert answer.json()["message"] == "Unprocessable Entity"
        assert answer.json()["documentation_url"].endswith("#create-a-review-for-a-pull-request")
    assert sim.reviews("octo/demo", 1) == []
    gh.rest.pulls.create_review("octo", "demo", 1, data={
        "event": "COMMENT", "body": "x", "comments": [good, context]})
    assert [(c.line, c.side) for c in sim.review_comments("octo/demo", 1)] == [
        (10, "RIGHT"), (13, "RIGHT")]


def test_comment_body_limit(demo):
    token = demo.installation_token("octo/demo")
    answer = _api(demo, "POST", "/repos/octo/demo/issues/1/comments", token,
                  json={"body": "x" * 65537})
    assert answer.status_code == 422


def test_ref_update_is_a_compare_and_swap(demo, kit):
    sim = demo
    gh = kit.installation_client(sim)
    main = sim.ref("octo/demo", "main")
    feature = sim.ref("octo/demo", "feature")
    # feature -> main is not a fast-forward of feature: refused without force
    with pytest.raises(RequestFailed) as caught:
        gh.rest.git.update_ref("octo", "demo", "heads/feature", data={"sha": main, "force": False})
    assert caught.value.response.status_code == 422
    assert caught.value.response.json()["message"] == "Update is not a fast forward"
    assert sim.ref("octo/demo", "feature") == feature
    # main -> feature is a fast-forward
    gh.rest.git.update_ref("octo", "demo", "heads/main", data={"sha": feature})
    assert sim.ref("octo/demo", "main") == feature
    # force moves anything
    gh.rest.git.update_ref("octo", "demo", "heads/feature", data={"sha": main, "force": True})
    assert sim.ref("octo/demo", "feature") == main
    with pytest.raises(RequestFailed) as caught:
        gh.rest.git.create_ref("octo", "demo", data={"ref": "refs/heads/main", "sha": main})
    assert caught.value.response.json()["message"] == "Reference already exists"


def test_workflow_changes_need_the_workflows_permission(demo, kit):
    sim = demo
    gh = kit.installation_client(sim)
    head = sim.ref("octo/demo", "feature")
    tree = gh.rest.git.get_commit("octo", "demo", head).parsed_data.tree.sha
    new_tree = gh.rest.git.create_tree("octo", "demo", data={"base_tree": tree, "tree": [
        {"path": ".github/workflows/ci.yml", "mode": "100644", "type": "blob", "content": "on: push\n"}
    ]}).parsed_data
    commit = gh.rest.git.create_commit("octo", "demo", data={
        "message": "ci", "tree": new_tree.sha, "parents": [head]}).parsed_data
    with pytest.raises(RequestFailed) as caught:
        gh.rest.git.update_ref("octo", "demo", "heads/feature", data={"sha": commit.sha})
    assert "without `workflows` permission" in caught.value.response.json()["message"]
    assert sim.ref("octo/demo", "feature") == head
    sim.set_installation_permissions("octo/demo", {**sim.app.permissions, "workflows": "write"})
    token = sim.installation_token("octo/demo")
    answer = _api(sim, "PATCH", "/repos/octo/demo/git/refs/heads/feature", token,
                  json={"sha": commit.sha})
    assert answer.status_code == 200
    assert sim.ref("octo/demo", "feature") == commit.sha


def test_ref_moves_through_the_api_synchronize_the_pull_request(demo, kit):
    sim = demo
    gh = kit.installation_client(sim)
    head = sim.ref("octo/demo", "feature")
    tree = gh.rest.git.get_commit("octo", "demo", head).parsed_data.tree.sha
    commit = gh.rest.git.create_commit("octo", "demo", data={
        "message": "fix", "tree": tree, "parents": [head]}).parsed_data
    gh.rest.git.update_ref("octo", "demo", "heads/feature", data={"sha": commit.sha})
    sync = sim.deliveries("pull_request", "synchronize")
    assert [(d.payload["before"], d.payload["after"]) for d in sync] == [(head, commit.sha)]
    assert sim.ref("octo/demo", "refs/pull/1/head") == commit.sha
    assert sim.pull("octo/demo", 1).head_sha == commit.sha


def test_githubkit_paginator_walks_every_page(simulator, kit):
    simulator.create_repo("octo/big", {"README.md": "x\n"})
    simulator.commit("octo/big", "many", {f"f{i:02}.py": f"v = {i}\n" for i in range(35)})
    number = simulator.open_pull_request("octo/big", "many")
    for i in range(12):
        simulator.comment("octo/big", number, f"comment {i}", user="alice")
    gh = kit.installation_client(simulator, "octo/big")
    files = list(gh.rest.paginate(gh.rest.pulls.list_files, owner="octo", repo="big",
                                  pull_number=number, per_page=10))
    assert len(files) == 35
    comments = list(gh.rest.paginate(gh.rest.issues.list_comments, owner="octo", repo="big",
                                     issue_number=number, per_page=5))
    assert [c.body for c in comments] == [f"comment {i}" for i in range(12)]
    assert simulator.recorder.count(f"GET /repos/octo/big/issues/{number}/comments") == 3


def test_a_typechange_is_one_changed_file_whose_new_lines_take_comments(simulator):
    """A symlink replaced by a file is one entry, status ``changed`` (git's ``T``), whose
    patch removes the link's target and adds every line of the file; the ``.diff`` stays
    git's text, where the path is deleted and added again. A rename beside it used to put
    the link's deletion last, and a comment on the file's new line then found no line."""
    sim = simulator
    moved = "".join(f"x{i} = {i}\n" for i in range(40))
    sim.create_repo("octo/links", {"t.py": "x = 1\n", "old/m.py": moved})
    token = sim.installation_token("octo/links")
    main = sim.ref("octo/links", "main")
    tree = _api(sim, "GET", f"/repos/octo/links/git/commits/{main}", token).json()["tree"]["sha"]
    link = {"path": "a.py", "mode": "120000", "type": "blob", "content": "t.py"}
    tree = _api(sim, "POST", "/repos/octo/links/git/trees", token,
                json={"base_tree": tree, "tree": [link]}).json()["sha"]
    commit = _api(sim, "POST", "/repos/octo/links/git/commits", token,
                  json={"message": "link", "tree": tree, "parents": [main]}).json()["sha"]
    assert _api(sim, "PATCH", "/repos/octo/links/git/refs/heads/main", token,
                json={"sha": commit}).status_code == 200
    sim.commit("octo/links", "feature", {
        "a.py": "import os\nimport sys\n", "old/m.py": None, "new/m.py": moved + "y = 1\n"})
    number = sim.open_pull_request("octo/links", "feature")

    files = _api(sim, "GET", f"/repos/octo/links/pulls/{number}/files", token).json()
    assert [(f["filename"], f["status"]) for f in files] == [("a.py", "changed"), ("new/m.py", "renamed")]
    assert files[0]["patch"] == "@@ -1 +0,0 @@\n-t.py\n@@ -0,0 +1,2 @@\n+import os\n+import sys"
    assert (files[0]["additions"], files[0]["deletions"]) == (2, 1)
    diff = httpx.get(f"{sim.url}/repos/octo/links/pulls/{number}", headers={
        "Authorization": f"token {token}", "Accept": "application/vnd.github.diff"}).text
    assert "deleted file mode 120000" in diff and "new file mode 100644" in diff
    review = _api(sim, "POST", f"/repos/octo/links/pulls/{number}/reviews", token, json={
        "event": "COMMENT", "body": "x", "comments": [{"path": "a.py", "line": 2, "body": "unused"}]})
    assert review.status_code == 200, review.text
    assert [(c.line, c.side) for c in sim.review_comments("octo/links", number)] == [(2, "RIGHT")]
