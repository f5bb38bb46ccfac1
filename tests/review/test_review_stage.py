from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pygit2

from bot.models import Severity, StageName, fingerprint
from bot.policies.schema import FilterMode, ReviewStageConfig
from bot.stages import registry
from bot.stages.review import run

TESTS = {"tests/test_core.py": b"def test_ok():\n    assert True\n"}
BASE = {"pkg/core.py": b"import os\n\n\ndef f():\n    return 1\n", **TESTS}
HEAD = {
    "pkg/core.py": b"import os\nimport sys\n\n\ndef f():\n    return 1\n",
    "tests/test_core.py": b"def test_ok():\n    assert True\n\n\ndef test_more():\n    assert 1\n",
}


def _rules(result):
    return [(f.rule_id, f.path, f.start_line) for f in result.findings]


def test_ruff_reports_only_on_added_lines(make_ctx) -> None:
    result = run(make_ctx(BASE, HEAD))
    assert result.stage is StageName.REVIEW and not result.neutral
    assert ("F401", "pkg/core.py", 2) in _rules(result)
    assert ("F401", "pkg/core.py", 1) not in _rules(result)  # `os` was unused before the PR
    sys_finding = next(f for f in result.findings if f.rule_id == "F401")
    assert sys_finding.engine == "ruff" and sys_finding.severity is Severity.WARNING
    assert sys_finding.fingerprint == fingerprint("F401", "pkg/core.py", "import sys")
    assert sys_finding.suggestion == "" and sys_finding.end_line == 2  # delete the line
    assert sys_finding.help_uri and "unused-import" in sys_finding.help_uri
    assert result.metrics["filtered_out"] >= 1

    everything = run(make_ctx(BASE, HEAD, ReviewStageConfig(filter=FilterMode.NOFILTER)))
    assert ("F401", "pkg/core.py", 1) in _rules(everything)


def test_repo_ruff_config_is_honoured(make_ctx) -> None:
    config = b'[tool.ruff.lint]\nselect = ["E711"]\n'
    head = {**HEAD, "pkg/core.py": HEAD["pkg/core.py"] + b"\n\ndef g(x):\n    return x == None\n"}
    result = run(make_ctx({**BASE, "pyproject.toml": config}, {**head, "pyproject.toml": config}))
    ruff_rules = {f.rule_id for f in result.findings if f.engine == "ruff"}
    assert ruff_rules == {"E711"}

    nested = b'extend = "../pyproject.toml"\n[lint]\nignore = ["E711"]\n'
    quiet = run(
        make_ctx(
            {**BASE, "pyproject.toml": config},
            {**head, "pyproject.toml": config, "pkg/ruff.toml": nested},
        )
    )
    assert {f.rule_id for f in quiet.findings if f.engine == "ruff"} == set()


def test_broken_repo_ruff_config_is_not_replaced_by_ruffs_defaults(make_ctx) -> None:
    bad = b"[tool.ruff.lint]\nselect = [\n"
    result = run(make_ctx({**BASE, "pyproject.toml": bad}, {**HEAD, "pyproject.toml": bad}))
    assert not [f for f in result.findings if f.engine == "ruff"] and result.neutral
    assert result.notes[0].startswith("ruff could not lint the code") and "`pyproject.toml` line 2" in result.notes[0]


def test_excluded_paths_in_repo_config_are_respected(make_ctx) -> None:
    config = b'[tool.ruff]\nextend-exclude = ["pkg/core.py"]\n'
    result = run(make_ctx({**BASE, "pyproject.toml": config}, {**HEAD, "pyproject.toml": config}))
    assert not [f for f in result.findings if f.engine == "ruff"]


def _apply_with_git(diff: str, files: dict[str, bytes], where: Path) -> dict[str, bytes]:
    for path, data in files.items():
        (where / path).parent.mkdir(parents=True, exist_ok=True)
        (where / path).write_bytes(data)
    subprocess.run(["git", "init", "-q", str(where)], check=True)
    subprocess.run(["git", "apply", "--check", "-"], input=diff.encode(), cwd=where, check=True)
    subprocess.run(["git", "apply", "-"], input=diff.encode(), cwd=where, check=True)
    return {path: (where / path).read_bytes() for path in files}


def test_autofix_patch_applies_with_git_and_pygit2(make_ctx, tmp_path: Path) -> None:
    head = {**HEAD, "pkg/extra.py": b"import json\nimport re\n\nVALUE = re.escape('x')\n"}
    ctx = make_ctx(BASE, head)
    result = run(ctx)
    assert len(result.patches) == 1
    patch = result.patches[0]
    assert patch.stage is StageName.REVIEW and patch.title.startswith("Apply 2 safe ruff fixes")
    by_path = {d.path: d for d in patch.files}
    assert set(by_path) == {"pkg/core.py", "pkg/extra.py"}
    assert by_path["pkg/core.py"].pre_image_blob == ctx.changed("pkg/core.py").head_blob
    fixed_fps = {f.fingerprint for f in result.findings if f.rule_id == "F401"}
    assert set(patch.finding_fingerprints) == fixed_fps

    diff = "".join(d.diff for d in patch.files)
    after = _apply_with_git(diff, dict(head), tmp_path / "cli")
    assert after["pkg/core.py"] == b"import os\n\n\ndef f():\n    return 1\n"
    assert after["pkg/extra.py"] == b"import re\n\nVALUE = re.escape('x')\n"

    repo = pygit2.init_repository(str(tmp_path / "lib"))
    for path, data in head.items():
        (tmp_path / "lib" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "lib" / path).write_bytes(data)
    repo.index.add_all()
    repo.index.write()
    sig = pygit2.Signature("t", "t@example.com")
    repo.create_commit("HEAD", sig, sig, "head", repo.index.write_tree(), [])
    parsed = pygit2.Diff.parse_diff(diff)
    assert repo.applies(parsed)
    repo.apply(parsed)
    assert (tmp_path / "lib/pkg/core.py").read_bytes() == after["pkg/core.py"]
    # the pre-image blob id is exactly what git has for the head file
    assert str(repo.index["pkg/core.py"].id) == by_path["pkg/core.py"].pre_image_blob


def test_heuristics_run_inside_the_stage_and_respect_the_filter(make_ctx) -> None:
    head = {
        **BASE,
        "pkg/core.py": b"import os\n\n\ndef f():\n    breakpoint()\n    return 1  # TODO: 2\n",
    }
    result = run(make_ctx(BASE, head))
    rules = _rules(result)
    assert ("debugger", "pkg/core.py", 5) in rules
    assert ("todo-added", "pkg/core.py", 6) in rules
    assert ("untested-change", "", 0) in rules  # a remark on the PR: no file, no line
    assert result.metrics["findings_by_severity"]["error"] >= 1
    assert "Code review" in result.summary and "`debugger`" in result.summary

    off = run(make_ctx(BASE, head, ReviewStageConfig(heuristics=False, ruff=False)))
    assert off.findings == [] and "| Severity |" not in off.summary  # the check's title says "No findings"


def test_stage_paths_and_dict_options(make_ctx) -> None:
    head = {**HEAD, "gen/auto.py": b"import sys\n"}
    opts = {"paths": {"exclude": ["gen/**"]}}
    result = run(make_ctx(BASE, head, opts))
    assert not [f for f in result.findings if f.path.startswith("gen/")]
    assert result.metrics["files"] == 2


def test_binary_deleted_and_non_utf8_files_are_skipped(make_ctx) -> None:
    head = {**HEAD, "img.png": b"\x89PNG\x00\x00binary", "latin.py": "x = 'é'\n".encode("latin-1")}
    base = {**BASE, "old.py": b"import os\n"}
    result = run(make_ctx(base, head))
    assert any("latin.py" in note and "UTF-8" in note for note in result.notes)
    assert not [f for f in result.findings if f.path in {"img.png", "old.py", "latin.py"}]


def test_a_python_file_git_calls_binary_is_skipped_silently(make_ctx) -> None:
    """ruff starts before the diff knows which files are binary: git's own NUL rule decides."""
    head = {**HEAD, "blob.py": b"import os\x00\xff\n"}
    result = run(make_ctx(BASE, head))
    assert not [n for n in result.notes if "blob.py" in n]
    assert not [f for f in result.findings if f.path == "blob.py"]
    assert ("F401", "pkg/core.py", 2) in _rules(result)


def test_cancelled_between_steps(make_ctx) -> None:
    calls = iter([False, True])
    ctx = make_ctx(BASE, HEAD, cancelled=lambda: next(calls, True))
    result = run(ctx)
    assert result.neutral and result.metrics["cancelled"] is True
    assert result.findings == []


def test_ruff_missing_is_a_note_not_a_crash(make_ctx, monkeypatch) -> None:
    import bot.engines.ruff_check as ruff_check

    monkeypatch.setattr(ruff_check, "ruff_binary", lambda: "/nonexistent/ruff")
    monkeypatch.setattr(ruff_check.shutil, "which", shutil.which)
    result = run(make_ctx(BASE, HEAD))
    assert result.notes[0].startswith("ruff could not lint the code: ruff could not start")
    assert not [f for f in result.findings if f.engine == "ruff"] and result.neutral


def test_registry_runs_review_and_contains_failures(make_ctx, monkeypatch) -> None:
    ctx = make_ctx(BASE, HEAD)
    assert registry.run_stage("review", ctx).findings
    assert set(registry.STAGES) == set(StageName)
    monkeypatch.setitem(registry.STAGES, StageName.SECURITY, "bot.no_such_module:run")
    missing = registry.run_stage(StageName.SECURITY, ctx)
    assert missing.neutral and "not available" in missing.notes[0]
    monkeypatch.setitem(registry.STAGES, StageName.TESTS, "json:loads")  # raises TypeError
    crashed = registry.run_stage(StageName.TESTS, ctx)
    assert crashed.neutral and "internal error (TypeError)" in crashed.notes[0]
    assert crashed.stage is StageName.TESTS and crashed.head_sha == ctx.head_sha


def test_patch_is_accepted_by_the_merge_queue_parser(make_ctx) -> None:
    from bot.changes.unified import apply_hunks, parse_file_diff

    ctx = make_ctx(BASE, HEAD)
    (file_diff,) = run(ctx).patches[0].files
    patched = apply_hunks(ctx.head.read("pkg/core.py"), parse_file_diff(file_diff.diff))
    assert patched == b"import os\n\n\ndef f():\n    return 1\n"


def test_first_party_imports_are_classified_as_in_the_full_tree(make_ctx) -> None:
    # ruff (isort) calls `from app.models import X` first-party only when app/models.py
    # exists under the project root: the scratch copy needs the unchanged modules too
    config = b'[tool.ruff.lint]\nselect = ["I"]\n'
    base = {
        "pyproject.toml": config,
        "app/__init__.py": b"",
        "app/models.py": b"X = 1\n",
        "app/views.py": b"import os\n\nprint(os)\n",
        **TESTS,
    }
    head = {
        **base,
        "app/views.py": b"import os\n\nimport requests\n\nfrom app.models import X\n\n"
        b"print(os, requests, X)\n",
    }
    result = run(make_ctx(base, head))
    assert not [f for f in result.findings if f.rule_id == "I001"]


def test_a_changed_module_of_a_package_is_not_called_a_namespace_package(make_ctx) -> None:
    # ruff's INP001 looks for the __init__.py files above a module, which the PR did not
    # change: the scratch copy needs them too
    config = b'[tool.ruff.lint]\nselect = ["INP"]\n'
    base = {"pyproject.toml": config, "app/__init__.py": b"", "app/sub/__init__.py": b"", **TESTS}
    head = {
        **base,
        "app/sub/views.py": b"X = 1\n",
        "loose/mod.py": b"print(1)\n",
    }
    result = run(make_ctx(base, head, ReviewStageConfig(filter=FilterMode.NOFILTER)))
    rules = _rules(result)
    assert ("INP001", "loose/mod.py", 1) in rules  # a real namespace package is still reported
    assert not [r for r in rules if r[0] == "INP001" and r[1] == "app/sub/views.py"]


def test_a_fix_that_also_edits_far_away_is_no_suggestion_and_stays_where_ruff_put_it(make_ctx) -> None:
    # PYI019's fix adds `from typing import Self` on line 1 and rewrites line 18
    config = b'[tool.ruff]\ntarget-version = "py311"\n[tool.ruff.lint]\nselect = ["PYI019", "UP"]\n'
    body = (
        'from typing import TypeVar\n\n_S = TypeVar("_S", bound="A")\n\n\nclass A:\n'
        + "".join(f"    x{i} = {i}\n" for i in range(10))
        + "\n    def m(self: _S) -> _S:\n        return self\n"
    )
    near = "\n\nclass B(object):\n    pass\n"  # UP004: a fix on the finding's own line
    base = {"pyproject.toml": config, **TESTS}
    result = run(make_ctx(base, {**base, "pkg/a.py": (body + near).encode()}))
    far = next(f for f in result.findings if f.rule_id == "PYI019")
    assert (far.start_line, far.end_line, far.suggestion) == (18, 18, None)
    local = next(f for f in result.findings if f.rule_id == "UP004")
    assert local.start_line == 22 and local.suggestion == "class B:"
    diff = result.patches[0].files[0].diff  # the patch still has the whole fix
    assert "+    def m(self) -> Self:" in diff and "Self" in diff.split("\n+from typing import ")[1]


def test_scripts_keep_their_mode_in_the_copy_ruff_reads(make_ctx, executable) -> None:
    config = b'[tool.ruff.lint]\nselect = ["EXE"]\n'
    base = {"pyproject.toml": config, **TESTS}
    head = {
        **base,
        "bin/tool.py": executable(b"#!/usr/bin/env python3\nprint(1)\n"),  # fine
        "bin/plain.py": b"#!/usr/bin/env python3\nprint(2)\n",  # EXE001: not executable
        "bin/bare.py": executable(b"print(3)\n"),  # EXE002: executable, no shebang
    }
    result = run(make_ctx(base, head))
    assert sorted(r for r in _rules(result) if r[0].startswith("EXE")) == [
        ("EXE001", "bin/plain.py", 1),
        ("EXE002", "bin/bare.py", 1),
    ]


def test_config_extending_another_file_is_followed(make_ctx) -> None:
    shared = b'[lint]\nselect = ["E711"]\n'
    config = b'[tool.ruff]\nextend = "configs/ruff-base.toml"\n'
    head_core = HEAD["pkg/core.py"] + b"\n\ndef g(x):\n    return x == None\n"
    files = {**BASE, "pyproject.toml": config, "configs/ruff-base.toml": shared}
    result = run(make_ctx(files, {**files, **HEAD, "pkg/core.py": head_core}))
    assert {f.rule_id for f in result.findings if f.engine == "ruff"} == {"E711"}
    assert not [n for n in result.notes if "could not be used" in n]


def test_ruff_rules_repeating_a_heuristic_are_dropped(make_ctx) -> None:
    config = b'[tool.ruff.lint]\nselect = ["T10", "F401"]\n'
    head = {
        **HEAD,
        "pyproject.toml": config,
        "pkg/core.py": b"import os\nimport sys\n\n\ndef f():\n    breakpoint()\n    return 1\n",
    }
    result = run(make_ctx({**BASE, "pyproject.toml": config}, head))
    on_line_6 = [f.rule_id for f in result.findings if f.start_line == 6]
    assert on_line_6 == ["debugger"]  # not also ruff's T100
    assert ("F401", "pkg/core.py", 2) in _rules(result)


def test_config_extending_outside_the_repo_is_not_used(make_ctx, tmp_path) -> None:
    secret = tmp_path / "secret.toml"
    secret.write_text("password = hunter2-not-toml [\n")
    for target in (str(secret), "../../../../../../" + str(secret).lstrip("/"), "~/x.toml", "$HOME/x.toml"):
        config = f'[tool.ruff]\nextend = "{target}"\n'.encode()
        result = run(make_ctx({**BASE, "pyproject.toml": config}, {**HEAD, "pyproject.toml": config}))
        assert not [f for f in result.findings if f.engine == "ruff"] and result.neutral  # ruff did not run
        assert any("outside the repository" in note for note in result.notes), target
        assert "hunter2" not in result.summary and not any("hunter2" in n for n in result.notes)


def test_config_python_cannot_check_is_not_handed_to_ruff(make_ctx, tmp_path) -> None:
    secret = tmp_path / "secret.toml"
    secret.write_text("password = hunter2-not-toml [\n")
    # a TOML 1.1 inline table over several lines: tomllib (TOML 1.0) refuses it, a newer
    # parser may accept it and follow the extend
    config = f'[tool.ruff]\nlint = {{\n  select = ["F"],\n}}\nextend = "{secret}"\n'.encode()
    for raw in (config, config.replace(b"lint", "l\u00efnt".encode("latin-1"))):
        result = run(make_ctx({**BASE, "pyproject.toml": raw}, {**HEAD, "pyproject.toml": raw}))
        assert not [f for f in result.findings if f.engine == "ruff"] and result.neutral  # ruff did not run
        assert any("could not check where it points" in note for note in result.notes)
        assert "hunter2" not in result.summary and not any("hunter2" in n for n in result.notes)


def test_non_python_files_are_judged_from_their_patch(make_ctx) -> None:
    readme = b"".join(f"line {i}\n".encode() for i in range(40))
    head = {**HEAD, "README.md": readme.replace(b"line 30\n", b"line 30\nTODO: document the API\n")}
    result = run(make_ctx({**BASE, "README.md": readme}, head))
    assert ("todo-added", "README.md", 32) in _rules(result)


def test_a_patch_share_made_from_other_fixes_is_made_again() -> None:
    """``finish_ruff`` makes files' patch shares while ruff still writes; ``build_patch``
    trusts one only if it was made from the very fixes finally reported."""
    from bot.engines.ruff_check import Edit, Fix
    from bot.models import Finding
    from bot.stages.context import ChangedFile
    from bot.stages.review import _file_patch, build_patch

    text = "import os\nimport sys\nx = 1\n"
    drop_os = Fix("safe", None, (Edit(1, 1, 2, 1, ""),))
    drop_sys = Fix("safe", None, (Edit(2, 1, 3, 1, ""),))

    def finding(line: int) -> Finding:
        return Finding(
            stage=StageName.REVIEW, rule_id="F401", severity=Severity.WARNING, message="unused",
            path="a.py", start_line=line, end_line=line, engine="ruff", fingerprint=f"fp{line}",
        )

    first, second = finding(1), finding(2)
    files = [ChangedFile("a.py", "modified", added_lines=frozenset({1, 2}), head_blob="a" * 40)]
    texts = {"a.py": text}
    stale = {"a.py": _file_patch("a.py", [(first, drop_os)], texts, "a" * 40, None)}
    patch = build_patch([first, second], {first: drop_os, second: drop_sys}, texts, files, None, stale)
    assert patch is not None and patch.finding_fingerprints == ["fp1", "fp2"]
    assert "-import sys\n" in patch.files[0].diff
    same = {"a.py": _file_patch("a.py", [(first, drop_os), (second, drop_sys)], texts, "a" * 40, None)}
    again = build_patch([first, second], {first: drop_os, second: drop_sys}, texts, files, None, same)
    assert again is not None and again.files[0] is same["a.py"].diff  # reused, not made again


def test_a_file_that_was_a_symlink_in_the_base_is_reviewed_as_added(make_ctx, remote, symlink) -> None:
    """Every line of a file that replaced a symlink is new: ruff's findings on all of them
    are reported, and the fix is one the merge queue accepts (its pre-image is the file's
    head blob, not "a new file"). The rename beside it made libgit2 list the two halves of
    the typechange in the order that gave the file's path to the link's deletion."""
    from bot.changes.model import ChangeRequest
    from bot.changes.validation import validate_change
    from bot.git.apply import Pygit2BaseTree
    from bot.policies.schema import Patches

    moved = b"".join(f"x{i} = {i}\n".encode() for i in range(40))
    base = {**BASE, "pkg/core.py": symlink(b"real.py"), "pkg/real.py": b"x = 1\n", "old/m.py": moved}
    head = {**HEAD, "pkg/real.py": b"x = 1\n", "new/m.py": moved + b"y = 1\n"}
    ctx = make_ctx(base, head)
    result = run(ctx)
    assert {("F401", "pkg/core.py", 1), ("F401", "pkg/core.py", 2)} <= set(_rules(result))
    assert result.metrics["files"] == 3  # pkg/core.py once, new/m.py, tests/test_core.py
    (draft,) = result.patches
    (fix,) = draft.files
    assert fix.pre_image_blob == str(pygit2.hash(HEAD["pkg/core.py"]))
    cr = ChangeRequest.from_draft(
        draft, repo="octo/app", branch="feature", head_sha=ctx.head_sha, requester="alice"
    )
    validate_change(cr, Pygit2BaseTree(remote.repo, ctx.head_sha), Patches(), {"contents": "write"})


def test_a_file_whose_fixes_touch_a_secret_gets_no_patch_and_is_not_counted(make_ctx) -> None:
    """ruff's F541 fix rewrites `password = f"..."`: committing it would commit the secret
    again, so the file's share leaves the patch (and the count of fixes offered), with a
    note; a clean file's fix stays."""
    from bot.publishing.fixes import offered_fixes

    password = "Zq8#tLm2$wXv9!rKp4"
    head = {
        **HEAD,
        "pkg/keys.py": f'import json\n\npassword = f"{password}"\n'.encode(),
    }
    result = run(make_ctx(BASE, head))
    fixed = result.patches[0].finding_fingerprints
    fixable = {(f.rule_id, f.path) for f in result.findings if f.fingerprint in fixed}
    assert fixable == {("F401", "pkg/core.py")}
    assert [d.path for d in result.patches[0].files] == ["pkg/core.py"]
    assert offered_fixes(result) == 1 and result.metrics["fixable"] == 1
    fix_rows = [line for line in result.summary.splitlines() if "_(fix available)_" in line]
    assert len(fix_rows) == 1 and "`F401` | `pkg/core.py:" in fix_rows[0], result.summary
    assert any(n.startswith("No fix patch for `pkg/keys.py`: the lines ruff's fixes change") for n in result.notes)
    assert password not in result.patches[0].model_dump_json()


def test_the_review_check_run_lists_each_finding_once(make_ctx) -> None:
    """Its summary's table, then a table of the same findings in the check run's text: every
    finding was listed twice. The summary's table now carries the ids `/shunter dismiss`
    takes, and the second table is left out; a finding dismissed on the PR leaves the first
    (written again without it), so there is still one table, without it."""
    from bot.publishing.check_runs import check_run_output

    head = {**HEAD, "pkg/core.py": HEAD["pkg/core.py"].replace(b"import sys\n", b"import sys\nimport json\n")}
    result = run(make_ctx(BASE, head))
    unused = [f for f in result.findings if f.rule_id == "F401"]
    assert len(unused) == 2
    plan = check_run_output(result, ReviewStageConfig())
    assert plan.text is None
    assert plan.summary.count("`F401`") == 2
    assert all(f"| `{f.short_id}` |" in plan.summary for f in unused)
    dismissed = check_run_output(result, ReviewStageConfig(), dismissed={unused[0].fingerprint})
    assert dismissed.text is None
    assert dismissed.summary.count("`F401`") == 1
    assert f"| `{unused[0].short_id}` |" not in dismissed.summary  # not a row; named only to undo it
    assert f"`/shunter undismiss {unused[0].short_id}`" in dismissed.summary


def test_the_stage_times_its_steps_with_the_fix_patch_apart(make_ctx) -> None:
    """The fix patch's secret check (detect-secrets over each file's share) is most of the
    stage's own CPU on a PR with fixes: its step is timed on its own, not inside 'report'."""
    result = run(make_ctx(BASE, HEAD))
    assert result.metrics["fixable"] == 1
    steps = [name for name in result.metrics if name.endswith("_seconds") and name != "duration_seconds"]
    assert steps == [
        "read_python_seconds",
        "ruff_start_seconds",
        "line_maps_seconds",
        "heuristics_seconds",
        "ruff_finish_seconds",
        "filter_seconds",
        "fix_patch_seconds",
    ]
    assert all(isinstance(result.metrics[name], float) and result.metrics[name] >= 0 for name in steps)
