"""How counts and file names read, shared by the stages (pure) and the publisher (shell).

Both say "1 error, 2 warnings" and "1 changed file" the same way, and show a file name the
same way in Markdown. This module owns the Markdown escaping of text Shunter did not write
(mentions, HTML, pipes, backticks, line breaks); ``bot.publishing.markdown`` adds secret
masking and byte limits on top of it; living here rather than in ``bot.publishing`` keeps the stages'
imports light (the publisher's pull in the store and SQLAlchemy, a quarter of a second at
every ``shunter run``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from bot.models import Finding, Severity


def plural(count: int, word: str, plural_word: str | None = None) -> str:
    """``1 error``, ``2 errors``; ``plural_word`` for irregular ones (``1 fix``, ``2 fixes``)."""
    return f"{count} {word if count == 1 else (plural_word or word + 's')}"


def findings_title(findings: Iterable[Finding], *, neutral: bool = False, why: str | None = None) -> str:
    """``3 errors, 2 warnings``; ``No findings``; prefixed ``Incomplete`` when neutral, with
    ``why`` in brackets when the stage says what it could not do (the title is what people
    see in the PR's list of checks)."""
    counts = Counter(f.severity for f in findings)
    parts = [
        plural(counts[severity], severity.value)
        for severity in (Severity.ERROR, Severity.WARNING, Severity.NOTICE)
        if counts[severity]
    ]
    title = ", ".join(parts) if parts else "No findings"
    if not neutral:
        return title
    return f"Incomplete ({why}): {title}" if why else f"Incomplete: {title}"


_GIT_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f",
    "\r": "\\r", '"': '\\"', "\\": "\\\\",
}
# bidirectional controls: U+202E in "evil\u202egnp.py" shows the name as "evilyp.png"
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSHOWABLE = re.compile(f"[\\x00-\\x1f\\x7f\\ud800-\\udfff{_BIDI}]")
_BIDI_CHAR = re.compile(f"[{_BIDI}]")
_BACKTICKS = re.compile(r"`+")


def shown_path(path: str) -> str:
    """A file name as one line that says what is really there.

    A name holding a newline, a tab or another control character, or bytes that are not
    UTF-8 (decoded with ``surrogateescape``), is quoted the way git quotes it:
    ``"a\\nb.py"``, ``"caf\\351.py"``. Collapsing the newline into a space, as prose does,
    would name a file that does not exist; printing it raw splits the line it is in. A
    bidirectional control (U+202E and its kin) is quoted too, as git does: raw, it shows a
    reviewer the name reversed (``evil\\u202egnp.py`` reads ``evilyp.png``)."""
    if not _UNSHOWABLE.search(path):
        return path
    out = []
    for char in path:
        code = ord(char)
        if char in _GIT_ESCAPES:
            out.append(_GIT_ESCAPES[char])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte surrogateescape could not decode
            out.append(f"\\{code - 0xDC00:03o}")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\{code:03o}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        elif _BIDI_CHAR.match(char):  # as git quotes it: its UTF-8 bytes in octal
            out.append("".join(f"\\{byte:03o}" for byte in char.encode("utf-8")))
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def path_code(path: str, *, suffix: str = "", table: bool = False, max_chars: int = 300) -> str:
    """``path`` (then ``suffix``, e.g. ``:12``) as a Markdown code span that nothing in the
    name can break: quoted by :func:`shown_path`, then fenced by :func:`code_span`."""
    name = shown_path(path)
    if len(name) > max_chars:
        name = name[: max_chars - 1] + "…"
    return code_span(name + suffix, table=table)


_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")


def typed_code(text: str, *, max_chars: int = 80) -> str:
    """Text someone typed (a command line, a finding id, an option), echoed in a reply as
    one Markdown code span that nothing in it can break or turn into a ping.

    Line breaks and other control characters become one space (a line starting ``#`` or
    ``>`` would otherwise end the span and start a heading or a quote); ``@`` gets an
    invisible word joiner after it, so ``@org/team`` notifies no one even if a renderer
    links mentions in code; past ``max_chars`` it ends with an ellipsis."""
    flat = _LINE_BREAKS.sub(" ", text)
    if len(flat) > max_chars:
        flat = flat[: max_chars - 1] + "…"
    return code_span(unmention(flat))


def quoted_code(text: str, *, max_lines: int = 20, max_chars: int = 1000) -> str:
    """Text Shunter did not write (a git error, a conflict list) as a Markdown block quote,
    each line its own :func:`typed_code` span: a ``> `` before only the first line left
    the rest unquoted (a line starting ``#`` became a heading), and raw text could ping
    ``@org/team`` or render ``__init__`` bold. Blank lines are dropped; past ``max_lines``
    the quote says how many more there were."""
    lines = [line for line in text.splitlines() if line.strip()] or [""]
    shown = [f"> {typed_code(line, max_chars=max_chars)}" for line in lines[:max_lines]]
    if len(lines) > max_lines:
        shown.append(f"> … and {plural(len(lines) - max_lines, 'more line')}")
    return "\n".join(shown)


WORD_JOINER = "\u2060"
# "@login" or "@org/team" after anything but a word character (which makes it an e-mail
# address): GitHub links a mention after a space, a backtick or a bracket alike
_MENTION = re.compile(r"(?<!\w)@(?=[A-Za-z0-9])")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)")  # a backtick run, then the same run


def unmention(text: str) -> str:
    """``text`` with an invisible word joiner after the ``@`` of every mention, so
    ``@alice`` and ``@org/team`` notify no one, in prose, table cells and code spans alike
    (one character everywhere: a second way of doing it would drift). E-mail addresses stay
    as they are."""
    return _MENTION.sub("@" + WORD_JOINER, text)


def _unmarked(text: str) -> str:
    """``<!--`` broken up with a zero-width space where it must read as written (a code
    span shows ``&lt;`` literally): a raw marker in a body could fool anything that
    searches comment bodies for Shunter's markers."""
    return text.replace("<!--", "<!\u200b--")


def one_line(text: str, max_chars: int = 200) -> str:
    """``text`` with every run of whitespace (line breaks end tables and list items) made
    one space, past ``max_chars`` ending with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= max_chars else flat[: max_chars - 1] + "…"


def table_cell(text: str, max_chars: int = 200) -> str:
    """Text Shunter did not write (a finding's message) as one Markdown table cell: one
    line, no pipes, no HTML, no mentions, its code spans kept as code.

    Outside code spans ``<`` and ``&`` are escaped (``<details>`` would swallow the rest of
    the page); inside they stay as they are, since a code span shows ``&lt;`` literally. A
    backtick that opens no span is shown as it is. Links and issue references are made
    inert as in :func:`markdown_block`."""
    return inline_text(text, max_chars).replace("|", "\\|")


def inline_text(text: str, max_chars: int = 200) -> str:
    """Text Shunter did not write as one line outside a table (a list item, a sentence):
    :func:`table_cell` without its escaped pipes, which a code span outside a table would
    show with their backslash."""
    return _inert_outside_spans(one_line(text, max_chars))


def _inert_outside_spans(text: str) -> str:
    """``text`` with :func:`_inert` applied outside its code spans and ``<!--`` broken up
    inside them, mentions broken everywhere."""
    parts, start = [], 0
    for span in _CODE_SPAN.finditer(text):
        parts += [_inert(text[start : span.start()]), _unmarked(span.group())]
        start = span.end()
    parts.append(_inert(text[start:]))
    return unmention("".join(parts))


def prose_block(text: str) -> str:
    """Multi-line text Shunter did not write, kept as Markdown: no HTML comments (forged
    markers) and no mentions. Other HTML is left alone: GitHub sanitises it, and stage
    summaries use ``<details>``."""
    return unmention(text.replace("<!--", "&lt;!--"))


# "#12", "GH-12", "octo/other#12": GitHub links each to an issue, and a bot's comment naming
# another repository's issue puts a "mentioned this" entry on that timeline
_REFERENCE = re.compile(r"(#|\bGH-)(?=\d)", re.IGNORECASE)


def _inert(text: str) -> str:
    """Text outside code made to read as written: no HTML (``<details>`` would swallow the
    rest of the body, ``<img>`` would show a picture), no Markdown links or images
    (``[docs](https://evil)`` would be a link in Shunter's voice; a bare URL still links,
    showing where it goes), and an invisible word joiner after the ``#`` or ``GH-`` of an
    issue reference, which GitHub links (and cross-references) even after a backslash."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _unreferenced(text.replace("[", "\\[").replace("]", "\\]"))


def _unreferenced(text: str) -> str:
    """An invisible word joiner after the ``#`` or ``GH-`` of every issue reference."""
    return _REFERENCE.sub(lambda m: m[1] + WORD_JOINER, text)


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def markdown_block(text: str) -> str:
    """Multi-line text Shunter did not write that may itself be Markdown (a finding's
    message, a model's explanation or answer), quoted so that it reads as written and
    cannot change the rest of the body.

    Code spans and fenced code blocks stay code; a fence still open at the end is closed
    (else it would swallow Shunter's own lines after it, the dismiss hint and the marker
    included). Outside code, HTML, links and issue references are made inert
    (:func:`_inert`) and mentions are broken (:func:`unmention`; a code block's lines are
    left as written, since GitHub pings no one from there and a copied line must work);
    everywhere ``<!--`` is broken up, so no comment marker is forged."""
    out: list[str] = []
    prose: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence is None and match and not (match[1][0] == "`" and "`" in match[2]):
            out.append(_inert_outside_spans("\n".join(prose)))
            prose, fence = [], match[1]
            out.append(_unmarked(line))
        elif fence is not None:
            out.append(_unmarked(line))  # GitHub pings no one from a code block
            if match and match[1][0] == fence[0] and len(match[1]) >= len(fence) and not match[2].strip():
                fence = None
        else:
            prose.append(line)
    if fence is not None:
        out.append(fence)
    else:
        out.append(_inert_outside_spans("\n".join(prose)))
    return "\n".join(part for part in out if part)


_MARKUP = re.compile(r"([\\`*_\[\]<>|&!~#$])")
_BLOCK_START = re.compile(r"^(?:([-+=])|(\d{1,9})([.)]))")


def prose_text(text: str, *, max_chars: int = 120) -> str:
    """Text Shunter did not write (a change's title, which may hold a file name) as plain
    text on one line of a reply: in a sentence, between ``**``, after a list item's ``- ``,
    or in a table cell. Raw, a ``|`` split a table row, a line break ended the table or the
    line, a backtick, ``*`` or ``<`` rendered, a leading ``- `` or ``1. `` started a list,
    an ``@org/team`` pinged the team.

    Line breaks and control characters become one space; every character that could
    start markup (``|`` included, which GFM splits cells on before anything else, and ``$``,
    GitHub's math) is escaped with a backslash, and so is a list or heading marker that
    starts the text; a mention gets an invisible word joiner (:func:`unmention`), and
    ``<!--`` is broken up, as in :func:`code_span`; an issue reference (``\\#12`` is linked
    all the same) gets a word joiner too (:func:`_unreferenced`); past ``max_chars`` it ends
    with an ellipsis."""
    flat = _LINE_BREAKS.sub(" ", text).strip()
    if len(flat) > max_chars:
        flat = flat[: max_chars - 1] + "…"
    flat = _MARKUP.sub(r"\\\1", _unmarked(flat))
    flat = _BLOCK_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", flat)
    return unmention(_unreferenced(flat)) or " "


def code_span(text: str, *, table: bool = False) -> str:
    """``text`` as one CommonMark code span: fenced with more backticks than any run in it,
    padded when it starts or ends with a backtick or a space (CommonMark strips one space
    from each end), ``|`` escaped in table cells (GFM splits cells even inside code spans)
    and ``<!--`` broken up (a forged Shunter marker in a body could fool a search)."""
    text = _unmarked(text or " ")
    if table:
        text = text.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    edge = text[:1] + text[-1:]
    pad = " " if "`" in edge or (edge == "  " and text.strip()) else ""
    return f"{fence}{pad}{text}{pad}{fence}"
