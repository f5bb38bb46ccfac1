"""The stage workers' job: fetch, run one stage, publish — and never leave a check hanging.

Every exit path concludes the check run: superseded work is ``cancelled`` with the commit
that replaced it, work for a pull request closed or merged meanwhile is ``skipped`` (a
reopen runs it again), a stage none of whose changed files is within its ``paths`` is
``skipped`` with that reason before its engines run, a stage failure is a neutral result
with a note, and an error that escapes (GitHub down, or a bug) re-raises for rq's retry
only after the check run has been told; the last attempt concludes it ``neutral``.
A worker killed mid-stage leaves an abandoned job that rq retries (the check run is still
``in_progress``, or ``queued`` when the stage died within its first seconds); the retry
finishes it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from typing import Any

import pygit2
from redis.exceptions import RedisError
from rq import get_current_job

from bot.errors import AccessPaused, ShunterError, TransientError
from bot.git.changes import merge_base, resolve_commit
from bot.git.mirror import branch_refspec
from bot.git.scratch import new_scratch_dir
from bot.git.workspace import open_workspace
from bot.logs import bind, get_logger
from bot.models import StageName, StageResult
from bot.pipeline import heads
from bot.pipeline.config_loader import CONFIG_PATH, preview_check, preview_key
from bot.pipeline.facts import Target
from bot.pipeline.publisher import Publisher
from bot.policies.decisions import Decision, paths_decision
from bot.policies.schema import LLMConfig, Patches, Stages
from bot.queue.jobs import EVENTS, give_up_unless_transient, queue, safe_id
from bot.runtime import Runtime, get_runtime
from bot.stages.context import ChangedFile
from bot.stages.filtering import filter_findings, without_secret_suggestions
from bot.stages.registry import run_stage
from bot.store.records import RunStatus

log = get_logger(__name__)


class Superseded(Exception):
    """Raised at a checkpoint when a newer push replaced the head this job works on."""

    def __init__(self, new_sha: str) -> None:
        super().__init__(new_sha)
        self.new_sha = new_sha


class PullClosed(Exception):
    """Raised at a checkpoint when the PR was closed or merged after its stages were
    planned: nobody reads a review published on a closed pull request, a fix auto-applied
    to it would land on a dead branch, and the tests stage could hold a worker for minutes."""

    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


class NoMatchingPaths(Exception):
    """Raised once the diff is known when none of the changed files is within the stage's
    ``paths`` (as GitHub Actions' ``paths`` filter skips a workflow): the planner never
    fetches the changed files, so only the stage job can tell."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.message)
        self.decision = decision


ROW_NOTE_NO_PATHS = "no changed file matches its paths"


def _last_attempt() -> bool:
    """Whether rq will not retry the current job again."""
    job = get_current_job()
    return job is not None and not job.retries_left


def _stage_options(stage: StageName, data: dict[str, Any]) -> Any:
    """Rebuild the stage's config model from the JSON the planner put in the job."""
    field = Stages.model_fields[stage.value]
    model = field.annotation
    return model.model_validate(data)  # type: ignore[union-attr]


def run_stage_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Job entry point (queue ``stages``)."""
    runtime = get_runtime()
    target = Target.model_validate(payload["target"])
    stage = StageName(payload["stage"])
    with bind(
        repo=target.repo,
        pr=target.number,
        run=payload["run_id"],
        stage=stage.value,
        delivery=payload.get("delivery_id"),
    ):
        try:
            return _run(runtime, target, stage, payload)
        except AccessPaused as exc:
            return _paused(runtime, target, stage, payload, exc)


def _paused(
    runtime: Runtime, target: Target, stage: StageName, payload: dict[str, Any], exc: AccessPaused
) -> dict[str, Any]:
    """GitHub refuses every write here for now (archived, suspended): the check cannot be
    updated either, so the run ends ``skipped`` (a later event plans it again) and the job
    ends without a failure for rq to retry or keep."""
    from bot.pipeline.paused import record_paused

    run_id = int(payload["run_id"])
    runtime.store.finish_run(run_id, status=RunStatus.CANCELLED, conclusion="skipped")
    heads.mark_done(runtime.redis, target.repo, target.head_sha, stage.value, "skipped")
    record_paused(
        runtime, exc, repo=target.repo, what="stage", pr=target.number, run_id=run_id,
        delivery_id=payload.get("delivery_id"),
    )
    return {"stage": stage.value, "conclusion": "skipped", "paused": exc.reason}


def _run(runtime: Runtime, target: Target, stage: StageName, payload: dict[str, Any]) -> dict[str, Any]:
    redis = runtime.redis
    gh = runtime.github.installation(target.installation_id)
    publisher = Publisher(gh, runtime, target, delivery_id=payload.get("delivery_id"))
    check_run_id = int(payload["check_run_id"])
    run_id = int(payload["run_id"])

    def checkpoint() -> None:
        newer = heads.is_superseded(redis, target.repo, target.number, target.head_sha)
        if newer:
            raise Superseded(newer)
        closed = heads.closed_state(redis, target.repo, target.number)
        if closed:
            raise PullClosed(closed)

    def after_failure(message: str, *, last: bool) -> None:
        """Never leave the check hanging: the last attempt concludes it ``neutral`` with
        ``message`` (unless the verdict was already published, which then stands), an
        earlier one marks it in progress while it waits for its retry."""
        if concluded:
            if last:
                heads.mark_done(redis, target.repo, target.head_sha, stage.value, conclusion)
        elif last:
            publisher.fail_check(check_run_id, stage, message)
            runtime.store.finish_run(run_id, conclusion="neutral")
            heads.mark_done(redis, target.repo, target.head_sha, stage.value, "neutral")
        else:
            publisher.mark_in_progress(check_run_id)

    concluded = False
    conclusion = "neutral"
    try:
        checkpoint()
        runtime.store.start_run(run_id)
        publisher.start_check(
            check_run_id, stage,
            wanted=lambda: not heads.is_superseded(redis, target.repo, target.number, target.head_sha),
        )
        options = _stage_options(stage, payload["stage_config"])
        result, files = _execute(runtime, target, stage, options, payload, checkpoint)
        findings = len(result.findings)
        checkpoint()
        conclusion = publisher.publish_result(
            stage, run_id, check_run_id, result, options,
            Patches.model_validate(payload["patches"]), files,
        )
        concluded = True
        publisher.publish_inline(stage, run_id, result, options, files)
        _preview_config_change(runtime, gh, publisher, target, files)
        _maybe_auto_apply(runtime, target, stage, payload)
        if stage is StageName.SECURITY:
            _store_sarif(runtime, result, run_id)
        if stage is StageName.SECURITY and getattr(options, "upload_sarif", False):
            _upload_sarif(runtime, gh, target, result, run_id)
    except Superseded as exc:
        publisher.cancel_check(check_run_id, stage, exc.new_sha)
        runtime.store.finish_run(run_id, status=RunStatus.SUPERSEDED, conclusion="cancelled")
        heads.mark_done(redis, target.repo, target.head_sha, stage.value, "cancelled")
        return {"stage": stage.value, "conclusion": "cancelled", "superseded_by": exc.new_sha}
    except PullClosed as exc:
        publisher.skip_closed(check_run_id, stage, exc.state)
        runtime.store.finish_run(run_id, status=RunStatus.CANCELLED, conclusion="skipped")
        # ``skipped``, so that a reopen plans the stage again on this head
        heads.mark_done(redis, target.repo, target.head_sha, stage.value, "skipped")
        return {"stage": stage.value, "conclusion": "skipped", "pull_request": exc.state}
    except NoMatchingPaths as exc:  # concluded here; the summary below shows the row
        code, reason = exc.decision.code, exc.decision.message
        publisher.skip_unmatched(check_run_id, stage, code, reason, run_id)
        conclusion, findings = "skipped", 0
        runtime.store.finish_run(
            run_id, conclusion=conclusion, metrics={"reason_code": code, "row_note": ROW_NOTE_NO_PATHS}
        )
        if target.number is not None and not target.is_merge_group:
            _preview_if_config_changed(runtime, gh, publisher, target)
    except TransientError as exc:  # GitHub or git away: rq retries with backoff
        after_failure(f"{exc} (gave up after retries)", last=_last_attempt())
        raise
    except AccessPaused:  # archived or suspended: the check cannot say so (see _paused)
        raise
    except ShunterError as exc:  # permanent: the check says why, the job fails once
        after_failure(str(exc), last=True)
        give_up_unless_transient(exc)
        raise
    except Exception as exc:  # a bug, not the PR's fault: retried like a transient error
        # only the error's type is named: its text may quote what it choked on
        after_failure(
            f"Shunter hit an internal error ({type(exc).__name__}); the operator's logs have "
            "the details",
            last=_last_attempt(),
        )
        raise
    done = heads.mark_done(redis, target.repo, target.head_sha, stage.value, conclusion)
    if target.number is not None and not target.is_merge_group:
        if not done:
            _summary_later(runtime, target, payload.get("delivery_id"))
        else:
            try:
                publisher.update_summary()
            except TransientError:
                raise
            except Exception:  # the check runs carry the verdict; the summary is a courtesy
                log.exception("summary comment failed")
    _maintain_mirrors_now_and_then(runtime)
    return {"stage": stage.value, "conclusion": conclusion, "findings": findings}


def _execute(
    runtime: Runtime,
    target: Target,
    stage: StageName,
    options: Any,
    payload: dict[str, Any],
    checkpoint: Any,
) -> tuple[StageResult, list[ChangedFile]]:
    """Fetch the PR into the mirror, build the context, run the stage (pure), filter."""
    started = time.monotonic()
    token = runtime.github.installation_token(target.installation_id)
    ws = open_workspace(runtime.settings.data_dir, target.repo, target.clone_url, token=token)
    with runtime.store.step(int(payload["run_id"]), "fetch"):
        ws.fetch(_refspecs(target))
    checkpoint()
    scratch = new_scratch_dir(prefix=f"shunter-{stage.value}-")

    def cancelled() -> bool:
        try:
            checkpoint()
        except (Superseded, PullClosed):
            return True
        return False

    try:
        ctx = ws.context_for(
            f"refs/heads/{target.base_ref}",
            target.head_sha,
            options=options,
            scratch_dir=scratch,
            cancelled=cancelled,
            pr_title=target.title,
            pr_body=target.body,
            author=target.author,
            trust_lookup=(lambda: _trusted(runtime, target)) if stage is StageName.TESTS else None,
        )
        # the changed paths, without waiting for line maps: a skip costs no more than this
        chosen = paths_decision(stage.value, options.paths, [c.path for c in ctx.changed_paths()])
        if not chosen.allowed:
            raise NoMatchingPaths(chosen)
        if payload.get("full"):
            ctx.options = options.model_copy(update={"filter": "nofilter"})
        with runtime.store.step(int(payload["run_id"]), f"stage:{stage.value}"):
            result = _run_engine(stage, ctx, payload)
        kept = filter_findings(result.findings, ctx.files, options_filter(ctx.options))
        result = result.model_copy(update={"findings": without_secret_suggestions(kept)})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.metrics.setdefault("duration_seconds", round(time.monotonic() - started, 3))
    return result, ctx.files


def _refspecs(target: Target) -> list[str]:
    """What a job fetches into the mirror: the base branch and the PR's (or group's) head."""
    refspecs = [branch_refspec(target.base_ref)]
    if target.is_merge_group and target.head_ref:
        refspecs.append(f"+{target.head_ref}:{target.head_ref}")
    elif target.number is not None:
        refspecs.append(f"+refs/pull/{target.number}/head:refs/pull/{target.number}/head")
    return refspecs


def options_filter(options: Any) -> str:
    """The filter mode of a stage's options (``added`` when a stage has no options)."""
    return str(getattr(options, "filter", "added"))


def _run_engine(stage: StageName, ctx: Any, payload: dict[str, Any]) -> StageResult:
    """The builtin engine through the registry; ``engine: llm`` where a stage offers it."""
    llm = LLMConfig.model_validate(payload["llm"]) if payload.get("llm") else None
    if ctx.options.engine != "llm" or llm is None:
        return run_stage(stage, ctx)
    if stage is StageName.REVIEW:
        from bot.stages import review_llm

        return review_llm.run(ctx, llm=llm)
    if stage is StageName.TESTS:
        from bot.engines.llm.factory import provider_from_config
        from bot.stages import tests as tests_stage

        try:
            provider = provider_from_config(llm)
        except ShunterError as exc:
            result = run_stage(stage, ctx)
            return result.model_copy(update={"notes": [*result.notes, f"LLM engine unavailable: {exc}"]})
        return tests_stage.run(ctx, llm=provider, llm_tokens_per_run=llm.max_tokens_per_run)
    return run_stage(stage, ctx)


def _trusted(runtime: Runtime, target: Target) -> bool:
    """May this PR's code run with the weaker sandbox? Its author has write access and the
    head is not a fork (the tests stage still asks the policy and bubblewrap)."""
    if target.from_fork or not target.author or target.number is None:
        return False
    if target.author.lower() == target.owner.lower():
        return True  # a personal repository's owner (logins and org names share one namespace)
    from bot.pipeline.commands import permission_of

    gh = runtime.github.installation(target.installation_id)
    try:
        level = permission_of(runtime, gh, target, target.author)
    except ShunterError:
        return False
    return level in {"write", "maintain", "admin"}


def _summary_later(runtime: Runtime, target: Target, delivery_id: str | None) -> None:
    """Once per head, when its first stage concludes: a job that writes the summary after
    ``summary_patience`` seconds if other stages still run then. Quick pushes get one
    summary write, when all is done; a slow tests stage does not hide the others' table."""
    key = f"shunter:summary-later:{target.repo}:{target.head_sha}"
    if not runtime.redis.set(key, 1, nx=True, ex=86400):
        return
    from datetime import timedelta

    queue(EVENTS, runtime.redis).enqueue_in(
        timedelta(seconds=runtime.settings.summary_patience),
        "bot.pipeline.stage_job.patient_summary_job",
        {"target": target.model_dump(mode="json"), "delivery_id": delivery_id},
        job_id=safe_id(f"summary-{target.repo}-{target.head_sha[:12]}"),
        result_ttl=600,
        failure_ttl=86400,
        description=f"summary {target.repo}#{target.number}@{target.head_sha[:12]}",
    )


def patient_summary_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Job entry point (queue ``events``): the summary of a head whose stages still run."""
    runtime = get_runtime()
    target = Target.model_validate(payload["target"])
    with bind(repo=target.repo, pr=target.number, delivery=payload.get("delivery_id")):
        if heads.is_superseded(runtime.redis, target.repo, target.number, target.head_sha):
            return {"summary": "superseded"}
        if heads.closed_state(runtime.redis, target.repo, target.number):
            return {"summary": "the pull request was closed"}
        if heads.all_done(runtime.redis, target.repo, target.head_sha):
            return {"summary": "written by the last stage"}
        gh = runtime.github.installation(target.installation_id)
        Publisher(gh, runtime, target, delivery_id=payload.get("delivery_id")).update_summary()
        return {"summary": "written while stages run"}


def _maintain_mirrors_now_and_then(runtime: Runtime) -> None:
    """At most hourly per data dir, after a job's results are out (so no check waits for
    it): drop mirrors past the age/size limits and, in the others, the refs no job fetched
    within the age limit (closed pull requests'), then fold the packs of busy ones (locked
    mirrors are left for the next round), and remove the scratch dirs killed jobs left."""
    key = f"shunter:mirror-cleanup:{runtime.settings.data_dir}"
    if not runtime.redis.set(key, 1, nx=True, ex=3600):
        return
    from bot.git.cleanup import cleanup_mirrors, prune_mirror_refs
    from bot.git.repack import repack_mirrors
    from bot.git.scratch import sweep_abandoned
    from bot.pipeline.uninstalled import remove_forgotten
    from bot.web.runs import prune_sarif

    try:
        max_age = runtime.settings.mirror_max_age_days * 86400
        forgotten = remove_forgotten(runtime, max_age_seconds=max_age)
        removed = cleanup_mirrors(
            runtime.settings.data_dir,
            max_age_seconds=max_age,
            max_total_bytes=int(runtime.settings.mirror_max_gb * 1024**3),
        )
        refs = prune_mirror_refs(runtime.settings.data_dir, max_age_seconds=max_age)
        repacked = repack_mirrors(runtime.settings.data_dir)
        abandoned = sweep_abandoned()
        sarif = prune_sarif(runtime.settings.data_dir, runtime.settings.retention_days, time.time())
    except (OSError, pygit2.GitError, RedisError) as exc:  # housekeeping: the job's result stands
        log.warning("mirror maintenance failed", error=str(exc))
        return
    if forgotten or removed or refs or repacked or abandoned or sarif:
        log.info(
            "mirrors maintained",
            access_lost=forgotten,
            removed=len(removed),
            refs_pruned=refs,
            repacked=len(repacked),
            scratch=len(abandoned),
            old_sarif=sarif,
        )


def _preview_config_change(
    runtime: Runtime, gh: Any, publisher: Publisher, target: Target, files: list[ChangedFile]
) -> None:
    """A PR touching the config gets its version validated and previewed on
    ``shunter/config`` — once per head, by whichever stage job gets there first."""
    changed = next((f for f in files if CONFIG_PATH in (f.path, f.old_path)), None)
    if changed is None or target.number is None:
        return
    def proposed() -> bytes | None:
        if changed.status == "deleted" or changed.path != CONFIG_PATH:
            return None
        ws = open_workspace(runtime.settings.data_dir, target.repo, target.clone_url)
        return ws.context_for(f"refs/heads/{target.base_ref}", target.head_sha).head.read(CONFIG_PATH)

    _post_preview(runtime, gh, publisher, target, proposed)


def _post_preview(
    runtime: Runtime, gh: Any, publisher: Publisher, target: Target, proposed: Callable[[], bytes | None]
) -> bool:
    """Post the ``shunter/config`` preview of the PR's config unless a job already did."""
    key = preview_key(target)
    if not runtime.redis.set(key, 1, nx=True, ex=86400):
        return False
    try:
        check, notice = preview_check(runtime, gh, target, proposed())
        publisher.remember_config_notice("proposed", notice, publisher.config_check(check))
    except BaseException:
        runtime.redis.delete(key)  # not posted: the job's retry (or another stage's job) posts it
        raise
    return True


def config_change(repo: pygit2.Repository, base_ref: str, head_sha: str) -> tuple[bool, bytes | None]:
    """Whether the PR (merge base to head) changes the config file, and the head's version
    (None when the PR deletes it). Two tree lookups: no diff of the whole PR is needed."""
    head = resolve_commit(repo, head_sha)
    start = merge_base(repo, resolve_commit(repo, base_ref), head)

    def blob(commit: pygit2.Commit) -> pygit2.Oid | None:
        try:
            entry = commit.tree[CONFIG_PATH]
        except KeyError:
            return None
        return entry.id if entry.type_str == "blob" else None

    before, after = blob(start), blob(head)
    if before == after:
        return False, None
    return True, (repo[after].peel(pygit2.Blob).data if after is not None else None)


def run_config_preview_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Job entry point (queue ``stages``): the config preview for a head whose stages the
    policy all skipped. No stage job is there to post it, yet a PR that turns Shunter on,
    or changes what it skips, is the one whose author most wants to see the effect."""
    runtime = get_runtime()
    target = Target.model_validate(payload["target"])
    delivery = payload.get("delivery_id")
    with bind(repo=target.repo, pr=target.number, head=target.head_sha[:12], delivery=delivery):
        if heads.is_superseded(runtime.redis, target.repo, target.number, target.head_sha):
            return {"preview": "superseded"}
        if heads.closed_state(runtime.redis, target.repo, target.number):
            return {"preview": "the pull request was closed"}
        token = runtime.github.installation_token(target.installation_id)
        ws = open_workspace(runtime.settings.data_dir, target.repo, target.clone_url, token=token)
        ws.fetch(_refspecs(target))
        gh = runtime.github.installation(target.installation_id)
        publisher = Publisher(gh, runtime, target, delivery_id=delivery)
        return {"preview": _preview_if_config_changed(runtime, gh, publisher, target)}


def _preview_if_config_changed(runtime: Runtime, gh: Any, publisher: Publisher, target: Target) -> str:
    """The config preview of a fetched head, from two tree lookups (no diff needed): for a
    head no stage job looks at the changed files of."""
    ws = open_workspace(runtime.settings.data_dir, target.repo, target.clone_url)
    changed, proposed = config_change(ws.repo, f"refs/heads/{target.base_ref}", target.head_sha)
    if not changed:
        runtime.redis.set(preview_key(target), "unchanged", nx=True, ex=86400)
        return "the pull request does not change the config"
    posted = _post_preview(runtime, gh, publisher, target, lambda: proposed)
    return "posted" if posted else "already posted"


def _maybe_auto_apply(runtime: Runtime, target: Target, stage: StageName, payload: dict[str, Any]) -> None:
    """``patches.auto_apply.<stage>: always``: queue the stage's fixes without asking."""
    patches = Patches.model_validate(payload["patches"])
    if getattr(patches.auto_apply, stage.value) != "always" or target.number is None or target.is_merge_group:
        return
    if heads.closed_state(runtime.redis, target.repo, target.number):
        return  # closed while the stage ran: the close already dropped what was queued
    from bot.pipeline.patches import auto_apply
    from bot.policies.schema import ShunterConfig

    ws = open_workspace(runtime.settings.data_dir, target.repo, target.clone_url)
    head = ws.repo.get(target.head_sha)
    message = getattr(head, "message", "") or ""
    config = ShunterConfig.model_validate({"patches": payload["patches"]})
    for line in auto_apply(runtime, target, stage, config, message):
        log.info("auto-apply", result=line)


def _store_sarif(runtime: Runtime, result: StageResult, run_id: int) -> None:
    """Keep the security run's SARIF beside the run record (served on its run page)."""
    from bot.sarif import to_sarif
    from bot.web.runs import sarif_path

    path = sarif_path(runtime.settings.data_dir, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_sarif([result])))


def _upload_sarif(runtime: Runtime, gh: Any, target: Target, result: StageResult, run_id: int) -> None:
    """``security.upload_sarif``: send the run to code scanning and report failures."""
    from bot.github.code_scanning import upload_and_wait
    from bot.sarif import to_sarif

    ref = f"refs/pull/{target.number}/head" if target.number else (target.head_ref or target.base_ref)
    try:
        status = upload_and_wait(gh, target.owner, target.name, target.head_sha, ref, to_sarif([result]))
    except ShunterError as exc:
        log.warning("SARIF upload failed", error=str(exc))
        runtime.store.record_audit(
            repo=target.repo, pr=target.number, actor="shunter", action="code_scanning.upload_failed",
            target_type="sarif", run_id=run_id, reason=str(exc)[:500],
        )
        return
    runtime.store.record_audit(
        repo=target.repo, pr=target.number, actor="shunter", action="code_scanning.upload",
        target_type="sarif", target_id=getattr(status, "sarif_id", None), run_id=run_id,
        reason=str(getattr(status, "processing_status", "uploaded")),
    )
