"""Change requests: the validated unit of work the merge queue lands on a branch."""

from bot.changes.model import Approval, ChangeRequest, Origin, Priority, change_id
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
    "MemoryBaseTree",
    "Origin",
    "Priority",
    "TreeEntry",
    "ValidationReport",
    "change_id",
    "git_blob_id",
    "validate_change",
]
