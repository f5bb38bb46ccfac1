"""The events worker's half of the loop: turn an event into check runs and stage jobs.

For a head SHA: load the policy from the default branch, decide which stages run (with
reasons), create their check runs at once in ``queued`` state, and enqueue one rq job per
stage. Stages the policy skips still get a check run concluded ``skipped`` with the reason,
so a required check that depends on them does not wait forever.
"""

from __future__ import annotations

from typing import Any

from gidgethub import sansio
from rq import Retry

from bot.errors import ShunterError
from bot.events.dispatch import EventContext
from bot.github.client import translate_errors
from bot.logs import bind, get_logger
from bot.models import StageName
from bot.pipeline import heads
from bot.pipeline.config_loader import load_config, preview_key
from bot.pipeline.config_notices import refresh_soon
from bot.pipeline.decide import StageVerdict, plan_stages
from bot.pipeline.facts import (
    Target,
    Unplannable,
    from_check_suite,
    from_merge_group,
    from_pull_request,
)
from bot.pipeline.publisher import Publisher
from bot.policies.check_output import config_notice
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
    rerequested = event.data.get("action") == "rerequested"
    suite = from_check_suite(event.data)
    if isinstance(suite, Unplannable) and rerequested:
        suite = from_recorded_runs(ctx, suite, event.data)
    if isinstance(suite, Unplannable):
        ctx.handled("planning.skipped", suite.reason)
        return
    if not rerequested and heads.all_claimed(
        ctx.runtime.redis, suite.repo, suite.head_sha, [s.value for s in StageName]
    ):
        # GitHub sends this on every push, beside pull_request.synchronize: no request spent
        ctx.handled("planning.collapsed", "the pull_request event already planned this head")
        return
    target = current_pull(ctx, suite, "check_suite")
    if target is None:
        return
    # a suite GitHub requested on its own is an automatic run (pause, drafts, ignore rules
    # apply); a person pressing "Re-run all checks" asked for it
    plan_target(ctx, target, force=rerequested, explicit=rerequested)


async def plan_check_run_rerun(event: sansio.Event, ctx: EventContext) -> None:
    check_run = event.data["check_run"]
    name = check_run.get("name", "")
    if not name.startswith("shunter/"):
        return
    stage = name.removeprefix("shunter/")
    if stage not in {s.value for s in StageName}:
        return
    # the run's commit is the one re-run; GitHub may send its suite's head_sha as null
    run_suite = {**(check_run.get("check_suite") or {}), "head_sha": check_run["head_sha"]}
    suite = from_check_suite(event.data, run_suite)
    if isinstance(suite, Unplannable):
        suite = from_recorded_runs(ctx, suite, event.data, check_run.get("id"))
    if isinstance(suite, Unplannable):
        ctx.handled("planning.skipped", suite.reason)
        return
    target = current_pull(ctx, suite, "check_run")
    if target is None:
        return
    plan_target(ctx, target, force=True, only=[StageName(stage)])


def from_recorded_runs(
    ctx: EventContext, unplannable: Unplannable, payload: dict[str, Any], check_run_id: Any = None
) -> Target | Unplannable:
    """The pull request of a check suite GitHub names none for, from the runs Shunter
    recorded for its commit (or for the check run pressed).

    GitHub leaves ``pull_requests`` empty when the suite's branch is in a fork, so without
    this a "Re-run" on a fork PR's check would do nothing at all.
    """
    repo = (payload.get("repository") or {}).get("full_name")
    head_sha = unplannable.details.get("head_sha")
    if not isinstance(repo, str) or not isinstance(head_sha, str):
        return unplannable
    store = ctx.runtime.store
    records = []
    if isinstance(check_run_id, int):
        records.append(store.run_for_check_run(check_run_id))
    records += store.runs_for_head(repo, head_sha)
    number = next((r.pr for r in records if r is not None and r.repo == repo and r.pr), None)
    if number is None:
        return unplannable
    repository = payload.get("repository") or {}
    return Target(
        repo=repo,
        installation_id=int((payload.get("installation") or {}).get("id") or 0),
        head_sha=head_sha,
        base_ref=repository.get("default_branch") or "main",
        clone_url=repository.get("clone_url") or f"https://github.com/{repo}.git",
        trigger="check_suite",
        number=number,
    )


def current_pull(ctx: EventContext, suite: Target, trigger: str) -> Target | None:
    """The pull request a check suite names, as it is now (draft, labels, author, title:
    a suite's payload has none of them), or None when the suite's commit is no longer its
    head or the PR is closed.

    GitHub does not promise delivery order: a suite of an older commit that arrives after a
    newer push must neither move the PR's head back nor cancel the newer commit's checks.
    """
    assert suite.number is not None
    gh = ctx.runtime.github.installation(suite.installation_id)
    owner, name = suite.repo.split("/", 1)
    with translate_errors(f"reading {suite.repo}#{suite.number}"):
        pr = gh.rest.pulls.get(owner, name, suite.number).json()
    payload = ctx.delivery.payload
    target = from_pull_request(
        {
            "pull_request": pr,
            "repository": payload.get("repository"),
            "installation": payload.get("installation"),
        },
        trigger=trigger,
    )
    if target.head_sha != suite.head_sha:
        ctx.handled(
            "planning.stale",
            f"the check suite is for {suite.head_sha[:12]}, but the pull request's head is now "
            f"{target.head_sha[:12]}",
        )
        return None
    if target.state != "open":
        ctx.handled("planning.skipped", f"pull request is {target.state}")
        return None
    return target


def plan_target(
    ctx: EventContext,
    target: Target,
    *,
    force: bool = False,
    only: list[StageName] | None = None,
    full: bool = False,
    explicit: bool | None = None,
) -> list[StageVerdict]:
    """Plan ``target``: check runs and jobs for the stages the policy runs. Returns verdicts.
    ``explicit``: whether a person asked for this run (it then runs on a paused PR); by
    default, whether the trigger is one people use (commands, re-run buttons)."""
    runtime = ctx.runtime
    with bind(repo=target.repo, pr=target.number, head=target.head_sha[:12]):
        redis = runtime.redis
        try:
            previous = heads.move_head(
                redis, target.repo, target.number, target.head_sha, target.updated_at, target.before
            )
        except heads.StaleEvent as stale:
            ctx.handled(
                "planning.stale",
                f"the event shows the pull request at {target.head_sha[:12]}, older than the head "
                f"{stale.current[:12]} already being checked",
            )
            return []
        if target.number is not None and not target.is_merge_group:
            heads.mark_open(redis, target.repo, target.number, target.updated_at)  # reopened
        gh = runtime.github.installation(target.installation_id)
        publisher = Publisher(gh, runtime, target, delivery_id=ctx.delivery.delivery_id)
        if previous:
            publisher.supersede(previous, target.head_sha)
        loaded = load_config(runtime, gh, target)
        config: ShunterConfig = loaded.config
        check_run_id = publisher.config_check(loaded.check) if loaded.check is not None else None
        # the summary comment says so too (and stops saying it once the config is fixed)
        notice = config_notice(loaded.effective)
        publisher.remember_config_notice("default", notice, check_run_id)
        if notice is None:  # other PRs' summaries may still say it is broken
            refresh_soon(runtime, target.repo, ctx.delivery.delivery_id)
        paused = target.number is not None and runtime.store.is_paused(target.repo, target.number)
        verdicts = plan_stages(config, target, paused=paused, only=only, explicit=explicit)
        for verdict in verdicts:
            stage = verdict.stage
            if not heads.claim_stage(
                redis, target.repo, target.head_sha, stage.value, force=force, over_skipped=verdict.run
            ):
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
        if not any(v.run for v in verdicts):
            enqueue_config_preview(runtime, target, ctx)
        ctx.handled(
            "planning.planned",
            ", ".join(f"{v.stage.value}: {v.code}" for v in verdicts) or "no stages",
        )
        return verdicts


def enqueue_config_preview(runtime: Any, target: Target, ctx: EventContext) -> None:
    """With no stage job to do it, a small job previews the PR's config change, if any."""
    if target.number is None or target.is_merge_group or runtime.redis.exists(preview_key(target)):
        return  # a merge group proposes no config; a head already looked at needs no fetch
    queue(STAGES, runtime.redis).enqueue(
        "bot.pipeline.stage_job.run_config_preview_job",
        {"target": target.model_dump(mode="json"), "delivery_id": ctx.delivery.delivery_id},
        job_id=safe_id(f"configpreview-{target.repo}-{target.head_sha[:12]}-{ctx.delivery.delivery_id}"),
        job_timeout=600,
        failure_ttl=7 * 24 * 3600,
        result_ttl=3600,
        retry=Retry(max=2, interval=[10, 60]),
        description=f"shunter/config preview {target.repo}@{target.head_sha[:12]}",
    )


def stage_job_id(repo: str, head_sha: str, stage: str, run_id: int) -> str:
    """The rq job id of a run's stage job: the lost-run sweep looks it up by the run."""
    return safe_id(f"stage-{repo}-{head_sha[:12]}-{stage}-{run_id}")


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
    queue(STAGES, runtime.redis).enqueue(
        "bot.pipeline.stage_job.run_stage_job",
        payload,
        job_id=stage_job_id(target.repo, target.head_sha, stage.value, run_id),
        job_timeout=STAGE_JOB_TIMEOUT,
        failure_ttl=7 * 24 * 3600,
        result_ttl=3600,
        retry=Retry(max=2, interval=[10, 60]),
        description=f"{stage.check_name} {target.repo}@{target.head_sha[:12]}",
    )
