"""The git workspace: bare mirrors, PR refs, merge-base diffs and stage contexts (pygit2)."""

from __future__ import annotations

from bot.git.cleanup import cleanup_mirrors, plan_cleanup
from bot.git.mirror import FetchStats, branch_refspec, mirror_path, pull_refspec
from bot.git.scratch import new_scratch_dir
from bot.git.workspace import Workspace, context_from_local_repo, open_workspace

__all__ = [
    "FetchStats",
    "Workspace",
    "branch_refspec",
    "cleanup_mirrors",
    "context_from_local_repo",
    "mirror_path",
    "new_scratch_dir",
    "open_workspace",
    "plan_cleanup",
    "pull_refspec",
]
