"""`shunter run --queue`: the same results through Shunter's job queue and a worker."""

from __future__ import annotations

import json
from pathlib import Path

import pygit2
from click.testing import CliRunner

from bot.cli import main


def commit(repo, files, parents, message):
    index = repo.index
    for path, text in files.items():
        target = Path(repo.workdir, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        index.add(path)
    index.write()
    tree = index.write_tree()
    sig = pygit2.Signature("t", "t@example.com")
    return repo.create_commit("HEAD", sig, sig, message, tree, parents)


def queued_repo(tmp_path, redis_url, monkeypatch, head_text):
    """A repository whose branch `base` has app.py and whose HEAD changes it to ``head_text``,
    with Shunter's queue on the test's Redis."""
    monkeypatch.setenv("SHUNTER_REDIS_URL", redis_url)
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
    repo = pygit2.init_repository(str(tmp_path / "repo"))
    base = commit(repo, {"app.py": "def f():\n    return 1\n"}, [], "base")
    repo.create_branch("base", repo[base])
    commit(repo, {"app.py": head_text}, [base], "head")


def test_queue_and_in_process_agree(tmp_path, redis_url, monkeypatch):
    queued_repo(tmp_path, redis_url, monkeypatch, "import os\n\n\ndef f():\n    breakpoint()\n    return 1\n")
    args = ["run", "--repo", str(tmp_path / "repo"), "--base", "base", "--stages", "review,security", "--format", "json"]
    direct = CliRunner().invoke(main, args)
    queued = CliRunner().invoke(main, [*args, "--queue"])
    assert direct.exit_code == queued.exit_code == 1, (direct.output, queued.output)

    def findings(output):
        data = json.loads(output)
        return sorted((f["rule_id"], f["path"], f["start_line"]) for s in data["results"] for f in s["findings"])

    assert findings(direct.output) == findings(queued.output)
    assert findings(direct.output)


def test_a_failed_stage_job_exits_3_and_keeps_the_other_stages(tmp_path, redis_url, monkeypatch):
    """A stage job that fails is a stage that could not complete (exit 3), not bad usage
    (2), and the stages whose jobs worked are still reported."""
    import bot.local_run

    queued_repo(tmp_path, redis_url, monkeypatch, "import os\n\n\ndef f():\n    return 1\n")
    real_job = bot.local_run.local_stage_job

    def job(payload):  # the in-process worker imports the job by name: this one breaks
        if payload["stage"] == "security":
            raise RuntimeError("worker ran out of disk")
        return real_job(payload)

    monkeypatch.setattr(bot.local_run, "local_stage_job", job)
    args = ["run", "--repo", str(tmp_path / "repo"), "--base", "base", "--stages", "review,security", "--queue"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 3, result.output
    assert "shunter/review: success — " in result.output
    assert "shunter/security: neutral, could not complete" in result.output
    assert "RuntimeError: worker ran out of disk" in result.output


def test_queue_with_redis_down_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("SHUNTER_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
    repo = pygit2.init_repository(str(tmp_path / "repo"))
    base = commit(repo, {"app.py": "x = 1\n"}, [], "base")
    repo.create_branch("base", repo[base])
    args = ["run", "--repo", str(tmp_path / "repo"), "--base", "base", "--stages", "review", "--queue"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "shunter: Redis at redis://127.0.0.1:1/0 does not answer" in result.output


def test_a_queued_tests_stage_refuses_in_shunter_runs_terms(tmp_path, redis_url, monkeypatch):
    """The stage job rebuilds its context from JSON: it must still know it serves shunter
    run, or its refusal speaks of forks and write permission."""
    queued_repo(tmp_path, redis_url, monkeypatch, "def f():\n    return 2\n")
    args = ["run", "--repo", str(tmp_path / "repo"), "--base", "base", "--stages", "tests", "--queue"]
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    [stage] = json.loads(result.output)["results"]
    assert stage["notes"][0].startswith("not run: shunter run runs none of the head's code without --trusted")
    assert "fork" not in result.output
