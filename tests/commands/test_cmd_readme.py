"""`/shunter help` and the README's command reference list the same verbs."""

from __future__ import annotations

import re
from pathlib import Path

from bot.commands.parse import VERBS
from bot.pipeline.commands import HANDLERS

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_verbs() -> set[str]:
    text = README.read_text()
    section = text.split("### Slash commands", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `/shunter (\w+)", section, re.M))


def test_readme_and_help_agree():
    assert readme_verbs() == set(VERBS)


def test_every_verb_has_a_handler():
    assert set(HANDLERS) == set(VERBS)
