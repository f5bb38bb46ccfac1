"""Load a repository's effective config for the pipeline (the I/O half of bot.policies).

The repository's file is read from the default branch (named by the webhook payload, so
no extra request), the owner's ``.github`` repository supplies org defaults, and parsed
configs are cached by blob SHA in Redis and revalidated with ETags — an unchanged config
costs no rate limit after the first read.

The answers GitHub gave are shared by all workers through Redis and reused without a
request for ``CONFIG_FRESH_SECONDS``: a push that changes a config drops them at once on
every worker (``bot.events.config``), so the window only bounds how long a change can go
unseen when its push never reaches Shunter (an org ``.github`` repository the App is not
installed on, a lost delivery).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.pipeline.facts import Target
from bot.policies.cache import ConfigCache
from bot.policies.check_output import ConfigNotice, config_check_output, config_notice
from bot.policies.effective import EffectiveConfig, load_effective_config, preview_config_change
from bot.policies.schema import ShunterConfig
from bot.policies.source import GitHubConfigSource

CONFIG_PATH = ".github/shunter.yml"
CONFIG_FRESH_SECONDS = 300.0

_sources: dict[int, GitHubConfigSource] = {}


@dataclass
class LoadedConfig:
    config: ShunterConfig
    effective: EffectiveConfig
    check: dict[str, Any] | None
    """A ``shunter/config`` check run to post (problems or warnings in the config), or None."""


def _source(runtime: Any, gh: Any, installation_id: int) -> GitHubConfigSource:
    source = _sources.get(installation_id)
    if source is None or source.store is not runtime.redis:
        source = _sources[installation_id] = GitHubConfigSource(
            gh, fresh_seconds=CONFIG_FRESH_SECONDS, store=runtime.redis, installation_id=installation_id
        )
    source.github = gh  # tokens rotate; the ETag cache stays
    return source


def check_payload(output: Any) -> dict[str, Any]:
    return {"conclusion": output.conclusion, "output": output.output()}


def load_config(runtime: Any, gh: Any, target: Target) -> LoadedConfig:
    source = _source(runtime, gh, target.installation_id)
    effective = load_effective_config(
        source,
        target.owner,
        target.name,
        cache=ConfigCache(runtime.redis),
        default_branch=target.default_branch,
    )
    check = None
    if effective.problems or effective.warnings:
        check = check_payload(config_check_output(effective))
    return LoadedConfig(effective.config, effective, check)


def preview_check(
    runtime: Any, gh: Any, target: Target, proposed: bytes | None
) -> tuple[dict[str, Any], ConfigNotice | None]:
    """The ``shunter/config`` check for a PR that changes the config: validated, previewed,
    and explicitly not in effect for this PR; and the summary comment's notice when the
    proposed file is broken."""
    source = _source(runtime, gh, target.installation_id)
    cache = ConfigCache(runtime.redis)
    current = load_effective_config(
        source, target.owner, target.name, cache=cache, default_branch=target.default_branch
    )
    preview = preview_config_change(
        source, target.owner, target.name, proposed, current=current, cache=cache
    )
    check = check_payload(config_check_output(current, preview=preview))
    return check, config_notice(current, preview=preview)


def preview_key(target: Target) -> str:
    """Set once a head's config preview is posted (or the head was found not to change the
    config), so that exactly one job posts it."""
    return f"shunter:configpreview:{target.repo}:{target.head_sha}"


def invalidate(runtime: Any, installation_id: int, owner: str, repo: str) -> None:
    """Forget the cached answers for a repo whose default-branch config just changed, in
    this process and, through Redis, in every other worker."""
    source = _sources.get(installation_id)
    if source is None or source.store is not runtime.redis:
        source = GitHubConfigSource(None, store=runtime.redis, installation_id=installation_id)
    source.invalidate(owner, repo)
