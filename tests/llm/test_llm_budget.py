"""Diff compression under a token budget: pure functions, no fakes."""

from __future__ import annotations

from bot.engines.llm.budget import (
    compress_diff,
    estimate_tokens,
    file_priority,
    parse_hunks,
    render_hunk,
)
from bot.stages.context import ChangedFile


def _source(n_lines: int, tag: str) -> str:
    return "\n".join(f"value_{tag}_{i} = compute_{tag}({i})  # line {i}" for i in range(n_lines))


def test_priorities_put_source_first_and_lockfiles_last():
    assert file_priority("bot/app.py") == 0
    assert file_priority("web/src/index.ts") == 0
    assert file_priority("pyproject.toml") == 1
    assert file_priority("tests/test_app.py") == 2
    assert file_priority("pkg/app_test.go") == 2
    assert file_priority("docs/guide.md") == 3
    assert file_priority("README.rst") == 3
    assert file_priority("poetry.lock") == 4
    assert file_priority("frontend/package-lock.json") == 4
    assert file_priority("vendor/lib/thing.py") == 4


def test_small_diff_fits_whole_with_head_line_numbers(context_factory):
    old = "a = 1\nb = 2\nc = 3\n"
    new = "a = 1\nb = 20\nc = 3\nd = 4\n"
    ctx = context_factory({"m.py": (old, new)})
    result = compress_diff(ctx.files, 2000)
    assert result.included == ["m.py"] and result.left_out == [] and result.clipped == []
    lines = result.text.splitlines()
    assert lines[0] == "### File: m.py [modified, +2 -1]"
    assert "     2 +b = 20" in lines
    assert "       -b = 2" in lines
    assert "     4 +d = 4" in lines
    assert "     1  a = 1" in lines


def test_hunk_rendering_numbers_match_the_line_maps(context_factory):
    old = _source(60, "x")
    new_lines = old.splitlines()
    new_lines[9] = "changed = True"
    new_lines.insert(40, "inserted = True")
    ctx = context_factory({"m.py": (old, "\n".join(new_lines))})
    [item] = ctx.files
    numbered = {}
    for hunk in parse_hunks(item.patch):
        for row in render_hunk(hunk).splitlines()[1:]:
            if row[:6].strip().isdigit():
                numbered[int(row[:6])] = row[8:]
    assert set(numbered) == set(item.diff_lines)
    assert numbered[10] == "changed = True"
    assert numbered[41] == "inserted = True"


def test_large_diff_is_compressed_within_budget_and_lists_left_out_files(context_factory):
    changes = {}
    for i in range(12):
        changes[f"src/mod_{i}.py"] = ("", _source(40 + i * 5, f"s{i}"))
    for i in range(6):
        changes[f"tests/test_mod_{i}.py"] = ("", _source(40, f"t{i}"))
    changes["docs/guide.md"] = ("", "\n".join(f"Paragraph {i} of prose." for i in range(200)))
    changes["poetry.lock"] = ("", "\n".join(f'name = "pkg{i}"' for i in range(3000)))
    ctx = context_factory(changes)
    budget = 6000

    result = compress_diff(ctx.files, budget)

    assert result.tokens <= budget
    assert result.left_out, "a diff this size cannot fit"
    assert {item.reason for item in result.left_out} == {"token budget"}
    left = result.left_out_paths
    assert "poetry.lock" in left and "docs/guide.md" in left
    # Source is preferred: the biggest source files are in, before any test file.
    assert "src/mod_11.py" in result.included
    shown_tests = [p for p in result.included if p.startswith("tests/")]
    assert all(p in result.included for p in ["src/mod_11.py", "src/mod_10.py"])
    if shown_tests:
        assert all(f"src/mod_{i}.py" in result.included for i in range(12))
    # Everything is accounted for exactly once, and the text names what is missing.
    assert sorted(result.included + left) == sorted(changes)
    assert "### Changed files not shown above" in result.text
    for path in left:
        assert f"- {path} (token budget)" in result.text
    for path in result.included:
        assert f"### File: {path} " in result.text


def test_one_huge_file_is_clipped_not_dropped(context_factory):
    ctx = context_factory({"big.py": ("", _source(3000, "b"))})
    result = compress_diff(ctx.files, 1500)
    assert result.included == ["big.py"] and result.clipped == ["big.py"]
    assert result.tokens <= 1500
    assert "more lines of this hunk clipped" in result.text


def test_deletion_only_hunks_are_summarised_when_over_budget(context_factory):
    base = _source(400, "d")
    lines = base.splitlines()
    head_lines = lines[:50] + lines[150:] + ["tail_added = 1"]
    ctx = context_factory({"d.py": (base, "\n".join(head_lines)), "z.py": ("", _source(500, "z"))})
    result = compress_diff(ctx.files, 3000)
    assert result.summarised_hunks == 1
    assert "[hunk removing 100 lines not shown]" in result.text


def test_binary_deleted_and_empty_files_are_listed():
    files = [
        ChangedFile(path="logo.png", status="modified", is_binary=True),
        ChangedFile(path="old.py", status="deleted", patch="@@ -1 +0,0 @@\n-x = 1"),
        ChangedFile(path="mode_only.sh", status="modified", patch=""),
    ]
    result = compress_diff(files, 1000)
    assert result.included == []
    assert {(i.path, i.reason) for i in result.left_out} == {
        ("logo.png", "binary"),
        ("old.py", "deleted"),
        ("mode_only.sh", "no textual diff"),
    }
    assert "- logo.png (binary)" in result.text


def test_estimate_tokens_is_chars_over_four():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
