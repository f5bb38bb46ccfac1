"""The optional LLM engine: chat providers, structured output, token budgets.

Shunter works fully offline without it. Importing this package loads no HTTP client; the
providers (``openai_chat``, ``anthropic_messages``) are imported on first use, e.g. by
:func:`bot.engines.llm.factory.provider_from_config`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.engines.llm.protocol import ChatProvider, Completion, Message

if TYPE_CHECKING:
    from bot.engines.llm.anthropic_messages import AnthropicProvider
    from bot.engines.llm.factory import provider_from_config
    from bot.engines.llm.openai_chat import OpenAICompatibleProvider

__all__ = [
    "AnthropicProvider",
    "ChatProvider",
    "Completion",
    "Message",
    "OpenAICompatibleProvider",
    "provider_from_config",
]

_LAZY = {
    "AnthropicProvider": "bot.engines.llm.anthropic_messages",
    "OpenAICompatibleProvider": "bot.engines.llm.openai_chat",
    "provider_from_config": "bot.engines.llm.factory",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
