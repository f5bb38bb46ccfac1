"""Config for one pull-request event: what to act on, and the ``shunter/config`` check.

This is the call the event handlers make. The config that plans and judges the pull
request is always the default branch's (``effective``); when the pull request touches
``.github/shunter.yml`` its version is read at the head commit only to validate it and
preview the difference on the check run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.errors import ShunterError
from bot.policies.cache import ConfigCache
from bot.policies.check_output import CheckRunOutput, config_check_output
from bot.policies.effective import (
    ConfigPreview,
    EffectiveConfig,
    load_effective_config,
    preview_config_change,
)
from bot.policies.source import ConfigSource
from bot.policies.validation import CONFIG_PATH, ConfigProblem


@dataclass(frozen=True)
class PullRequestConfig:
    effective: EffectiveConfig
    """What Shunter acts on for this pull request (from the default branch)."""
    preview: ConfigPreview | None
    """Set when the pull request changes the config file."""
    check: CheckRunOutput
    """Content for the ``shunter/config`` check run on the PR's head SHA."""


def touches_config(changed_paths: Iterable[str]) -> bool:
    return CONFIG_PATH in set(changed_paths)


def config_for_pull_request(
    source: ConfigSource,
    owner: str,
    repo: str,
    *,
    head_sha: str,
    changed_paths: Iterable[str],
    head_owner: str | None = None,
    head_repo: str | None = None,
    default_branch: str | None = None,
    cache: ConfigCache | None = None,
) -> PullRequestConfig:
    """Load the effective config and build the ``shunter/config`` check for a PR event.

    ``head_owner``/``head_repo`` name the repository holding ``head_sha`` (a fork's PR);
    they default to the base repository. Never raises for bad or unreadable config.
    """
    effective = load_effective_config(source, owner, repo, cache=cache, default_branch=default_branch)
    if not touches_config(changed_paths):
        return PullRequestConfig(effective, None, config_check_output(effective))
    try:
        found = source.read_file(head_owner or owner, head_repo or repo, CONFIG_PATH, head_sha)
    except ShunterError as exc:
        problem = ConfigProblem(CONFIG_PATH, 1, 1, f"cannot read this pull request's version: {exc}", "repo")
        preview = ConfigPreview(
            EffectiveConfig(
                config=effective.config,
                provenance=effective.provenance,
                problems=(problem,),
                status="unavailable",
            ),
            (),
        )
        return PullRequestConfig(effective, preview, config_check_output(effective, preview=preview))
    proposed = found[0] if found is not None else None
    preview = preview_config_change(source, owner, repo, proposed, current=effective, cache=cache)
    return PullRequestConfig(effective, preview, config_check_output(effective, preview=preview))
