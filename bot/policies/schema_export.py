"""The JSON Schema of ``.github/shunter.yml``, as shipped in ``policies/shunter.schema.json``.

Editors with yaml-language-server pick it up from a modeline
(``# yaml-language-server: $schema=<url>``) and autocomplete keys and values. A test keeps
the shipped file equal to what the models produce, so the two cannot drift.
"""

from __future__ import annotations

import json

from bot.policies.schema import ShunterConfig


def schema_json() -> str:
    """The schema as stable, pretty JSON text (sorted keys, trailing newline)."""
    return json.dumps(ShunterConfig.model_json_schema(), indent=2, sort_keys=True) + "\n"
