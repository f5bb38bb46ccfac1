"""Caches for config loading: parsed files by blob SHA, and each repository's last good config.

A blob SHA names file *content*, so a parse result keyed by it never goes stale: the same
bytes always parse to the same settings (the key also carries Shunter's version, since a
newer schema may judge the same bytes differently). The in-process LRU serves one worker;
the optional key-value store (a ``redis.Redis`` fits the protocol as is) shares results and
the last good config between workers and restarts. The store is an optimisation: when it
fails, loading goes on without it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, Protocol

import structlog
from redis.exceptions import RedisError

from bot import __version__
from bot.policies.validation import ParsedConfig

log = structlog.get_logger(__name__)
PREFIX = f"shunter:config:{__version__}"
LAST_GOOD_TTL = 30 * 86400
PARSED_TTL = 7 * 86400


class KeyValueStore(Protocol):
    """The two Redis calls the cache needs."""

    def get(self, name: str) -> Any: ...

    def set(self, name: str, value: str, ex: int | None = None) -> Any: ...


class ConfigCache:
    """Parsed files by ``(path, blob SHA)`` and the last good effective config per repo."""

    def __init__(self, store: KeyValueStore | None = None, *, max_entries: int = 512) -> None:
        self.store = store
        self.max_entries = max_entries
        self._lru: OrderedDict[str, str] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def _get(self, key: str) -> str | None:
        if key in self._lru:
            self._lru.move_to_end(key)
            return self._lru[key]
        if self.store is None:
            return None
        try:
            raw = self.store.get(key)
        except RedisError as exc:
            log.warning("config cache unavailable", error=type(exc).__name__)
            return None
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        self._remember(key, text)
        return text

    def _remember(self, key: str, text: str) -> None:
        self._lru[key] = text
        self._lru.move_to_end(key)
        while len(self._lru) > self.max_entries:
            self._lru.popitem(last=False)

    def _put(self, key: str, text: str, ttl: int) -> None:
        self._remember(key, text)
        if self.store is None:
            return
        try:
            self.store.set(key, text, ex=ttl)
        except RedisError as exc:
            log.warning("config cache unavailable", error=type(exc).__name__)

    # -- parsed files ---------------------------------------------------------------------

    def parsed(self, file: str, blob_sha: str, *, source: str) -> ParsedConfig | None:
        text = self._get(f"{PREFIX}:blob:{blob_sha}:{file}")
        if text is None:
            self.misses += 1
            return None
        raw = json.loads(text)
        if "warnings" not in raw:  # parsed before warnings were looked for: parse it again
            self.misses += 1
            return None
        self.hits += 1
        return ParsedConfig.from_json(raw, source=source)

    def remember_parsed(self, parsed: ParsedConfig) -> None:
        key = f"{PREFIX}:blob:{parsed.blob_sha}:{parsed.file}"
        self._put(key, json.dumps(parsed.to_json(), sort_keys=True), PARSED_TTL)

    # -- last good effective config -------------------------------------------------------

    def last_good(self, owner: str, repo: str) -> dict[str, Any] | None:
        text = self._get(f"{PREFIX}:good:{owner.lower()}/{repo.lower()}")
        return json.loads(text) if text is not None else None

    def remember_good(self, owner: str, repo: str, snapshot: dict[str, Any]) -> None:
        key = f"{PREFIX}:good:{owner.lower()}/{repo.lower()}"
        self._put(key, json.dumps(snapshot, sort_keys=True), LAST_GOOD_TTL)
