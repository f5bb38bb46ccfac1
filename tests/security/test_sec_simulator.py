"""End to end through the GitHub simulator: a PR is fetched over git smart HTTP into a
workspace mirror, the security stage runs on it, and its SARIF is uploaded to the
simulator's code-scanning API and polled until processed."""

from __future__ import annotations

import json

from githubkit import GitHub

from bot.git.workspace import open_workspace
from bot.github import code_scanning
from bot.policies.schema import SecurityStageConfig
from bot.sarif import to_sarif
from bot.stages import security

BASE = "import pickle\n\n\ndef load(blob):\n    return pickle.loads(blob)\n"
TOKEN = "ghp_" + "Kd8" * 12


def test_pr_from_the_simulator_to_code_scanning(simulator, tmp_path) -> None:
    simulator.create_repo("octo/app", {"app.py": BASE, "README.md": "# app\n"})
    head_sha = simulator.commit(
        "octo/app",
        "feature",
        {
            "app.py": BASE + "\n\ndef run(cmd):\n    import subprocess\n"
            "    subprocess.run(cmd, shell=True)\n",
            "deploy.yaml": f"token: {TOKEN}\n",
        },
        author="alice",
    )
    number = simulator.open_pull_request("octo/app", "feature", title="Add runner", user="alice")
    token = simulator.installation_token("octo/app")

    ws = open_workspace(tmp_path / "data", "octo/app", f"{simulator.url}/octo/app.git", token=token)
    ws.fetch_pull_request(number, base_branch="main")
    ctx = ws.context_for("refs/heads/main", head_sha, options=SecurityStageConfig())
    result = security.run(ctx)

    reported = {(f.rule_id, f.path) for f in result.findings if not f.suppressed}
    assert ("shunter.subprocess-shell-injection", "app.py") in reported
    assert ("secret.github-token", "deploy.yaml") in reported
    assert not any(rid == "shunter.unsafe-deserialisation" for rid, _ in reported)  # old debt
    assert result.metrics["preexisting"] >= 1 and result.metrics["conclusion"] == "failure"

    sarif = to_sarif([result])
    assert TOKEN not in json.dumps(sarif) and TOKEN not in result.summary
    gh = GitHub(token, base_url=simulator.url, http_cache=False, auto_retry=False)
    status = code_scanning.upload_and_wait(
        gh, "octo", "app", head_sha, f"refs/pull/{number}/head", sarif, interval=0.05
    )
    assert status.processing_status == "complete" and not status.errors
