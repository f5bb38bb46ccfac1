from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.changes.unified import apply_hunks, parse_file_diff
from bot.engines.ruff_check import (
    Edit,
    Fix,
    RuffFailed,
    RuffRun,
    apply_edits,
    apply_fixes,
    config_paths_for,
    describe_failure,
    fixes_diff,
    module_skeleton,
    package_markers,
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


def test_package_markers_are_the_init_files_above_the_paths() -> None:
    tree = {"src/app/__init__.py", "src/app/sub/__init__.pyi", "src/app/sub/x.py", "ns/mod.py", "__init__.py"}
    assert package_markers(tree, ["src/app/sub/x.py", "src/app/y.py", "ns/mod.py", "top.py"]) == [
        "src/app/sub/__init__.pyi",
        "src/app/__init__.py",
    ]


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


def test_ruff_json_lines_read_as_one_array_say_the_same_as_line_by_line(tmp_path: Path) -> None:
    """ruff's json-lines are read with one ``loads`` when they are one object a line; blank
    lines, or two objects on one line, are read (or refused) line by line as before."""

    def line(code: str, row: int) -> str:
        at = {"row": row, "column": 1}
        item = {"code": code, "message": "m", "filename": str(tmp_path / "a.py"), "location": at, "end_location": at}
        return json.dumps(item)

    def read(text: str) -> list[tuple[str, int]]:
        return [(d.code, d.row) for d in parse_ruff_json(text, tmp_path)]

    one, two = line("F401", 1), line("E501", 2)
    assert read(f"{one}\n{two}\n") == [("F401", 1), ("E501", 2)]
    assert read(f"\n{one}\n\n  \n{two}\r\n") == [("F401", 1), ("E501", 2)]
    assert read("\n \n") == []
    with pytest.raises(EngineError, match="not JSON"):
        parse_ruff_json(f"{one}, {two}\n", tmp_path)  # a JSON array's worth on one line
    with pytest.raises(EngineError, match="not JSON"):
        parse_ruff_json(f"{one}\n{two[:-1]}\n", tmp_path)


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


@pytest.mark.parametrize("text", ["import os\nx = 1 == None\n", "import os\nx = 1 == None", "x = 1 == None"])
def test_suggestion_from_plain_lines_matches_the_split_with_ends(text: str) -> None:
    last = text.count("\n") + 1 if not text.endswith("\n") else text.count("\n")
    fixes = [
        Fix("safe", None, (Edit(1, 1, 2, 1, ""),)),
        Fix("safe", None, (Edit(last, 7, last, 14, "is None"),)),
        Fix("safe", None, (Edit(last, 1, last + 1, 1, "y = 2\n"),)),
        Fix("safe", None, (Edit(9, 1, 9, 2, ""),)),  # past the end
    ]
    for fix in fixes:
        assert suggestion_for(text, fix, plain=text.splitlines()) == suggestion_for(text, fix)


def test_unified_diff_marks_missing_final_newline() -> None:
    diff = unified_diff("a.py", "x = 1\ny = 2", "x = 1\ny = 3")
    header, _, rest = diff.partition("--- a/a.py\n")
    assert header.startswith("diff --git a/a.py b/a.py\nindex ")
    assert header.count("\n") == 2 and not header.rstrip("\n").endswith("100644")
    assert rest.startswith("+++ b/a.py\n@@ -1,2 +1,2 @@\n")
    assert diff.endswith("-y = 2\n\\ No newline at end of file\n+y = 3\n\\ No newline at end of file\n")


def _whole_file_diff(path: str, text: str, fixes: list[Fix]) -> str | None:
    after = apply_edits(text, [e for fix in fixes for e in fix.edits])
    return None if after == text else unified_diff(path, text, after)


MODULE = "".join(
    f"class C{c}:\n    def m{c}(self):\n" + "".join(f"        v{c}_{i} = {i}\n" for i in range(30)) + "\n\n"
    for c in range(6)
)


@pytest.mark.parametrize(
    "text, fixes",
    [
        ("x = 1\ny = 2", [Fix("safe", None, (Edit(2, 5, 2, 6, "3"),))]),  # no final newline
        ("import os\nx = 1\n", [Fix("safe", None, (Edit(1, 1, 2, 1, ""),))]),  # first line goes
        ("x = 1\ny = 2", [Fix("safe", None, (Edit(2, 6, 2, 6, "\n"),))]),  # newline added at the end
        ("a\n", [Fix("safe", None, (Edit(1, 1, 1, 1, "import os\n"),))]),
        # hunks far apart, the header context found far above each, a no-op fix
        (
            MODULE,
            [
                Fix("safe", None, (Edit(40, 9, 40, 13, "w"),)),
                Fix("safe", None, (Edit(100, 9, 101, 1, ""),)),
                Fix("safe", None, (Edit(103, 9, 103, 13, "x"), Edit(105, 9, 105, 13, "y"))),
                Fix("safe", None, (Edit(150, 9, 150, 9, ""),)),
                Fix("safe", None, (Edit(170, 1, 170, 1, "# end\n"),)),
            ],
        ),
    ],
)
def test_fixes_diff_matches_the_whole_file_diff(text: str, fixes: list[Fix]) -> None:
    for path in ("pkg/a.py", "dir with space/é.py", 'q"uote.py'):
        assert fixes_diff(path, text, fixes) == _whole_file_diff(path, text, fixes)


def test_fixes_diff_changing_nothing_is_none() -> None:
    assert fixes_diff("a.py", "x = 1\n", [Fix("safe", None, (Edit(1, 5, 1, 6, "1"),))]) is None
    assert fixes_diff("a.py", "x = 1\n", []) is None


def test_fixes_diff_on_real_modules_applies_like_the_whole_file_diff() -> None:
    """Seeded random fixes over this repository's own modules: every windowed diff applies
    to the fixed text, and nearly all are byte for byte the whole-file diff (xdiff may
    align repeated lines differently when it sees the whole file)."""
    import random

    rng = random.Random(7)
    sources = sorted(Path(__file__).resolve().parents[2].joinpath("bot").rglob("*.py"))
    same = total = 0
    for _ in range(300):
        text = rng.choice(sources).read_text(encoding="utf-8")
        rows = text.count("\n")
        if rows < 5:
            continue
        fixes = []
        for _ in range(rng.choice([1, 2, 4])):
            row = rng.randint(1, rows)
            kind = rng.randrange(3)
            if kind == 0:
                fixes.append(Fix("safe", None, (Edit(row, 1, row + 1, 1, ""),)))
            elif kind == 1:
                fixes.append(Fix("safe", None, (Edit(row, 1, row, 1, "import os\n"),)))
            else:
                fixes.append(Fix("safe", None, (Edit(row, 1, row, 2, "Z"),)))
        _fixed, chosen = apply_fixes(text, fixes)
        picked = [fixes[i] for i in chosen]
        after = apply_edits(text, [e for fix in picked for e in fix.edits])
        diff = fixes_diff("m.py", text, picked)
        if diff is None:
            assert after == text
            continue
        assert apply_hunks(text.encode(), parse_file_diff(diff)).decode() == after
        total += 1
        same += diff == _whole_file_diff("m.py", text, picked)
    assert total > 200 and same >= total * 0.97


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


def _fake_ruff(tmp_path: Path, script: str) -> str:
    """A stand-in ruff binary: a shell script that ignores its arguments."""
    binary = tmp_path / "fake-ruff"
    binary.write_text("#!/bin/sh\n" + script)
    binary.chmod(0o755)
    return str(binary)


def _line(path: Path, row: int) -> str:
    item = {
        "code": "F401",
        "message": "unused",
        "filename": str(path),
        "location": {"row": row, "column": 1},
        "end_location": {"row": row, "column": 5},
        "fix": None,
        "url": None,
    }
    return json.dumps(item)


def test_ruff_output_is_parsed_as_it_arrives_in_pieces(tmp_path: Path) -> None:
    root = tmp_path / "head"
    root.mkdir()
    first, second = _line(root / "a.py", 1), _line(root / "b.py", 2)
    cut = len(second) // 2
    script = (
        f"printf '%s\\n%s' '{first}' '{second[:cut]}'\n"
        "sleep 0.05\n"
        f"printf '%s\\n' '{second[cut:]}'\n"
    )
    diags = RuffRun(root, ["a.py", "b.py"], binary=_fake_ruff(tmp_path, script)).result()
    assert [(d.path, d.row) for d in diags] == [("a.py", 1), ("b.py", 2)]
    kept = RuffRun(root, ["a.py"], binary=_fake_ruff(tmp_path, script)).result(lambda p, s, e: p == "b.py")
    assert [d.path for d in kept] == ["b.py"]
    last = RuffRun(root, ["a.py"], binary=_fake_ruff(tmp_path, f"printf '%s' '{first}'\n")).result()
    assert [d.path for d in last] == ["a.py"]  # no newline after the last object


def test_ruff_failures_and_garbage_are_engine_errors(tmp_path: Path) -> None:
    root = tmp_path / "head"
    root.mkdir()
    failing = _fake_ruff(tmp_path, f"echo 'error: bad config\\n  Cause: {root}/ruff.toml: oops' >&2\nexit 2\n")
    with pytest.raises(EngineError, match=r"ruff failed: ruff.toml: oops$"):
        RuffRun(root, ["a.py"], binary=failing).result()
    garbage = _fake_ruff(tmp_path, "echo 'not json'\n")
    with pytest.raises(EngineError, match="not JSON"):
        RuffRun(root, ["a.py"], binary=garbage).result()
    pid_file = tmp_path / "slow.pid"
    slow = _fake_ruff(tmp_path, f'echo $$ > "{pid_file}"\nexec sleep 60\n')
    with pytest.raises(EngineError, match="did not finish"):
        RuffRun(root, ["a.py"], binary=slow, timeout=0.2).result()
    # the hung ruff was killed and reaped, not left running (nor waited for: that takes 60 s
    # and ends in exit 0, no error)
    assert not Path(f"/proc/{int(pid_file.read_text())}").exists()


def test_describe_failure_keeps_ruffs_explanation_and_drops_its_quote() -> None:
    stderr = (
        b"warning: The top-level linter settings are deprecated\n"
        b"ruff failed\n"
        b"  Cause: Failed to load configuration `/s/head/sub/ruff.toml`\n"
        b"  Cause: Failed to parse /s/head/sub/ruff.toml\n"
        b"  Cause: TOML parse error at line 3, column 18\n"
        b"  |\n3 | target-version = \"py27\"\n  |                  ^^^^^^\n"
        b"unknown variant `py27`, expected one of `py37`\n"
    )
    failed = describe_failure(stderr, 2, [Path("/s/head")])
    assert failed.detail == (
        "Failed to load configuration `sub/ruff.toml`; Failed to parse sub/ruff.toml; "
        "TOML parse error at line 3, column 18: unknown variant `py27`, expected one of `py37`"
    )
    assert failed.blamed({"sub/ruff.toml", "ruff.toml"}) == ("sub/ruff.toml", 3)
    missing = describe_failure(
        b"ruff failed\n  Cause: Failed to load extended configuration `/s/head/x.toml` "
        b"(`/s/head/ruff.toml` extends `/s/head/x.toml`)\n",
        2,
        ["/s/head"],
    )
    assert missing.blamed({"ruff.toml"}) == ("ruff.toml", None)  # not the missing file
    assert describe_failure(b"", -9, ["/s/head"]).detail == "ruff was killed by signal 9"


def test_ruff_failures_name_the_config_without_the_scratch_dir_even_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "head").mkdir(parents=True)
    (real / "head/a.py").write_text("x = 1\n")
    (real / "head/ruff.toml").write_text('line-length = 100\ntarget-version = "py27"\n')
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(EngineError) as caught:
        run_ruff(tmp_path / "link/head", ["a.py"])  # ruff prints the resolved path
    failed = caught.value
    assert str(tmp_path) not in str(failed) and "unknown variant `py27`" in str(failed)
    assert isinstance(failed, RuffFailed) and failed.blamed({"ruff.toml"}) == ("ruff.toml", 2)
