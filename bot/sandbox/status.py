"""What this host's sandbox can do, in one sentence (for ``shunter doctor`` and logs)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.sandbox.bubblewrap import find_bwrap, probe
from bot.sandbox.runner import sandbox_uid


@dataclass(frozen=True)
class SandboxStatus:
    bubblewrap: bool
    detail: str

    @property
    def untrusted_code_runs(self) -> bool:
        """Whether PRs from forks can be tested at all here (policy permitting)."""
        return self.bubblewrap


def sandbox_status() -> SandboxStatus:
    """Probe bubblewrap the way ``Sandbox.for_pr`` does and describe the outcome."""
    bwrap = find_bwrap()
    if bwrap is None:
        return SandboxStatus(
            False,
            "bubblewrap is not installed: untrusted PR code will not run; trusted authors' "
            "code runs with rlimits and a timeout only (install the 'bubblewrap' package)",
        )
    uid = sandbox_uid()
    problem = probe(bwrap, uid)
    if problem is None:
        who = f", dropping root to uid {uid}" if uid is not None else ""
        return SandboxStatus(True, f"bubblewrap works ({bwrap}{who})")
    if uid is not None and probe(bwrap, None) is None:
        return SandboxStatus(
            True, f"bubblewrap works only as root ({bwrap}); the process limit is not enforced"
        )
    return SandboxStatus(False, f"{problem}: untrusted PR code will not run")
