"""The per-process shell state: settings, the Redis connection, GitHub clients, the store.

Workers build one ``Runtime`` at start-up; job functions reach it with :func:`get_runtime`
(which builds one from the environment when a plain ``rq worker`` runs Shunter's jobs).
Keeping it in one place means the functional core never sees it.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from redis import Redis

from bot.settings import Settings, load_settings

if TYPE_CHECKING:
    from bot.github.client import GitHubFactory


class Runtime:
    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.redis_url = redis_url

    @cached_property
    def redis(self) -> Redis:
        return Redis.from_url(self.redis_url)

    @cached_property
    def github(self) -> GitHubFactory:
        from bot.github.client import GitHubFactory

        return GitHubFactory(self.settings, self.redis)

    @property
    def bot_login(self) -> str | None:
        """The App's bot login: ``SHUNTER_BOT_LOGIN``, else ``<slug>[bot]`` learned once
        from GitHub (:mod:`bot.github.identity`); None only while GitHub cannot say."""
        if self.settings.bot_login:
            return self.settings.bot_login
        if self._learned_login is None and self.settings.has_app_credentials:
            from bot.github.identity import learned_bot_login

            self._learned_login = learned_bot_login(self.redis, self.github, self.settings.app_id)
        return self._learned_login

    _learned_login: str | None = None

    @cached_property
    def store(self) -> Any:
        from bot.store import Store  # type: ignore[attr-defined]

        return Store.open(self.settings.effective_database_url)


_current: Runtime | None = None
_lock = threading.Lock()


def set_runtime(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


def get_runtime() -> Runtime:
    """The process's runtime; built from ``SHUNTER_*`` settings on first use if unset."""
    global _current
    with _lock:
        if _current is None:
            from bot.queue.connection import open_redis

            settings = load_settings()
            _current = Runtime(settings, open_redis(settings).url)
        return _current
