"""OpenAI-compatible chat completions: OpenAI, Ollama, vLLM, llama.cpp, LiteLLM and friends.

``POST {base_url}/chat/completions`` with a Bearer key (none for local servers; Azure's
``?api-version=`` URLs take it in ``api-key``). JSON output
is asked for in the strongest form the server accepts: ``response_format`` ``json_schema``,
else ``json_object``, else plain instructions; a server that rejects a form (a 400, 422 or
llama.cpp's 500 naming it) is asked again with the next one, and one that accepts
``json_schema`` but answers prose is shown the schema in the prompt on the retry; the
provider remembers the form that worked.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel

from bot.engines.llm.endings import openai_ending
from bot.engines.llm.http_provider import (
    HTTPChatProvider,
    Reply,
    endpoint,
    has_api_version,
    reported_usage,
    token_count,
)
from bot.engines.llm.pricing import Price
from bot.engines.llm.protocol import Message
from bot.engines.llm.structured import (
    OutputMismatch,
    correction_text,
    extract_json,
    json_schema_for,
    parse_text,
    strip_reasoning,
)
from bot.engines.llm.transport import JSONTransport, LLMHTTPError
from bot.errors import EngineError

log = logging.getLogger(__name__)

JSONMode = Literal["json_schema", "json_object", "prompt"]
_WEAKER: dict[str, JSONMode] = {"json_schema": "json_object", "json_object": "prompt"}
# How servers word "not that response_format": OpenAI and LM Studio name the field,
# llama.cpp the type (with a 500 before it learnt json_schema), vLLM "JSON schema"
# ("The provided JSON schema contains features not supported by xgrammar."), Gemini's
# OpenAI endpoint the field it maps it to ("Unknown name \"$defs\" at
# 'generation_config.response_schema'").
_FORMAT_WORDS = (
    "response_format",
    "json_schema",
    "json_object",
    "json schema",
    "grammar",
    "response_schema",
)
_FORMAT_STATUSES = frozenset({400, 422, 500})


def rejects_format(status: int, body: str) -> bool:
    """Whether an error answer is the server refusing the ``response_format`` it was sent."""
    lowered = body.lower()
    return status in _FORMAT_STATUSES and any(word in lowered for word in _FORMAT_WORDS)


def schema_instruction(schema: type[BaseModel]) -> str:
    return (
        "Answer with a single JSON object and nothing else (no prose, no code fences). "
        "It must validate against this JSON Schema:\n"
        + json.dumps(json_schema_for(schema), separators=(",", ":"))
    )


class OpenAICompatibleProvider(HTTPChatProvider):
    """A ``ChatProvider`` for any server speaking OpenAI's chat-completions protocol."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_seconds: float = 60.0,
        json_mode: JSONMode = "json_schema",
        price: Price | None = None,
        transport: JSONTransport | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            model=model,
            api_key=api_key,
            timeout_seconds=timeout_seconds,
            price=price,
            transport=transport,
        )
        self.json_mode: JSONMode = json_mode
        # OpenAI's reasoning models (o1, o3, o4-mini, gpt-5) refuse max_tokens and any
        # temperature but the default; learnt from their 400s, and remembered.
        self.limit_field = "max_tokens"
        self.sends_temperature = True

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        if self._api_key and has_api_version(self.base_url):
            headers["api-key"] = self._api_key  # Azure OpenAI's dated API
        elif self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        return headers

    def _encode(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        return [{"role": m["role"], "content": m["content"]} for m in messages]

    def _body(
        self,
        conversation: list[dict[str, Any]],
        schema: type[BaseModel] | None,
        max_tokens: int,
        temperature: float,
    ) -> dict[str, Any]:
        messages = [dict(turn) for turn in conversation]
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            self.limit_field: max_tokens,
            "stream": False,
        }
        if self.sends_temperature:
            body["temperature"] = temperature
        if schema is None:
            return body
        if self.json_mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": schema.__name__[:64],
                    "schema": json_schema_for(schema),
                    "strict": False,
                },
            }
            return body
        if self.json_mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        # json_object needs the word JSON in the prompt, and plain mode needs the schema.
        instruction = schema_instruction(schema)
        if messages and messages[0]["role"] == "system":
            messages[0]["content"] = f"{messages[0]['content']}\n\n{instruction}"
        else:
            messages.insert(0, {"role": "system", "content": instruction})
        return body

    def _exchange(
        self,
        conversation: list[dict[str, Any]],
        schema: type[BaseModel] | None,
        max_tokens: int,
        temperature: float,
    ) -> Reply:
        url = endpoint(self.base_url, "/chat/completions")
        while True:
            body = self._body(conversation, schema, max_tokens, temperature)
            may_weaken = schema is not None and self.json_mode in _WEAKER
            try:
                data = self._transport.post(
                    url, self._headers(), body, final=rejects_format if may_weaken else None
                )
            except LLMHTTPError as exc:
                if exc.status == 400 and self._adapt_to(exc.body):
                    continue
                if may_weaken and exc.status is not None and rejects_format(exc.status, exc.body):
                    log.info("llm server refused response_format %s; asking again without", self.json_mode)
                    self.json_mode = _WEAKER[self.json_mode]
                    continue
                if exc.status == 404:
                    raise EngineError(exc.message, hint=_not_found_hint(exc.body, url)) from None
                raise
            return self._reply(data)

    def _adapt_to(self, body: str) -> bool:
        """Change what the next request sends after a 400 naming a parameter this model
        refuses ("Use 'max_completion_tokens' instead", "'temperature' does not support
        0.0 with this model"); False when the 400 is about something else."""
        if self.limit_field == "max_tokens" and "max_completion_tokens" in body:
            self.limit_field = "max_completion_tokens"
            return True
        if self.sends_temperature and "'temperature'" in body and "support" in body:
            self.sends_temperature = False
            return True
        return False

    def _reply(self, data: dict[str, Any]) -> Reply:
        try:
            choice = data["choices"][0]
            message = choice["message"]
        except (KeyError, IndexError, TypeError):
            raise EngineError("the LLM service's answer has no choices[0].message") from None
        if not isinstance(message, dict):
            raise EngineError("the LLM service's answer has no choices[0].message")
        text = message.get("content") or ""
        if not isinstance(text, str):
            # Some servers return content parts; keep only the text ones.
            text = "".join(part.get("text", "") for part in text if isinstance(part, dict))
        text = strip_reasoning(text)
        usage = reported_usage(data, "prompt_tokens", "completion_tokens")
        reported_cost = (usage or {}).get("cost")
        return Reply(
            text=text,
            data=None,
            input_tokens=token_count(usage, "prompt_tokens"),
            output_tokens=token_count(usage, "completion_tokens"),
            model=str(data.get("model") or self.model),
            cost_usd=float(reported_cost) if isinstance(reported_cost, int | float) else None,
            native_turns=[{"role": "assistant", "content": text}],
            ending=openai_ending(choice if isinstance(choice, dict) else {}, message, text),
            usage_reported=usage is not None,
            cache_read_tokens=token_count((usage or {}).get("prompt_tokens_details"), "cached_tokens"),
        )

    def _parse(self, schema: type[BaseModel], reply: Reply) -> BaseModel:
        if not reply.text.strip():
            # A reasoning model may think (in reasoning_content or <think>) and answer nothing.
            raise OutputMismatch(
                "the reply held no answer, only reasoning or nothing; give the JSON object "
                "as the answer itself"
            )
        return parse_text(schema, reply.text)

    def _correction(self, reply: Reply, reason: str) -> list[dict[str, Any]]:
        if self.json_mode == "json_schema" and not _is_json(reply.text):
            # Constrained decoding cannot produce prose: this server accepted json_schema
            # and ignored it (older Ollama, llama.cpp builds), so the model never saw the
            # schema. The retry carries it in the prompt, as json_object mode does.
            self.json_mode = "json_object"
        return [{"role": "user", "content": correction_text(reason)}]


def _not_found_hint(body: str, url: str) -> str:
    """What a 404 from a chat-completions server usually means, and the setting to change."""
    if "model" in body.lower():
        return "check llm.model: the server does not know that model (Ollama: pull it first)"
    return (
        f"the server has no {url.split('?')[0]}: llm.base_url is what comes before "
        "/chat/completions, which OpenAI-compatible servers serve under /v1 "
        "(Ollama: http://HOST:11434/v1, vLLM: http://HOST:8000/v1, llama.cpp: http://HOST:8080/v1)"
    )


def _is_json(text: str) -> bool:
    try:
        extract_json(text)
    except OutputMismatch:
        return False
    return True
