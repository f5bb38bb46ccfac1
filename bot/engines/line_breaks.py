"""Lines as git and GitHub number them (pure).

A diff's line maps, inline comments, annotations and SARIF regions count lines at ``\\n``
only: a CRLF file (written on Windows) has the same line numbers as its LF twin. Python's
``str.splitlines`` also cuts at a form feed (``^L`` page breaks between sections, as in
CPython's email package), a lone ``\\r``, U+0085, U+2028 and others, so a finding whose line
was counted by it was reported one line further down per such break above it.
"""

from __future__ import annotations

import re

# line breaks ``str.splitlines`` honours besides "\n" (and the "\r" of a CRLF)
_OTHER_BREAKS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def diff_lines(text: str) -> list[str]:
    """``text`` cut at ``\\n`` only, each line without its end (nor the ``\\r`` of a CRLF):
    line ``n`` of the diff is ``diff_lines(text)[n - 1]``."""
    if not any(brk in text for brk in _OTHER_BREAKS):
        return text.splitlines()  # the same cut, and faster
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


_LONE_CR = re.compile(r"\r(?!\n)")


def has_lone_cr(text: str) -> bool:
    """A ``\\r`` not before a ``\\n`` (an old Mac line end, or one left inside a line):
    Python, ast and ruff start a line there, git and GitHub do not, so their line numbers
    part from there on."""
    return "\r" in text and _LONE_CR.search(text) is not None
