"""The effective config for people: text for the CLI, Markdown for ``/shunter config``."""

from __future__ import annotations

import json

from bot.policies.check_output import fallback_sentence
from bot.policies.effective import EffectiveConfig
from bot.wording import code_span, inline_text

MAX_REPLY = 60_000


def explain_text(effective: EffectiveConfig) -> list[str]:
    """``path = value  # source`` lines, headed by the layers (what the CLI prints)."""
    rows = effective.explain()
    lines = [f"# layers (lowest first): {' < '.join(effective.layers)}"]
    if effective.status != "ok":
        lines.append(f"# status: {effective.status}; using: {effective.fallback}")
    width = max(len(path) for path, _, _ in rows)
    lines += [f"{path.ljust(width)} = {json.dumps(value)}  # {source}" for path, value, source in rows]
    return lines


def explain_markdown(effective: EffectiveConfig, *, everything: bool = False) -> str:
    """A comment body: layers, problems, and the settings not left at their defaults
    (``everything``: all of them), each with the layer that set it."""
    lines = [
        "**Shunter's effective config** (read from the default branch"
        + (f" `{effective.default_branch}`" if effective.default_branch else "")
        + ")",
        "",
        "Layers, lowest first: " + " < ".join(f"`{layer}`" for layer in effective.layers),
    ]
    if effective.status != "ok":
        lines += ["", f"**This config has problems.** {fallback_sentence(effective)}", ""]
        lines += [
            f"- {code_span(f'{p.file}:{p.line}:{p.column}')}: {inline_text(p.message, 500)}"
            for p in effective.problems
        ]
    rows = [r for r in effective.explain() if everything or r[2] != "default"]
    lines.append("")
    if not rows:
        lines.append("Every setting has its default value.")
    else:
        lines += ["| setting | value | set by |", "|---|---|---|"]
        for path, value, source in rows:
            shown = json.dumps(value).replace("|", "\\|").replace("`", "'")
            lines.append(f"| `{path}` | `{shown}` | {source} |")
    text = "\n".join(lines)
    return text if len(text) <= MAX_REPLY else text[: MAX_REPLY - 20] + "\n\n...(truncated)"
