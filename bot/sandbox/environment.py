"""The environment a sandboxed command sees: built from nothing, never copied from ours.

The worker's environment holds the GitHub App key, webhook secret, database URL and
whatever else the operator exported. Nothing of it is inherited: the command gets a fixed
allow-list plus the caller's extras, and extras whose names look like credentials are
refused loudly rather than passed quietly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.errors import SandboxError

_SECRET_NAME = re.compile(
    r"(TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|API_?KEY|AUTH|SESSION|COOKIE)",
    re.IGNORECASE,
)
_PREFIXES_NEVER = ("SHUNTER_", "GITHUB_", "AWS_", "GOOGLE_", "AZURE_", "OPENAI_", "ANTHROPIC_")

BASE_ENV: dict[str, str] = {
    "HOME": "/tmp",  # noqa: S108 - the sandbox's own tmpfs
    "TMPDIR": "/tmp",  # noqa: S108
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONNOUSERSITE": "1",
    "PYTHONUNBUFFERED": "1",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_NO_INPUT": "1",
}


def is_secret_name(name: str) -> bool:
    """True for names that commonly carry credentials (``GITHUB_TOKEN``, ``SHUNTER_*``...)."""
    return name.upper().startswith(_PREFIXES_NEVER) or bool(_SECRET_NAME.search(name))


def sandbox_env(path_dirs: list[str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allow-listed environment: fixed values, a ``PATH`` of our choosing, and extras.

    Raises ``SandboxError`` when an extra looks like a credential, so a caller's mistake
    cannot leak a token into PR code.
    """
    env = dict(BASE_ENV)
    env["PATH"] = ":".join([*path_dirs, "/usr/local/bin", "/usr/bin", "/bin"])
    for key, value in (extra or {}).items():
        if is_secret_name(key):
            raise SandboxError(
                f"refusing to pass {key} into the sandbox: its name looks like a credential",
                hint="sandboxed code never receives tokens or secrets",
            )
        env[key] = value
    return env
