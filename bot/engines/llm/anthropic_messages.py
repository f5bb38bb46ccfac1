"""Anthropic's Messages API: ``POST {base_url}/v1/messages`` with ``x-api-key``.

``base_url`` is the host, as in Anthropic's SDKs; one typed with ``/v1`` (as OpenAI's are)
is not given a second one.

Structured output is a forced tool call: the schema is the tool's ``input_schema`` and the
answer is the ``tool_use`` block's ``input``. A rejected answer is returned to the model as
that tool call's ``tool_result`` with ``is_error``, which is how the protocol says "try again".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from bot.engines.llm.endings import anthropic_ending
from bot.engines.llm.http_provider import (
    HTTPChatProvider,
    Reply,
    endpoint,
    reported_usage,
    token_count,
)
from bot.engines.llm.pricing import Price
from bot.engines.llm.protocol import Message
from bot.engines.llm.structured import correction_text, json_schema_for, parse_text, validate
from bot.engines.llm.transport import JSONTransport
from bot.errors import EngineError

ANTHROPIC_VERSION = "2023-06-01"
TOOL_NAME = "record_answer"


class AnthropicProvider(HTTPChatProvider):
    """A ``ChatProvider`` for Anthropic's Messages API (or a server that speaks it)."""

    def __init__(
        self,
        *,
        base_url: str = "https://api.anthropic.com",
        model: str,
        api_key: str,
        timeout_seconds: float = 60.0,
        price: Price | None = None,
        transport: JSONTransport | None = None,
    ) -> None:
        if not api_key:
            raise EngineError("the Anthropic provider needs an API key")
        super().__init__(
            base_url=base_url,
            model=model,
            api_key=api_key,
            timeout_seconds=timeout_seconds,
            price=price,
            transport=transport,
        )

    def _headers(self) -> dict[str, str]:
        return {
            "content-type": "application/json",
            "accept": "application/json",
            "x-api-key": self._api_key or "",
            "anthropic-version": ANTHROPIC_VERSION,
        }

    def _encode(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        return [{"role": m["role"], "content": m["content"]} for m in messages]

    @staticmethod
    def _split(conversation: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
        """The system prompt, and turns that alternate user/assistant starting with user."""
        system = "\n\n".join(t["content"] for t in conversation if t["role"] == "system")
        turns: list[dict[str, Any]] = []
        for turn in conversation:
            if turn["role"] == "system":
                continue
            if turns and turns[-1]["role"] == turn["role"]:
                turns[-1] = {
                    "role": turn["role"],
                    "content": _blocks(turns[-1]["content"]) + _blocks(turn["content"]),
                }
            else:
                turns.append(dict(turn))
        if not turns or turns[0]["role"] != "user":
            turns.insert(0, {"role": "user", "content": "(no user message)"})
        return system, turns

    def _exchange(
        self,
        conversation: list[dict[str, Any]],
        schema: type[BaseModel] | None,
        max_tokens: int,
        temperature: float,
    ) -> Reply:
        system, turns = self._split(conversation)
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "messages": turns,
        }
        if system:
            body["system"] = system
        if schema is not None:
            body["tools"] = [
                {
                    "name": TOOL_NAME,
                    "description": (
                        "Record your answer. Always answer by calling this tool exactly once."
                    ),
                    "input_schema": json_schema_for(schema),
                }
            ]
            body["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
        path = "/messages" if self.base_url.split("?")[0].endswith("/v1") else "/v1/messages"
        data = self._transport.post(endpoint(self.base_url, path), self._headers(), body)
        return self._reply(data)

    def _reply(self, data: dict[str, Any]) -> Reply:
        content = data.get("content")
        if not isinstance(content, list):
            raise EngineError("the LLM service's answer has no content list")
        text = "".join(
            block.get("text", "")
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        )
        tool_input: Any = None
        for block in content:
            if (
                isinstance(block, dict)
                and block.get("type") == "tool_use"
                and block.get("name") == TOOL_NAME
            ):
                tool_input = block.get("input")
                break
        usage = reported_usage(data, "input_tokens", "output_tokens")
        input_tokens = sum(
            token_count(usage, key)
            for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        return Reply(
            text=text,
            data=tool_input,
            input_tokens=input_tokens,
            output_tokens=token_count(usage, "output_tokens"),
            model=str(data.get("model") or self.model),
            native_turns=[{"role": "assistant", "content": content}],
            ending=anthropic_ending(data),
            usage_reported=usage is not None,
            cache_read_tokens=token_count(usage, "cache_read_input_tokens"),
            cache_write_tokens=token_count(usage, "cache_creation_input_tokens"),
        )

    def _parse(self, schema: type[BaseModel], reply: Reply) -> BaseModel:
        if reply.data is not None:
            return validate(schema, reply.data)
        return parse_text(schema, reply.text)

    def _correction(self, reply: Reply, reason: str) -> list[dict[str, Any]]:
        assistant = reply.native_turns[0]["content"] if reply.native_turns else []
        tool_ids = [
            block["id"]
            for block in assistant
            if isinstance(block, dict) and block.get("type") == "tool_use" and "id" in block
        ]
        if not tool_ids:
            return [{"role": "user", "content": correction_text(reason)}]
        # Every tool_use must be answered by a tool_result in the next user turn.
        return [
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": tool_id,
                        "is_error": True,
                        "content": correction_text(reason),
                    }
                    for tool_id in tool_ids
                ],
            }
        ]


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content)
