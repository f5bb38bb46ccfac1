"""Which servers a repository's config may point Shunter's workers at."""

from __future__ import annotations

import pytest

from bot.engines import outbound
from bot.errors import EngineError


@pytest.mark.parametrize(
    ("prefix", "url", "allowed"),
    [
        ("https://api.openai.com/", "https://api.openai.com/v1", True),
        ("https://api.openai.com/", "https://API.openai.com:443/v1/", True),
        ("http://ollama.internal:11434/v1", "http://ollama.internal:11434/v1/chat", True),
        ("http://ollama.internal:11434/v1", "http://ollama.internal:11434/v10", False),
        ("http://ollama.internal:11434/v1", "http://ollama.internal:11435/v1", False),
        ("https://api.openai.com/", "http://api.openai.com/v1", False),
        ("https://api.openai.com/", "https://api.openai.com.evil.example/v1", False),
        ("https://api.openai.com/", "https://user:pw@api.openai.com/v1", False),
        ("https://api.openai.com/", "file:///etc/passwd", False),
        ("https://api.openai.com/", "https://api.openai.com:bad/", False),
    ],
)
def test_a_prefix_permits_its_own_server_and_paths_below(prefix: str, url: str, allowed: bool) -> None:
    assert outbound.permits(prefix, url) is allowed


def test_the_metadata_service_and_loopback_need_the_operator() -> None:
    for url in ("http://169.254.169.254/latest/meta-data", "http://127.0.0.1:6379/", "http://localhost:8080"):
        with pytest.raises(EngineError, match="SHUNTER_OUTBOUND_URLS"):
            outbound.check(url, "stages.security.osv_url", {})
    outbound.check("https://api.osv.dev", "stages.security.osv_url", {})  # a public service Shunter knows
    outbound.check("http://127.0.0.1:8080/osv", "x", {"SHUNTER_OUTBOUND_URLS": "https://a.example, http://127.0.0.1:8080"})
