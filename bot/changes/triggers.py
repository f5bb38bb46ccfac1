"""When a change request may be created, and with which priority: pure policy decisions.

Shunter's own pushes trigger ``synchronize`` and the stages run again on the new head; if
that run auto-applied again, a stage that keeps finding something to fix would push forever.
So auto-apply is refused when the head commit is one Shunter made (it carries a
``Shunter-Change`` trailer) for the same stage; a person's ``/shunter apply`` is always
allowed because a person breaks the loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.changes.model import Priority
from bot.models import StageName
from bot.policies.schema import PERMISSION_RANK, Patches

_TRAILER = re.compile(r"^Shunter-Change:\s*\S+\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def auto_apply_decision(
    policy: Patches, stage: StageName, head_commit_message: str, head_stage: str | None = None
) -> Decision:
    """May the patches ``stage`` produced for this head be applied without a person asking?

    ``head_stage`` is the stage that produced the head commit when the caller knows it (from
    its audit record); without it, any Shunter commit on the head blocks auto-apply.
    """
    mode = getattr(policy.auto_apply, stage.value)
    if mode != "always":
        return Decision(False, f"patches.auto_apply.{stage.value} is {mode}")
    ours = _TRAILER.search(head_commit_message) is not None
    if ours and head_stage in (None, stage.value):
        return Decision(False, "the head commit is Shunter's own; auto-applying again could loop")
    return Decision(True, f"patches.auto_apply.{stage.value} is always")


def priority_for(*, requested_by_person: bool, permission: str) -> Priority:
    """A person with write access or more goes first, other people next, automation last."""
    if not requested_by_person:
        return Priority.AUTO
    if PERMISSION_RANK.get(permission, 0) >= PERMISSION_RANK["write"]:
        return Priority.MAINTAINER
    return Priority.REQUESTED
