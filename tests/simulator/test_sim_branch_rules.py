"""Branch protection and rulesets in the simulator: the git CLI and the Git Data API meet
GitHub's refusals (GH006 / GH013 lines, 422 / 409 answers), a commit GitHub signed through
the API passes required signatures, and a branch without rules takes any push."""

from __future__ import annotations

import httpx

from tests.simulator.test_sim_git import _clone, git


def _commit_and_push(sim, tmp_path, branch="main"):
    work = _clone(sim, tmp_path, sim.installation_token("octo/demo"))
    (work / "a.py").write_text("changed\n")
    git("commit", "-qam", "unsigned", cwd=work)
    return git("push", "origin", f"HEAD:{branch}", cwd=work, check=False)


def test_an_unsigned_git_push_meets_gh006(demo, tmp_path):
    before = demo.ref("octo/demo", "main")
    demo.protect_branch("octo/demo", "main", required_signatures=True)
    pushed = _commit_and_push(demo, tmp_path)
    assert pushed.returncode != 0 and demo.ref("octo/demo", "main") == before
    assert "remote: error: GH006: Protected branch update failed for refs/heads/main." in pushed.stderr
    assert "remote: - Commits must have verified signatures." in pushed.stderr
    assert "[remote rejected]" in pushed.stderr


def test_a_ruleset_names_the_unsigned_commits_and_where_to_review_the_rules(demo, tmp_path):
    demo.protect_branch("octo/demo", "main", required_signatures=True, ruleset=True)
    pushed = _commit_and_push(demo, tmp_path)
    assert "remote: error: GH013: Repository rule violations found for refs/heads/main." in pushed.stderr
    assert "/octo/demo/rules?ref=refs%2Fheads%2Fmain" in pushed.stderr
    assert "Found 1 violation:" in pushed.stderr, pushed.stderr


def test_a_branch_without_rules_takes_the_push(demo, tmp_path):
    demo.protect_branch("octo/demo", "main", required_signatures=True)
    assert _commit_and_push(demo, tmp_path, "other").returncode == 0


def _api(sim):
    return httpx.Client(base_url=sim.url, headers={"Authorization": f"token {sim.installation_token('octo/demo')}"})


def _api_commit(client, sim, **extra) -> str:
    head = sim.ref("octo/demo", "main")
    tree = client.get(f"/repos/octo/demo/git/commits/{head}").json()["tree"]["sha"]
    answer = client.post(
        "/repos/octo/demo/git/commits", json={"message": "m", "tree": tree, "parents": [head], **extra}
    )
    return answer.json()["sha"]


def test_the_api_signs_its_commits_and_refuses_restricted_pushers_and_missing_checks(demo):
    with _api(demo) as client:
        demo.protect_branch("octo/demo", "main", required_signatures=True)
        signed = _api_commit(client, demo)
        assert client.patch("/repos/octo/demo/git/refs/heads/main", json={"sha": signed}).status_code == 200
        by_alice = _api_commit(client, demo, author={"name": "alice", "email": "a@example.com"})
        refused = client.patch("/repos/octo/demo/git/refs/heads/main", json={"sha": by_alice})
        assert refused.status_code == 422 and refused.json()["message"] == "Commits must have verified signatures."
        demo.protect_branch("octo/demo", "main", push_allowances=["mona"], required_checks=["ci"], ruleset=True)
        refused = client.patch("/repos/octo/demo/git/refs/heads/main", json={"sha": _api_commit(client, demo)})
        assert refused.status_code == 409
        assert refused.json()["message"] == (
            "Repository rule violations found\n\nCannot update this protected ref.\n\n"
            'Required status check "ci" is expected.\n\n'
        )
