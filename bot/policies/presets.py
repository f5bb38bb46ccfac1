"""Where the shipped presets (``policies/*.yml``) and the JSON Schema live on this machine.

From a source checkout or an editable install they are in the repository's top-level
``policies/`` directory. A wheel cannot put a top-level directory next to the ``bot``
package, so ``pyproject.toml`` installs them as data files into
``<prefix>/share/shunter/policies`` (``[tool.setuptools.data-files]``); the locator looks
in the checkout first, then in the data directories of the running interpreter's scheme.
This module imports only the standard library so it works in a bare install.
"""

from __future__ import annotations

import re
import site
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path

from bot.errors import ConfigError

MARKER = "recommended.yml"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _candidates() -> list[Path]:
    here = Path(__file__).resolve()
    found = [here.parents[2] / "policies"]  # <checkout>/bot/policies/presets.py
    data_roots = [sysconfig.get_path("data"), sys.prefix, sys.base_prefix, site.USER_BASE]
    for root in data_roots:
        if root:
            found.append(Path(root) / "share" / "shunter" / "policies")
    return found


@lru_cache(maxsize=1)
def policies_dir() -> Path:
    """The directory holding the presets; a ``ConfigError`` if this install lacks them."""
    for candidate in _candidates():
        if (candidate / MARKER).is_file():
            return candidate
    searched = ", ".join(str(c) for c in _candidates())
    raise ConfigError(
        f"Shunter's presets are missing from this installation (looked in {searched})",
        hint="reinstall Shunter; the wheel installs them under share/shunter/policies",
    )


def preset_names() -> list[str]:
    return sorted(p.stem for p in policies_dir().glob("*.yml"))


def preset_path(name: str) -> Path | None:
    """The file of preset ``name``, or None when no such preset ships."""
    if not _NAME.match(name):
        return None
    path = policies_dir() / f"{name}.yml"
    return path if path.is_file() else None


def schema_path() -> Path:
    return policies_dir() / "shunter.schema.json"
