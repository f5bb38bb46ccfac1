"""The security stage end to end on real git repositories (pygit2 commits)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pygit2

from bot.changes.unified import apply_hunks, parse_file_diff
from bot.models import Severity
from bot.policies.schema import FailOn, FilterMode
from bot.stages import security

OLD_DEBT = """\
import pickle
import subprocess


def load(blob):
    return pickle.loads(blob)


def run(cmd):
    subprocess.call(cmd, shell=True)
"""

NEW_CODE = """\
import pickle
import subprocess

import yaml


def banner():
    return "moved down by new lines"


def load(blob):
    return pickle.loads(blob)


def run(cmd):
    subprocess.call(cmd, shell=True)


def config(stream):
    return yaml.load(stream)
"""


def _reported(result):
    return [f for f in result.findings if not f.suppressed]


def test_new_only_reports_only_what_the_pr_adds(pr) -> None:
    ctx = pr({"app.py": OLD_DEBT}, {"app.py": NEW_CODE})
    result = security.run(ctx)
    reported = {(f.rule_id, f.start_line) for f in _reported(result)}
    assert ("shunter.unsafe-yaml-load", 20) in reported
    # the old pickle/subprocess findings moved down but are not new
    assert not any(rid in {"shunter.unsafe-deserialisation", "shunter.subprocess-shell-injection"}
                   for rid, _ in reported)
    assert result.metrics["preexisting"] >= 2
    assert "pre-existing findings not shown" in result.summary
    assert result.metrics["conclusion"] == "failure"


def test_without_new_only_old_debt_in_changed_files_is_reported(pr) -> None:
    ctx = pr({"app.py": OLD_DEBT}, {"app.py": NEW_CODE}, new_only=False, filter=FilterMode.FILE)
    rules = {f.rule_id for f in _reported(security.run(ctx))}
    assert {"shunter.unsafe-deserialisation", "shunter.subprocess-shell-injection"} <= rules


def test_without_new_only_filter_added_keeps_changed_lines(pr) -> None:
    ctx = pr({"app.py": OLD_DEBT}, {"app.py": NEW_CODE}, new_only=False, filter=FilterMode.ADDED)
    result = security.run(ctx)
    lines = {f.start_line for f in _reported(result)}
    assert 20 in lines and 12 not in lines
    assert result.metrics["outside_diff"] >= 2


def test_a_second_copy_of_an_old_finding_is_new(pr) -> None:
    head = OLD_DEBT + "\n\ndef load2(blob):\n    return pickle.loads(blob)\n"
    result = security.run(pr({"app.py": OLD_DEBT}, {"app.py": head}))
    found = [f for f in _reported(result) if f.rule_id == "shunter.unsafe-deserialisation"]
    assert len(found) == 1 and result.metrics["preexisting"] >= 1


def test_renamed_file_keeps_its_debt_old(pr) -> None:
    result = security.run(pr({"old/app.py": OLD_DEBT}, {"new/app.py": OLD_DEBT + "\nX = 1\n"}))
    assert _reported(result) == []
    assert result.metrics["preexisting"] >= 2


def test_inline_suppressions_are_honoured_and_listed(pr) -> None:
    head = """\
import subprocess

import yaml


def a(cmd):
    subprocess.call(cmd, shell=True)  # nosec B602


def b(stream):
    return yaml.load(stream)  # shunter: ignore[shunter.unsafe-yaml-load] trusted CI config only


def c(stream):
    return yaml.load(stream)  # noqa: S506


def d(code):
    return eval(code)  # shunter: ignore[shunter.eval-exec-injection]
"""
    result = security.run(pr({"x.txt": "x"}, {"app.py": head}))
    suppressed = {f.start_line: f.suppressed for f in result.findings if f.suppressed}
    assert suppressed[7].startswith("# nosec B602")
    assert "trusted CI config only" in suppressed[11]
    assert "noqa: S506" in suppressed[15]
    reported = {(f.rule_id, f.start_line) for f in _reported(result)}
    assert ("shunter.eval-exec-injection", 19) in reported  # no reason, not honoured
    assert "Suppressed inline (3)" in result.summary
    assert "trusted CI config only" in result.summary
    assert any("without a reason at `app.py:19`" in n for n in result.notes)


def test_fail_on_min_confidence_and_ignore_lists(pr) -> None:
    head = {
        "app.py": "import tempfile\n\n\ndef f():\n    return tempfile.mktemp()\n",
        "vendor/lib.py": "def g(code):\n    return eval(code)\n",
        "sql.py": "def q(cur, x):\n    cur.execute(f'SELECT {x}')\n",
    }
    base = {"README": "x"}
    strict = security.run(pr(base, head))
    assert strict.metrics["conclusion"] == "failure"
    lenient = security.run(
        pr(base, head, fail_on=FailOn.ERROR, ignore_paths=["vendor/**"],
           ignore_rules=["shunter.sql-*", "B608"], min_confidence="high")
    )
    rules = {f.rule_id for f in _reported(lenient)}
    assert "shunter.eval-exec-injection" not in rules  # path ignored
    assert not any(r.startswith("shunter.sql") for r in rules)
    assert "shunter.insecure-mktemp" in rules  # warning, high confidence
    assert all(f.severity is not Severity.ERROR for f in _reported(lenient))
    assert lenient.metrics["conclusion"] == "success"
    never = security.run(pr(base, head, fail_on=FailOn.NEVER))
    assert never.metrics["conclusion"] == "success" and _reported(never)


def test_bandit_findings_carry_severity_confidence_and_cwe(pr) -> None:
    head = {"app.py": "import requests\n\n\ndef f(u):\n    return requests.get(u)\n"}
    result = security.run(pr({"README": "x"}, head))
    b113 = next(f for f in result.findings if f.rule_id == "B113")
    assert b113.engine == "bandit" and b113.confidence == "low" and b113.cwe == 400
    assert b113.severity is Severity.WARNING


def test_mechanical_fixes_become_patches_that_apply(pr, git_repo) -> None:
    head = """\
import os
import tempfile

import requests
import yaml


def f(stream, url):
    data = yaml.load(stream, Loader=yaml.FullLoader)
    path = tempfile.mktemp(suffix=".json")
    requests.post(url, json=data, verify=False, timeout=5)
    return path
"""
    ctx = pr({"README": "x"}, {"app.py": head, "os_user.py": "import os\n"})
    result = security.run(ctx)
    assert len(result.patches) == 1
    patch = result.patches[0]
    file_diff = patch.files[0]
    repo = git_repo.repo
    assert file_diff.pre_image_blob == str(repo.revparse_single(f"{ctx.head_sha}:app.py").id)
    repo.apply(pygit2.Diff.parse_diff(file_diff.diff), pygit2.enums.ApplyLocation.WORKDIR)
    fixed = (Path(repo.workdir) / "app.py").read_text()
    pre_image = repo[file_diff.pre_image_blob].data
    assert apply_hunks(pre_image, parse_file_diff(file_diff.diff)).decode() == fixed
    ast.parse(fixed)
    assert "yaml.safe_load(stream)" in fixed
    assert "_fd, path = tempfile.mkstemp(suffix=\".json\")" in fixed and "os.close(_fd)" in fixed
    assert "verify=False" not in fixed and "timeout=5" in fixed
    suggested = {f.rule_id: f.suggestion for f in result.findings if f.suggestion}
    assert suggested["shunter.unsafe-yaml-load"].strip() == "data = yaml.safe_load(stream)"
    assert set(patch.finding_fingerprints) == {
        f.fingerprint for f in result.findings if f.suggestion
    }


def test_secrets_get_no_patch_and_say_rotation_is_human(pr) -> None:
    token = "ghp_" + "Zq8" * 12
    result = security.run(pr({"README": "x"}, {"settings.yaml": f"github_token: {token}\n"}))
    secret = next(f for f in result.findings if f.rule_id == "secret.github-token")
    assert secret.suggestion is None and result.patches == []
    assert "rotation is a human job" in result.summary
    assert token not in json.dumps(result.model_dump())


def test_summary_groups_by_severity_and_cwe(pr) -> None:
    head = {
        "app.py": "import pickle, tempfile\n\n\ndef f(b):\n    tempfile.mktemp()\n"
        "    return pickle.loads(b)\n"
    }
    summary = security.run(pr({"README": "x"}, head)).summary
    assert summary.index("### Error") < summary.index("### Warning")
    assert "**CWE-502 Deserialisation of untrusted data**" in summary
    assert "**CWE-377 Insecure temporary file**" in summary


def test_dedupe_keeps_shunter_rule_over_bandit_alias(pr) -> None:
    head = {"app.py": "import yaml\n\n\ndef f(s):\n    return yaml.load(s)\n"}
    result = security.run(pr({"README": "x"}, head))
    on_line = [f.rule_id for f in result.findings if f.start_line == 5]
    assert on_line == ["shunter.unsafe-yaml-load"]  # bandit's B506 folded into it


def test_fail_on_confidence_reports_but_does_not_fail_on_guesses(pr) -> None:
    head = {"calc.py": "def f(expr):\n    return eval(expr)\n"}  # medium-confidence error
    result = security.run(pr({"README": "x"}, head, fail_on_confidence="high"))
    assert [f.rule_id for f in _reported(result)] == ["shunter.eval-exec-injection"]
    assert result.metrics["conclusion"] == "success" and result.metrics["failing"] == 0
    assert security.run(pr({"README": "x"}, head)).metrics["conclusion"] == "failure"


def test_a_symlink_is_not_text_to_scan(make_ctx, symlink) -> None:
    """A link's blob is its target's path: the stage neither scans it nor notes it as
    missing, and a file that replaced a link is scanned as a new file."""
    yaml_load = b"import yaml\n\n\ndef config(stream):\n    return yaml.load(stream)\n"
    base = {"app.py": symlink(b"real.py"), "real.py": b"x = 1\n"}
    head = {"app.py": yaml_load, "real.py": b"x = 1\n", "link.py": symlink(b"real.py")}
    result = security.run(make_ctx(base, head))
    assert not any("link.py" in note for note in result.notes), result.notes
    assert result.metrics["files_skipped"] == 0
    assert [(f.rule_id, f.path) for f in _reported(result)] == [("shunter.unsafe-yaml-load", "app.py")]


def test_paths_and_ignore_paths_follow_the_documented_globs(pr) -> None:
    """``**/`` spans zero or more directories and ``*`` stays inside one, as in GitHub
    Actions' ``paths`` and the review stage: ``src/**/*.py`` covers ``src/a.py`` (it was
    not scanned at all, and the check passed with an ``eval`` in it), and ``*.py`` in
    ``ignore_paths`` ignores only files at the root."""
    base = {"README.md": "x\n"}
    head = {"src/a.py": "def f(x):\n    return eval(x)\n", "tools/b.py": "def g(y):\n    return eval(y)\n"}
    scanned = security.run(pr(base, head, paths={"include": ["src/**/*.py"]}))
    assert {f.path for f in _reported(scanned)} == {"src/a.py"}
    assert scanned.metrics["conclusion"] == "failure"
    rooted = security.run(pr(base, head, ignore_paths=["*.py"]))
    assert {f.path for f in _reported(rooted)} == {"src/a.py", "tools/b.py"}  # nothing at the root
    below = security.run(pr(base, head, ignore_paths=["tools/"]))
    assert {f.path for f in _reported(below)} == {"src/a.py"}
