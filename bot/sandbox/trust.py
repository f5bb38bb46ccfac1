"""Whether PR code may run at all, and how strongly it will be contained: a pure decision.

The rules, in order: untrusted code (author without write permission, or a fork) runs only
when the repository's policy says ``tests.run_untrusted: true`` *and* bubblewrap works;
trusted code runs under bubblewrap when it works, else with rlimits and a timeout only, and
the check says the sandbox was weaker.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Strength(StrEnum):
    """How contained a command was; published in the check so readers can weigh results."""

    BUBBLEWRAP = "bubblewrap"
    RLIMITS_ONLY = "rlimits-only"
    REFUSED = "refused"


@dataclass(frozen=True)
class TrustDecision:
    allowed: bool
    strength: Strength
    reason: str


def decide(*, trusted_author: bool, run_untrusted: bool, bwrap_problem: str | None) -> TrustDecision:
    """Decide for one PR. ``bwrap_problem`` is None when bubblewrap works, else why not."""
    if not trusted_author:
        if not run_untrusted:
            return TrustDecision(
                False,
                Strength.REFUSED,
                "not run: the PR comes from a fork or from an author without write "
                "permission, and this repository's policy does not allow running untrusted "
                "code (set `stages.tests.run_untrusted: true` to allow it under bubblewrap)",
            )
        if bwrap_problem is not None:
            return TrustDecision(
                False,
                Strength.REFUSED,
                "not run: the PR comes from a fork or from an author without write "
                f"permission, and no bubblewrap sandbox is available ({bwrap_problem}); "
                "untrusted code never runs with rlimits alone",
            )
        return TrustDecision(
            True, Strength.BUBBLEWRAP, "untrusted PR code ran under bubblewrap (policy allows)"
        )
    if bwrap_problem is None:
        return TrustDecision(True, Strength.BUBBLEWRAP, "PR code ran under bubblewrap")
    return TrustDecision(
        True,
        Strength.RLIMITS_ONLY,
        f"weaker sandbox: bubblewrap is unavailable ({bwrap_problem}), so the trusted "
        "author's code ran with rlimits and a timeout only, with the host's network and "
        "file system visible",
    )
