"""Which GitHub a delivery came from, against the one ``SHUNTER_GITHUB_URL`` names.

GitHub Enterprise Server names itself on every webhook delivery
(``X-GitHub-Enterprise-Host``); github.com sends no such header. A delivery from a GHES
that reaches a Shunter set up for github.com (``SHUNTER_GITHUB_URL`` left at its default)
names installations and repositories that exist only on that server: every job it caused
failed later, calling github.com with that server's installation id, with errors that
blamed the App's key. Such a delivery is refused at the door with the setting to change.

A delivery from another host than the configured GHES is only logged: the URL may reach
the same server by another name (an internal load balancer), which works.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

GITHUB_COM_API_HOST = "api.github.com"
MAX_SHOWN = 100
"""Characters of a header value repeated in a message or a log line."""


@dataclass(frozen=True)
class ForeignHost:
    """A delivery from a GitHub other than the configured one."""

    host: str
    refused: bool
    message: str


def _hostname(value: str) -> str:
    """``value``'s host name, lower-cased, without a port (``HOST``, ``HOST:8443``)."""
    return (urlsplit(f"//{value}").hostname or "").lower()


def configured_host(github_url: str) -> str:
    return (urlsplit(github_url).hostname or "").lower()


def delivery_from_elsewhere(github_url: str, enterprise_host: str | None) -> ForeignHost | None:
    """Whether a delivery carrying ``X-GitHub-Enterprise-Host: enterprise_host`` came from
    another GitHub than ``github_url`` (the REST root Shunter calls); None when it is the
    same one, or when the header is absent (github.com, or a server that does not say)."""
    if not enterprise_host:
        return None
    shown = enterprise_host[:MAX_SHOWN] if enterprise_host.isprintable() else "an unprintable host"
    host = _hostname(enterprise_host[:MAX_SHOWN]) if enterprise_host.isprintable() else ""
    configured = configured_host(github_url)
    if configured == GITHUB_COM_API_HOST:
        return ForeignHost(
            shown,
            refused=True,
            message=(
                f"this delivery came from GitHub Enterprise Server {shown} "
                f"(X-GitHub-Enterprise-Host), but SHUNTER_GITHUB_URL names github.com "
                f"({github_url}): set SHUNTER_GITHUB_URL=https://{host or 'HOST'}/api/v3, "
                "or point this server's App webhook at its own Shunter"
            ),
        )
    if host and host == configured:
        return None
    return ForeignHost(
        shown,
        refused=False,
        message=(
            f"delivery from GitHub Enterprise Server {shown} (X-GitHub-Enterprise-Host), "
            f"while SHUNTER_GITHUB_URL names {configured or github_url}: fine if that is the "
            "same server by another name; otherwise its jobs act on the wrong server's "
            "installations"
        ),
    )


def api_path_hint(github_url: str, status: int | None) -> str | None:
    """What to set when GitHub answered ``status`` 404 to a call on ``github_url`` that
    names a web root rather than the REST API's: github.com's API is ``api.github.com``
    (GHE.com's ``api.SUBDOMAIN.ghe.com``), GitHub Enterprise Server's is under ``/api/v3``;
    the web root answers the API's paths with 404 (the App looked unknown)."""
    parts = urlsplit(github_url)
    host = configured_host(github_url)
    if status != 404 or host == GITHUB_COM_API_HOST or parts.path.strip("/"):
        return None
    if host == "github.com" or (host.endswith(".ghe.com") and not host.startswith("api.")):
        return f"the REST API is not on the web host: set SHUNTER_GITHUB_URL=https://api.{host}"
    return (
        "GitHub Enterprise Server serves its REST API under /api/v3: "
        f"set SHUNTER_GITHUB_URL={github_url.rstrip('/')}/api/v3"
    )


def web_root(github_url: str) -> str:
    """Where the web pages of the GitHub whose REST API is at ``github_url`` live: links to
    commits and check runs must open there, not on the API. ``https://api.github.com`` ->
    ``https://github.com``; GHE.com's ``https://api.SUBDOMAIN.ghe.com`` ->
    ``https://SUBDOMAIN.ghe.com``; a GitHub Enterprise Server's ``https://HOST/api/v3`` ->
    ``https://HOST``; any other URL (the simulator) serves both."""
    parts = urlsplit(github_url.rstrip("/"))
    host = (parts.hostname or "").lower()
    netloc = parts.netloc
    if host == GITHUB_COM_API_HOST or (host.startswith("api.") and host.endswith(".ghe.com")):
        netloc = netloc[len("api.") :]
    return urlunsplit((parts.scheme, netloc, parts.path.removesuffix("/api/v3"), "", ""))
