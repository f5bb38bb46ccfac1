"""Markdown pieces that are safe with untrusted text in them, and hold no secret.

Finding messages, rule ids, file paths and command arguments come from analyzers, LLMs and
PR authors: they must not break a table, close a code fence, open an HTML comment (which
could forge Shunter's summary marker), or ping people with @mentions. ``bot.wording`` owns
that escaping, for the stages and the replies as well (two ways of neutralising a mention
would drift apart); this module adds what only publishing needs: a token an analyzer echoed
into a message must not be published, so every helper here masks secrets first, and bodies
are cut to GitHub's byte limits.
"""

from __future__ import annotations

import re

from bot.publishing.limits import size
from bot.store.redaction import redact_secrets
from bot.wording import code_span, inline_text, markdown_block, prose_block, table_cell
from bot.wording import one_line as _flat

_BACKTICK_RUN = re.compile(r"`+")


def clip(text: str, max_bytes: int, *, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes, never inside a character."""
    if size(text) <= max_bytes:
        return text
    room = max(max_bytes - size(ellipsis), 0)
    return text.encode("utf-8")[:room].decode("utf-8", errors="ignore") + ellipsis


def one_line(text: str, max_chars: int = 200) -> str:
    """Collapse whitespace (newlines break tables and list items), mask secrets and clip."""
    return _flat(redact_secrets(text), max_chars)


def cell(text: str, max_chars: int = 200) -> str:
    """Text for a Markdown table cell (:func:`bot.wording.table_cell`), secrets masked."""
    return table_cell(redact_secrets(text), max_chars)


def line(text: str, max_chars: int = 200) -> str:
    """One line of text outside a table, a note in a list (:func:`bot.wording.inline_text`),
    secrets masked."""
    return inline_text(redact_secrets(text), max_chars)


def code(text: str, max_chars: int = 200, *, table: bool = False) -> str:
    """Inline code that survives backticks inside (:func:`bot.wording.code_span`), on one
    line, secrets masked. ``table=True`` escapes pipes, which GFM honours even inside code
    spans in tables."""
    return code_span(one_line(text, max_chars), table=table)


def fence_for(text: str, minimum: int = 3) -> str:
    """A code-block fence longer than any backtick run in ``text``."""
    longest = max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0)
    return "`" * max(minimum, longest + 1)


def plain(text: str) -> str:
    """Multi-line untrusted prose (:func:`bot.wording.prose_block`), secrets masked."""
    return prose_block(redact_secrets(text))


def quoted(text: str) -> str:
    """Multi-line untrusted Markdown, a finding's message (:func:`bot.wording.markdown_block`):
    code kept, HTML, links and references inert, fences closed, secrets masked."""
    return markdown_block(redact_secrets(text))
