"""Logging configuration: a module's logger follows the configuration in force when it
logs, not the one in force when it first logged. structlog's first-use cache pinned the
latter: after two commands had configured logging in one process (the test suite runs
several), ``capture_logs`` saw nothing from a logger first used between them."""

from __future__ import annotations

import logging

import structlog
from structlog.testing import capture_logs

from bot.logs import configure, get_logger


def test_a_logger_used_under_one_configuration_follows_the_next() -> None:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure("INFO", "console")
        log = get_logger("bot.tests.logging_config")
        log.info("first line, under shunter's configuration")
        configure("WARNING", "json")  # another command in the same process
        with capture_logs() as logs:
            log.warning("later line", delivery="d-1")
        assert [(e["event"], e["delivery"]) for e in logs] == [("later line", "d-1")]
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)
