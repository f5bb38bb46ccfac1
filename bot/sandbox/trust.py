"""Whether PR code may run at all, and how strongly it will be contained: a pure decision.

The rules, in order: untrusted code (author without write permission, or a fork; for
``shunter run``, a head not vouched for with ``--trusted``) runs only when the repository's
policy says ``tests.run_untrusted: true`` *and* bubblewrap works; trusted code runs under
bubblewrap when it works, else with rlimits and a timeout only, and the check says the
sandbox was weaker.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.stages.context import Origin


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


@dataclass(frozen=True)
class _Wording:
    """Each decision's reason, in the terms of what asked for the run: a PR on GitHub is
    untrusted for its author and fork; ``shunter run`` for lack of ``--trusted``, which a
    reader there can pass (telling them about forks sent them looking for one)."""

    refused_by_policy: str
    refused_without_bwrap: str  # {problem}: why bubblewrap is unavailable
    ran_untrusted: str
    ran_trusted: str
    ran_weaker: str  # {problem}


_WORDING: dict[Origin, _Wording] = {
    "pull_request": _Wording(
        refused_by_policy=(
            "not run: the PR comes from a fork or from an author without write "
            "permission, and this repository's policy does not allow running untrusted "
            "code (set `stages.tests.run_untrusted: true` to allow it under bubblewrap)"
        ),
        refused_without_bwrap=(
            "not run: the PR comes from a fork or from an author without write "
            "permission, and no bubblewrap sandbox is available ({problem}); "
            "untrusted code never runs with rlimits alone"
        ),
        ran_untrusted="untrusted PR code ran under bubblewrap (policy allows)",
        ran_trusted="PR code ran under bubblewrap",
        ran_weaker=(
            "weaker sandbox: bubblewrap is unavailable ({problem}), so the trusted "
            "author's code ran with rlimits and a timeout only, with the host's network and "
            "file system visible"
        ),
    ),
    "local_run": _Wording(
        refused_by_policy=(
            "not run: shunter run runs none of the head's code without --trusted (pass it "
            "to run the code in the sandbox, or set `stages.tests.run_untrusted: true` in "
            "the config to run it untrusted under bubblewrap)"
        ),
        refused_without_bwrap=(
            "not run: without --trusted, shunter run runs the head's code only under "
            "bubblewrap, and no bubblewrap sandbox is available ({problem}); pass "
            "--trusted to run it with rlimits and a timeout only"
        ),
        ran_untrusted=(
            "the head's code ran under bubblewrap as untrusted code (no --trusted; the "
            "config sets `stages.tests.run_untrusted: true`)"
        ),
        ran_trusted="the head's code ran under bubblewrap (--trusted)",
        ran_weaker=(
            "weaker sandbox: bubblewrap is unavailable ({problem}), so the head's code "
            "(--trusted) ran with rlimits and a timeout only, with the host's network and "
            "file system visible"
        ),
    ),
}


def decide(
    *,
    trusted_author: bool,
    run_untrusted: bool,
    bwrap_problem: str | None,
    origin: Origin = "pull_request",
) -> TrustDecision:
    """Decide for one PR (or one ``shunter run``, per ``origin``). ``bwrap_problem`` is None
    when bubblewrap works, else why not."""
    words = _WORDING[origin]
    if not trusted_author:
        if not run_untrusted:
            return TrustDecision(False, Strength.REFUSED, words.refused_by_policy)
        if bwrap_problem is not None:
            return TrustDecision(
                False, Strength.REFUSED, words.refused_without_bwrap.format(problem=bwrap_problem)
            )
        return TrustDecision(True, Strength.BUBBLEWRAP, words.ran_untrusted)
    if bwrap_problem is None:
        return TrustDecision(True, Strength.BUBBLEWRAP, words.ran_trusted)
    return TrustDecision(True, Strength.RLIMITS_ONLY, words.ran_weaker.format(problem=bwrap_problem))
