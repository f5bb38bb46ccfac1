"""Markdown pieces that are safe with untrusted text in them.

Finding messages, rule ids, file paths and command arguments come from analyzers, LLMs and
PR authors: they must not break a table, close a code fence, open an HTML comment (which
could forge Shunter's summary marker), or ping people with @mentions. And a token that an
analyzer echoed into a message must not be published: every helper here masks secrets.
"""

from __future__ import annotations

import re

from bot.publishing.limits import size
from bot.store.redaction import redact_secrets

_BACKTICK_RUN = re.compile(r"`+")
# a CommonMark code span: a backtick run, then the first run of the same length
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)")
# "@login" or "@org/team" not preceded by a word character (e-mail addresses stay intact).
_MENTION = re.compile(r"(?<![\w`])@(?=[A-Za-z0-9])")


def clip(text: str, max_bytes: int, *, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes, never inside a character."""
    if size(text) <= max_bytes:
        return text
    room = max(max_bytes - size(ellipsis), 0)
    return text.encode("utf-8")[:room].decode("utf-8", errors="ignore") + ellipsis


def one_line(text: str, max_chars: int = 200) -> str:
    """Collapse whitespace (newlines break tables and list items) and clip."""
    flat = " ".join(redact_secrets(text).split())
    return flat if len(flat) <= max_chars else flat[: max_chars - 1] + "…"


def cell(text: str, max_chars: int = 200) -> str:
    """Text for a Markdown table cell: one line, no pipes, no HTML, no mentions.

    Code spans in ``text`` (a file name in a finding's message) keep ``<`` and ``&`` as
    they are: GitHub shows a code span's text literally, so ``&lt;`` would be printed."""
    flat = one_line(text, max_chars)
    parts, start = [], 0
    for span in _CODE_SPAN.finditer(flat):
        parts += [_no_html(flat[start : span.start()]), span.group().replace("<!--", "<!\u200b--")]
        start = span.end()
    parts.append(_no_html(flat[start:]))
    return _MENTION.sub("@\u200b", "".join(parts).replace("|", "\\|"))


def _no_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str, max_chars: int = 200, *, table: bool = False) -> str:
    """Inline code that survives backticks inside (CommonMark: a longer fence).

    ``table=True`` escapes pipes, which GFM honours even inside code spans in tables.
    """
    # A code span shows "<!--" literally, but a raw marker in the body could still fool
    # anything that searches comment bodies for Shunter's markers.
    flat = one_line(text, max_chars).replace("<!--", "<!\u200b--")
    if table:
        flat = flat.replace("|", "\\|")
    longest = max((len(run) for run in _BACKTICK_RUN.findall(flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def fence_for(text: str, minimum: int = 3) -> str:
    """A code-block fence longer than any backtick run in ``text``."""
    longest = max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0)
    return "`" * max(minimum, longest + 1)


def plain(text: str) -> str:
    """Multi-line untrusted prose: no HTML comments (forged markers) and no mentions.

    Other HTML is left alone: GitHub sanitises it, and stage summaries use ``<details>``.
    """
    return _MENTION.sub("@\u200b", redact_secrets(text).replace("<!--", "&lt;!--"))

