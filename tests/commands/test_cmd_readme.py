"""`/shunter help` and the README's command reference list the same verbs, with the same
arguments and options, as the parser's table says."""

from __future__ import annotations

import re
from pathlib import Path

from bot.commands.parse import COMMANDS, VERBS
from bot.pipeline.commands import HANDLERS
from bot.policies.schema import Commands

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


def readme_permissions() -> dict[str, str]:
    """Each verb's "default permission" cell in the README's slash-command table."""
    section = README.read_text().split("### Slash commands", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `/shunter (\w+)[^\n]*\| ([^|\n]+) \|$", section, re.M)
    return {verb: permission.strip() for verb, permission in rows}


def test_readme_states_each_default_permission():
    """The table's "default permission" column is what `commands.rules` defaults to: the
    lowest permission, and "or the PR author" exactly where `author_may_run` is on (it said
    only "read" for help, queue, config, explain and ask, which the PR's author may run)."""
    expected = {
        verb: rule.permission + (", or the PR author" if rule.author_may_run else "")
        for verb, rule in Commands().rules.items()
    }
    assert readme_permissions() == expected


def test_readme_names_every_check_run_button():
    """The buttons Shunter puts on its check runs are the ones the README describes."""
    from bot.publishing.check_runs import _actions

    text = README.read_text()
    paragraph = text.split("Check-run buttons:", 1)[1].split("\n\n", 1)[0]
    described = re.findall(r"\*\*([^*]+)\*\*", paragraph.split(". A click", 1)[0])
    offered = [action["label"] for action in _actions(has_fixes=True, has_findings=True)]
    assert described == offered
