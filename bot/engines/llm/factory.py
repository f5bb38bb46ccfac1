"""Turn the ``llm:`` section of ``.github/shunter.yml`` into a provider.

The config names the environment variable that holds the key, never the key itself, so a
repository can choose a provider without being able to read (or leak) the operator's key.
That only holds because the operator decides which variables may be named and where each
key may be sent (``SHUNTER_LLM_KEYS``): otherwise a repository's maintainer could name
``SHUNTER_WEBHOOK_SECRET`` (or the real key) and point ``base_url`` at a server of theirs.
The HTTP modules are imported here, on demand, so non-LLM code paths never load them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import urlparse

from bot.engines import outbound
from bot.engines.llm.pricing import Price
from bot.engines.llm.protocol import ChatProvider
from bot.errors import EngineError
from bot.policies.schema import LLMConfig

DEFAULT_BASE_URLS = {
    "openai-compatible": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}
KEYS_VARIABLE = "SHUNTER_LLM_KEYS"
DEFAULT_KEYS = "SHUNTER_LLM_API_KEY"
_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
# Shunter's own secrets are never an LLM key, whatever SHUNTER_LLM_KEYS says
NEVER_KEYS = frozenset(
    {
        "SHUNTER_WEBHOOK_SECRET",
        "SHUNTER_PRIVATE_KEY",
        "SHUNTER_PRIVATE_KEY_PATH",
        "SHUNTER_DATABASE_URL",
        "SHUNTER_REDIS_URL",
        "SHUNTER_CLIENT_SECRET",
    }
)


def key_bindings(spec: str) -> dict[str, str | None]:
    """``SHUNTER_LLM_KEYS``: comma-separated ``NAME`` or ``NAME=BASE_URL``. A name is a
    variable a repository's ``llm.api_key_env`` may name; its key is sent only to
    ``BASE_URL`` (without one: only to the provider's own API)."""
    out: dict[str, str | None] = {}
    for item in spec.split(","):
        name, _, url = item.strip().partition("=")
        name = name.strip()
        if _NAME.fullmatch(name) and name not in NEVER_KEYS:
            out[name] = url.strip() or None
    return out


def _same_endpoint(a: str, b: str) -> bool:
    pa, pb = urlparse(a), urlparse(b)
    return (pa.scheme.lower(), pa.netloc.lower(), pa.path.rstrip("/")) == (
        pb.scheme.lower(),
        pb.netloc.lower(),
        pb.path.rstrip("/"),
    )


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
    base_url = cfg.base_url or DEFAULT_BASE_URLS[cfg.provider]
    bindings = key_bindings(environ.get(KEYS_VARIABLE, DEFAULT_KEYS))
    outbound.check(base_url, "llm.base_url", environ, also=[u for u in bindings.values() if u])
    api_key: str | None = None
    if cfg.api_key_env:
        allowed = bindings
        if cfg.api_key_env not in allowed:
            raise EngineError(
                f"llm.api_key_env names {cfg.api_key_env}, which this Shunter installation "
                "does not offer as an LLM key",
                hint=f"ask the operator to list it in {KEYS_VARIABLE} (now: "
                f"{', '.join(sorted(allowed)) or 'none'}), or use one of those",
            )
        pinned = allowed[cfg.api_key_env] or DEFAULT_BASE_URLS[cfg.provider]
        if not _same_endpoint(base_url, pinned):
            raise EngineError(
                f"the key in {cfg.api_key_env} is only sent to {pinned}; llm.base_url asks "
                f"for {base_url}",
                hint=f"drop llm.base_url, or ask the operator to bind the key to that server in "
                f"{KEYS_VARIABLE} ({cfg.api_key_env}=URL)",
            )
        api_key = environ.get(cfg.api_key_env) or None
        if api_key is None:
            raise EngineError(
                f"the environment variable {cfg.api_key_env} named by llm.api_key_env is "
                "not set on the Shunter worker",
                hint=f"export {cfg.api_key_env} where the workers run, or drop api_key_env "
                "for a local server that needs no key",
            )
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
