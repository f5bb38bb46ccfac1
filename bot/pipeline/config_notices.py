"""Summary comments that say the default branch's config is broken, rewritten once it is not.

The line is written with the rest of the summary, on a push to the PR. Without this, a
maintainer who fixes ``.github/shunter.yml`` would leave every open PR saying it is broken
until that PR's next push. The publisher remembers which PRs' summaries carry the line
(``noticed_summaries_key``); a push to the default branch that changes the config, or any
PR's planning that finds it good, queues one job that reads the config and, when it is
good, rewrites those summaries (one edit each) and no others, and concludes the failing
``shunter/config`` check each of those heads got (a required check would otherwise block the
PR until its next push). Nothing re-runs.
"""

from __future__ import annotations

from typing import Any

from bot.logs import bind, get_logger
from bot.pipeline import heads
from bot.pipeline.config_loader import check_payload, load_config
from bot.pipeline.facts import Target
from bot.pipeline.publisher import Publisher, noticed_summaries_key
from bot.policies.check_output import config_check_output, config_notice
from bot.queue.jobs import EVENTS, queue, safe_id
from bot.runtime import get_runtime

log = get_logger(__name__)


def refresh_soon(runtime: Any, repo: str, delivery_id: str | None, fixed_in: str | None = None) -> bool:
    """Queue :func:`refresh_job` when some summary of ``repo`` carries the line; one Redis
    read otherwise, so a repository with no such summary pays nothing. ``fixed_in``: the
    default branch's commit that may have fixed the config (a push's ``after``)."""
    if not runtime.redis.hlen(noticed_summaries_key(repo)):
        return False
    queue(EVENTS, runtime.redis).enqueue(
        "bot.pipeline.config_notices.refresh_job",
        {"repo": repo, "delivery_id": delivery_id, "fixed_in": fixed_in},
        job_id=safe_id(f"config-notices-{repo}-{delivery_id}"),
        result_ttl=600,
        failure_ttl=86400,
        description=f"config notices {repo}",
    )
    return True


def _tracked(runtime: Any, repo: str) -> dict[int, Target]:
    raw = runtime.redis.hgetall(noticed_summaries_key(repo))
    tracked: dict[int, Target] = {}
    for number, value in raw.items():
        try:
            tracked[int(number)] = Target.model_validate_json(value)
        except ValueError:  # not ours to read (an older shape): forget it
            runtime.redis.hdel(noticed_summaries_key(repo), number)
    return tracked


def refresh_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Job entry point (queue ``events``): drop the broken-config line from the summaries
    that carry it, if the default branch's config is good now.

    While the config is still broken the summaries stay as they are: they still tell the
    truth, and the next push to each PR brings the new details with its own check run.
    A PR whose stages are running only gets the line dropped from its head's notices: its
    last stage writes the summary, and an edit now would show half a table.
    """
    runtime = get_runtime()
    repo = str(payload["repo"])
    delivery = payload.get("delivery_id")
    with bind(repo=repo, delivery=delivery):
        tracked = _tracked(runtime, repo)
        if not tracked:
            return {"rewritten": []}
        any_target = next(iter(tracked.values()))
        gh = runtime.github.installation(any_target.installation_id)
        effective = load_config(runtime, gh, any_target).effective
        if config_notice(effective) is not None:
            return {"rewritten": [], "config": "still broken"}
        good = check_payload(config_check_output(effective))
        rewritten, settled = [], []
        for number, target in sorted(tracked.items()):
            told = Publisher(gh, runtime, target, delivery_id=delivery)  # the head the summary told
            if told.settle_config_check(good, payload.get("fixed_in")) is not None:
                settled.append(number)
            head = heads.current_head(runtime.redis, repo, number, target.head_sha) or target.head_sha
            # "config": not "opened", so a summary the store lost is looked for, not doubled
            target = target.model_copy(update={"head_sha": head, "trigger": "config"})
            publisher = Publisher(gh, runtime, target, delivery_id=delivery)
            publisher.remember_config_notice("default", None)
            if heads.all_done(runtime.redis, repo, head):
                publisher.update_summary()  # edits it, and stops tracking it
                rewritten.append(number)
            else:  # the last stage job writes it, without the line
                runtime.redis.hdel(noticed_summaries_key(repo), str(number))
        log.info("config notices dropped", prs=sorted(tracked), rewritten=rewritten, checks_settled=settled)
        return {"rewritten": rewritten, "checks_settled": settled}
