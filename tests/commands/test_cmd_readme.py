"""`/shunter help` and the README's command reference list the same verbs, with the same
arguments and options, as the parser's table says."""

from __future__ import annotations

import re
from pathlib import Path

from bot.commands.parse import COMMANDS, VERBS
from bot.pipeline.commands import HANDLERS

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_synopses() -> dict[str, str]:
    """Each verb's command cell in the README's slash-command table, unescaped."""
    text = README.read_text()
    section = text.split("### Slash commands", 1)[1].split("\n## ", 1)[0]
    cells = re.findall(r"^\| `(/shunter (\w+)[^`]*)`", section, re.M)
    return {verb: cell.replace("\\|", "|") for cell, verb in cells}


def test_readme_and_help_agree():
    assert readme_synopses() == {verb: spec.synopsis(verb) for verb, spec in COMMANDS.items()}


def test_every_verb_has_a_handler():
    assert set(HANDLERS) == set(VERBS)
