"""Masking secrets before anything reaches the database.

Audit payloads and step details are built from request bodies, git URLs and error messages;
an installation token in any of them would sit in the database (and its backups) for as
long as the audit log is kept. Every string the store persists passes through a redactor.

NUL characters are dropped here too (replaced by U+FFFD): PostgreSQL refuses them in text
columns and as ``\u0000`` in JSONB, so a comment holding one would otherwise crash the
write that records it (SQLite would have stored it, hiding the problem in development).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Redactor = Callable[[str], str]

MASK = "***"
NUL_REPLACEMENT = "\ufffd"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # GitHub tokens: installation (ghs_), personal (ghp_), OAuth (gho_), user-to-server
    # (ghu_), refresh (ghr_) and fine-grained PATs (github_pat_).
    (re.compile(r"\b(gh[psour]_)[A-Za-z0-9]{8,}"), r"\1" + MASK),
    (re.compile(r"\b(github_pat_)[A-Za-z0-9_]{8,}"), r"\1" + MASK),
    # Credentials inside git URLs: https://x-access-token:TOKEN@github.com/...
    (re.compile(r"(x-access-token:)[^@\s/\"']+", re.IGNORECASE), r"\1" + MASK),
    (re.compile(r"(://[^:/@\s]+:)[^@\s/\"']+(@)"), r"\1" + MASK + r"\2"),
    # Authorization headers copied into error messages.
    (
        re.compile(
            r"(authorization[\"']?\s*[:=]\s*[\"']?(?:token|bearer|basic)\s+)[^\s\"',]+",
            re.IGNORECASE,
        ),
        r"\1" + MASK,
    ),
    (re.compile(r"\b(Bearer\s+)[A-Za-z0-9._~+/=-]{16,}"), r"\1" + MASK),
    # Private keys pasted anywhere.
    (
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)",
            re.DOTALL,
        ),
        "-----BEGIN PRIVATE KEY-----" + MASK + "-----END PRIVATE KEY-----",
    ),
]


def redact_secrets(text: str) -> str:
    """The default redactor: GitHub tokens, URL credentials, auth headers, PEM keys."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def without_nul(text: str) -> str:
    """``text`` with every NUL replaced by U+FFFD, which both databases accept."""
    return text.replace("\x00", NUL_REPLACEMENT) if "\x00" in text else text


def nul_free_json(value: Any) -> Any:
    """A JSON-shaped value whose strings (keys included) hold no NUL; other leaves unchanged."""
    if isinstance(value, str):
        return without_nul(value)
    if isinstance(value, dict):
        return {without_nul(k) if isinstance(k, str) else k: nul_free_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nul_free_json(v) for v in value]
    return value


def redact_json(value: Any, redact: Redactor) -> Any:
    """Apply ``redact`` to every string (keys included) of a JSON-shaped value."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): redact_json(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(v, redact) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))
