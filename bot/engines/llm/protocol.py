"""The provider contract every LLM backend meets, and the plain data it returns.

Stages depend on this Protocol only, so they stay testable and import nothing network-y;
the HTTP providers live in their own modules and are imported when a config asks for one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypedDict

from pydantic import BaseModel

Role = Literal["system", "user", "assistant"]


class Message(TypedDict):
    """One chat turn. ``system`` turns are hoisted where a protocol wants them elsewhere."""

    role: Role
    content: str


@dataclass(frozen=True)
class Completion:
    """A model's answer plus what it cost; ``parsed`` is set when a schema was requested.

    Token counts and cost add up every HTTP exchange the answer took (a schema retry
    counts twice), so budgets and run records see what was really spent.
    """

    text: str
    parsed: BaseModel | None
    input_tokens: int
    output_tokens: int
    model: str
    cost_usd: float | None = None
    calls: int = 1
    secrets_masked: int = 0
    """Secrets masked out of the request before it was sent (a count, never a value)."""
    usage_reported: bool = True
    """False when the server left out token counts for some exchange: the counts are then
    short, and ``cost_usd`` is None (unknown) unless the server reported a cost itself."""


class ChatProvider(Protocol):
    """A chat model behind some HTTP API.

    ``complete`` raises ``bot.errors.EngineError`` (never a transport exception) when the
    service fails or the output cannot be made to fit ``schema``. A provider that sends the
    messages anywhere masks their secrets first (``bot.engines.llm.prompt_secrets``, as
    ``HTTPChatProvider`` does) and says how many in ``Completion.secrets_masked``.
    """

    @property
    def model(self) -> str: ...

    def complete(
        self,
        messages: Sequence[Message],
        *,
        schema: type[BaseModel] | None = None,
        max_tokens: int = 1024,
        temperature: float = 0.0,
    ) -> Completion: ...
