"""githubkit clients for the App (JWT) and its installations (cached tokens).

Installation tokens are minted once and cached in Redis under
``shunter:token:<app id>:<installation id>``, expiring 60 s before GitHub's ``expires_at``
— so they are renewed at least a minute before they lapse, every worker process shares
them, and the same token serves REST calls and git over HTTPS. Requests retry per
GitHub's rules: rate limits wait for ``retry-after``/``x-ratelimit-reset`` when that is
short, 5xx back off; long waits are
raised as :class:`~bot.errors.TransientError` so rq reschedules the job instead of
holding a worker. Mutating requests are spaced per installation (secondary rate limits).
A POST that creates something (a comment, a review, a check run) is never re-sent blindly:
GitHub may have made it before its answer was lost, so :func:`create_once` looks for it
before posting again. The App's JWT is minted on GitHub's clock (:mod:`bot.github.app_jwt`),
so a host whose clock is off still mints installation tokens.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from githubkit import GitHub
from githubkit.auth.base import BaseAuthStrategy
from githubkit.cache import RedisCacheStrategy
from githubkit.exception import GitHubException, RateLimitExceeded, RequestError, RequestFailed
from githubkit.retry import RetryOption
from githubkit.throttling import BaseThrottler
from redis import Redis

from bot import __version__
from bot.errors import AccessPaused, GitHubError, ShunterError, TransientError
from bot.github.app_jwt import (
    AppJwtAuthStrategy,
    GitHubClock,
    api_message,
    clock_skew_refusal,
    http_date,
)
from bot.logs import get_logger
from bot.settings import Settings

log = get_logger(__name__)

USER_AGENT = f"Shunter/{__version__} (+https://github.com/shunter-bot/shunter)"
MAX_INLINE_WAIT = timedelta(seconds=60)
TOKEN_RENEW_MARGIN = 60
TOKEN_MAX_LIFETIME = 3600 - TOKEN_RENEW_MARGIN  # GitHub's installation tokens last an hour
MUTATING = {"POST", "PATCH", "PUT", "DELETE"}
SERVER_ERROR_TRIES = 4
"""How many times a request is sent in all when GitHub answers 5xx (3 retries)."""
CLOCK_HINT = (
    "GitHub judges the App's JWT by its own clock, learned from its Date header; check that "
    "this host's clock is synchronised (NTP) and that no proxy drops GitHub's Date header"
)
KEY_HINT = (
    "GitHub could not verify the App's JWT: check that SHUNTER_APP_ID is this App's id and "
    "that SHUNTER_PRIVATE_KEY (or SHUNTER_PRIVATE_KEY_PATH) holds one of its current private "
    "keys (a key deleted or replaced in the App's settings is refused); `shunter doctor` checks both"
)
_KEY_REFUSALS = ("could not be decoded", "'Issuer' claim", "Integration not found")

T = TypeVar("T")
_SEND_ONCE: ContextVar[bool] = ContextVar("shunter_send_once", default=False)
_DROP_IF_SAME = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


SECONDARY_WAIT = 60.0
"""GitHub's advice for a secondary rate limit that names no wait: at least a minute."""


def secondary_rate_limited(exc: RequestFailed) -> bool:
    """A 403 or 429 GitHub gives for a secondary (abuse) rate limit. It often carries
    neither ``Retry-After`` nor ``x-ratelimit-remaining: 0``, so githubkit does not see a
    rate limit in it; without this, it would count as a refusal and never be retried."""
    status = exc.response.status_code
    return status == 429 or (status == 403 and "secondary rate limit" in _message(exc).lower())


def _server_now(date_header: str | None) -> datetime:
    """GitHub's time from an HTTP ``Date`` header, else this host's."""
    return http_date(date_header) or datetime.now(UTC)


def _server_error_backoff(retry_count: int) -> timedelta:
    return timedelta(seconds=0.5 * (2**retry_count))


def retry_decision(exc: GitHubException, retry_count: int) -> RetryOption:
    """Rate limits: wait when GitHub says how long and it is short; 5xx: 3 tries, backoff.
    A secondary limit without a stated wait is left to the job's retry, a minute later.
    A POST sent by :func:`create_once` is not re-sent here: a 5xx may hide a success."""
    if isinstance(exc, RateLimitExceeded):
        if retry_count < 2 and exc.retry_after <= MAX_INLINE_WAIT:
            return RetryOption(True, max(exc.retry_after, timedelta(seconds=1)))
        return RetryOption(False)
    if (
        isinstance(exc, RequestFailed)
        and exc.response.status_code >= 500
        and retry_count < SERVER_ERROR_TRIES - 1
    ):
        if _SEND_ONCE.get() and exc.request.method == "POST":
            return RetryOption(False)
        return RetryOption(True, _server_error_backoff(retry_count))
    return RetryOption(False)


def answer_lost(exc: BaseException) -> bool:
    """Whether GitHub may have done what a failed request asked: a 5xx, a timeout or a broken
    connection says nothing about it (a 4xx or a rate limit is a refusal: nothing was done)."""
    if isinstance(exc, RequestFailed):
        return exc.response.status_code >= 500
    return isinstance(exc, RequestError | httpx.TransportError)


@contextlib.contextmanager
def _sent_once() -> Iterator[None]:
    token = _SEND_ONCE.set(True)
    try:
        yield
    finally:
        _SEND_ONCE.reset(token)


def create_once(
    doing: str,
    post: Callable[[], T],
    find: Callable[[], T | None],
    *,
    tries: int = SERVER_ERROR_TRIES,
) -> tuple[T, bool]:
    """Create something with a POST GitHub must not get twice; returns what was created or
    found, and whether it was found.

    GitHub sometimes carries a POST out and then loses its answer (a 502 or 504 from its
    edge, a dropped connection); re-sending it, as githubkit does after a 5xx, makes a second
    comment, review or check run. So the POST goes out once, and after a failure that may
    hide a success ``find`` looks for what it would have made (by a marker or id Shunter
    wrote into it): found, it is adopted; not found, it is posted again, ``tries`` POSTs in
    all with :func:`retry_decision`'s backoff. The normal path costs the one POST.

    Raises :class:`TransientError` when every try failed or the look itself failed (the
    outcome is then unknown: the caller should remember to look first next time), and
    :class:`GitHubError` when GitHub refused the POST.
    """
    for attempt in range(tries):
        if attempt:
            time.sleep(_server_error_backoff(attempt - 1).total_seconds())
            try:
                with translate_errors(f"looking for what {doing} made before its answer was lost"):
                    found = find()
            except GitHubError as exc:  # still unknown whether the POST took effect
                raise TransientError(str(exc)) from None
            if found is not None:
                return found, True
        try:
            with _sent_once():
                return post(), False
        except (GitHubException, httpx.TransportError) as exc:
            if attempt + 1 < tries and answer_lost(exc):
                continue
            with translate_errors(doing):
                raise
    raise AssertionError("create_once: tries must be at least 1")


class MutationSpacer(BaseThrottler):
    """Keeps mutating requests of one installation serial and ``interval`` seconds apart.

    The spacing is shared across processes through a Redis key per installation.
    """

    def __init__(self, redis: Redis | None, key: str, interval: float) -> None:
        self.redis = redis
        self.key = key
        self.interval = interval

    def _wait_turn(self) -> None:
        if self.redis is None or self.interval <= 0:
            return
        ms = int(self.interval * 1000)
        deadline = time.monotonic() + 30
        while not self.redis.set(self.key, b"1", nx=True, px=ms):
            if time.monotonic() > deadline:
                return
            ttl = self.redis.pttl(self.key)
            time.sleep(max(ttl, 10) / 1000)

    @contextlib.contextmanager
    def acquire(self, request: httpx.Request) -> Generator[None, Any, Any]:
        if request.method in MUTATING:
            self._wait_turn()
        yield

    @contextlib.asynccontextmanager
    async def async_acquire(self, request: httpx.Request) -> AsyncGenerator[None, Any]:
        yield


class InstallationAuthStrategy(BaseAuthStrategy):
    """githubkit auth for one installation: the token the factory handed out, replaced once
    when GitHub refuses it (see :class:`InstallationTokenAuth`)."""

    def __init__(self, factory: GitHubFactory, installation_id: int, token: str) -> None:
        self.factory = factory
        self.installation_id = installation_id
        self.token = token

    def get_auth_flow(self, github: Any) -> httpx.Auth:
        return InstallationTokenAuth(self)


class InstallationTokenAuth(httpx.Auth):
    """One installation request. A 401 to an installation token means the token, not the
    request, is wrong: it was revoked (``DELETE /installation/token``), or the shared cache
    holds another App's or another GitHub's token (a restored backup, a simulator run
    against the same Redis). Without this, every job of the installation failed with "Bad
    credentials" until the cached token lapsed, up to an hour. The token is dropped for
    every process and the request sent once more with a new one; a 401 to that one is
    GitHub's real answer."""

    requires_response_body = True  # the 401's message is logged

    def __init__(self, strategy: InstallationAuthStrategy) -> None:
        self.strategy = strategy

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        strategy = self.strategy
        request.headers["Authorization"] = f"token {strategy.token}"
        response = yield request
        factory, installation_id = strategy.factory, strategy.installation_id
        if response.status_code != 401:
            return
        log.warning(
            "GitHub refused the installation token; minting a new one",
            installation_id=installation_id,
            github_message=api_message(response),
        )
        factory.drop_token(installation_id, strategy.token)
        strategy.token = factory.installation_token(installation_id)
        request.headers["Authorization"] = f"token {strategy.token}"
        yield request


class GitHubFactory:
    """Builds githubkit clients from settings; one per process, cheap to call."""

    def __init__(
        self,
        settings: Settings,
        redis: Redis | None = None,
        *,
        host_clock: Callable[[], float] = time.time,
        timeout: float = 30.0,
        retry: bool = True,
    ) -> None:
        """``timeout`` (seconds to connect and to answer) and ``retry`` (githubkit's retries
        of rate limits and server errors) suit jobs by default; ``shunter doctor`` wants one
        quick answer instead."""
        self.settings = settings
        self.redis = redis
        self.host_clock = host_clock  # this host's time; GitHub's is learned from its answers
        self.clock = GitHubClock(host_clock)
        """GitHub's time as the App client's answers showed it (their ``Date``, 401s included)."""
        self.timeout = timeout
        self.retry = retry
        self._app: GitHub[Any] | None = None
        self._tokens: dict[int, tuple[str, float]] = {}

    def _common(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "base_url": self.settings.github_url + "/",
            "user_agent": USER_AGENT,
            "timeout": self.timeout,
            "auto_retry": retry_decision if self.retry else False,
            "http_cache": False,
        }
        if self.redis is not None:
            options["cache_strategy"] = RedisCacheStrategy(
                self.redis, prefix=f"shunter:gh:{self.settings.app_id}"
            )
        return options

    def app(self) -> GitHub[Any]:
        """A client authenticated as the App itself (JWT), for /app routes.

        Its JWT is minted on GitHub's clock and shared through Redis only once GitHub
        accepted it (:mod:`bot.github.app_jwt`): a host whose clock is off neither fails nor
        hands other hosts a JWT GitHub refuses.
        """
        if self._app is None:
            app_id, pem = self.settings.require_app_credentials()
            strategy = AppJwtAuthStrategy(app_id, pem, self.clock)
            self._app = GitHub(strategy, **self._common())
        return self._app

    def installation(self, installation_id: int) -> GitHub[Any]:
        """A client acting as one installation, with the shared cached token."""
        token = self.installation_token(installation_id)
        spacer = MutationSpacer(
            self.redis,
            f"shunter:gh:spacing:{installation_id}",
            self.settings.mutation_interval,
        )
        auth = InstallationAuthStrategy(self, installation_id, token)
        return GitHub(auth, throttler=spacer, **self._common())

    def installation_for_repo(self, owner: str, repo: str) -> tuple[int, GitHub[Any]]:
        with translate_errors(f"finding the installation for {owner}/{repo}"):
            inst = self.app().rest.apps.get_repo_installation(owner, repo).parsed_data
        return inst.id, self.installation(inst.id)

    def _token_key(self, installation_id: int) -> str:
        return f"shunter:token:{self.settings.app_id}:{installation_id}"

    def installation_token(self, installation_id: int) -> str:
        """The installation's token, minted once and shared by every worker through Redis.

        It is renewed 60 s before GitHub's ``expires_at``. Use it for REST and for git over
        HTTPS (``x-access-token``); never log it.
        """
        cached = self._tokens.get(installation_id)
        if cached and cached[1] > time.time():
            return cached[0]
        key = self._token_key(installation_id)
        if self.redis is not None:
            stored = self.redis.get(key)
            ttl = self.redis.ttl(key)
            if stored and ttl > 0:
                token = stored.decode() if isinstance(stored, bytes) else str(stored)
                self._tokens[installation_id] = (token, time.time() + ttl)
                return token
        with translate_errors("minting an installation token"):
            data = self.app().rest.apps.create_installation_access_token(installation_id)
        parsed = data.parsed_data
        expires = datetime.fromisoformat(str(parsed.expires_at).replace("Z", "+00:00"))
        # measured on GitHub's clock (its Date header): a worker whose clock runs slow
        # would otherwise keep the token past its expiry and get 401s until the key lapses
        lifetime = (expires - _server_now(data.headers.get("date"))).total_seconds() - TOKEN_RENEW_MARGIN
        lifetime = max(min(int(lifetime), TOKEN_MAX_LIFETIME), 1)
        if self.redis is not None:
            self.redis.set(key, parsed.token, ex=lifetime)
        self._tokens[installation_id] = (parsed.token, time.time() + lifetime)
        return parsed.token

    def drop_token(self, installation_id: int, token: str) -> None:
        """Forget a token GitHub refused, here and in Redis, unless another process has
        already put a new one there (that one is not judged by this refusal)."""
        if self._tokens.get(installation_id, ("",))[0] == token:
            self._tokens.pop(installation_id, None)
        if self.redis is not None:
            self.redis.eval(_DROP_IF_SAME, 1, self._token_key(installation_id), token)

    def forget_installation(self, installation_id: int | None) -> None:
        """Drop a revoked installation's token (its App was uninstalled)."""
        if installation_id is not None:
            self._tokens.pop(installation_id, None)
            if self.redis is not None:
                self.redis.delete(self._token_key(installation_id))


@contextlib.contextmanager
def translate_errors(doing: str) -> Iterator[None]:
    """Turn githubkit/httpx failures into Shunter's errors: transient ones are retried."""
    try:
        yield
    except RateLimitExceeded as exc:
        raise TransientError(
            f"GitHub rate limit while {doing}", retry_after=exc.retry_after.total_seconds()
        ) from None
    except RequestFailed as exc:
        status = exc.response.status_code
        if status >= 500:
            raise TransientError(f"GitHub answered {status} while {doing}") from None
        if secondary_rate_limited(exc):
            raise TransientError(
                f"GitHub's secondary rate limit while {doing}", retry_after=SECONDARY_WAIT
            ) from None
        message = _message(exc)
        paused = paused_reason(status, message)
        if paused is not None:
            raise AccessPaused(f"GitHub answered {status} while {doing}: {message}", reason=paused) from None
        hint = _hint_for(status, message)
        raise GitHubError(
            f"GitHub answered {status} while {doing}: {message}", status=status, hint=hint
        ) from None
    except RequestError as exc:  # githubkit's wrapper of connection errors and timeouts
        if isinstance(exc.__cause__, ShunterError):
            # raised in an auth hook (a new installation token GitHub would not mint):
            # GitHub's own answer, not a network error to retry
            raise exc.__cause__ from None
        raise TransientError(f"network error while {doing}: {type(exc).__name__}") from None
    except httpx.TransportError as exc:
        raise TransientError(f"network error while {doing}: {type(exc).__name__}") from None


def paused_reason(status: int, message: str) -> str | None:
    """``archived`` or ``suspended`` when GitHub's refusal says the repository is archived
    ("Repository was archived so is read-only.") or the App's installation suspended
    ("This installation has been suspended"); None for any other answer."""
    if status != 403:
        return None
    words = message.lower()
    if "archived" in words and "read-only" in words:
        return "archived"
    if "installation has been suspended" in words:
        return "suspended"
    return None


def _hint_for(status: int, message: str) -> str | None:
    """What an operator can do about a refusal GitHub words for the App's credentials."""
    if clock_skew_refusal(status, message):
        return CLOCK_HINT
    if status in (401, 404) and any(words in message for words in _KEY_REFUSALS):
        return KEY_HINT
    return None


def _message(exc: RequestFailed) -> str:
    return api_message(exc.response.raw_response)
