"""The review stage on files whose line breaks are not all ``\\n``: findings land on the
lines git and GitHub number (the diff's), and the fix patch still applies exactly."""

from __future__ import annotations

from pathlib import Path

from bot.engines.line_breaks import diff_lines
from bot.engines.ruff_check import row_lines
from bot.stages.review import run
from tests.review.test_review_fix_patch_files import ENCODERS, _git_apply, _ruff_fixed


def _where(result, rule: str) -> tuple[int, int]:
    [finding] = [f for f in result.findings if f.rule_id == rule]
    return finding.start_line, finding.end_line


def _line(data: bytes, needle: bytes) -> int:
    """The 1-based line of ``needle`` as git counts lines (at ``\\n`` only)."""
    return data[: data.index(needle)].count(b"\n") + 1


def test_a_print_below_a_form_feed_is_reported_on_its_own_line(make_ctx) -> None:
    # CPython's email/encoders.py keeps ^L page breaks on lines of their own
    head = ENCODERS + b'\n\n\x0c\ndef encode_probe(msg):\n    print(f"probe")  # TODO: drop\n'
    result = run(make_ctx({"email/encoders.py": ENCODERS}, {"email/encoders.py": head}))
    line = _line(head, b"    print(")
    assert _where(result, "F541") == (line, line)
    assert _where(result, "stray-print") == (line, line)


LONE_CR = b'"""Lone CR."""\n\n\ndef f():\n    """F."""\n    return 1\n'
LONE_CR_HEAD = LONE_CR + b'\n\nX = 1\r# a comment after an old Mac line end\n\n\ndef g():\n    """G."""\n    print(f"g")\n    return 2\n'


def test_a_lone_carriage_return_does_not_move_findings_below_it(make_ctx, tmp_path: Path) -> None:
    result = run(make_ctx({"m.py": LONE_CR}, {"m.py": LONE_CR_HEAD}))
    line = _line(LONE_CR_HEAD, b"    print(")
    assert _where(result, "F541") == (line, line)
    assert _where(result, "stray-print") == (line, line)
    # a suggestion would replace the diff's line with ruff's row: none is offered, the patch is
    [fstring] = [f for f in result.findings if f.rule_id == "F541"]
    assert fstring.suggestion is None
    [patch] = result.patches
    after = _git_apply("".join(d.diff for d in patch.files), {"m.py": LONE_CR_HEAD}, tmp_path / "applied")
    assert after["m.py"] == _ruff_fixed({"m.py": LONE_CR_HEAD}, "m.py", {"F541"}, tmp_path / "ruff")


def test_diff_lines_count_as_git_does() -> None:
    text = "a\r\nb\x0cc\n\x0c\nd\re\nlast"
    assert diff_lines(text) == ["a", "b\x0cc", "\x0c", "d\re", "last"]
    assert diff_lines("a\nb\n") == ["a", "b"] == diff_lines("a\r\nb\r\n")
    assert row_lines("a\r\nb\n") is None
    assert row_lines("a\rb\nc\n") == [1, 1, 2]


OLD_DEBT = b'"""Old."""\nimport os\n\n\ndef f(x):\n    """F."""\n    if x == 0:\n        return f"none"\n    return x\n'


def test_a_file_turned_crlf_brings_none_of_its_old_findings_to_the_pr(make_ctx) -> None:
    # an editor on Windows saved the file with CRLF while its author changed one line
    head = OLD_DEBT.replace(b"\n", b"\r\n").replace(b"    return x\r\n", b"    return x + 1\r\n")
    ctx = make_ctx({"old.py": OLD_DEBT}, {"old.py": head})
    [changed] = ctx.files
    assert changed.added_lines == {9} and changed.ending_only_lines == set(range(1, 9))
    assert changed.diff_lines == set(range(1, 10))  # GitHub's diff shows them all: commentable
    result = run(ctx)
    assert [f.rule_id for f in result.findings if f.engine == "ruff"] == []
    assert result.patches == []
    assert "`old.py`: 8 lines changed only their line endings (CRLF and LF)" in " ".join(result.notes)
    # a line changed beside its ending is the author's, and its finding is reported
    edited = head.replace(b"import os\r\n", b"import sys\r\n")
    result = run(make_ctx({"old.py": OLD_DEBT}, {"old.py": edited}))
    assert [(f.rule_id, f.start_line) for f in result.findings if f.engine == "ruff"] == [("F401", 2)]


def test_a_non_python_file_with_u2028_in_a_line_has_its_todo_on_its_own_line(make_ctx) -> None:
    base = b"// app\n"
    head = base + 'const s = "a\u2028 b";\n// TODO: tidy\n'.encode()
    result = run(make_ctx({"app.js": base}, {"app.js": head}))
    assert _where(result, "todo-added") == (3, 3)
