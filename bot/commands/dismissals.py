"""What ``/shunter dismiss`` and ``/shunter undismiss`` act on, and how their replies read (pure).

Both take a finding id or ``all-<stage>``. Undismiss is the way back from a dismiss: ids
are short hashes, easy to mistype or to mix up, so a maintainer who hid the wrong finding
must be able to show it again, and an id that names no dismissed finding gets an answer
that says which ones are dismissed (and the one most likely meant).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from bot.commands.finding_ids import finding_label
from bot.models import StageName
from bot.wording import code_span, plural, prose_text, typed_code

STAGES = tuple(stage.value for stage in StageName)
MAX_LISTED = 10
"""Dismissed findings named in a reply to an id that fits none of them."""


def stage_problem(typed: str) -> str | None:
    """Why ``all-<word>`` names no stage, with the stage most likely meant; None when it does.
    ``all-reveiw`` would otherwise read as "no finding on this PR"."""
    stage = typed.removeprefix("all-")
    if stage in STAGES:
        return None
    close = difflib.get_close_matches(stage.lower(), STAGES, n=1, cutoff=0.6)
    hint = f" Did you mean `all-{close[0]}`?" if close else ""
    choices = ", ".join(f"`all-{name}`" for name in STAGES)
    return f"{typed_code(typed, max_chars=30)} names no stage.{hint} The stages are {choices}."


def dismissed_entries(
    dismissed: Mapping[str, tuple[str, str]], known: Mapping[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The findings dismissed on the PR by short id, as ``matching_findings`` takes them:
    ``dismissed`` maps each fingerprint to who dismissed it and why, ``known`` maps
    fingerprints to the findings Shunter remembers (rule, place, stage); a dismissal whose
    finding is no longer remembered is still listed, by its id alone."""
    return {
        fp[:8]: {**known.get(fp, {}), "fingerprint": fp, "by": by, "reason": reason}
        for fp, (by, reason) in dismissed.items()
    }


def of_stage(entries: Mapping[str, dict[str, Any]], stage: str) -> list[dict[str, Any]]:
    """The dismissed findings of ``stage``, by id."""
    return [entry for _, entry in sorted(entries.items()) if entry.get("stage") == stage]


def not_dismissed_text(finding: dict[str, Any]) -> str:
    """The reply to undismiss naming a finding that is not dismissed: it is shown already."""
    label = finding_label(finding)
    return f"{label} is not dismissed on this PR: it is shown already, so there is nothing to restore."


def unknown_text(typed: str, entries: Mapping[str, dict[str, Any]]) -> str:
    """The reply to undismiss with an id that fits no finding: the dismissed id closest to
    what was typed, and the dismissed findings to pick from."""
    shown = typed_code(typed, max_chars=20)
    if not entries:
        return f"Nothing is dismissed on this PR, so {shown} cannot be restored."
    close = difflib.get_close_matches(typed.strip("`").lower()[:8], list(entries), n=1, cutoff=0.5)
    hint = f" Did you mean {code_span(close[0])}?" if close else ""
    listed = _listed([entries[key] for key in sorted(entries)])
    return f"No dismissed finding {shown} on this PR.{hint} Dismissed here:\n\n{listed}"


def restored_text(restored: list[dict[str, Any]], reason: str = "") -> str:
    """The reply to a successful undismiss: each finding shown again, and who had hidden it."""
    why = f" Reason: {prose_text(reason.rstrip('.'), max_chars=200)}." if reason else ""
    if len(restored) == 1:
        only = restored[0]
        return f"Restored {finding_label(only)}{_by(only)}: it is reported on this PR again.{why}"
    count = plural(len(restored), "finding")
    return f"Restored {count}: they are reported on this PR again.{why}\n\n{_listed(restored)}"


def _listed(entries: list[dict[str, Any]]) -> str:
    rows = [f"- {finding_label(entry)}{_by(entry)}" for entry in entries[:MAX_LISTED]]
    if len(entries) > MAX_LISTED:
        rows.append(f"- … and {plural(len(entries) - MAX_LISTED, 'more')}")
    return "\n".join(rows)


def _by(entry: dict[str, Any]) -> str:
    by = str(entry.get("by") or "")
    return f" (dismissed by {code_span(by)})" if by else ""
