"""Known secret shapes, and masking them wherever text leaves Shunter.

The security stage names a leaked secret by kind and location, never by value. The same
patterns serve log processors and the publisher: anything that might echo user text can
pass it through ``redact`` first, so a token pasted into a PR never reaches a log line,
a comment, a SARIF file or the run store in clear.
"""

from __future__ import annotations

import base64
import logging
import math
import re
from collections import Counter
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

KEEP = 4
"""The length of the well-known prefixes most kinds start with (``AKIA``, ``ghp_``, ``AIza``)."""


@dataclass(frozen=True)
class SecretPattern:
    """One recognisable kind of secret. ``group`` is the regex group holding the value.

    ``keep`` is the length of the kind's well-known prefix (``AKIA``, ``ghp_``, ``xoxb-``),
    shown in clear because it names the kind; it is 0 for kinds without one (a password),
    whose every character is secret. ``fingerprint_keep`` is what ``keep`` was when a kind's
    findings were first fingerprinted, where it has changed since: the fingerprint hashes
    the line with the value masked that way, and must not change (``/shunter dismiss`` and
    the inline comments posted once are keyed on it).
    """

    id: str
    kind: str
    regex: re.Pattern[str]
    group: int = 0
    confidence: str = "high"
    keep: int = 0
    min_entropy: float = 0.0
    fingerprint_keep: int | None = None

    @property
    def keep_in_fingerprints(self) -> int:
        return self.keep if self.fingerprint_keep is None else self.fingerprint_keep


def _p(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


PRIVATE_KEY_BLOCK = _p(
    r"-----BEGIN ((?:RSA |DSA |EC |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?)-----"
    r"(?:[\s\S]*?-----END \1-----|[\s\S]*)"
)


def _base64_private_key_headers() -> str:
    """The base64 text every base64-encoded PEM private key starts with, one per kind.

    A kubeconfig's ``client-key-data``, a Kubernetes Secret's ``tls.key`` and Helm values
    hold the PEM file base64-encoded, where ``-----BEGIN ... PRIVATE KEY-----`` is not to
    be seen; the header's encoding is fixed up to its last whole group of three bytes."""
    kinds = ("", "RSA ", "DSA ", "EC ", "OPENSSH ", "ENCRYPTED ", "PGP ")
    headers = [f"-----BEGIN {kind}PRIVATE KEY{' BLOCK' if kind == 'PGP ' else ''}-----" for kind in kinds]
    prefixes = [base64.b64encode(h[: len(h) // 3 * 3].encode()).decode() for h in headers]
    return "|".join(re.escape(p) for p in prefixes)


PATTERNS: tuple[SecretPattern, ...] = (
    SecretPattern(
        "private-key",
        "private key",
        _p(r"-----BEGIN (?:RSA |DSA |EC |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----"),
        keep=0,
    ),
    SecretPattern(
        "private-key-base64",
        "base64-encoded private key",
        _p(rf"(?<![A-Za-z0-9+/])((?:{_base64_private_key_headers()})[A-Za-z0-9+/]*={{0,2}})"),
        group=1,
        keep=0,
    ),
    SecretPattern(
        "aws-access-key-id",
        "AWS access key id",
        _p(r"\b((?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16})\b"),
        group=1,
        keep=KEEP,
    ),
    SecretPattern(
        "aws-secret-access-key",
        "AWS secret access key",
        _p(
            r"(?i)aws_?secret_?(?:access_?)?key\W{0,4}[:=]\s*[\"']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
        ),
        group=1,
        keep=0,
    ),
    SecretPattern(
        "github-token",
        "GitHub token",
        _p(r"\b(gh[pousr]_[A-Za-z0-9]{36,255})\b"),
        group=1,
        keep=KEEP,
    ),
    SecretPattern(
        "github-fine-grained-token",
        "GitHub fine-grained token",
        _p(r"\b(github_pat_[A-Za-z0-9_]{22,255})\b"),
        group=1,
        keep=len("github_pat_"),
    ),
    SecretPattern(
        "slack-token",
        "Slack token",
        _p(r"\b(xox[abposr]-[0-9A-Za-z-]{10,250})\b"),
        group=1,
        keep=5,
    ),
    SecretPattern(
        "slack-webhook",
        "Slack webhook URL",
        _p(r"(https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+)"),
        group=1,
        keep=len("https://hooks.slack.com/services/"),
    ),
    SecretPattern(
        "stripe-key",
        "Stripe key",
        _p(r"\b((?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,247})\b"),
        group=1,
        keep=8,
    ),
    SecretPattern(
        "google-api-key",
        "Google API key",
        _p(r"\b(AIza[0-9A-Za-z_\-]{35})(?![0-9A-Za-z_\-])"),
        group=1,
        keep=KEEP,
    ),
    SecretPattern(
        "pypi-token",
        "PyPI upload token",
        _p(r"\b(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,})"),
        group=1,
        keep=5,
    ),
    SecretPattern(
        "generic-secret-assignment",
        "hard-coded credential",
        _p(
            r"(?i)\b[\w.-]*(?:passw(?:or)?d|passwd|secret|token|api_?key|access_?key|auth_?key)"
            # an annotation may stand before the "=": ``api_token: str = "..."`` in a settings class
            r"[\w.-]*[\"']?(?:\s*:\s*[\w.\[\], |]+?(?=\s*=))?\s*(?::=|=|:)\s*"
            r"(?P<prefix>[bfrtu]{0,2})[\"']([^\"'\s]{12,})[\"']"
        ),
        group=2,
        confidence="medium",
        min_entropy=3.5,
        fingerprint_keep=KEEP,
    ),
)


def entropy(value: str) -> float:
    """Shannon entropy in bits per character: placeholders are low, keys are high."""
    if not value:
        return 0.0
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def mask(value: str, keep: int = 0) -> str:
    """``ghp_***`` or ``***``: at most the first ``keep`` characters, which callers set to
    the length of a well-known prefix naming the kind, never to any of the random part.

    Short values are masked entirely, so masking never reveals most of a secret.
    """
    keep = 0 if len(value) < 8 else max(0, min(keep, len(value) // 3))
    return f"{value[:keep]}***"


@dataclass(frozen=True)
class SecretMatch:
    pattern: SecretPattern
    start: int
    end: int
    value: str

    @property
    def masked(self) -> str:
        return mask(self.value, self.pattern.keep)


def find_secrets(text: str, extra: tuple[SecretPattern, ...] = ()) -> Iterator[SecretMatch]:
    """Every known-shape secret in ``text`` (one line or many), first pattern wins a span;
    ``extra``: patterns that apply to the file ``text`` comes from only (after the rest)."""
    taken: list[tuple[int, int]] = []
    for pattern in (*PATTERNS, *extra):
        for m in pattern.regex.finditer(text):
            start, end = m.span(pattern.group)
            value = m.group(pattern.group)
            literal = _literal_part(m, value)
            if literal is None or (pattern.min_entropy and entropy(literal) < pattern.min_entropy):
                continue
            if looks_like_placeholder(literal) and pattern.confidence != "high":
                continue
            if any(s < end and start < e for s, e in taken):
                continue
            taken.append((start, end))
            yield SecretMatch(pattern, start, end, value)


_FIELD = re.compile(r"\{\{|\}\}|\{[^{}]*\}")
_MIN_LITERAL = 12  # as many characters as the generic pattern asks of a plain string


def _literal_part(m: re.Match[str], value: str) -> str | None:
    """What the value spells out itself, None if too little for a secret: an f-string's
    (or a t-string's) ``{...}`` fields are code, so ``f"{settings.api_token}"`` holds no secret and
    ``f"{user}:Zq8#tLm2$wXv9!rKp4"`` does. Other values are judged whole."""
    if not {"f", "t"} & set((m.groupdict().get("prefix") or "").lower()):  # t: 3.14's templates
        return value
    literal = _FIELD.sub("", value)
    return literal if len(literal) >= _MIN_LITERAL else None


_PLACEHOLDER = re.compile(
    r"(?i)^(?:x+|\*+|<[^>]*>|\$\{[^}]*\}|\{\{[^}]*\}\}|%\([^)]*\)s)$"
    r"|your[_-]|example|placeholder|change[_-]?me|dummy|redacted|xxxx|\*\*\*"
)


def looks_like_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.search(value)) or value.startswith(("os.environ", "$"))


# user info before a host: no space, quote, "/" or template brace in either part, no "@"
# in the user, and a host (a name or an IPv6 literal) right after the "@"
URL_USER = r"[^\s:/?#\[\]@\"'`<>{}]+"
URL_USERINFO_CHAR = r"[^\s/@\"'`<>{}]"
# the rest of a password written with its "@" unencoded (postgres://app:p@ss@db/app): the
# user info ends at the authority's last "@", as URL parsers read it. What follows an inner
# "@" holds no ":", ";" or ",", which would make it a host and a second user (kombu's
# failover list amqp://guest:guest@host1;guest:guest@host2), and no "?" or "#" (a query's)
URL_INNER_AT = r"@[^\s/?#@:;,\"'`<>{}]+"
URL_AFTER_AT = r"@(?=[\w\[])"
URL_PASSWORD = rf"{URL_USERINFO_CHAR}+(?:{URL_INNER_AT})*"
"""A URL's password as a regex, for the secret patterns and the judge of example hosts."""

# A URL's password, whatever it looks like: a DSN in an error message or a log line
# (redis://:pw@host, postgresql://app:pw@db) names a real credential even when it is short
# or plain, which the shape patterns above let pass. The user may be empty (Redis's).
_URL_PASSWORD = re.compile(
    rf"(?i)(\b[a-z][a-z0-9+.-]*://(?:{URL_USER})?:)({URL_PASSWORD})(?={URL_AFTER_AT})"
)


def redact(text: str) -> str:
    """``text`` with every known secret and every URL's password masked, and private-key
    bodies removed."""
    if not text:
        return text
    text = PRIVATE_KEY_BLOCK.sub(lambda m: f"-----BEGIN {m.group(1)}----- [redacted]", text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + ("***" if m.group(2) != "***" else m.group(2)), text)
    matches = sorted(find_secrets(text), key=lambda m: m.start)
    if not matches:
        return text
    out: list[str] = []
    cursor = 0
    for m in matches:
        if m.pattern.id == "private-key":
            continue
        out.append(text[cursor : m.start])
        out.append(m.masked)
        cursor = m.end
    out.append(text[cursor:])
    return "".join(out)


def redact_value(value: Any) -> Any:
    """``redact`` applied through strings, lists and dicts (for structured log events)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


def structlog_processor(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: put it last before the renderer so nothing escapes it."""
    for key, value in list(event_dict.items()):
        event_dict[key] = redact_value(value)
    return event_dict


class RedactingFilter(logging.Filter):
    """A stdlib logging filter that masks secrets in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken %-format must not lose the record
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True
