"""Which text on a Python file's lines is code, and which is a comment or a docstring.

The review heuristics match lines as text, and text inside string literals is data: a
``print(...)`` in a module docstring's usage example (IPython's ``core/hooks.py``), the
``pdb.set_trace()`` in the source a test writes for pytest's own debugger tests, the
``# TODO`` a code generator emits. ``tokenize`` knows where each literal starts and ends,
across lines, so the heuristics can look at the code alone and, for TODO markers, at
comments and docstrings (where a note to the maintainers is written), not at string data.
"""

from __future__ import annotations

import io
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# tokens a docstring may follow: the start of a statement
_STATEMENT_START = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}
_INVISIBLE = {tokenize.NL, tokenize.COMMENT}
# Python 3.12 splits an f-string into FSTRING_START/MIDDLE/END; its text is in the middle
_STRING_TYPES = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}

Span = tuple[int, int]  # start and end column on one line


@dataclass(frozen=True)
class PythonLines:
    """Per line number: the column spans holding strings, docstrings and comments."""

    strings: dict[int, list[Span]]  # every string literal, docstrings included
    docstrings: dict[int, list[Span]]  # strings that are a statement of their own
    comments: dict[int, list[Span]]

    def code(self, number: int, line: str) -> str:
        """``line`` with its strings and comments blanked: what the interpreter runs."""
        return _blank(line, [*self.strings.get(number, ()), *self.comments.get(number, ())])

    def note(self, number: int, line: str) -> str:
        """Only the comment and docstring text on ``line``: where a TODO is a note."""
        spans = sorted([*self.docstrings.get(number, ()), *self.comments.get(number, ())])
        return " ".join(line[a:b] for a, b in spans)


def _blank(line: str, spans: Iterable[Span]) -> str:
    chars = list(line)
    for start, end in spans:
        for i in range(start, min(end, len(chars))):
            chars[i] = " "
    return "".join(chars)


def _spread(start: tuple[int, int], end: tuple[int, int], width: int = 1 << 30) -> Iterator[tuple[int, Span]]:
    """The per-line spans of a token running from ``start`` to ``end`` (row, column)."""
    (row, col), (end_row, end_col) = start, end
    for number in range(row, end_row + 1):
        yield number, (col if number == row else 0, end_col if number == end_row else width)


def read(text: str) -> PythonLines | None:
    """Where ``text``'s strings, docstrings and comments are; None when it does not
    tokenize (a conflict or a syntax error mid-string): then every line counts as code."""
    strings: dict[int, list[Span]] = {}
    docstrings: dict[int, list[Span]] = {}
    comments: dict[int, list[Span]] = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    previous = tokenize.ENCODING  # the last visible token's type
    for index, token in enumerate(tokens):
        if token.type in _STRING_TYPES:
            spans = list(_spread(token.start, token.end))
            for number, span in spans:
                strings.setdefault(number, []).append(span)
            if (
                token.type == tokenize.STRING
                and previous in _STATEMENT_START
                and _ends_statement(tokens, index)
            ):
                for number, span in spans:
                    docstrings.setdefault(number, []).append(span)
        elif token.type == tokenize.COMMENT:
            comments.setdefault(token.start[0], []).append((token.start[1], token.end[1]))
        if token.type not in _INVISIBLE:
            previous = token.type
    return PythonLines(strings, docstrings, comments)


def _ends_statement(tokens: list[tokenize.TokenInfo], index: int) -> bool:
    """Whether the string at ``index`` is a whole statement (a docstring, or a bare string
    used as a comment): the next visible token ends the line."""
    for token in tokens[index + 1 :]:
        if token.type not in _INVISIBLE:
            return token.type in (tokenize.NEWLINE, tokenize.ENDMARKER)
    return True
