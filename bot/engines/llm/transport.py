"""JSON over HTTP for the providers: timeouts, bounded retries, and a key that never leaks.

Rate limits (429) and server errors (5xx) are retried a few times, honouring
``retry-after``/``retry-after-ms``; a wait longer than ``max_retry_wait`` is not worth
blocking a worker for, so it becomes an error the stage reports instead. Every message
that leaves this module has the API key scrubbed out, because error bodies from some
servers echo the key back ("Incorrect API key provided: sk-...").
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from bot.errors import EngineError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
# 429s that say the money ran out, which no wait changes: OpenAI's insufficient_quota and
# its spend and usage limit codes (organization_/project_spend_limit_exceeded,
# organization_usage_limit_exceeded, credit_balance_exhausted), and Anthropic's monthly
# spend cap (a rate_limit_error with details.error_code enforced_spend_limit_reached).
_NO_CREDIT = (
    "insufficient_quota",
    "spend_limit_exceeded",
    "usage_limit_exceeded",
    "credit_balance_exhausted",
    "enforced_spend_limit_reached",
)


class LLMHTTPError(EngineError):
    """The LLM service answered with an error status; ``body`` is a redacted excerpt."""

    def __init__(
        self, message: str, *, status: int | None, body: str = "", hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.body = body


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (and its tail, as echoed back) replaced."""
    if not secret:
        return text
    text = text.replace(secret, "[REDACTED]")
    if len(secret) >= 12:
        # Servers often echo a truncated key such as "sk-abc***...wxyz"; hide the tail too.
        text = text.replace(secret[-6:], "[REDACTED]")
    return text


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


class JSONTransport:
    """A sync httpx client that POSTs JSON and returns JSON, retrying what is worth it."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        secret: str | None,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        client: httpx.Client | None = None,
    ) -> None:
        self._secret = SecretStr(secret) if secret else None
        self._max_retries = max_retries
        self._max_retry_wait = max_retry_wait
        self._sleep = sleep
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds))
        )

    def __repr__(self) -> str:
        return f"JSONTransport(max_retries={self._max_retries})"

    def close(self) -> None:
        self._client.close()

    def _plain_secret(self) -> str | None:
        return self._secret.get_secret_value() if self._secret else None

    def post(
        self,
        url: str,
        headers: Mapping[str, str],
        body: Mapping[str, Any],
        *,
        final: Callable[[int, str], bool] | None = None,
    ) -> dict[str, Any]:
        """POST ``body`` as JSON; the decoded JSON object answer, or ``EngineError``.

        ``final(status, body excerpt)`` marks an error answer that asking again cannot
        change although its status is one retried (llama.cpp answers an unsupported
        ``response_format`` with a 500): it is raised at once for the caller to act on.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._client.post(url, headers=dict(headers), json=body)
            except httpx.TimeoutException:
                problem, status, wait = "timed out", None, None
            except httpx.HTTPError as exc:
                problem = f"could not reach the LLM service ({type(exc).__name__})"
                status, wait = None, None
            else:
                if response.status_code < 400:
                    return self._decode(response)
                status = response.status_code
                wait = parse_retry_after(response.headers)
                excerpt = redact(response.text[:500], self._plain_secret())
                if status not in RETRY_STATUSES or (final is not None and final(status, excerpt)):
                    raise LLMHTTPError(
                        f"LLM service answered {status}: {excerpt}", status=status, body=excerpt
                    )
                said = redact(what_it_says(response.text), self._plain_secret())
                problem = f"LLM service answered {status}" + (f" ({said})" if said else "")
                if status == 429 and any(code in response.text for code in _NO_CREDIT):
                    raise LLMHTTPError(
                        problem,
                        status=status,
                        body=excerpt,
                        hint="the account behind the key has no credit left or reached its "
                        "spend limit, which waiting does not change: add credit, raise the "
                        "limit, or use another key",
                    )
            if attempt > self._max_retries:
                raise LLMHTTPError(
                    redact(f"{problem} after {attempt} attempts; giving up", self._plain_secret()),
                    status=status,
                )
            delay = wait if wait is not None else min(0.5 * 2 ** (attempt - 1), 8.0)
            if delay > self._max_retry_wait:
                raise LLMHTTPError(
                    f"{problem}; it asks to retry after {delay:.0f} s, longer than the "
                    f"{self._max_retry_wait:.0f} s Shunter waits",
                    status=status,
                )
            log.info("llm request %s; retrying in %.2f s (attempt %d)", problem, delay, attempt)
            self._sleep(delay)

    def _decode(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            excerpt = redact(response.text[:200], self._plain_secret())
            raise EngineError(f"LLM service answered with non-JSON: {excerpt!r}") from None
        if not isinstance(data, dict):
            raise EngineError("LLM service answered with JSON that is not an object")
        said = error_in_answer(data)
        if said is not None:
            excerpt = redact(said[:500], self._plain_secret())
            raise LLMHTTPError(
                f"LLM service answered {response.status_code} with an error: {excerpt}",
                status=response.status_code,
                body=excerpt,
            )
        return data


_TITLE = re.compile(r"<title>\s*(.*?)\s*</title>", re.IGNORECASE | re.DOTALL)


def what_it_says(text: str) -> str:
    """The gist of an error body, for a message: a JSON error's ``message``, an HTML
    page's title (a reverse proxy's "502 Bad Gateway"), or its first line, shortened."""
    said = ""
    try:
        data = json.loads(text)
    except ValueError:
        match = _TITLE.search(text[:2000])
        said = match.group(1) if match else text.strip().split("\n", 1)[0]
    else:
        if isinstance(data, dict):
            said = error_in_answer(data) or ""
    said = " ".join(said.split())
    return said if len(said) <= 200 else said[:199] + "…"


def error_in_answer(data: dict[str, Any]) -> str | None:
    """What an error body says when it came with a success status, else None.

    Proxies (LiteLLM, OpenRouter, gateways in front of vLLM) pass an upstream failure on
    as 200 with OpenAI's ``{"error": {...}}``, Anthropic's ``{"type": "error", ...}`` or
    vLLM's ``{"object": "error", "message": ...}``; read as an answer it would only say
    "no choices[0].message", hiding the upstream's own words.
    """
    if "choices" in data or "content" in data:
        return None
    error = data.get("error")
    if isinstance(error, dict):
        message = error.get("message") or error.get("type") or json.dumps(error)
        return str(message)
    if isinstance(error, str) and error:
        return error
    if data.get("object") == "error" or data.get("type") == "error":
        return str(data.get("message") or "no message")
    return None
