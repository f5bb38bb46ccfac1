"""The whole loop through the simulator: real HTTP, real git, real Redis, SQLite store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.stack import LocalStack
from tests.llm.conftest import FakeLLM


@pytest.fixture
def stack(redis_url, tmp_path) -> Iterator[LocalStack]:
    with LocalStack(tmp_path / "stack", redis_url=redis_url) as st:
        yield st


@pytest.fixture
def llm(monkeypatch) -> Iterator[FakeLLM]:
    """A keyless OpenAI-compatible server (as Ollama is) the operator allows workers to reach."""
    fake = FakeLLM("openai", None)
    monkeypatch.setenv("SHUNTER_OUTBOUND_URLS", fake.base_url)
    yield fake
    fake.close()
    assert fake.protocol_errors == []


BASE_FILES = {
    "app.py": "def add(a, b):\n    return a + b\n",
    "tests/test_app.py": "from app import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
    "README.md": "# demo\n",
}
