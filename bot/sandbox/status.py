"""What this host's sandbox can do, in one sentence (for ``shunter doctor`` and logs)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from bot.sandbox.bubblewrap import BWRAP_ENV, bwrap_missing, find_bwrap, probe
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
            f"{bwrap_missing()}: untrusted PR code will not run; trusted authors' code runs "
            f"with rlimits and a timeout only ({_remedy()})",
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


def _remedy() -> str:
    """What to do when no bwrap binary was found: fix the setting when one is set (naming
    the bwrap on PATH it could point at, or be unset for), else install the package."""
    on_path = shutil.which("bwrap")
    if not os.environ.get(BWRAP_ENV):
        return "install the 'bubblewrap' package"
    if on_path:
        return f"set {BWRAP_ENV} to the bwrap binary, or unset it to use the one on PATH, {on_path}"
    return f"install the 'bubblewrap' package and set {BWRAP_ENV} to its bwrap binary, or unset it"
