"""What the HTTP providers share: the ask / validate / correct-once loop and key hygiene.

Each protocol differs in how a turn is encoded and how a correction is phrased (an
Anthropic correction must answer the tool call it rejects); everything else — counting
tokens across attempts, pricing, the single retry, the error on a second failure — is here
so the two providers cannot drift apart.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr

from bot.engines.llm.endings import COMPLETE, Ending, UnusableAnswer, ending_error
from bot.engines.llm.pricing import Price, cost_usd
from bot.engines.llm.prompt_secrets import mask_messages
from bot.engines.llm.protocol import Completion, Message
from bot.engines.llm.structured import OutputMismatch
from bot.engines.llm.transport import JSONTransport
from bot.errors import EngineError

log = logging.getLogger(__name__)


@dataclass
class Reply:
    """One HTTP exchange's answer in protocol-neutral form."""

    text: str
    data: Any
    """The structured payload when the protocol delivers one (e.g. a tool call), else None."""
    input_tokens: int
    output_tokens: int
    model: str
    cost_usd: float | None = None
    native_turns: list[dict[str, Any]] = field(default_factory=list)
    """The assistant turn(s) to append to the conversation before a correction."""
    ending: Ending = COMPLETE
    """Why the model stopped: a cut-off, refused or filtered answer is not retried."""
    usage_reported: bool = True
    """False when the answer carried no token counts (older llama.cpp, some proxies)."""
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    """Parts of ``input_tokens`` read from / written to the provider's prompt cache, which
    are billed at their own rates."""


def reported_usage(data: dict[str, Any], *keys: str) -> dict[str, Any] | None:
    """The answer's ``usage`` when it counts any of ``keys``; None when it is missing,
    null or not an object, so the caller records "not reported" instead of 0 tokens."""
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return None
    return usage if any(isinstance(usage.get(key), int | float) for key in keys) else None


def token_count(usage: Any, key: str) -> int:
    """``usage[key]`` as a count of tokens; anything else a server puts there counts as 0."""
    value = usage.get(key) if isinstance(usage, dict) else None
    return int(value) if isinstance(value, int | float) and value >= 0 else 0


def endpoint(base_url: str, path: str) -> str:
    """``path`` appended to ``base_url``'s path, its query kept at the end: Azure OpenAI's
    ``.../deployments/d?api-version=...`` must not become ``...?api-version=.../chat/...``."""
    split = urlsplit(base_url)
    return urlunsplit(split._replace(path=split.path.rstrip("/") + path))


def has_api_version(base_url: str) -> bool:
    """Whether ``base_url`` is an Azure-style URL carrying ``?api-version=``."""
    return "api-version" in parse_qs(urlsplit(base_url).query)


class HTTPChatProvider(ABC):
    """A ``ChatProvider`` over JSON HTTP; subclasses encode one wire protocol."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        timeout_seconds: float = 60.0,
        price: Price | None = None,
        transport: JSONTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._model = model
        # SecretStr: even vars()/pickling/debug dumps show '**********'.
        self.__api_key = SecretStr(api_key) if api_key else None
        self._price = price
        self._transport = transport or JSONTransport(
            timeout_seconds=timeout_seconds, secret=api_key
        )

    @property
    def model(self) -> str:
        return self._model

    @property
    def _api_key(self) -> str | None:
        return self.__api_key.get_secret_value() if self.__api_key else None

    def __repr__(self) -> str:
        # Never the key: only whether one is set.
        key = "set" if self.__api_key else "none"
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, model={self._model!r}, key={key})"
        )

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> HTTPChatProvider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def complete(
        self,
        messages: Sequence[Message],
        *,
        schema: type[BaseModel] | None = None,
        max_tokens: int = 1024,
        temperature: float = 0.0,
    ) -> Completion:
        if not messages:
            raise EngineError("an LLM request needs at least one message")
        # The one way out to a provider: what PR text carries is masked here, for every caller.
        masked, secrets_masked = mask_messages(messages)
        conversation = self._encode(masked)
        spent_in = spent_out = 0
        cost: float | None = 0.0
        reported = True
        reason = ""
        for attempt in (1, 2):
            reply = self._exchange(conversation, schema, max_tokens, temperature)
            spent_in += reply.input_tokens
            spent_out += reply.output_tokens
            reported = reported and reply.usage_reported
            call_cost = reply.cost_usd
            if call_cost is None and reply.usage_reported:
                call_cost = cost_usd(
                    reply.model,
                    reply.input_tokens,
                    reply.output_tokens,
                    self._price,
                    cache_read=reply.cache_read_tokens,
                    cache_write=reply.cache_write_tokens,
                )
            cost = None if cost is None or call_cost is None else round(cost + call_cost, 6)
            log.debug(
                "llm call model=%s attempt=%d input_tokens=%d output_tokens=%d",
                reply.model,
                attempt,
                reply.input_tokens,
                reply.output_tokens,
            )
            spent = Completion(
                "",
                None,
                spent_in,
                spent_out,
                reply.model,
                cost,
                attempt,
                secrets_masked,
                usage_reported=reported,
            )
            stopped = ending_error(
                reply.ending,
                model=reply.model,
                max_tokens=max_tokens,
                structured=schema is not None,
                output_tokens=reply.output_tokens if reply.usage_reported else None,
            )
            if stopped is not None:
                stopped.spent = spent
                raise stopped
            parsed: BaseModel | None = None
            if schema is not None:
                try:
                    parsed = self._parse(schema, reply)
                except OutputMismatch as exc:
                    reason = exc.reason
                    log.info("llm output rejected (attempt %d): %s", attempt, reason)
                    correction = self._correction(reply, reason)
                    conversation = conversation + reply.native_turns + correction
                    continue
            return replace(spent, text=reply.text, parsed=parsed)
        failed = UnusableAnswer(
            f"the model {self._model!r} twice returned output that does not match "
            f"{schema.__name__ if schema else 'the schema'}: {reason}",
            hint="try a more capable model, or the builtin engine",
        )
        failed.spent = spent
        raise failed

    @abstractmethod
    def _encode(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        """Messages in the protocol's own shape."""

    @abstractmethod
    def _exchange(
        self,
        conversation: list[dict[str, Any]],
        schema: type[BaseModel] | None,
        max_tokens: int,
        temperature: float,
    ) -> Reply:
        """One request/response; transport problems surface as ``EngineError``."""

    @abstractmethod
    def _parse(self, schema: type[BaseModel], reply: Reply) -> BaseModel:
        """The validated payload, or ``OutputMismatch``."""

    @abstractmethod
    def _correction(self, reply: Reply, reason: str) -> list[dict[str, Any]]:
        """The turn(s) that tell the model what was wrong with ``reply``."""
