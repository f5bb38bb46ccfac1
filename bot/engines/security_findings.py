"""What every security engine hands back to the stage: findings, rule metadata, notes.

Engines stay independent of each other and of the stage's filtering; this one small shape
lets the stage merge bandit, detect-secrets, Shunter's rules, semgrep and the dependency
audit, and lets SARIF describe every rule it mentions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.models import Finding


@dataclass(frozen=True)
class RuleInfo:
    """How a rule is described to people: check summary, SARIF ``rules``, help text."""

    id: str
    name: str
    short: str
    help: str = ""
    cwe: int | None = None
    help_uri: str | None = None
    fix: str = ""
    tags: tuple[str, ...] = ("security",)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "short": self.short,
            "help": self.help,
            "cwe": self.cwe,
            "help_uri": self.help_uri,
            "fix": self.fix,
            "tags": list(self.tags),
        }


@dataclass
class EngineReport:
    """One engine's output for one tree. ``line_text`` feeds fingerprints and suppressions."""

    engine: str
    findings: list[Finding] = field(default_factory=list)
    rules: dict[str, RuleInfo] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """rule id -> equivalent ids of other engines (e.g. bandit's), for dedup and ``# nosec``."""

    def extend(self, other: EngineReport) -> None:
        self.findings.extend(other.findings)
        self.rules.update(other.rules)
        self.notes.extend(other.notes)
        self.aliases.update(other.aliases)


CONFIDENCE_RANK = {"low": 1, "medium": 2, "high": 3}


def confidence_rank(value: str | None) -> int:
    return CONFIDENCE_RANK.get((value or "medium").lower(), 2)
