"""The configuration reference's annotated example is valid and mentions every setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.policies.merge import leaves
from bot.policies.schema import LLMConfig, ShunterConfig
from bot.policies.validation import parse_config

ROOT = Path(__file__).resolve().parents[2]
MARKER = "### A complete, annotated example"


def _example() -> str:
    for doc in (ROOT / "README.md",):
        if doc.is_file() and MARKER in (text := doc.read_text()):
            section = text[text.index(MARKER) :]
            match = re.search(r"```yaml\n(.*?)```", section, re.S)
            assert match is not None
            return match.group(1)
    pytest.skip("no configuration reference found")


def test_example_is_valid() -> None:
    parsed = parse_config(_example(), file="README example")
    assert parsed.ok, [p.render() for p in parsed.problems]


def test_example_mentions_every_setting() -> None:
    parsed = parse_config(_example())
    assert parsed.data is not None
    written = set(leaves(parsed.data))
    everything = set(leaves(ShunterConfig().model_dump(mode="json")))
    everything |= {("llm", name) for name in LLMConfig.model_fields}
    everything.discard(("llm",))
    missing = sorted(".".join(p) for p in everything - written)
    assert not missing, f"the README example lacks: {missing}"
