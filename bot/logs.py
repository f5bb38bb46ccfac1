"""Structured logging: structlog over the standard library, with secrets scrubbed.

Every log line can carry ``delivery``, ``repo``, ``pr`` and ``run`` (bind them with
:func:`bind`); the last processor before rendering masks anything that looks like a token,
so a careless ``log.info("...", headers=...)`` cannot leak credentials.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

_SECRET_PATTERNS = [
    re.compile(r"\b(gh[pousr]_)[A-Za-z0-9]{20,}"),
    re.compile(r"\b(github_pat_)[A-Za-z0-9_]{20,}"),
    re.compile(r"(x-access-token:)[^@\s\"']+"),
    re.compile(r"((?:Bearer|token)\s+)[A-Za-z0-9._\-]{16,}", re.IGNORECASE),
    re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----)"),
    re.compile(r"(sha256=)[0-9a-f]{64}"),
    re.compile(r"(eyJ[A-Za-z0-9_\-]{4})[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+"),
]
_SENSITIVE_KEYS = {"token", "password", "secret", "private_key", "authorization", "api_key"}


def scrub(text: str) -> str:
    """Mask token-shaped substrings, keeping a short prefix so people can tell what it was."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: f"{m.group(1)}***", text)
    return text


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {
            k: "***" if str(k).lower() in _SENSITIVE_KEYS else _scrub_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_scrub_value(v) for v in value)
    return value


def _scrub_processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> Any:
    for key in list(event_dict):
        if key.lower() in _SENSITIVE_KEYS:
            event_dict[key] = "***"
        else:
            event_dict[key] = _scrub_value(event_dict[key])
    return event_dict


def _secrets_processor(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """The security stage's detectors (cloud keys, private keys, ...) over every field."""
    from bot.engines.redaction import structlog_processor

    return structlog_processor(logger, method, event_dict)


def configure(level: str = "INFO", fmt: str = "console") -> None:
    """Configure structlog and the stdlib root logger once per process."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _scrub_processor,
        _secrets_processor,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # not cached: a module's logger first used under one configure() kept that
        # processor list for ever, so after a second configure() in the process (the test
        # suite runs several commands) capture_logs and the new settings missed it; the
        # lookup costs microseconds per line
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # bandit's optional report formatters (e.g. SARIF via sarif_om) fail to load through
    # stevedore; Shunter writes its own SARIF, so those plugin errors are noise.
    logging.getLogger("stevedore").setLevel(logging.CRITICAL)


def get_logger(name: str | None = None) -> Any:
    return structlog.stdlib.get_logger(name)


@contextmanager
def bind(**values: Any) -> Iterator[None]:
    """Bind context (delivery, repo, pr, run, ...) to every log line inside the block."""
    tokens = structlog.contextvars.bind_contextvars(
        **{k: v for k, v in values.items() if v is not None}
    )
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
