"""Which finding a typed id names (pure).

People type the short id shown on a finding (the fingerprint's first 8 characters), or a
shorter prefix of it. A prefix that fits several findings must not pick one of them: the
reply lists the candidates and the command does nothing, because dismissing (or
explaining) an arbitrary finding is worse than asking again.
"""

from __future__ import annotations

from typing import Any

from bot.wording import code_span, path_code, typed_code

MIN_PREFIX = 6
"""Shorter prefixes name nothing: they would fit too many findings to be meant."""


def matching_findings(findings: dict[str, dict[str, Any]], typed: str) -> list[dict[str, Any]]:
    """The findings ``typed`` names, keyed by short id: one when it names one (an exact short
    id or fingerprint always does), several when the prefix is ambiguous, none otherwise."""
    wanted = typed.strip("`").lower()
    if len(wanted) < MIN_PREFIX:
        return []
    exact = [f for key, f in findings.items() if wanted in (key, f.get("fingerprint", ""))]
    if exact:
        return exact[:1]
    return [
        finding
        for key, finding in sorted(findings.items())
        if key.startswith(wanted) or str(finding.get("fingerprint", "")).startswith(wanted)
    ]


def finding_label(finding: dict[str, Any]) -> str:
    """A finding as a reply names it: its id, rule and place (``bd7bad28`` F401 at
    ``app.py:1``), or its id alone when nothing else about it is known."""
    short = code_span(str(finding.get("fingerprint", ""))[:8])
    if not finding.get("rule_id") and not finding.get("path"):
        return short
    if "path" in finding and not finding["path"]:  # a remark on the whole pull request
        return f"{short} {finding.get('rule_id', '?')} on the pull request"
    where = path_code(str(finding.get("path", "?")), suffix=f":{finding.get('start_line', '?')}")
    return f"{short} {finding.get('rule_id', '?')} at {where}"


def candidates_text(typed: str, candidates: list[dict[str, Any]]) -> str:
    """The reply to an ambiguous id: every finding it fits, by id, rule and place."""
    rows = "\n".join(f"- {finding_label(f)}" for f in candidates)
    return (
        f"{typed_code(typed, max_chars=20)} fits {len(candidates)} findings on this PR, so nothing was done. "
        f"Use the id of the one you mean:\n\n{rows}"
    )
