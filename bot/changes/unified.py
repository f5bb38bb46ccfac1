"""Unified diffs: a strict parser and a strict applier, pure functions over bytes.

Change requests carry per-file unified diffs computed against a known pre-image blob, so a
hunk must apply at exactly the line it names; any drift means the diff and the blob do not
belong together, and fuzzy matching would only hide that. Moving the change onto a newer
head is done afterwards by a 3-way merge of whole trees (``bot.git.apply``), not by fuzz.

Both git-style diffs (``diff --git``/``index``/mode lines) and bare hunks (the shape of
GitHub's ``patch`` field) are accepted. Anything else before the first hunk is an error,
because a header we do not understand might be one that changes meaning (modes, renames).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_KNOWN_HEADERS = (
    b"diff --git ",
    b"index ",
    b"old mode ",
    b"new mode ",
    b"deleted file mode ",
    b"new file mode ",
    b"similarity index ",
    b"dissimilarity index ",
    b"rename from ",
    b"rename to ",
    b"copy from ",
    b"copy to ",
    b"--- ",
    b"+++ ",
    b"Binary files ",
    b"GIT binary patch",
)


class DiffFormatError(ValueError):
    """The text is not a unified diff we can apply exactly."""


class HunkMismatch(ValueError):
    """A hunk's context or removed lines differ from the file it is applied to."""

    def __init__(self, message: str, hunk_header: str) -> None:
        super().__init__(message)
        self.hunk_header = hunk_header


@dataclass(frozen=True)
class Hunk:
    header: str
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    lines: tuple[tuple[str, bytes], ...]
    """``(op, line)`` with op in ``' ', '-', '+'``; ``line`` keeps its newline if it had one."""

    @property
    def added(self) -> int:
        return sum(1 for op, _ in self.lines if op == "+")

    @property
    def removed(self) -> int:
        return sum(1 for op, _ in self.lines if op == "-")


@dataclass(frozen=True)
class FilePatch:
    """One file's diff, parsed: the headers that matter for safety, and the hunks."""

    hunks: tuple[Hunk, ...] = ()
    old_path: str | None = None
    new_path: str | None = None
    old_mode: str | None = None
    new_mode: str | None = None
    created: bool = False
    deleted: bool = False
    binary: bool = False
    renamed_from: str | None = None
    renamed_to: str | None = None
    header_lines: tuple[str, ...] = field(default=())

    @property
    def added_lines(self) -> int:
        return sum(h.added for h in self.hunks)

    @property
    def removed_lines(self) -> int:
        return sum(h.removed for h in self.hunks)

    @property
    def changed_lines(self) -> int:
        return self.added_lines + self.removed_lines

    @property
    def modes(self) -> set[str]:
        return {m for m in (self.old_mode, self.new_mode) if m}


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


_C_ESCAPES = {b"a": 7, b"b": 8, b"t": 9, b"n": 10, b"v": 11, b"f": 12, b"r": 13, b'"': 34, b"\\": 92}
"""The one-letter escapes git (and libgit2) use in a quoted path, as bytes."""


def _unquote(raw: bytes) -> bytes:
    """A path as git writes it in a header: bare, or C-quoted when it holds a byte outside
    printable ASCII, a quote or a backslash (``"a/caf\\303\\251.py"``). Shunter's own fix
    patches quote such paths as git does, so refusing them refused every fix to a file
    named in French, Chinese, ..."""
    if not raw.startswith(b'"'):
        return raw
    out = bytearray()
    i = 1
    while i < len(raw):
        byte = raw[i : i + 1]
        if byte == b'"':
            if raw[i + 1 :].strip():
                break
            return bytes(out)
        if byte != b"\\":
            out += byte
            i += 1
            continue
        escape = raw[i + 1 : i + 2]
        if escape in _C_ESCAPES:
            out.append(_C_ESCAPES[escape])
            i += 2
        elif re.fullmatch(rb"[0-3][0-7][0-7]", raw[i + 1 : i + 4]):
            out.append(int(raw[i + 1 : i + 4], 8))
            i += 4
        else:
            break
    raise DiffFormatError(f"malformed quoted path {_decode(raw)[:80]!r} in diff header")


def _strip_prefix(raw: bytes) -> str | None:
    path = raw.split(b"\t", 1)[0].rstrip(b"\r")  # a quoted path writes a tab as \t
    if path == b"/dev/null":
        return None
    text = _unquote(path).decode("utf-8", "surrogateescape")
    for prefix in ("a/", "b/"):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def parse_file_diff(text: str) -> FilePatch:
    """Parse one file's unified diff; raise DiffFormatError for anything not exact."""
    if "\0" in text:
        raise DiffFormatError("diff contains a NUL byte")
    raw_lines = text.encode("utf-8", "surrogateescape").split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    info: dict[str, object] = {}
    headers: list[str] = []
    hunks: list[Hunk] = []
    i = 0
    while i < len(raw_lines) and not raw_lines[i].startswith(b"@@"):
        line = raw_lines[i].rstrip(b"\r")
        if not line.strip():
            i += 1
            continue
        if not line.startswith(_KNOWN_HEADERS):
            raise DiffFormatError(f"unexpected line before the first hunk: {_decode(line)[:80]!r}")
        headers.append(_decode(line))
        if line.startswith((b"Binary files ", b"GIT binary patch")):
            info["binary"] = True
        elif line.startswith(b"--- "):
            info["old_path"] = _strip_prefix(line[4:])
            if info["old_path"] is None:
                info["created"] = True
        elif line.startswith(b"+++ "):
            info["new_path"] = _strip_prefix(line[4:])
            if info["new_path"] is None:
                info["deleted"] = True
        elif line.startswith(b"new file mode "):
            info["created"] = True
            info["new_mode"] = _decode(line[14:]).strip()
        elif line.startswith(b"deleted file mode "):
            info["deleted"] = True
            info["old_mode"] = _decode(line[18:]).strip()
        elif line.startswith(b"old mode "):
            info["old_mode"] = _decode(line[9:]).strip()
        elif line.startswith(b"new mode "):
            info["new_mode"] = _decode(line[9:]).strip()
        elif line.startswith(b"rename from "):
            info["renamed_from"] = _unquote(line[12:]).decode("utf-8", "surrogateescape")
        elif line.startswith(b"rename to "):
            info["renamed_to"] = _unquote(line[10:]).decode("utf-8", "surrogateescape")
        elif line.startswith((b"copy from ", b"copy to ")):
            raise DiffFormatError("copy diffs are not supported; send the new file as an addition")
        elif line.startswith(b"index "):
            parts = _decode(line).split()
            if len(parts) == 3:
                info.setdefault("old_mode", parts[2])
                info.setdefault("new_mode", parts[2])
        i += 1
    while i < len(raw_lines):
        i = _parse_hunk(raw_lines, i, hunks)
    meaningful = ("binary", "renamed_to", "created", "deleted", "new_mode")
    if not hunks and not any(info.get(key) for key in meaningful):
        raise DiffFormatError("diff has no hunks")
    return FilePatch(
        hunks=tuple(hunks),
        header_lines=tuple(headers),
        **info,  # type: ignore[arg-type]
    )


def _parse_hunk(lines: list[bytes], i: int, out: list[Hunk]) -> int:
    head = lines[i].rstrip(b"\r")
    match = _HUNK.match(head)
    if match is None:
        raise DiffFormatError(f"expected a hunk header, got {_decode(head)[:80]!r}")
    old_start, old_len, new_start, new_len = (
        int(match.group(1)),
        int(match.group(2) if match.group(2) is not None else 1),
        int(match.group(3)),
        int(match.group(4) if match.group(4) is not None else 1),
    )
    body: list[tuple[str, bytes]] = []
    old_seen = new_seen = 0
    i += 1
    while old_seen < old_len or new_seen < new_len:
        if i >= len(lines):
            raise DiffFormatError(f"hunk {_decode(head)!r} ends early")
        line = lines[i]
        op = chr(line[0]) if line else " "
        if op == "\\":
            raise DiffFormatError(f"misplaced 'No newline' marker in {_decode(head)!r}")
        if op not in " -+":
            raise DiffFormatError(f"bad line in hunk {_decode(head)!r}: {_decode(line)[:80]!r}")
        body.append((op, line[1:] + b"\n"))
        if op in " -":
            old_seen += 1
        if op in " +":
            new_seen += 1
        i += 1
        if i < len(lines) and lines[i].startswith(b"\\"):
            body[-1] = (op, body[-1][1][:-1])
            i += 1
    if old_seen != old_len or new_seen != new_len:
        raise DiffFormatError(f"hunk {_decode(head)!r} line counts do not match its header")
    out.append(Hunk(_decode(head), old_start, old_len, new_start, new_len, tuple(body)))
    return i


def split_lines(data: bytes) -> list[bytes]:
    """Lines split on LF only, each keeping its newline (a CR stays part of the line)."""
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def apply_hunks(pre_image: bytes, patch: FilePatch) -> bytes:
    """The post-image of ``pre_image`` under ``patch``'s hunks, applied at exact positions.

    A deletion must remove every line of the pre-image (its post-image is empty): the file
    is removed as a whole, so its hunks are what reviewers and ``patches.max_lines`` see.
    """
    old = split_lines(pre_image)
    out: list[bytes] = []
    pos = 0
    for hunk in patch.hunks:
        start = hunk.old_start - 1 if hunk.old_len > 0 else hunk.old_start
        if start < pos:
            raise HunkMismatch(f"hunk {hunk.header} overlaps the previous one", hunk.header)
        if start > len(old):
            raise HunkMismatch(f"hunk {hunk.header} starts past the end of the file", hunk.header)
        out.extend(old[pos:start])
        pos = start
        for op, line in hunk.lines:
            if op in " -":
                if pos >= len(old) or old[pos] != line:
                    have = _decode(old[pos]).rstrip("\n") if pos < len(old) else "<end of file>"
                    raise HunkMismatch(
                        f"hunk {hunk.header}: line {pos + 1} is {have[:60]!r}, "
                        f"the diff expects {_decode(line).rstrip(chr(10))[:60]!r}",
                        hunk.header,
                    )
                pos += 1
            if op in " +":
                out.append(line)
    out.extend(old[pos:])
    if patch.deleted and out:
        # the file goes away whatever the hunks say, so hunks that do not empty it would
        # delete lines nobody reviewed (and that no line limit counted)
        header = patch.hunks[-1].header if patch.hunks else "deleted file"
        raise HunkMismatch(
            f"the diff deletes the file but its hunks remove only {len(old) - len(out)} "
            f"of its {len(old)} lines",
            header,
        )
    return b"".join(out)
