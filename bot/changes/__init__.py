"""Change requests: the validated unit of work the merge queue lands on a branch.

``model`` (the request), ``validation`` (the gate before the queue), ``unified`` (exact diff
parsing and applying), ``paths`` (hostile-path refusal, globs), ``route`` (branch, fork,
follow-up PR or suggestions), ``triggers`` (auto-apply loop guard, priorities), ``outcomes``
and ``replies`` (what landed or did not, and the PR text for it).
"""

from bot.changes.model import Approval, ChangeRequest, Origin, Priority, change_id
from bot.changes.outcomes import DeadLetter, LandingReport
from bot.changes.route import Route, RouteDecision, decide_route
from bot.changes.triggers import auto_apply_decision, priority_for
from bot.changes.validation import (
    BaseTree,
    MemoryBaseTree,
    TreeEntry,
    ValidationReport,
    git_blob_id,
    validate_change,
)

__all__ = [
    "Approval",
    "BaseTree",
    "ChangeRequest",
    "DeadLetter",
    "LandingReport",
    "MemoryBaseTree",
    "Origin",
    "Priority",
    "Route",
    "RouteDecision",
    "TreeEntry",
    "ValidationReport",
    "auto_apply_decision",
    "change_id",
    "decide_route",
    "git_blob_id",
    "priority_for",
    "validate_change",
]
