"""Unusual pull-request shapes the tests stage reads from a real git repository."""

from __future__ import annotations

import re

import pytest

from bot.policies.schema import TestsStageConfig as StageOptions
from bot.sandbox.bubblewrap import find_bwrap, probe
from bot.stages import tests as tests_stage
from bot.stages.tests import find_targets

CLAMP = b"def clamp(x: int) -> int:\n    return max(0, x)\n"


def test_an_added_empty_module_is_no_target_and_no_crash(make_ctx) -> None:
    """A PR adding an empty ``pkg/__init__.py`` beside a new function: the empty module has
    no statements, and the function beside it is still a target."""
    ctx = make_ctx({"README.md": b"x\n"}, {"README.md": b"x\n", "pkg/__init__.py": b"", "pkg/m.py": CLAMP})
    opts = StageOptions()
    targets, notes = find_targets(ctx, opts)
    assert [(t.fn.path, t.fn.qualname, sorted(t.statements)) for t in targets] == [
        ("pkg/m.py", "clamp", [1, 2])
    ]
    assert notes == []


SCRIPT = b"def bump(x: int) -> int:\n    if x > 3:\n        return x\n    return x + 1\n"
UNIMPORTABLE = ("scripts/build-docs.py", "my dir/tool.py", "back`tick|pipe.py")


@pytest.mark.skipif(
    find_bwrap() is None or probe(find_bwrap() or "", None) is not None,
    reason="bubblewrap is not usable on this machine",
)
def test_files_no_test_can_import_are_named_so_in_one_table_row_each(make_ctx, tmp_path, monkeypatch) -> None:
    """``scripts/build-docs.py`` runs as a script but no test imports it: ghostwriting it
    only quoted a multi-line ParseError (``import scripts.build-docs``) into the summary
    table, which broke the table, as did a ``|`` in the function's name."""
    monkeypatch.setenv("SHUNTER_SANDBOX_CACHE", str(tmp_path / "venvs"))
    ctx = make_ctx({"README.md": b"x\n"}, {"README.md": b"x\n", **dict.fromkeys(UNIMPORTABLE, SCRIPT)})
    ctx.options = StageOptions(timeout_seconds=60, time_budget_seconds=120)
    ctx.trusted_author = True
    result = tests_stage.run(ctx)
    table = [line for line in result.summary.splitlines() if line.startswith("|")]
    assert len(table) == 2 + len(UNIMPORTABLE), (result.summary, result.notes)
    for line in table:
        assert len(re.findall(r"(?<!\\)\|", line)) == 6, line
    for line in table[2:]:
        assert "no test proposed: a test cannot import" in line and "not a module name" in line, line
    assert "ParseError" not in result.summary


POINTER = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n"
)


def test_a_git_lfs_pointer_is_skipped_with_a_note_by_every_stage(make_ctx) -> None:
    """A ``*.py`` kept in Git LFS arrives as its pointer text: the review stage read it as
    Python (five invalid-syntax findings), security and tests said they could not parse it."""
    from bot.stages import review, security

    base = {"README.md": b"x\n", ".gitattributes": b"*.py filter=lfs diff=lfs merge=lfs -text\n"}
    ctx = make_ctx(base, {**base, "models/weights.py": POINTER})
    reviewed = review.run(ctx)
    assert [f for f in reviewed.findings if f.path == "models/weights.py"] == []
    assert any("Git LFS pointer" in note and "models/weights.py" in note for note in reviewed.notes)
    scanned = security.run(make_ctx(base, {**base, "models/weights.py": POINTER}))
    assert any("Git LFS pointer" in note for note in scanned.notes)
    assert not any("Could not parse" in note for note in scanned.notes)
    _, notes = find_targets(make_ctx(base, {**base, "models/weights.py": POINTER}), StageOptions())
    assert len(notes) == 1 and "Git LFS pointer" in notes[0]
