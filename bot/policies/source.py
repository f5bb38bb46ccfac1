"""Where config files come from: the I/O edge of config loading.

``ConfigSource`` is the one seam between the pure loading/merging code and the world.
``GitHubConfigSource`` reads through a githubkit client (github.com, GHES or the simulator);
``LocalConfigSource`` reads files from directories, for ``shunter config explain --file``,
``shunter run`` and tests.

Why conditional requests plus a short freshness window (and not keys by branch head SHA):
finding the default branch's head SHA is itself an API call on every event, and it changes
on every push even when the config did not. Instead each GET is remembered with its ETag;
within ``fresh_seconds`` the answer is reused with no request at all, and after that it is
revalidated with ``If-None-Match`` — GitHub answers ``304 Not Modified``, which does not
count against the rate limit, for an unchanged file. A ``push`` to the default branch calls
:meth:`invalidate` so a new config applies at once. The parsed result is cached by blob SHA
(``bot.policies.cache``), so an unchanged file is also never parsed twice.

With a ``store`` (Redis) the remembered answers are shared by every worker process: rq runs
each job in a fresh fork, so an in-process cache alone would be empty for every event, and
an invalidation seen by one worker must reach the others. Answers are kept per installation
(a private ``.github`` repository one installation may read can be a 404 for another).
"""

from __future__ import annotations

import base64
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog
from githubkit.exception import RequestError, RequestFailed
from redis import Redis
from redis.exceptions import RedisError, WatchError

from bot.errors import ConfigError, GitHubError, ShunterError, TransientError
from bot.policies.safe_yaml import MAX_BYTES
from bot.policies.validation import git_blob_sha

log = structlog.get_logger(__name__)
SHARED_PREFIX = "shunter:config-source"
SHARED_TTL = 86400
"""Seconds a shared answer is kept for its ETag (revalidation) after its last refresh."""


class ConfigSource(Protocol):
    """Read access to repositories' files (sync: config loading runs inside jobs)."""

    def default_branch(self, owner: str, repo: str) -> str:
        """The repository's default branch; GitHubError(status=404) when it does not exist."""

    def read_file(self, owner: str, repo: str, path: str, ref: str | None = None) -> tuple[bytes, str] | None:
        """Content and blob SHA of ``path`` at ``ref`` (None: the default branch), or None
        when the repository or the file does not exist. ``ConfigError``: the path exists but
        is no usable config (a directory, too large); other ``ShunterError``s: unreadable."""


@dataclass
class _Entry:
    etag: str | None
    value: Any
    fetched: float


class GitHubConfigSource:
    """``ConfigSource`` over a githubkit ``GitHub`` client, with ETag revalidation.

    ``store`` and ``installation_id`` keep the answers in Redis, shared between processes
    (see the module docstring); without a store they live in this object alone.
    """

    def __init__(
        self,
        github: Any,
        *,
        fresh_seconds: float = 60.0,
        max_entries: int = 2048,
        clock: Callable[[], float] = time.time,
        store: Redis | None = None,
        installation_id: int = 0,
    ) -> None:
        self.github = github
        self.fresh_seconds = fresh_seconds
        self.max_entries = max_entries
        self.clock = clock
        self.store = store
        self.installation_id = installation_id
        self._entries: OrderedDict[tuple[str, ...], _Entry] = OrderedDict()
        self.requests = 0
        self.not_modified = 0

    def invalidate(self, owner: str, repo: str) -> None:
        """Forget everything read from ``owner/repo`` (call on a push to its default branch)."""
        prefix = (owner.lower(), repo.lower())
        for key in [k for k in self._entries if k[1:3] == prefix]:
            del self._entries[key]
        if self.store is not None:
            name = shared_key(self.installation_id, owner, repo)
            try:
                pipe = self.store.pipeline()
                pipe.incr(f"{name}:generation")  # answers fetched before this are not kept
                pipe.expire(f"{name}:generation", SHARED_TTL)
                pipe.delete(name)
                pipe.execute()
            except RedisError as exc:
                log.warning("config source cache unavailable", error=type(exc).__name__)

    def default_branch(self, owner: str, repo: str) -> str:
        key = ("repo", owner.lower(), repo.lower())
        value = self._cached(
            key,
            lambda headers: self.github.rest.repos.get(owner, repo, headers=headers),
            _parse_repo,
        )
        if value is None:
            raise GitHubError(f"repository {owner}/{repo} not found", status=404)
        return str(value)

    def read_file(self, owner: str, repo: str, path: str, ref: str | None = None) -> tuple[bytes, str] | None:
        key = ("file", owner.lower(), repo.lower(), path, ref or "")

        def fetch(headers: dict[str, str]) -> Any:
            if ref:
                return self.github.rest.repos.get_content(owner, repo, path, ref=ref, headers=headers)
            return self.github.rest.repos.get_content(owner, repo, path, headers=headers)

        value = self._cached(key, fetch, lambda body: _parse_file(body, f"{owner}/{repo}:{path}"))
        if value is None:
            return None
        content, sha = value
        return base64.b64decode(content), sha

    def _cached(
        self,
        key: tuple[str, ...],
        fetch: Callable[[dict[str, str]], Any],
        parse: Callable[[Any], Any],
    ) -> Any:
        now = self.clock()
        # with a store, Redis is the one truth: another worker may have invalidated it
        generation: bytes | None = None
        if self.store is not None:
            entry, generation = self._shared(key)
        else:
            entry = self._entries.get(key)
        if entry is not None and now - entry.fetched < self.fresh_seconds:
            return _usable(entry.value)
        headers = {"If-None-Match": entry.etag} if entry is not None and entry.etag else {}
        self.requests += 1
        try:
            response = fetch(headers)
        except RequestFailed as exc:
            status = exc.response.status_code
            if status == 404:
                self._store(key, _Entry(None, None, now), generation)
                return None
            if (
                status in (429, 502, 503, 504)
                or status >= 500
                or (status == 403 and exc.response.headers.get("x-ratelimit-remaining") == "0")
            ):
                raise TransientError(f"GitHub answered {status} while reading config") from None
            raise GitHubError(f"GitHub answered {status} while reading config", status=status) from None
        except RequestError as exc:
            raise TransientError(f"cannot reach GitHub to read config: {exc}") from None
        if response.status_code == 304 and entry is not None:
            self.not_modified += 1
            self._store(key, _Entry(entry.etag, entry.value, now), generation)
            return _usable(entry.value)
        try:
            value = parse(response.json())
        except ConfigError as exc:
            # remembered like any answer, so an unusable file (a directory, too large) is
            # not downloaded again on every event, yet revalidated like a good one
            value = {_UNUSABLE: exc.message}
        self._store(key, _Entry(response.headers.get("etag"), value, now), generation)
        return _usable(value)

    def _store(self, key: tuple[str, ...], entry: _Entry, generation: bytes | None = None) -> None:
        """Remember an answer; a shared one only if no push invalidated the repository
        while it was being fetched (``generation`` is what ``_shared`` saw before)."""
        if self.store is None:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return
        name = shared_key(self.installation_id, key[1], key[2])
        record = json.dumps({"etag": entry.etag, "value": entry.value, "fetched": entry.fetched})
        try:
            with self.store.pipeline() as pipe:
                pipe.watch(f"{name}:generation")
                if pipe.get(f"{name}:generation") != generation:
                    return  # invalidated meanwhile: this answer may predate the push
                pipe.multi()
                pipe.hset(name, "\0".join(key), record)
                pipe.expire(name, SHARED_TTL)
                pipe.execute()
        except WatchError:
            return  # invalidated between the check and the write
        except RedisError as exc:
            log.warning("config source cache unavailable", error=type(exc).__name__)

    def _shared(self, key: tuple[str, ...]) -> tuple[_Entry | None, bytes | None]:
        """The answer another process remembered (None: none, or Redis is away) and the
        repository's invalidation generation, read together."""
        name = shared_key(self.installation_id, key[1], key[2])
        assert self.store is not None
        try:
            pipe = self.store.pipeline(transaction=False)
            pipe.hget(name, "\0".join(key))
            pipe.get(f"{name}:generation")
            raw, generation = pipe.execute()
        except RedisError as exc:
            log.warning("config source cache unavailable", error=type(exc).__name__)
            return None, None
        if raw is None:
            return None, generation
        try:
            record = json.loads(raw)
            return _Entry(record["etag"], record["value"], float(record["fetched"])), generation
        except (ValueError, KeyError, TypeError):
            return None, generation  # written by another version: fetch afresh


_UNUSABLE = "unusable"
"""The key of a remembered answer that is no usable config: ``{"unusable": message}``."""


def _usable(value: Any) -> Any:
    """The remembered answer, or the ``ConfigError`` it stands for."""
    if isinstance(value, dict) and _UNUSABLE in value:
        raise ConfigError(str(value[_UNUSABLE]))
    return value


def shared_key(installation_id: int, owner: str, repo: str) -> str:
    """The Redis hash holding one installation's answers about one repository."""
    return f"{SHARED_PREFIX}:{installation_id}:{owner.lower()}/{repo.lower()}"


def _parse_repo(body: Mapping[str, Any]) -> str:
    return str(body["default_branch"])


def _parse_file(body: Any, where: str) -> tuple[str, str]:
    """Validated base64 content and blob SHA (base64 keeps the cached answer JSON)."""
    if not isinstance(body, Mapping) or body.get("type") != "file":
        kind = "a directory" if isinstance(body, list) else f"a {body.get('type', 'non-file')}"
        raise ConfigError(f"{where} is {kind}, not a file")
    size = int(body.get("size") or 0)
    if size > MAX_BYTES:
        raise ConfigError(f"{where} is {size} bytes; the limit is {MAX_BYTES}")
    if body.get("encoding") != "base64":
        raise ConfigError(f"{where}: unexpected content encoding {body.get('encoding')!r}")
    content = base64.b64decode(str(body.get("content", "")))
    return base64.b64encode(content).decode("ascii"), str(body.get("sha") or git_blob_sha(content))


class LocalConfigSource:
    """Files from local directories: ``{"owner/repo": Path}``; default branch ``main``.

    Repositories not listed are unknown: reading them raises a ``ShunterError`` saying so,
    so an ``owner/repo`` in ``extends`` is reported rather than silently skipped offline.
    """

    def __init__(
        self,
        roots: Mapping[str, Path],
        *,
        files: Mapping[tuple[str, str], bytes] | None = None,
        unknown_repos: str = "error",
    ) -> None:
        """``files`` maps ``("owner/repo", path)`` to content; ``unknown_repos="absent"``
        makes unlisted repositories simply not exist instead of being an error."""
        self.roots = {k.lower(): Path(v) for k, v in roots.items()}
        self.files = {(r.lower(), p): c for (r, p), c in (files or {}).items()}
        self.unknown_repos = unknown_repos

    def default_branch(self, owner: str, repo: str) -> str:
        return "main"

    def read_file(self, owner: str, repo: str, path: str, ref: str | None = None) -> tuple[bytes, str] | None:
        name = f"{owner}/{repo}".lower()
        if (name, path) in self.files:
            content = self.files[(name, path)]
            return content, git_blob_sha(content)
        root = self.roots.get(name)
        if root is None:
            if self.unknown_repos == "absent" or any(r == name for r, _ in self.files):
                return None
            raise ShunterError(f"{owner}/{repo} cannot be read here (offline: no GitHub access)")
        target = (root / path).resolve()
        if root.resolve() not in target.parents or not target.is_file():
            return None
        if target.stat().st_size > MAX_BYTES:
            raise ConfigError(f"{path} is {target.stat().st_size} bytes; the limit is {MAX_BYTES}")
        content = target.read_bytes()
        return content, git_blob_sha(content)
