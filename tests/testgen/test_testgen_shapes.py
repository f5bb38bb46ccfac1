"""Unusual pull-request shapes the tests stage reads from a real git repository."""

from __future__ import annotations

from bot.policies.schema import TestsStageConfig as StageOptions
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
