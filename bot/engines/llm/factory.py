"""Turn the ``llm:`` section of ``.github/shunter.yml`` into a provider.

The config names the environment variable that holds the key, never the key itself, so a
repository can choose a provider without being able to read (or leak) the operator's key.
The HTTP modules are imported here, on demand, so non-LLM code paths never load them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from bot.engines.llm.pricing import Price
from bot.engines.llm.protocol import ChatProvider
from bot.errors import EngineError
from bot.policies.schema import LLMConfig

DEFAULT_BASE_URLS = {
    "openai-compatible": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}


def provider_from_config(
    cfg: LLMConfig | None,
    env: Mapping[str, str] | None = None,
    *,
    price: Price | None = None,
) -> ChatProvider:
    """The provider ``cfg`` describes, or ``EngineError`` saying what is missing."""
    if cfg is None:
        raise EngineError(
            "the llm engine is selected but the config has no `llm:` section",
            hint="add llm.provider, llm.model and llm.api_key_env to .github/shunter.yml",
        )
    environ = os.environ if env is None else env
    if not cfg.model:
        raise EngineError("llm.model is not set", hint="name the model, e.g. `model: llama3.1`")
    api_key: str | None = None
    if cfg.api_key_env:
        api_key = environ.get(cfg.api_key_env) or None
        if api_key is None:
            raise EngineError(
                f"the environment variable {cfg.api_key_env} named by llm.api_key_env is "
                "not set on the Shunter worker",
                hint=f"export {cfg.api_key_env} where the workers run, or drop api_key_env "
                "for a local server that needs no key",
            )
    base_url = cfg.base_url or DEFAULT_BASE_URLS[cfg.provider]
    if cfg.provider == "anthropic":
        if api_key is None:
            raise EngineError(
                "the anthropic provider needs llm.api_key_env",
                hint="set llm.api_key_env to the name of the variable holding the key",
            )
        from bot.engines.llm.anthropic_messages import AnthropicProvider

        return AnthropicProvider(
            base_url=base_url,
            model=cfg.model,
            api_key=api_key,
            timeout_seconds=cfg.timeout_seconds,
            price=price,
        )
    from bot.engines.llm.openai_chat import OpenAICompatibleProvider

    return OpenAICompatibleProvider(
        base_url=base_url,
        model=cfg.model,
        api_key=api_key,
        timeout_seconds=cfg.timeout_seconds,
        price=price,
    )
