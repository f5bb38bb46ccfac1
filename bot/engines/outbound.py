"""Servers a repository's config may make Shunter's workers send requests to.

``llm.base_url`` and ``stages.security.osv_url`` come from ``.github/shunter.yml``, which
anyone with write access to a repository edits. Unchecked, they would let that person make
a worker send requests to any address it can reach: a cloud metadata service, an admin page
on the internal network, a port on the worker's own loopback. The operator lists the
servers repositories may name in ``SHUNTER_OUTBOUND_URLS``; the public services Shunter
knows (OpenAI's and Anthropic's APIs, OSV's) are allowed without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from bot.errors import EngineError

VARIABLE = "SHUNTER_OUTBOUND_URLS"
PUBLIC = ("https://api.openai.com/", "https://api.anthropic.com/", "https://api.osv.dev/")
_PORTS = {"http": 80, "https": 443}


def _parts(url: str) -> tuple[str, str, int | None, str] | None:
    try:
        split = urlsplit(url.strip())
        port = split.port
    except ValueError:
        return None
    scheme = split.scheme.lower()
    if scheme not in _PORTS or not split.hostname or split.username or split.password:
        return None
    return scheme, split.hostname.lower(), port or _PORTS[scheme], split.path.rstrip("/")


def allowed_urls(environ: Mapping[str, str] | None = None) -> list[str]:
    """The prefixes repositories may name: the public services and the operator's list."""
    env = os.environ if environ is None else environ
    extra = [item.strip() for item in env.get(VARIABLE, "").split(",") if item.strip()]
    return [*PUBLIC, *extra]


def permits(prefix: str, url: str) -> bool:
    """Same scheme, host and port, and the path at or below the prefix's (by segments)."""
    want, have = _parts(prefix), _parts(url)
    if want is None or have is None or want[:3] != have[:3]:
        return False
    return have[3] == want[3] or have[3].startswith(want[3] + "/")


def check(
    url: str, setting: str, environ: Mapping[str, str] | None = None, *, also: Iterable[str] = ()
) -> None:
    """``EngineError`` unless ``url`` (named by the repository's ``setting``) is one the
    operator allows; ``also``: further prefixes the operator named elsewhere."""
    prefixes = [*allowed_urls(environ), *also]
    if any(permits(prefix, url) for prefix in prefixes):
        return
    raise EngineError(
        f"{setting} names {url}, a server this Shunter installation does not let repositories use",
        hint=f"ask the operator to add it to {VARIABLE} (a comma-separated list of URL prefixes)",
    )
