"""The events worker's half of the loop: turn an event into check runs and stage jobs.

For a head SHA: load the policy from the default branch, decide which stages run (with
reasons), create their check runs at once in ``queued`` state, and enqueue one rq job per
stage. Stages the policy skips still get a check run concluded ``skipped`` with the reason,
so a required check that depends on them does not wait forever.
"""

from __future__ import annotations

from typing import Any

from gidgethub import sansio

from bot.errors import ShunterError
from bot.events.dispatch import EventContext
from bot.logs import bind, get_logger
from bot.models import StageName
from bot.pipeline import heads
from bot.pipeline.config_loader import load_config
from bot.pipeline.decide import StageVerdict, plan_stages
from bot.pipeline.facts import (
    Target,
    Unplannable,
    from_check_suite,
    from_merge_group,
    from_pull_request,
)
from bot.pipeline.publisher import Publisher
from bot.policies.schema import ShunterConfig
from bot.queue.jobs import STAGES, queue, safe_id

log = get_logger(__name__)

STAGE_JOB_TIMEOUT = 900


async def plan_pull_request(event: sansio.Event, ctx: EventContext) -> None:
    target = from_pull_request(event.data)
    if target.state != "open":
        ctx.handled("planning.skipped", f"pull request is {target.state}")
        return
    plan_target(ctx, target)


async def plan_merge_group(event: sansio.Event, ctx: EventContext) -> None:
    plan_target(ctx, from_merge_group(event.data))


async def plan_check_suite(event: sansio.Event, ctx: EventContext) -> None:
    target = from_check_suite(event.data)
    if isinstance(target, Unplannable):
        ctx.handled("planning.skipped", target.reason)
        return
    plan_target(ctx, target, force=event.data.get("action") == "rerequested")


async def plan_check_run_rerun(event: sansio.Event, ctx: EventContext) -> None:
    check_run = event.data["check_run"]
    name = check_run.get("name", "")
    if not name.startswith("shunter/"):
        return
    target = from_check_suite(event.data, check_run.get("check_suite") or {})
    if isinstance(target, Unplannable):
        ctx.handled("planning.skipped", target.reason)
        return
    target = target.model_copy(update={"head_sha": check_run["head_sha"], "trigger": "check_run"})
    stage = name.removeprefix("shunter/")
    if stage not in {s.value for s in StageName}:
        return
    plan_target(ctx, target, force=True, only=[StageName(stage)])


def plan_target(
    ctx: EventContext,
    target: Target,
    *,
    force: bool = False,
    only: list[StageName] | None = None,
    full: bool = False,
) -> list[StageVerdict]:
    """Plan ``target``: check runs and jobs for the stages the policy runs. Returns verdicts."""
    runtime = ctx.runtime
    with bind(repo=target.repo, pr=target.number, head=target.head_sha[:12]):
        redis = runtime.redis
        try:
            previous = heads.move_head(redis, target.repo, target.number, target.head_sha, target.updated_at)
        except heads.StaleEvent as stale:
            ctx.handled(
                "planning.stale",
                f"the event shows the pull request at {target.head_sha[:12]}, older than the head "
                f"{stale.current[:12]} already being checked",
            )
            return []
        gh = runtime.github.installation(target.installation_id)
        publisher = Publisher(gh, runtime, target, delivery_id=ctx.delivery.delivery_id)
        if previous:
            publisher.supersede(previous, target.head_sha)
        loaded = load_config(runtime, gh, target)
        config: ShunterConfig = loaded.config
        if loaded.check is not None:
            publisher.config_check(loaded.check)
        paused = target.number is not None and runtime.store.is_paused(target.repo, target.number)
        verdicts = plan_stages(config, target, paused=paused, only=only)
        for verdict in verdicts:
            stage = verdict.stage
            if not heads.claim_stage(redis, target.repo, target.head_sha, stage.value, force=force):
                ctx.handled("planning.collapsed", f"{stage.value} already planned for this head")
                continue
            try:
                if verdict.run:
                    run = publisher.queue_stage(stage, verdict.code, verdict.message)
                    enqueue_stage(runtime, target, stage, run, config, verdict, ctx, full=full)
                elif verdict.report_skip:
                    publisher.skip_stage(stage, verdict.code, verdict.message)
                else:
                    heads.release_stage(redis, target.repo, target.head_sha, stage.value)
            except ShunterError:
                heads.release_stage(redis, target.repo, target.head_sha, stage.value)
                raise
        ctx.handled(
            "planning.planned",
            ", ".join(f"{v.stage.value}: {v.code}" for v in verdicts) or "no stages",
        )
        return verdicts


def enqueue_stage(
    runtime: Any,
    target: Target,
    stage: StageName,
    run: tuple[int, int],
    config: ShunterConfig,
    verdict: StageVerdict,
    ctx: EventContext,
    *,
    full: bool = False,
) -> None:
    run_id, check_run_id = run
    stage_config = getattr(config.stages, stage.value)
    payload = {
        "target": target.model_dump(mode="json"),
        "stage": stage.value,
        "run_id": run_id,
        "check_run_id": check_run_id,
        "stage_config": stage_config.model_dump(mode="json", by_alias=True),
        "patches": config.patches.model_dump(mode="json", by_alias=True),
        "llm": config.llm.model_dump(mode="json", by_alias=True) if config.llm else None,
        "delivery_id": ctx.delivery.delivery_id,
        "reason": verdict.message,
        "full": full,
    }
    from rq import Retry

    queue(STAGES, runtime.redis).enqueue(
        "bot.pipeline.stage_job.run_stage_job",
        payload,
        job_id=safe_id(f"stage-{target.repo}-{target.head_sha[:12]}-{stage.value}-{run_id}"),
        job_timeout=STAGE_JOB_TIMEOUT,
        failure_ttl=7 * 24 * 3600,
        result_ttl=3600,
        retry=Retry(max=2, interval=[10, 60]),
        description=f"{stage.check_name} {target.repo}@{target.head_sha[:12]}",
    )
