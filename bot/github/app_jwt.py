"""The App's JWT, minted on GitHub's clock and shared only once GitHub accepted it.

GitHub judges a JWT's ``iat`` and ``exp`` by its own clock: ``iat`` must not be in its
future and ``exp`` must lie in its future, at most ten minutes ahead. githubkit mints the JWT
on this host's clock and shares it, through the cache, for eight minutes, so one host whose
clock runs a minute fast fills the shared cache with a JWT GitHub refuses (no host can mint
an installation token until it lapses), and one whose clock runs slow shares a JWT that
expires, on GitHub's clock, while every host still uses it.

Here instead:

- every answer to an App request teaches the process GitHub's time (its ``Date`` header), and
  JWTs are minted on it: this host's time plus the learned offset (:class:`GitHubClock`);
- a freshly minted JWT is shared only after GitHub accepted it, for its lifetime measured on
  GitHub's clock (``exp`` minus the accepting answer's ``Date``) less a margin, so a cached
  JWT is never sent past its ``exp`` and a skewed host's refused JWT never reaches others;
- a 401 that names the ``iat``/``exp`` claim (GitHub's clock-skew refusals) drops the
  cached JWT if it was the one refused, learns the offset from that 401's ``Date`` and sends
  the request once more with a JWT minted on GitHub's clock, as Octokit's auth-app does;
  a shared JWT refused for any other reason (signed with a key since rotated, or not a JWT
  at all) is dropped and replaced the same way, once.

The offset stays in the process: it belongs to this host's clock, and a key shared through
Redis would hand one host's skew to every other host, which is the failure this avoids.
The normal path costs no request more than githubkit's; a skewed process pays one retry,
once, when it first mints before having heard from GitHub.

:func:`app_jwt_claims`, :func:`jwt_cache_lifetime`, :func:`clock_skew_refusal` and
:func:`resend_refused_jwt` are the pure core; :class:`AppJwtAuth` is the httpx hook githubkit
calls for every App request.
"""

from __future__ import annotations

import contextlib
import email.utils
import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import jwt
from githubkit.auth import BaseAuthStrategy

from bot.logs import get_logger

if TYPE_CHECKING:
    from githubkit import GitHubCore
    from githubkit.cache import BaseCache

log = get_logger(__name__)

JWT_BACKDATE = 60
"""Seconds ``iat`` is set before GitHub's now, as GitHub's docs advise (latency, ``Date``'s
one-second resolution)."""
JWT_SPAN = 600
"""``exp - iat``: GitHub accepts an ``exp`` at most ten minutes ahead of its clock."""
JWT_RENEW_MARGIN = 60
"""A shared JWT leaves the cache this many seconds before its ``exp`` on GitHub's clock."""
JWT_CACHE_KEY = "shunter:app-jwt:{issuer}"
_CLOCK_SKEW = re.compile(r"claim \('(?:iat|exp)'\)")


def http_date(header: str | None) -> datetime | None:
    """The time in an HTTP ``Date`` header, or None when it is missing or unreadable."""
    if header:
        with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
            when = email.utils.parsedate_to_datetime(header)
            if when.tzinfo is not None:
                return when
    return None


def api_message(response: httpx.Response) -> str:
    """The ``message`` of a GitHub error answer (its text when it is not JSON, as a proxy's)."""
    try:
        body = response.json()
    except Exception:  # not JSON: GitHub answers JSON, proxies may not
        return response.text[:200]
    return str(body.get("message", body))[:500] if isinstance(body, dict) else str(body)[:200]


def clock_skew_refusal(status: int, message: str) -> bool:
    """Whether GitHub refused a JWT for its time claims: ``'Issued at' claim ('iat') must be
    ...`` (in GitHub's future), ``'Expiration time' claim ('exp') must be ...`` (in its past)
    or ``... ('exp') is too far in the future``. Any other 401 is not about clocks."""
    return status == 401 and _CLOCK_SKEW.search(message) is not None


def resend_refused_jwt(status: int, skewed: bool, *, shared: bool, learned: bool) -> bool:
    """Whether a refused App request is sent once more with a JWT minted here.

    A JWT from the shared cache is replaced after any 401, not only a clock-skew one: one
    signed with a key GitHub no longer takes (the App's key was rotated), or a value that is
    no JWT at all, would otherwise fail every process until its key lapses. A JWT minted
    here is sent again only after a clock-skew 401 that taught GitHub's time (a wrong key
    or App id fails the same way twice, so its 401 is the answer)."""
    if status != 401:
        return False
    return shared or (skewed and learned)


def _authenticated(status: int) -> bool:
    """Whether an answer shows GitHub took the JWT: a 5xx may come from its edge, unchecked."""
    return status != 401 and status < 500


def app_jwt_claims(issuer: str, github_now: float) -> dict[str, Any]:
    """The claims of an App JWT minted at ``github_now`` (seconds, on GitHub's clock)."""
    iat = int(github_now) - JWT_BACKDATE
    return {"iss": issuer, "iat": iat, "exp": iat + JWT_SPAN}


def jwt_cache_lifetime(exp: int, github_now: float) -> int:
    """Whole seconds a JWT expiring at ``exp`` may stay shared (0: do not share it)."""
    return max(int(exp - github_now) - JWT_RENEW_MARGIN, 0)


class GitHubClock:
    """GitHub's time as this process knows it: this host's time (``local``, seconds since the
    epoch) plus the offset the last ``Date`` header from GitHub showed (0 until one was seen)."""

    def __init__(self, local: Callable[[], float] = time.time) -> None:
        self.local = local
        self.offset = 0.0
        self.learned = False
        """Whether any answer had a usable ``Date`` (until then ``offset`` is a guess: 0)."""

    def now(self) -> float:
        return self.local() + self.offset

    def learn(self, date_header: str | None) -> bool:
        """Take GitHub's time from an answer just received; False when it had no usable Date."""
        when = http_date(date_header)
        if when is None:
            return False
        self.offset = when.timestamp() - self.local()
        self.learned = True
        return True


@dataclass
class _Jwt:
    token: str
    exp: int | None  # known when minted here; None when it came from the shared cache


class AppJwtAuthStrategy(BaseAuthStrategy):
    """githubkit auth for the App's own routes, with the JWT on GitHub's clock.

    Shunter's App client calls only App routes (``/app/...``, ``/repos/{o}/{r}/installation``),
    so every request carries the JWT; installations use their own token clients. The
    strategy outlives githubkit's per-request auth flows and keeps what the process learned.
    The JWT is shared through the client's synchronous cache storage (Shunter's Redis, else
    githubkit's in-process memory), as githubkit's own App auth does.
    """

    def __init__(self, app_id: str | int, private_key: str, clock: GitHubClock | None = None) -> None:
        self.issuer = str(app_id)
        self.private_key = private_key
        self.clock = clock or GitHubClock()

    def get_auth_flow(self, github: GitHubCore) -> httpx.Auth:
        return AppJwtAuth(self, github.config.cache_strategy.get_cache_storage())

    def mint(self) -> tuple[str, int]:
        """A new JWT on GitHub's clock, and its ``exp``."""
        claims = app_jwt_claims(self.issuer, self.clock.now())
        return jwt.encode(claims, self.private_key, algorithm="RS256"), claims["exp"]


class AppJwtAuth(httpx.Auth):
    """One App request: the shared JWT (or a new one), one retry after a clock-skew 401 or
    after any 401 to the shared JWT."""

    requires_response_body = True  # the 401's message says whether it is about clocks

    def __init__(self, strategy: AppJwtAuthStrategy, cache: BaseCache) -> None:
        self.strategy = strategy
        self.cache = cache
        self.key = JWT_CACHE_KEY.format(issuer=strategy.issuer)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        current = self._jwt()
        request.headers["Authorization"] = f"Bearer {current.token}"
        response = yield request
        learned = self.strategy.clock.learn(response.headers.get("date"))
        message = api_message(response) if response.status_code == 401 else ""
        skewed = clock_skew_refusal(response.status_code, message)
        if resend_refused_jwt(response.status_code, skewed, shared=current.exp is None, learned=learned):
            log.warning(
                "GitHub refused the App's JWT for its time claims; sending it again minted on "
                "GitHub's clock"
                if skewed
                else "GitHub refused the App's shared JWT; sending it again minted here",
                github_message=message,
                clock_offset_seconds=round(self.strategy.clock.offset),
            )
            if current.exp is None:
                self._drop(current.token)
            current = _Jwt(*self.strategy.mint())
            request.headers["Authorization"] = f"Bearer {current.token}"
            response = yield request
            self.strategy.clock.learn(response.headers.get("date"))
        if current.exp is not None and _authenticated(response.status_code):
            self._share(current.token, current.exp)

    def _jwt(self) -> _Jwt:
        """The shared JWT, else a new one. A shared value that is not text (githubkit raises
        on bytes that are not UTF-8) counts as none: raised inside this hook, githubkit would
        report it as a network error, retried until the key lapses."""
        try:
            cached = self.cache.get(self.key)
        except (UnicodeDecodeError, RuntimeError) as exc:
            log.warning("ignored an unreadable shared App JWT", key=self.key, error=type(exc).__name__)
            cached = None
        return _Jwt(cached, None) if cached else _Jwt(*self.strategy.mint())

    def _share(self, token: str, exp: int) -> None:
        """GitHub accepted a JWT minted here: every process may use it until shortly before
        its ``exp``, measured on GitHub's clock (just learned from the accepting answer)."""
        lifetime = jwt_cache_lifetime(exp, self.strategy.clock.now())
        if lifetime > 0:
            self.cache.set(self.key, token, timedelta(seconds=lifetime))

    def _drop(self, token: str) -> None:
        """Stop every process using a shared JWT GitHub refused (unless another process has
        already replaced it). githubkit's cache has no delete: an empty value reads as a miss."""
        if self.cache.get(self.key) == token:
            self.cache.set(self.key, "", timedelta(seconds=1))
