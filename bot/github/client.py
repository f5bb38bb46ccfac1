"""githubkit clients for the App (JWT) and its installations (cached tokens).

Installation tokens are cached in Redis by githubkit's ``RedisCacheStrategy`` under
``shunter:gh:<app id>`` with the installation id in the key, and expire one minute before
GitHub's ``expires_at`` — so they are renewed at least 60 s before they lapse and every
worker process shares them. Requests retry per GitHub's rules: rate limits wait for
``retry-after``/``x-ratelimit-reset`` when that is short, 5xx back off; long waits are
raised as :class:`~bot.errors.TransientError` so rq reschedules the job instead of
holding a worker. Mutating requests are spaced per installation (secondary rate limits).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, Generator, Iterator
from datetime import timedelta
from typing import Any

import httpx
from githubkit import AppAuthStrategy, AppInstallationAuthStrategy, GitHub
from githubkit.cache import RedisCacheStrategy
from githubkit.exception import GitHubException, RateLimitExceeded, RequestFailed
from githubkit.retry import RetryOption
from githubkit.throttling import BaseThrottler
from redis import Redis

from bot import __version__
from bot.errors import GitHubError, TransientError
from bot.settings import Settings

USER_AGENT = f"Shunter/{__version__} (+https://github.com/shunter-bot/shunter)"
MAX_INLINE_WAIT = timedelta(seconds=60)
MUTATING = {"POST", "PATCH", "PUT", "DELETE"}


def retry_decision(exc: GitHubException, retry_count: int) -> RetryOption:
    """Rate limits: wait when GitHub says how long and it is short; 5xx: 3 tries, backoff."""
    if isinstance(exc, RateLimitExceeded):
        if retry_count < 2 and exc.retry_after <= MAX_INLINE_WAIT:
            return RetryOption(True, max(exc.retry_after, timedelta(seconds=1)))
        return RetryOption(False)
    if isinstance(exc, RequestFailed) and exc.response.status_code >= 500 and retry_count < 3:
        return RetryOption(True, timedelta(seconds=0.5 * (2**retry_count)))
    return RetryOption(False)


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


class GitHubFactory:
    """Builds githubkit clients from settings; one per process, cheap to call."""

    def __init__(self, settings: Settings, redis: Redis | None = None) -> None:
        self.settings = settings
        self.redis = redis
        self._app: GitHub[Any] | None = None
        self._installations: dict[int, GitHub[Any]] = {}

    def _common(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "base_url": self.settings.github_url + "/",
            "user_agent": USER_AGENT,
            "timeout": 30.0,
            "auto_retry": retry_decision,
            "http_cache": False,
        }
        if self.redis is not None:
            options["cache_strategy"] = RedisCacheStrategy(
                self.redis, prefix=f"shunter:gh:{self.settings.app_id}"
            )
        return options

    def app(self) -> GitHub[Any]:
        """A client authenticated as the App itself (JWT), for /app routes."""
        if self._app is None:
            app_id, pem = self.settings.require_app_credentials()
            self._app = GitHub(AppAuthStrategy(str(app_id), pem), **self._common())
        return self._app

    def installation(self, installation_id: int) -> GitHub[Any]:
        """A client acting as one installation; its token is minted and cached lazily."""
        client = self._installations.get(installation_id)
        if client is None:
            app_id, pem = self.settings.require_app_credentials()
            spacer = MutationSpacer(
                self.redis,
                f"shunter:gh:spacing:{installation_id}",
                self.settings.mutation_interval,
            )
            client = GitHub(
                AppInstallationAuthStrategy(str(app_id), pem, installation_id),
                throttler=spacer,
                **self._common(),
            )
            self._installations[installation_id] = client
        return client

    def installation_for_repo(self, owner: str, repo: str) -> tuple[int, GitHub[Any]]:
        with translate_errors(f"finding the installation for {owner}/{repo}"):
            inst = self.app().rest.apps.get_repo_installation(owner, repo).parsed_data
        return inst.id, self.installation(inst.id)

    def installation_token(self, installation_id: int) -> str:
        """A token for git over HTTPS (``x-access-token``); never log it."""
        with translate_errors("minting an installation token"):
            resp = self.app().rest.apps.create_installation_access_token(installation_id)
        return resp.parsed_data.token

    def forget_installation(self, installation_id: int | None) -> None:
        if installation_id is not None:
            self._installations.pop(installation_id, None)


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
        raise GitHubError(
            f"GitHub answered {status} while {doing}: {_message(exc)}", status=status
        ) from None
    except httpx.TransportError as exc:
        raise TransientError(f"network error while {doing}: {type(exc).__name__}") from None


def _message(exc: RequestFailed) -> str:
    try:
        body = exc.response.json()
    except Exception:  # not JSON: GitHub answers JSON, proxies may not
        return exc.response.text[:200]
    return str(body.get("message", body))[:500] if isinstance(body, dict) else str(body)[:200]
