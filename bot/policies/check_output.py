"""The ``shunter/config`` check run's content, as a pure function of the loaded config.

Three situations: the default branch's config is valid; it is invalid (one annotation per
problem at its line and column, and a sentence saying what Shunter uses meanwhile); a pull
request changes ``.github/shunter.yml`` (its version is validated and the change to the
effective config previewed — and the summary says plainly that the new version does not
apply to that pull request, since config is only ever read from the default branch).
The publisher sends ``annotations`` in batches of 50.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from bot.policies.effective import ConfigPreview, EffectiveConfig
from bot.policies.validation import CONFIG_PATH, ConfigProblem
from bot.wording import code_span, inline_text

CHECK_NAME = "shunter/config"
MAX_SUMMARY = 65_535
MAX_TABLE_ROWS = 200


@dataclass(frozen=True)
class CheckRunOutput:
    """What to send to GitHub's check-runs API for ``shunter/config``."""

    conclusion: str
    title: str
    summary: str
    annotations: tuple[dict[str, Any], ...] = ()
    name: str = CHECK_NAME

    def output(self) -> dict[str, Any]:
        """GitHub's ``output`` object (annotations beyond the first 50 go in follow-ups)."""
        return {"title": self.title, "summary": self.summary, "annotations": list(self.annotations)}


@dataclass(frozen=True)
class ConfigNotice:
    """The summary comment's line about a broken config: the check run carries the
    annotations, but people read the comment, and would otherwise never learn that Shunter
    is judging their pull request by a fallback (or that their proposed file is broken)."""

    kind: Literal["default", "proposed"]
    """``default``: the default branch's file, in force; ``proposed``: this PR's version."""
    headline: str
    detail: str
    check_url: str | None = None
    check_run_id: int | None = None
    """The ``shunter/config`` check run that failed for it, settled once the file is fixed."""


def config_notice(
    effective: EffectiveConfig, *, preview: ConfigPreview | None = None
) -> ConfigNotice | None:
    """The notice for the summary comment, or None when there is nothing to warn about.

    With ``preview`` it is about the pull request's proposed file, else about the default
    branch's file in force."""
    if preview is not None:
        if preview.valid:
            return None
        problems = preview.proposed.problems
        return ConfigNotice(
            "proposed",
            f"This pull request's `{CONFIG_PATH}` has {_plural(len(problems), 'problem')}",
            "It does not apply to this pull request; fix it before merging, or Shunter will fall"
            " back to the last good configuration.",
        )
    if effective.status == "ok":
        return None
    branch = f" on `{effective.default_branch}`" if effective.default_branch else ""
    if effective.status == "unavailable":
        headline = f"`{CONFIG_PATH}`{branch} could not be read"
    else:
        headline = f"`{CONFIG_PATH}`{branch} has {_plural(len(effective.problems), 'problem')}"
    return ConfigNotice("default", headline, fallback_sentence(effective))


def annotation(problem: ConfigProblem, *, path: str = CONFIG_PATH, warning: bool = False) -> dict[str, Any]:
    if warning:
        level = {"annotation_level": "warning", "title": "Shunter config warning"}
        return {**annotation(problem, path=path), **level}
    return {
        "path": path,
        "start_line": problem.line,
        "end_line": problem.line,
        "start_column": problem.column,
        "end_column": problem.column,
        "annotation_level": "failure",
        "title": "Invalid Shunter config",
        "message": problem.message,
    }


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _value(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    text = text.replace("|", "\\|").replace("`", "'")
    return f"`{text}`" if len(text) <= 80 else f"`{text[:77]}...`"


def _problem_lines(problems: tuple[ConfigProblem, ...]) -> list[str]:
    """One list item per problem; a message quotes the file (an unknown key, a bad value),
    which whoever wrote it controls, so it is inert text (:func:`bot.wording.inline_text`)."""
    return [
        f"- {code_span(f'{p.file}:{p.line}:{p.column}')} ({p.source}): {inline_text(p.message, 500)}"
        for p in problems
    ]


def fallback_sentence(effective: EffectiveConfig) -> str:
    """What Shunter acts on while the config is broken, for summaries and replies."""
    if effective.fallback == "last_good":
        sha = f" (`{effective.repo_file_sha[:7]}`)" if effective.repo_file_sha else ""
        return (
            f"Shunter keeps using the last good configuration{sha} until this is fixed; nothing else changes."
        )
    if effective.fallback == "defaults":
        org = " plus your organisation's config" if "org" in effective.layers else ""
        return (
            f"There is no earlier valid configuration, so Shunter uses its built-in defaults{org}"
            " until this is fixed."
        )
    return "Shunter uses this configuration."


def _layers(effective: EffectiveConfig) -> str:
    return " < ".join(f"`{layer}`" for layer in effective.layers)


def _annotations(problems: tuple[ConfigProblem, ...], *, warning: bool = False) -> tuple[dict[str, Any], ...]:
    return tuple(
        annotation(p, warning=warning) for p in problems if p.source == "repo" and p.file == CONFIG_PATH
    )


def _warned(title: str, warnings: tuple[ConfigProblem, ...]) -> tuple[str, list[str]]:
    """A valid config's title and summary lines with its warnings (none: unchanged)."""
    if not warnings:
        return title, []
    lines = ["", "**Warnings:**", *_problem_lines(warnings)]
    return f"{title}, with {_plural(len(warnings), 'warning')}", lines


def _truncate(text: str) -> str:
    if len(text) <= MAX_SUMMARY:
        return text
    return text[: MAX_SUMMARY - 40] + "\n\n...(truncated)"


def config_check_output(
    effective: EffectiveConfig, *, preview: ConfigPreview | None = None
) -> CheckRunOutput:
    """The check run for the default branch's config, or for a PR that changes it."""
    if preview is not None:
        return _preview_output(effective, preview)
    if effective.status == "ok":
        has_file = "repo" in effective.layers
        title, warned = _warned(
            "Config is valid" if has_file else f"No {CONFIG_PATH}: using defaults", effective.warnings
        )
        lines = [
            f"**{title}.** Read from the default branch"
            + (f" (`{effective.default_branch}`)." if effective.default_branch else "."),
            "",
            f"Layers, lowest first: {_layers(effective)}.",
            "",
            "Run `shunter config explain` (or comment `/shunter config`) to see every setting"
            " and where it came from.",
            *warned,
        ]
        return CheckRunOutput(
            "success", title, _truncate("\n".join(lines)), _annotations(effective.warnings, warning=True)
        )
    count = len(effective.problems)
    if effective.status == "unavailable":
        title = "Config could not be read"
        conclusion = "neutral"
    else:
        title = f"{CONFIG_PATH} has {_plural(count, 'problem')}"
        conclusion = "failure"
    lines = [
        f"**{title}.**",
        "",
        fallback_sentence(effective),
        "",
        *_problem_lines(effective.problems),
    ]
    return CheckRunOutput(conclusion, title, _truncate("\n".join(lines)), _annotations(effective.problems))


def _preview_output(current: EffectiveConfig, preview: ConfigPreview) -> CheckRunOutput:
    branch = f"`{current.default_branch}`" if current.default_branch else "the default branch"
    not_yet = (
        f"**The new version does not take effect for this pull request:** Shunter reads its"
        f" configuration only from {branch}, so this pull request is still judged by the"
        " configuration already there. The new version applies once it is merged."
    )
    proposed = preview.proposed
    if not preview.valid:
        count = len(proposed.problems)
        title = f"The proposed {CONFIG_PATH} has {_plural(count, 'problem')}"
        lines = [
            f"**{title}.** This pull request changes `{CONFIG_PATH}`; fix these before"
            " merging, or Shunter will fall back to the last good configuration.",
            "",
            *_problem_lines(proposed.problems),
            "",
            not_yet,
        ]
        return CheckRunOutput("failure", title, _truncate("\n".join(lines)), _annotations(proposed.problems))
    changes = preview.changes
    if changes:
        title = f"Proposed config is valid: {_plural(len(changes), 'setting')} would change"
    else:
        title = "Proposed config is valid: the effective config does not change"
    title, warned = _warned(title, proposed.warnings)
    lines = [f"**{title}.**", "", not_yet, *warned, ""]
    if changes:
        lines += ["| setting | now | after merge | set by |", "|---|---|---|---|"]
        for change in changes[:MAX_TABLE_ROWS]:
            lines.append(
                f"| `{change.path}` | {_value(change.old)} | {_value(change.new)} | {change.new_source} |"
            )
        if len(changes) > MAX_TABLE_ROWS:
            lines.append(f"\n...and {len(changes) - MAX_TABLE_ROWS} more.")
    if current.status != "ok":
        lines += ["", f"The default branch's config has problems: {fallback_sentence(current)}"]
    warnings = _annotations(proposed.warnings, warning=True)
    return CheckRunOutput("success", title, _truncate("\n".join(lines)), warnings)
