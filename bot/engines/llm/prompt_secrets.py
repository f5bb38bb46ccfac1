"""Secrets masked out of everything sent to an LLM, and out of what a model says back.

An LLM provider is often a third party. A pull request that adds ``AWS_KEY = "AKIA..."``
must not hand the key to it inside the diff, and a model that writes a secret-shaped
string (one it reproduced from context, or one of its own) must not get it published.
Both directions use the same detectors as the security stage (Shunter's named patterns
and detect-secrets) and the same mask (``AKIA***``, ``ghp_***``, a password's ``***``).

Masking keeps every line where it was, and each line's prefix (a diff's line-number
column, its ``+``), so the line numbers a model cites still map to the diff. Pure
functions: text in, text and a count out. ``HTTPChatProvider.complete`` applies
:func:`mask_messages` to every request, so no call site can send a prompt unmasked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.engines import secrets_scan
from bot.engines.llm.protocol import Message
from bot.engines.redaction import PRIVATE_KEY_BLOCK, find_secrets, mask
from bot.engines.secret_files import URL_CREDENTIALS_RESERVED
from bot.errors import EngineError

_KEY_MATERIAL = re.compile(r"[A-Za-z0-9/][A-Za-z0-9+/=]{15,}")
"""Base64 runs inside a private-key block; a diff's line-number column and ``+`` are not."""
_SCANNED_AS = "prompt"
"""The file name detect-secrets is told: no extension, so its generic detectors apply."""
_WHOLE_TEXT_MIN = 12
"""A value this long is masked wherever it recurs (the PR body quoting the diff's key);
a shorter one only on the line it was found, where it is known to be a secret."""


@dataclass(frozen=True)
class Masked:
    """Text with its secrets masked, and how many distinct secrets were masked."""

    text: str
    count: int


def mask_secrets(text: str) -> Masked:
    """``text`` with every secret the builtin detectors find masked, line for line.

    Raises ``EngineError`` when detect-secrets could not scan it: a prompt that could not
    be checked is not sent (fail closed).
    """
    if not text:
        return Masked(text, 0)
    lines = text.split("\n")
    blocks, block_lines = _mask_key_blocks(lines)
    values = _own_pattern_values(lines)
    found = secrets_scan.detected_values(_SCANNED_AS, "\n".join(lines))
    if found is None:
        raise EngineError(
            "the text for the LLM could not be checked for secrets, so it was not sent",
            hint="this is a bug in the secrets scanner; the builtin engine still works",
        )
    whole_lines = 0
    for number, value in found:
        if number in block_lines or _named_already(value, number, values):
            continue  # the key's block, or a value Shunter's own pattern found more precisely
        if value is None:  # detect-secrets kept no value: the whole line goes
            whole_lines += 1
            lines[number - 1] = "***"
        elif "***" not in value:  # a mask found again is no new secret
            values.setdefault(value, (mask(value), {number}))[1].add(number)
    for value, (masked, numbers) in sorted(values.items(), key=lambda item: -len(item[0])):
        if len(value) >= _WHOLE_TEXT_MIN or not any(value in lines[n - 1] for n in numbers):
            numbers = set(range(1, len(lines) + 1))
        for n in numbers:
            lines[n - 1] = lines[n - 1].replace(value, masked)
    return Masked("\n".join(lines), blocks + len(values) + whole_lines)


def _mask_key_blocks(lines: list[str]) -> tuple[int, set[int]]:
    """Mask private-key material in ``lines`` in place; returns how many keys were found,
    and the (1-based) lines they span. The BEGIN/END lines stay (they name the kind,
    nothing secret): only the body goes."""
    text = "\n".join(lines)
    spans = [m.span() for m in PRIVATE_KEY_BLOCK.finditer(text)]
    if not spans:
        return 0, set()
    out: list[str] = []
    cursor, covered = 0, set[int]()
    for start, end in spans:
        first = text.count("\n", 0, start) + 1
        covered.update(range(first, first + text.count("\n", start, end) + 1))
        header_end = text.index("-----", text.index("PRIVATE KEY", start)) + len("-----")
        out.append(text[cursor:header_end])
        out.append(_KEY_MATERIAL.sub("***", text[header_end:end]))
        cursor = end
    out.append(text[cursor:])
    lines[:] = "".join(out).split("\n")
    return len(spans), covered


def _own_pattern_values(lines: Sequence[str]) -> dict[str, tuple[str, set[int]]]:
    """Each value Shunter's named patterns find: its mask and the lines it was found on.

    With them, a URL's password holding a character detect-secrets' basic-auth detector
    stops at: ``postgres://app:p@ss...@db`` went out whole, since detect-secrets read ``p``
    and dropped it as too short."""
    values: dict[str, tuple[str, set[int]]] = {}
    for number, line in enumerate(lines, start=1):
        for match in find_secrets(line, (URL_CREDENTIALS_RESERVED,)):
            if match.pattern.id != "private-key":  # its body was masked with the block
                values.setdefault(match.value, (match.masked, set()))[1].add(number)
    return values


def _named_already(
    value: str | None, number: int, values: dict[str, tuple[str, set[int]]]
) -> bool:
    """Whether a detect-secrets hit on line ``number`` is a value (or a part of one, as its
    GitHub detector reports ``ghp``) that Shunter's own patterns found on that line."""
    return value is not None and any(
        number in lines and (value in own or own in value) for own, (_, lines) in values.items()
    )


def mask_messages(messages: Iterable[Message]) -> tuple[list[Message], int]:
    """Every turn's content masked; the number of secrets masked over all turns."""
    out: list[Message] = []
    total = 0
    for message in messages:
        masked = mask_secrets(message["content"])
        out.append({"role": message["role"], "content": masked.text})
        total += masked.count
    return out, total


def masked_note(count: int) -> list[str]:
    """A run's note on the secrets kept from the provider: how many, never which."""
    if not count:
        return []
    noun = "secret was" if count == 1 else "secrets were"
    return [
        f"{count} {noun} masked in the text sent to the model, which never saw "
        f"{'it' if count == 1 else 'them'}. `shunter/security` names where, with its "
        "`secrets` scanner on: remove and rotate them."
    ]


WITHHELD = "(Shunter withheld the model's text here: it could not be checked for secrets.)"


def mask_reply(text: str) -> str:
    """Model text about to be published (a finding's message, an explanation, an answer)
    with its secrets masked; withheld whole when it could not be checked (fail closed)."""
    try:
        return mask_secrets(text).text
    except EngineError:
        return WITHHELD


def holds_secret_or_mask(text: str) -> bool:
    """Whether model text meant to become code (a suggested replacement, a generated test)
    holds a secret, or a mask Shunter put in the prompt: either would be committed as is,
    so such text is dropped, never masked. True when it could not be checked."""
    if "***" in text:
        return True
    try:
        return mask_secrets(text).count > 0
    except EngineError:
        return True
