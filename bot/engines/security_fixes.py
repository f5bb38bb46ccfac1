"""Mechanical fixes for Shunter's rules, as text edits on the head version of a file.

Only fixes that cannot change what a correct program means are offered: ``yaml.load`` ->
``yaml.safe_load``, ``tempfile.mktemp`` -> ``mkstemp`` (the file is created atomically),
dropping ``verify=False``. Each edit touches a single-line call, rebuilt from the
original source segments, so comments and formatting elsewhere are untouched; anything
more complex gets the rule's fix hint instead of a patch. Secrets never get a patch:
rotation is a human job.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass

from bot.engines.own_rules import Match, import_aliases, qualify
from bot.engines.ruff_check import unified_diff as ruff_unified_diff


@dataclass(frozen=True)
class Edit:
    """Replace head lines ``start..end`` (1-based, inclusive) with ``new_lines``."""

    start: int
    end: int
    new_lines: tuple[str, ...]
    label: str


def git_blob_id(data: bytes) -> str:
    """The id git gives these bytes as a blob (the pre-image a patch is checked against)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _segment(lines: list[str], node: ast.AST) -> str:
    start, end = node.lineno, node.end_lineno  # type: ignore[attr-defined]
    if start != end:
        raise ValueError("multi-line")
    line = lines[start - 1]
    encoded = line.encode("utf-8")
    return encoded[node.col_offset : node.end_col_offset].decode("utf-8")  # type: ignore[attr-defined]


def _replace_node(lines: list[str], node: ast.AST, text: str) -> str:
    line = lines[node.lineno - 1].encode("utf-8")  # type: ignore[attr-defined]
    head = line[: node.col_offset]  # type: ignore[attr-defined]
    tail = line[node.end_col_offset :]  # type: ignore[attr-defined]
    return (head + text.encode("utf-8") + tail).decode("utf-8")


def _keyword_text(lines: list[str], kw: ast.keyword) -> str:
    value = _segment(lines, kw.value)
    return f"**{value}" if kw.arg is None else f"{kw.arg}={value}"


def _call_text(lines: list[str], call: ast.Call, func: str, args: list[str]) -> str:
    return f"{func}({', '.join(args)})"


def _yaml_safe_load(lines: list[str], call: ast.Call) -> Edit | None:
    func = call.func
    if not isinstance(func, ast.Attribute) or not call.args:
        return None
    if func.attr not in {"load", "load_all", "full_load", "unsafe_load", "full_load_all"}:
        return None
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords
    ):
        return None
    target = "safe_load_all" if func.attr.endswith("_all") else "safe_load"
    receiver = _segment(lines, func.value)
    args = [_segment(lines, call.args[0])]
    args += [_keyword_text(lines, k) for k in call.keywords if k.arg != "Loader"]
    text = _call_text(lines, call, f"{receiver}.{target}", args)
    return Edit(call.lineno, call.lineno, (_replace_node(lines, call, text),), "yaml.safe_load")


def _drop_verify_false(lines: list[str], call: ast.Call) -> Edit | None:
    kept = [k for k in call.keywords if not (k.arg == "verify" and _is_false(k.value))]
    if len(kept) == len(call.keywords):
        return None
    args = [
        ("*" + _segment(lines, a.value)) if isinstance(a, ast.Starred) else _segment(lines, a)
        for a in call.args
    ]
    args += [_keyword_text(lines, k) for k in kept]
    text = _call_text(lines, call, _segment(lines, call.func), args)
    return Edit(
        call.lineno, call.lineno, (_replace_node(lines, call, text),), "verify=False removed"
    )


def _is_false(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _mkstemp(lines: list[str], call: ast.Call, tree: ast.Module) -> Edit | None:
    """``name = tempfile.mktemp(...)`` -> ``_fd, name = tempfile.mkstemp(...)``; close fd."""
    aliases = import_aliases(tree)
    os_names = [local for local, qualified in aliases.items() if qualified == "os"]
    if not os_names:
        return None
    stmt = _parent_assign(tree, call)
    if stmt is None or stmt.lineno != stmt.end_lineno:
        return None
    target = stmt.targets[0]
    if len(stmt.targets) != 1 or not isinstance(target, ast.Name):
        return None
    if not isinstance(call.func, ast.Attribute | ast.Name):
        return None
    func = _segment(lines, call.func)
    new_func = func[: -len("mktemp")] + "mkstemp" if func.endswith("mktemp") else None
    if new_func is None:
        return None
    line = lines[stmt.lineno - 1]
    indent = line[: len(line) - len(line.lstrip())]
    args = [_segment(lines, a) for a in call.args] + [
        _keyword_text(lines, k) for k in call.keywords
    ]
    first = f"{indent}_fd, {target.id} = {new_func}({', '.join(args)})"
    second = f"{indent}{os_names[0]}.close(_fd)"
    return Edit(stmt.lineno, stmt.lineno, (first, second), "tempfile.mkstemp")


def _parent_assign(tree: ast.Module, call: ast.Call) -> ast.Assign | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and node.value is call:
            return node
    return None


def edit_for(match: Match, lines: list[str], tree: ast.Module) -> Edit | None:
    """The mechanical edit for one rule match, or None when no safe edit exists."""
    node = match.node
    if not isinstance(node, ast.Call) or node.lineno != node.end_lineno:
        return None
    try:
        if match.rule.autofix == "yaml-safe-load":
            return _yaml_safe_load(lines, node)
        if match.rule.autofix == "drop-verify-false":
            return _drop_verify_false(lines, node)
        if match.rule.autofix == "mkstemp" and qualify(node.func, import_aliases(tree)) == (
            "tempfile.mktemp"
        ):
            return _mkstemp(lines, node, tree)
    except (ValueError, UnicodeDecodeError):
        return None
    return None


def apply_edits(text: str, edits: list[Edit]) -> str:
    """``text`` with non-overlapping edits applied (later lines first, so numbers hold).

    Lines are cut at ``\\n`` only, ends kept, as the ast numbers them in a text without a
    lone ``\\r`` (the stage makes no patch for one): ``splitlines`` also cuts at a form
    feed, and every edit below a ^L page break rewrote the line above its own."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    newline = "\r\n" if text.endswith("\r\n") else "\n"
    taken: set[int] = set()
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        span = set(range(edit.start, edit.end + 1))
        if span & taken:
            continue
        taken |= span
        ending = lines[edit.end - 1][len(lines[edit.end - 1].rstrip("\r\n")) :] or newline
        lines[edit.start - 1 : edit.end] = [line + ending for line in edit.new_lines]
    return "".join(lines)


def unified_diff(path: str, before: str, after: str) -> str:
    """A git-style diff (``diff --git`` header) that both git and Shunter's applier accept:
    libgit2's (``ruff_check.unified_diff``), which cuts lines at ``\\n`` as the applier
    does and marks a last line without one (difflib's, cut by ``splitlines``, broke a
    line holding a form feed in two and ran it into the next one). The header is written
    here: a path git stores with bytes that are not UTF-8 is held as surrogates, which
    libgit2 cannot take."""
    made = ruff_unified_diff("file", before, after)
    hunks = made[made.find("\n@@") + 1 :] if "\n@@" in made else ""
    return f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n{hunks}"
