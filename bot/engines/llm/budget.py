"""Fit a pull request's diff into a token budget, PR-Agent style, and say what was left out.

Large PRs do not fit a model's context, and paying for a lockfile diff is waste. The diff
is rendered with head-side line numbers (so the model can cite lines we can check), then,
when over budget: hunks that only delete are summarised, files are taken in priority order
(source, then config, tests, docs, and lockfiles/generated files last; within a class the
most-added-lines first), a file that does not fit whole is clipped hunk by hunk, and the
files that did not fit at all are returned so the summary can list them. Pure functions:
no I/O, no tokenizer download — a chars/4 estimate is close enough for budgeting.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from bot.stages.context import ChangedFile

CHARS_PER_TOKEN = 4
MIN_CLIP_TOKENS = 120
"""Below this much room, a clipped file says too little to be worth its header."""

_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")

_LOCKFILES = {
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "poetry.lock",
    "pipfile.lock",
    "uv.lock",
    "pdm.lock",
    "cargo.lock",
    "go.sum",
    "composer.lock",
    "gemfile.lock",
    "packages.lock.json",
    "podfile.lock",
    "mix.lock",
    "flake.lock",
}
_GENERATED_SUFFIXES = (
    ".min.js",
    ".min.css",
    ".map",
    "_pb2.py",
    "_pb2_grpc.py",
    ".pb.go",
    ".snap",
    ".svg",
    ".lock",
    ".ipynb",
)
_GENERATED_DIRS = {"vendor", "node_modules", "dist", "build", "third_party", "__snapshots__"}
_DOC_SUFFIXES = (".md", ".rst", ".txt", ".adoc")
_CONFIG_SUFFIXES = (".yml", ".yaml", ".toml", ".ini", ".cfg", ".json", ".xml", ".conf")
_SOURCE_SUFFIXES = (
    ".py",
    ".pyi",
    ".js",
    ".jsx",
    ".ts",
    ".tsx",
    ".mjs",
    ".go",
    ".rs",
    ".java",
    ".kt",
    ".c",
    ".h",
    ".cc",
    ".cpp",
    ".hpp",
    ".cs",
    ".rb",
    ".php",
    ".swift",
    ".scala",
    ".sh",
    ".sql",
    ".lua",
    ".ex",
    ".exs",
    ".erl",
    ".hs",
    ".ml",
    ".r",
    ".jl",
    ".dart",
    ".vue",
    ".svelte",
)


def estimate_tokens(text: str) -> int:
    """A cheap, tokenizer-free token estimate (about four characters per token)."""
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def file_priority(path: str) -> int:
    """0 source, 1 config/other, 2 tests, 3 docs, 4 lockfiles and generated files."""
    pure = PurePosixPath(path)
    name = pure.name.lower()
    parts = {part.lower() for part in pure.parts[:-1]}
    if name in _LOCKFILES or name.endswith(_GENERATED_SUFFIXES) or parts & _GENERATED_DIRS:
        return 4
    if name.endswith(_DOC_SUFFIXES) or parts & {"docs", "doc"}:
        return 3
    if (
        parts & {"tests", "test", "testing", "spec", "__tests__"}
        or name.startswith("test_")
        or re.search(r"(_test|\.test|\.spec|_spec)\.[a-z]+$", name)
        or name == "conftest.py"
    ):
        return 2
    if name.endswith(_SOURCE_SUFFIXES):
        return 0
    return 1


@dataclass(frozen=True)
class Hunk:
    """One ``@@`` hunk of a unified diff."""

    header: str
    new_start: int
    lines: tuple[str, ...]

    @property
    def added(self) -> int:
        return sum(1 for line in self.lines if line.startswith("+"))

    @property
    def removed(self) -> int:
        return sum(1 for line in self.lines if line.startswith("-"))


def parse_hunks(patch: str) -> list[Hunk]:
    """The hunks of a GitHub-style ``patch`` (file headers, if present, are skipped)."""
    hunks: list[Hunk] = []
    header: str | None = None
    start = 0
    lines: list[str] = []
    for line in patch.splitlines():
        match = _HUNK_HEADER.match(line)
        if match:
            if header is not None:
                hunks.append(Hunk(header, start, tuple(lines)))
            header, start, lines = line, int(match.group(3)), []
        elif header is not None and line[:1] in ("+", "-", " ", "\\", ""):
            lines.append(line)
    if header is not None:
        hunks.append(Hunk(header, start, tuple(lines)))
    return hunks


def render_hunk(hunk: Hunk, *, max_lines: int | None = None) -> str:
    """The hunk with head-side line numbers in a left column; removed lines get none."""
    out = [hunk.header]
    number = hunk.new_start
    shown = 0
    for line in hunk.lines:
        if max_lines is not None and shown >= max_lines:
            out.append(f"[... {len(hunk.lines) - shown} more lines of this hunk clipped]")
            break
        shown += 1
        if line.startswith("\\"):
            continue
        if line.startswith("-"):
            out.append(f"{'':>6} -{line[1:]}")
            continue
        marker = "+" if line.startswith("+") else " "
        out.append(f"{number:>6} {marker}{line[1:]}")
        number += 1
    return "\n".join(out)


@dataclass(frozen=True)
class LeftOut:
    path: str
    reason: str
    """``token budget``, ``binary``, ``deleted`` or ``no textual diff``."""


@dataclass
class CompressedDiff:
    """The diff text the model sees and an account of what it does not see."""

    text: str
    included: list[str] = field(default_factory=list)
    clipped: list[str] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    summarised_hunks: int = 0
    """Deletion-only hunks replaced by a one-line note."""

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.text)

    @property
    def left_out_paths(self) -> list[str]:
        return [item.path for item in self.left_out]


def _file_header(item: ChangedFile, hunks: Sequence[Hunk]) -> str:
    added = sum(h.added for h in hunks)
    removed = sum(h.removed for h in hunks)
    renamed = f" (renamed from {item.old_path})" if item.old_path else ""
    return f"### File: {item.path}{renamed} [{item.status}, +{added} -{removed}]"


def _render_file(item: ChangedFile, hunks: Sequence[Hunk], *, summarise: bool) -> tuple[str, int]:
    parts = [_file_header(item, hunks)]
    summarised = 0
    for hunk in hunks:
        if summarise and hunk.added == 0:
            parts.append(f"{hunk.header}\n[hunk removing {hunk.removed} lines not shown]")
            summarised += 1
        else:
            parts.append(render_hunk(hunk))
    return "\n".join(parts), summarised


def _clip_file(item: ChangedFile, hunks: Sequence[Hunk], budget: int) -> str | None:
    """As much of the file as fits ``budget`` tokens, hunk by hunk, or None if nothing does."""
    header = _file_header(item, hunks)
    parts = [header]
    used = estimate_tokens(header) + 1
    useful = [h for h in hunks if h.added > 0]
    for index, hunk in enumerate(useful):
        rendered = render_hunk(hunk)
        cost = estimate_tokens(rendered) + 1
        note_cost = 12
        if used + cost + note_cost <= budget:
            parts.append(rendered)
            used += cost
            continue
        # Keep the head of this hunk if a useful amount fits, then stop.
        room_chars = (budget - used - note_cost * 2) * CHARS_PER_TOKEN
        average = max(1, len(rendered) // max(1, len(hunk.lines) + 1))
        max_lines = room_chars // average
        if max_lines >= 3:
            parts.append(render_hunk(hunk, max_lines=max_lines))
        remaining = len(useful) - index - (1 if max_lines >= 3 else 0)
        if remaining > 0:
            parts.append(f"[... {remaining} more hunks of this file clipped]")
        break
    if len(parts) == 1:
        return None
    return "\n".join(parts)


def compress_diff(files: Sequence[ChangedFile], budget_tokens: int) -> CompressedDiff:
    """The PR's diff within ``budget_tokens`` (estimated), with what was left out."""
    result = CompressedDiff(text="")
    candidates: list[tuple[ChangedFile, list[Hunk]]] = []
    for item in files:
        if item.is_binary:
            result.left_out.append(LeftOut(item.path, "binary"))
        elif item.status == "deleted":
            result.left_out.append(LeftOut(item.path, "deleted"))
        else:
            hunks = parse_hunks(item.patch)
            if not hunks:
                result.left_out.append(LeftOut(item.path, "no textual diff"))
            else:
                candidates.append((item, hunks))
    candidates.sort(key=lambda pair: (file_priority(pair[0].path), -sum(h.added for h in pair[1])))

    full = [_render_file(item, hunks, summarise=False)[0] for item, hunks in candidates]
    if sum(estimate_tokens(text) + 1 for text in full) + _footer_cost(result) <= budget_tokens:
        result.text = "\n\n".join(full)
        result.included = [item.path for item, _ in candidates]
        return _with_footer(result)

    reserve = min(max(budget_tokens // 10, 40), 600)  # room to list what is left out
    room = budget_tokens - reserve
    per_file_cap = max(room // 2, MIN_CLIP_TOKENS) if len(candidates) > 1 else room
    sections: list[str] = []
    for item, hunks in candidates:
        text, summarised = _render_file(item, hunks, summarise=True)
        cost = estimate_tokens(text) + 1
        if cost <= min(room, per_file_cap):
            sections.append(text)
            result.included.append(item.path)
            result.summarised_hunks += summarised
            room -= cost
            continue
        clip_budget = min(room, per_file_cap)
        clipped = _clip_file(item, hunks, clip_budget) if clip_budget >= MIN_CLIP_TOKENS else None
        if clipped is None:
            result.left_out.append(LeftOut(item.path, "token budget"))
            continue
        sections.append(clipped)
        result.included.append(item.path)
        result.clipped.append(item.path)
        room -= estimate_tokens(clipped) + 1
    result.text = "\n\n".join(sections)
    return _with_footer(result)


_LIST_LIMIT = 60


def _footer(result: CompressedDiff) -> str:
    if not result.left_out:
        return ""
    shown = result.left_out[:_LIST_LIMIT]
    lines = ["### Changed files not shown above"]
    lines += [f"- {item.path} ({item.reason})" for item in shown]
    if len(result.left_out) > _LIST_LIMIT:
        lines.append(f"- ... and {len(result.left_out) - _LIST_LIMIT} more")
    return "\n".join(lines)


def _footer_cost(result: CompressedDiff) -> int:
    return estimate_tokens(_footer(result)) + 1


def _with_footer(result: CompressedDiff) -> CompressedDiff:
    footer = _footer(result)
    if footer:
        result.text = f"{result.text}\n\n{footer}" if result.text else footer
    return result
