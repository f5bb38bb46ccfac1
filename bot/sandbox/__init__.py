"""Running untrusted pull-request code: bubblewrap, rlimits, no network, no secrets.

Public entry points: ``Sandbox.for_pr`` (decide and build a runner), ``Sandbox.run``
(execute one command), ``ensure_venv`` (the per-repo cached dependency environment),
``sandbox_status`` (what this host offers, for ``shunter doctor``).
The README's "The sandbox" section states the guarantees, honestly.
"""

from bot.sandbox.limits import Limits
from bot.sandbox.runner import Sandbox, SandboxRefused, SandboxResult
from bot.sandbox.status import SandboxStatus, sandbox_status
from bot.sandbox.trust import Strength, TrustDecision, decide

__all__ = [
    "Limits",
    "Sandbox",
    "SandboxRefused",
    "SandboxResult",
    "SandboxStatus",
    "Strength",
    "TrustDecision",
    "decide",
    "sandbox_status",
]
