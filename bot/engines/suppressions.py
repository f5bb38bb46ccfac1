"""Inline suppressions: which findings a line's comment silences, and why.

Understood forms (all in a ``#`` comment on the finding's first or last line):

- ``# nosec`` (every bandit/rule finding on the line) or ``# nosec B602, B607``;
- ``# noqa: S602`` (ruff's flake8-bandit codes: ``S602`` is bandit's ``B602``); a bare
  ``# noqa`` is a lint waiver and does not silence security findings;
- ``# shunter: ignore[rule-id, other-id] reason`` (ids may be globs like ``secret.*``);
  the reason is required so reviewers see why: without one the comment is reported as
  ignored, not honoured;
- ``# pragma: allowlist secret`` (detect-secrets' form) for secret findings.

Suppressed findings are not dropped: the stage keeps them with ``Finding.suppressed`` set
and lists them in the summary.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.models import Finding

_NOSEC = re.compile(r"#.*?\bnosec\b(?P<ids>[:\s]*(?:[A-Z]\d{3}(?:[\s,]+|$))*)", re.IGNORECASE)
_NOQA = re.compile(r"#.*?\bnoqa\s*:\s*(?P<ids>[A-Z]+\d+(?:\s*,\s*[A-Z]+\d+)*)", re.IGNORECASE)
_SHUNTER = re.compile(r"#.*?\bshunter:\s*ignore\[(?P<ids>[^\]]*)\](?P<reason>[^#]*)")
_ALLOWLIST = re.compile(r"pragma:\s*allowlist[ -]secret", re.IGNORECASE)
_ID = re.compile(r"[A-Za-z]+\d+")


@dataclass(frozen=True)
class Directive:
    kind: str  # "nosec" | "noqa" | "shunter" | "allowlist"
    ids: tuple[str, ...]
    reason: str = ""
    text: str = ""

    @property
    def valid(self) -> bool:
        return self.kind != "shunter" or bool(self.reason)


def parse(line: str) -> list[Directive]:
    """Every suppression directive in one source line."""
    if "#" not in line:
        return []
    found: list[Directive] = []
    if m := _NOSEC.search(line):
        ids = tuple(i.upper() for i in _ID.findall(m.group("ids") or ""))
        found.append(Directive("nosec", ids, text=m.group(0)[m.group(0).find("nosec") :].strip()))
    if m := _NOQA.search(line):
        ids = tuple(i.upper() for i in _ID.findall(m.group("ids")))
        found.append(Directive("noqa", ids, text=f"noqa: {', '.join(ids)}"))
    if m := _SHUNTER.search(line):
        ids = tuple(i.strip() for i in m.group("ids").split(",") if i.strip())
        reason = m.group("reason").strip(" :-\t")
        found.append(Directive("shunter", ids, reason, text=f"shunter: ignore[{', '.join(ids)}]"))
    if _ALLOWLIST.search(line):
        found.append(Directive("allowlist", (), text="pragma: allowlist secret"))
    return found


def _ids_for(finding: Finding, aliases: Mapping[str, tuple[str, ...]]) -> set[str]:
    ids = {finding.rule_id, *aliases.get(finding.rule_id, ())}
    # ruff spells bandit's B602 as S602
    ids |= {"S" + i[1:] for i in ids if re.fullmatch(r"B\d{3}", i)}
    return {i.upper() for i in ids} | ids


def match(finding: Finding, directive: Directive, aliases: Mapping[str, tuple[str, ...]]) -> bool:
    is_secret = finding.engine == "secrets"
    if directive.kind == "allowlist":
        return is_secret
    if directive.kind == "shunter":
        if not directive.valid:
            return False
        return any(
            fnmatch.fnmatchcase(finding.rule_id, pattern) or pattern in _ids_for(finding, aliases)
            for pattern in directive.ids
        )
    if is_secret:
        return False  # nosec/noqa are code waivers; a secret needs an explicit allowlist
    if directive.kind == "nosec":
        return not directive.ids or bool(set(directive.ids) & _ids_for(finding, aliases))
    if directive.kind == "noqa":
        return bool(set(directive.ids) & _ids_for(finding, aliases))
    return False


def suppression_for(
    finding: Finding, lines: list[str], aliases: Mapping[str, tuple[str, ...]]
) -> str | None:
    """Why ``finding`` is suppressed (e.g. ``# nosec B602``), or None."""
    for n in dict.fromkeys((finding.start_line, finding.end_line)):
        if 1 <= n <= len(lines):
            for directive in parse(lines[n - 1]):
                if match(finding, directive, aliases):
                    reason = f" ({directive.reason})" if directive.reason else ""
                    return f"# {directive.text}{reason}"
    return None


def unexplained(lines: Iterable[tuple[int, str]]) -> list[int]:
    """Line numbers carrying ``# shunter: ignore[...]`` without a reason (not honoured)."""
    return [n for n, line in lines for d in parse(line) if d.kind == "shunter" and not d.valid]
