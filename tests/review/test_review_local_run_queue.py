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


def test_queue_and_in_process_agree(tmp_path, redis_url, monkeypatch):
    monkeypatch.setenv("SHUNTER_REDIS_URL", redis_url)
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
    repo = pygit2.init_repository(str(tmp_path / "repo"))
    base = commit(repo, {"app.py": "def f():\n    return 1\n"}, [], "base")
    repo.create_branch("base", repo[base])
    commit(repo, {"app.py": "import os\n\n\ndef f():\n    breakpoint()\n    return 1\n"}, [base], "head")
    args = ["run", "--repo", str(tmp_path / "repo"), "--base", "base", "--stages", "review,security", "--format", "json"]
    direct = CliRunner().invoke(main, args)
    queued = CliRunner().invoke(main, [*args, "--queue"])
    assert direct.exit_code == queued.exit_code == 1, (direct.output, queued.output)

    def findings(output):
        data = json.loads(output)
        return sorted((f["rule_id"], f["path"], f["start_line"]) for s in data["results"] for f in s["findings"])

    assert findings(direct.output) == findings(queued.output)
    assert findings(direct.output)
