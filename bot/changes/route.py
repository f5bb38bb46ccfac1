"""Where a change for a pull request can land: its branch, the fork's branch, a follow-up
pull request, or review suggestions. A pure decision with the reason spelt out, because the
PR reply has to tell people which one happened and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Route(StrEnum):
    BRANCH = "branch"
    """Push onto the PR's head branch in the base repository."""
    FORK = "fork"
    """Push onto the PR's head branch in the contributor's fork (maintainers may modify)."""
    FOLLOW_UP_PR = "follow_up_pr"
    """Open a pull request against the PR's head branch (the caller opens it)."""
    SUGGESTIONS = "suggestions"
    """Post the change as review suggestions; the author applies them."""


@dataclass(frozen=True)
class RouteDecision:
    route: Route
    repo: str
    """The repository to enqueue for (the fork for ``FORK``); the merge queue's target."""
    branch: str
    reason: str

    @property
    def uses_queue(self) -> bool:
        """True when the merge queue pushes; otherwise the caller delivers it differently."""
        return self.route in (Route.BRANCH, Route.FORK)


def decide_route(
    *,
    base_repo: str,
    head_repo: str,
    head_branch: str,
    maintainer_can_modify: bool,
    push_to: Literal["branch", "pull_request"] = "branch",
    app_installed_on_fork: bool = False,
) -> RouteDecision:
    """Choose how to deliver a change for a PR from ``head_repo:head_branch``.

    ``push_to`` is the policy's ``patches.push_to``. A fork's branch may only be pushed to
    when its author allowed edits from maintainers; otherwise a follow-up PR needs the App
    on the fork, and suggestions are the fallback that always works.
    """
    is_fork = head_repo.lower() != base_repo.lower()
    if push_to == "pull_request":
        return RouteDecision(
            Route.FOLLOW_UP_PR,
            head_repo,
            head_branch,
            "patches.push_to is pull_request: changes arrive as a follow-up pull request",
        )
    if not is_fork:
        return RouteDecision(Route.BRANCH, base_repo, head_branch, "the branch is in this repository")
    if maintainer_can_modify:
        return RouteDecision(
            Route.FORK,
            head_repo,
            head_branch,
            f"{head_repo} allows edits from maintainers, so Shunter pushes to the fork",
        )
    if app_installed_on_fork:
        return RouteDecision(
            Route.FOLLOW_UP_PR,
            head_repo,
            head_branch,
            f"{head_repo} does not allow edits from maintainers; Shunter opens a pull request "
            f"against {head_branch} instead",
        )
    return RouteDecision(
        Route.SUGGESTIONS,
        base_repo,
        head_branch,
        # what becomes of the change (suggestions, or none when no fix is on the diff's
        # lines) is said by whoever posts them, once
        f"{head_repo} does not allow edits from maintainers and Shunter cannot open pull requests there",
    )
