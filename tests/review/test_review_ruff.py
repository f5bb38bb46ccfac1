from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.engines.ruff_check import (
    Edit,
    Fix,
    apply_edits,
    apply_fixes,
    config_paths_for,
    module_skeleton,
    parse_ruff_json,
    run_ruff,
    seal_root,
    severity_for,
    suggestion_for,
    unified_diff,
)
from bot.errors import EngineError
from bot.models import Severity


def test_config_paths_cover_every_ancestor() -> None:
    assert config_paths_for(["a/b/c.py", "d.py"]) == sorted(
        [
            "pyproject.toml",
            "ruff.toml",
            ".ruff.toml",
            "a/pyproject.toml",
            "a/ruff.toml",
            "a/.ruff.toml",
            "a/b/pyproject.toml",
            "a/b/ruff.toml",
            "a/b/.ruff.toml",
        ]
    )


def test_module_skeleton_follows_imports() -> None:
    tree = [
        "src/app/__init__.py",
        "src/app/models.py",
        "src/app/views.py",
        "src/other.py",
        "ns/pkg/mod.py",
        "ns/pkg/other.py",
        "README.md",
        "tests/test_x.py",
    ]
    source = "import os, app.views\nfrom app.models import X\nfrom ns import thing\n"
    assert module_skeleton(tree, [source]) == [
        "src/app/__init__.py",
        "src/app/models.py",
        "src/app/views.py",
        "ns/pkg/mod.py",
    ]
    assert module_skeleton(tree, ["x = 1\n"]) == []


def test_severity() -> None:
    assert severity_for("F821") is Severity.ERROR
    assert severity_for("E999") is Severity.ERROR
    assert severity_for("syntax-error") is Severity.ERROR
    assert severity_for("F401") is Severity.WARNING
    assert severity_for("E501") is Severity.WARNING


def test_parse_json_makes_paths_relative_and_names_syntax_errors(tmp_path: Path) -> None:
    raw = [
        {
            "code": "F401",
            "message": "`os` imported but unused",
            "filename": str(tmp_path / "p/a.py"),
            "location": {"row": 1, "column": 8},
            "end_location": {"row": 1, "column": 10},
            "fix": {
                "applicability": "safe",
                "message": "Remove",
                "edits": [
                    {
                        "content": "",
                        "location": {"row": 1, "column": 1},
                        "end_location": {"row": 2, "column": 1},
                    }
                ],
            },
            "url": "https://docs.astral.sh/ruff/rules/unused-import",
        },
        {
            "code": None,
            "message": "SyntaxError: bad",
            "filename": str(tmp_path / "b.py"),
            "location": {"row": 3, "column": 1},
            "end_location": {"row": 3, "column": 2},
            "fix": None,
        },
        {
            "code": "F401",
            "message": "x",
            "filename": "/elsewhere/c.py",
            "location": {"row": 1, "column": 1},
            "end_location": {"row": 1, "column": 2},
        },
    ]
    diags = parse_ruff_json(json.dumps(raw), tmp_path)
    assert [(d.code, d.path, d.row) for d in diags] == [
        ("F401", "p/a.py", 1),
        ("syntax-error", "b.py", 3),
    ]
    assert diags[0].fix is not None and diags[0].fix.safe
    assert diags[0].fix.edits == (Edit(1, 1, 2, 1, ""),)
    with pytest.raises(EngineError):
        parse_ruff_json("not json", tmp_path)


def test_edits_use_character_columns() -> None:
    text = 'x = "héllo";  import sys\ny = 1\n'
    assert apply_edits(text, [Edit(1, 15, 1, 25, "")]) == 'x = "héllo";  \ny = 1\n'
    with pytest.raises(EngineError):
        apply_edits(text, [Edit(1, 1, 1, 5, "a"), Edit(1, 3, 1, 6, "b")])


def test_apply_fixes_skips_overlaps_and_prefers_narrow_fixes() -> None:
    text = "import os\nimport sys\n\nx = 1\n"
    sort_imports = Fix("safe", "sort", (Edit(1, 1, 3, 1, "import sys\nimport os\n"),))
    drop_os = Fix("safe", "drop os", (Edit(1, 1, 2, 1, ""),))
    drop_sys = Fix("safe", "drop sys", (Edit(2, 1, 3, 1, ""),))
    fixed, applied = apply_fixes(text, [sort_imports, drop_os, drop_sys])
    assert fixed == "\nx = 1\n"
    assert applied == [1, 2]


def test_suggestion_covers_whole_lines() -> None:
    text = "import os\nx = 1 == None\n"
    delete = Fix("safe", None, (Edit(1, 1, 2, 1, ""),))
    assert suggestion_for(text, delete) == (1, 1, "")
    inline = Fix("safe", None, (Edit(2, 7, 2, 14, "is None"),))
    assert suggestion_for(text, inline) == (2, 2, "x = 1 is None")
    assert suggestion_for(text, Fix("safe", None, ())) is None


def test_unified_diff_marks_missing_final_newline() -> None:
    diff = unified_diff("a.py", "x = 1\ny = 2", "x = 1\ny = 3")
    header, _, rest = diff.partition("--- a/a.py\n")
    assert header.startswith("diff --git a/a.py b/a.py\nindex ")
    assert header.count("\n") == 2 and not header.rstrip("\n").endswith("100644")
    assert rest.startswith("+++ b/a.py\n@@ -1,2 +1,2 @@\n")
    assert diff.endswith("-y = 2\n\\ No newline at end of file\n+y = 3\n\\ No newline at end of file\n")


def test_run_ruff_honours_config_and_seals_the_root(tmp_path: Path) -> None:
    root = tmp_path / "head"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg/a.py").write_text("import os\nx = 1\ny = x == None\n")
    assert seal_root(root) and (root / "ruff.toml").exists()
    codes = {d.code for d in run_ruff(root, ["pkg/a.py"])}
    assert "F401" in codes and "E711" not in codes  # ruff's defaults
    (root / "ruff.toml").unlink()
    (root / "pyproject.toml").write_text('[tool.ruff.lint]\nselect = ["E711"]\n')
    assert not seal_root(root)
    assert {d.code for d in run_ruff(root, ["pkg/a.py"])} == {"E711"}
    (root / "pyproject.toml").write_text("[tool.ruff.lint]\nselect = [\n")
    with pytest.raises(EngineError, match="ruff failed"):
        run_ruff(root, ["pkg/a.py"])
    assert "F401" in {d.code for d in run_ruff(root, ["pkg/a.py"], isolated=True)}
    assert run_ruff(root, []) == []
