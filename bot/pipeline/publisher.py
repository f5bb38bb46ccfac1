"""Every write Shunter makes to GitHub for a run goes through here, and each leaves an audit
event (who, what, why: delivery id and the policy's reason).

The payloads are built by the pure functions of ``bot.publishing``; this module only sends
them: check runs (annotations in batches of 50, the first with the update and the rest as
follow-up PATCHes), the one summary comment per PR (claimed in the store so concurrent
workers never post two), and inline review comments deduplicated by fingerprint.

A create whose answer GitHub lost (a 502 after the write, a dropped connection) is never
re-sent blindly (:func:`bot.github.client.create_once`): the check run is looked up by its
``external_id``, the summary by its marker, inline comments by their fingerprints, and what
is there is adopted. A create whose outcome stays unknown leaves an "uncertain" mark in Redis
so the job's retry looks first too.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from rq import get_current_job

from bot.errors import GitHubError, TransientError
from bot.github.client import create_once, translate_errors
from bot.github.hosts import web_root
from bot.logs import get_logger
from bot.models import StageName, StageResult
from bot.pipeline import heads
from bot.pipeline.facts import Target
from bot.pipeline.progress import DeferredProgress
from bot.policies.check_output import ConfigNotice
from bot.policies.schema import Patches, StageConfig
from bot.publishing import limits
from bot.publishing.check_runs import (
    CheckRunPlan,
    check_run_output,
    closed_output,
    in_progress_payload,
    skipped_output,
    superseded_output,
)
from bot.publishing.fixes import offered_fixes
from bot.publishing.inline import (
    fingerprint_in_comment,
    outdated_comments,
    resolved_comment_body,
    select_inline_comments,
)
from bot.publishing.summary_comment import (
    StageRow,
    find_summary_comment,
    pull_request_remarks,
    summary_comment_body,
)
from bot.stages.context import ChangedFile
from bot.stages.verdict import row_note

log = get_logger(__name__)
ACTOR = "shunter"


class Publisher:
    def __init__(self, gh: Any, runtime: Any, target: Target, *, delivery_id: str | None) -> None:
        self.gh = gh
        self.runtime = runtime
        self.store = runtime.store
        self.target = target
        self.delivery_id = delivery_id
        self._progress: dict[int, DeferredProgress] = {}

    # ------------------------------------------------------------------ helpers
    def _audit(
        self,
        action: str,
        target_type: str,
        target_id: Any,
        *,
        reason_code: str | None = None,
        reason: str | None = None,
        run_id: int | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        self.store.record_audit(
            repo=self.target.repo,
            pr=self.target.number,
            actor=ACTOR,
            action=action,
            target_type=target_type,
            target_id=target_id,
            run_id=run_id,
            installation_id=self.target.installation_id,
            delivery_id=self.delivery_id,
            reason_code=reason_code,
            reason=reason,
            payload=payload,
        )

    def _details_url(self, run_id: int | None) -> str | None:
        """The run page's link, with the token without which it does not open."""
        base = self.runtime.settings.public_url
        secret = self.runtime.settings.webhook_secret
        if not base or run_id is None or secret is None or not secret.get_secret_value():
            return None
        from bot.web.runs import run_link

        return run_link(base, secret.get_secret_value().encode(), run_id)

    def _create_check(self, data: dict[str, Any]) -> int:
        """Create a check run, never twice: every one carries an ``external_id`` (the run's id,
        or a fresh token) by which a create whose answer was lost is found again."""
        owner, name = self.target.owner, self.target.name
        data = {**data, "external_id": data.get("external_id") or uuid.uuid4().hex}
        check_run_id, _ = create_once(
            f"creating check run {data['name']} on {self.target.repo}",
            lambda: int(self.gh.rest.checks.create(owner, name, data=data).parsed_data.id),
            lambda: self._find_check(data["name"], data["external_id"]),
        )
        return check_run_id

    def _find_check(self, check_name: str, external_id: str) -> int | None:
        """This App's check run ``check_name`` on the head SHA with ``external_id``, if any."""
        app_id = self.runtime.settings.app_id
        with translate_errors(f"listing check runs {check_name} on {self.target.repo}"):
            for run in self.gh.rest.paginate(
                self.gh.rest.checks.list_for_ref,
                map_func=lambda resp: resp.parsed_data.check_runs,
                owner=self.target.owner, repo=self.target.name, ref=self.target.head_sha,
                check_name=check_name, filter_="all", per_page=100,
            ):
                app = getattr(run, "app", None)
                if run.external_id == external_id and (app is None or app_id is None or app.id == app_id):
                    return int(run.id)
        return None

    def _update_check(self, check_run_id: int, data: dict[str, Any]) -> None:
        owner, name = self.target.owner, self.target.name
        with translate_errors(f"updating check run {check_run_id} on {self.target.repo}"):
            self.gh.rest.checks.update(owner, name, check_run_id, data=data)

    # ------------------------------------------------------------------ planning
    def queue_stage(self, stage: StageName, code: str, reason: str) -> tuple[int, int]:
        """Create the stage's check run in ``queued`` state and its run record.

        When an earlier attempt's create ended with its outcome unknown, the check run it
        may have made is looked for first (by its run id) and adopted, run and all: a
        second one would leave the first ``queued`` forever, a required check never done.
        """
        redis = self.runtime.redis
        uncertain = f"shunter:check-uncertain:{self.target.repo}:{self.target.head_sha}:{stage.value}"
        earlier = redis.get(uncertain)
        if earlier is not None:
            run_id = int(earlier)
            found = self._find_check(stage.check_name, str(run_id))
            redis.delete(uncertain)
            if found is not None:
                self._record_queued(stage, run_id, found, code, reason)
                return run_id, found
        run = self.store.create_run(
            self.target.repo,
            self.target.number,
            self.target.head_sha,
            stage.value,
            delivery_id=self.delivery_id,
            installation_id=self.target.installation_id,
            reason=reason,
        )
        data: dict[str, Any] = {
            "name": stage.check_name,
            "head_sha": self.target.head_sha,
            "status": "queued",
            "external_id": str(run.id),
        }
        if url := self._details_url(run.id):
            data["details_url"] = url
        try:
            check_run_id = self._create_check(data)
        except TransientError:
            redis.set(uncertain, run.id, ex=7 * 24 * 3600)
            raise
        self._record_queued(stage, run.id, check_run_id, code, reason)
        return run.id, check_run_id

    def _record_queued(
        self, stage: StageName, run_id: int, check_run_id: int, code: str, reason: str
    ) -> None:
        self.store.set_check_run_id(run_id, check_run_id)
        heads.record_check_run(
            self.runtime.redis, self.target.repo, self.target.head_sha, stage.value, check_run_id
        )
        self._audit(
            "check_run.create", "check_run", check_run_id, reason_code=code, reason=reason,
            run_id=run_id,
        )

    def skip_stage(self, stage: StageName, code: str, reason: str) -> int:
        """A check run concluded ``skipped`` with the policy's reason."""
        check_run_id = self._create_check(skipped_output(stage, reason).create_payload(self.target.head_sha))
        heads.mark_done(self.runtime.redis, self.target.repo, self.target.head_sha, stage.value, "skipped")
        self._audit("check_run.create", "check_run", check_run_id, reason_code=code, reason=reason)
        return check_run_id

    def supersede(self, old_sha: str, new_sha: str) -> None:
        """Conclude the old head's unfinished check runs as cancelled, naming the new commit."""
        redis = self.runtime.redis
        done = heads.conclusions(redis, self.target.repo, old_sha)
        runs = self.store.supersede_runs(self.target.repo, self.target.number, old_sha, new_sha)
        for stage, check_run_id in heads.planned_check_runs(redis, self.target.repo, old_sha).items():
            if stage in done:
                continue
            self._update_check(check_run_id, superseded_output(stage, new_sha).update_payload())
            heads.mark_done(redis, self.target.repo, old_sha, stage, "cancelled")
            self._audit(
                "check_run.cancel", "check_run", check_run_id, reason_code="superseded",
                reason=f"superseded by {new_sha}", payload={"runs": len(runs) if runs else 0},
            )

    def config_check(self, check: dict[str, Any]) -> int:
        """Post the ``shunter/config`` check (invalid config, or a PR changing it)."""
        data: dict[str, Any] = {
            "name": "shunter/config", "head_sha": self.target.head_sha, "status": "completed",
        }
        data.update(check)
        # GitHub takes at most 50 annotations per request (githubkit refuses more before
        # sending, and planning would stop with no check run at all): the first 50 go with
        # the create, the rest in follow-up PATCHes, which GitHub appends
        output: dict[str, Any] = dict(data.get("output") or {})
        annotations = list(output.get("annotations") or [])
        size = limits.MAX_ANNOTATIONS_PER_REQUEST
        if annotations:
            data["output"] = {**output, "annotations": annotations[:size]}
        check_run_id = self._create_check(data)
        for start in range(size, len(annotations), size):
            follow_up = {k: v for k, v in output.items() if k in ("title", "summary")}
            self._update_check(
                check_run_id, {"output": {**follow_up, "annotations": annotations[start : start + size]}}
            )
        self._audit(
            "check_run.create", "check_run", check_run_id, reason_code="config",
            reason=str(check.get("output", {}).get("title", "config")),
        )
        return check_run_id

    def _notices_key(self) -> str:
        return f"shunter:config-notices:{self.target.repo}:{self.target.head_sha}"

    def remember_config_notice(
        self, kind: str, notice: ConfigNotice | None, check_run_id: int | None = None
    ) -> None:
        """Keep (or, once the config is valid again, drop) the summary comment's line about
        a broken config for this head: the planner and the stage jobs know about the
        config, the last stage job writes the comment."""
        if self.target.number is None or self.target.is_merge_group:
            return
        key = self._notices_key()
        if notice is None:
            self.runtime.redis.hdel(key, kind)
            return
        notice = dataclasses.replace(
            notice, check_url=self._check_url(check_run_id), check_run_id=check_run_id
        )
        self.runtime.redis.hset(key, kind, json.dumps(dataclasses.asdict(notice)))
        self.runtime.redis.expire(key, 30 * 24 * 3600)

    def settle_config_check(self, output: dict[str, Any], fixed_in: str | None) -> int | None:
        """The ``shunter/config`` check this head got while the default branch's config was
        broken, concluded with ``output`` (the config is good now), so a PR that requires
        the check is not blocked until its next push; its id, or None when there was none.
        The run is edited, not replaced: a later ``shunter/config`` on the head (the preview
        of a config the PR changes) stays the one in force."""
        raw = self.runtime.redis.hget(self._notices_key(), "default")
        if raw is None:
            return None
        check_run_id = ConfigNotice(**json.loads(raw)).check_run_id
        if check_run_id is None:
            return None
        fixed = f" on the default branch at `{fixed_in[:12]}`" if fixed_in else " on the default branch"
        summary = (
            f"**Fixed{fixed}.** This check failed because the file was broken when this "
            f"commit was checked; it is valid now.\n\n{output.get('summary', '')}"
        )
        self._update_check(check_run_id, {
            "conclusion": output["conclusion"],
            "output": {"title": f"{output.get('title', 'Config is valid')} (fixed)", "summary": summary},
        })
        self._audit(
            "check_run.update", "check_run", check_run_id, reason_code="config_fixed",
            reason=f"the default branch's config is valid again{fixed}",
        )
        return check_run_id

    def _config_notices(self) -> list[ConfigNotice]:
        """The head's config notices, the config in force first."""
        raw = self.runtime.redis.hgetall(self._notices_key())
        notices = [ConfigNotice(**json.loads(value)) for value in raw.values()]
        return sorted(notices, key=lambda n: n.kind != "default")

    # ------------------------------------------------------------------ running
    def start_check(
        self, check_run_id: int, stage: StageName, *, wanted: Callable[[], bool] | None = None
    ) -> DeferredProgress:
        """Arm the check run's ``in_progress`` mark (sent if the stage outlasts the grace
        period, see ``bot.pipeline.progress``); every conclusion below settles it first.

        ``wanted`` is asked just before the mark goes out: a newer push may have had the
        planner (another process) conclude this check as superseded meanwhile, and a late
        ``in_progress`` would reopen it.
        """
        def send(started_at: str) -> None:
            if wanted is not None and not wanted():
                return
            if self._requests_sent(check_run_id):
                return  # a retried job: the verdict is out, and in_progress would reopen it
            self._update_check(check_run_id, {**in_progress_payload(stage), "started_at": started_at})

        progress = DeferredProgress(send, self.runtime.settings.progress_after)
        self._progress[check_run_id] = progress
        return progress

    def mark_in_progress(self, check_run_id: int) -> None:
        """Send the armed ``in_progress`` mark now (a retry is about to wait)."""
        progress = self._progress.get(check_run_id)
        if progress is not None:
            progress.now()

    def _conclude(self, check_run_id: int, payload: dict[str, Any]) -> None:
        """PATCH a concluding payload after the ``in_progress`` mark is settled; carries the
        stage's real start when the mark never went out."""
        progress = self._progress.pop(check_run_id, None)
        started_at = progress.settle() if progress is not None else None
        if started_at is not None:
            payload = {**payload, "started_at": started_at}
        self._update_check(check_run_id, payload)

    def cancel_check(self, check_run_id: int, stage: StageName, new_sha: str) -> None:
        self._conclude(check_run_id, superseded_output(stage, new_sha).update_payload())
        self._audit("check_run.cancel", "check_run", check_run_id, reason_code="superseded",
                    reason=f"superseded by {new_sha}")

    def skip_check(
        self, check_run_id: int, plan: CheckRunPlan, code: str, reason: str, *, run_id: int | None = None
    ) -> None:
        """Conclude a planned stage's check run ``skipped`` (``plan`` says why), audited with
        ``code``: it stopped before publishing anything."""
        self._conclude(check_run_id, plan.update_payload())
        self._audit(
            "check_run.skip", "check_run", check_run_id, reason_code=code, reason=reason, run_id=run_id
        )

    def skip_closed(self, check_run_id: int, stage: StageName, state: str) -> None:
        """The pull request was closed or merged before the stage finished."""
        self.skip_check(check_run_id, closed_output(stage, state), f"pull_request_{state}",
                        f"the pull request was {state} before the stage finished")

    def skip_unmatched(
        self, check_run_id: int, stage: StageName, code: str, reason: str, run_id: int
    ) -> None:
        """None of the changed files is within the stage's ``paths``: ``skipped``, saying so."""
        self.skip_check(check_run_id, skipped_output(stage, reason), code, reason, run_id=run_id)

    def fail_check(self, check_run_id: int, stage: StageName, message: str) -> None:
        """A stage that could not run ends ``neutral`` with the reason, never stuck."""
        try:
            self._conclude(
                check_run_id,
                {
                    "status": "completed",
                    "conclusion": "neutral",
                    "output": {
                        "title": "Shunter could not finish this stage",
                        "summary": f"{message[:60000]}\n\nRe-run the check to try again.",
                    },
                },
            )
        except GitHubError as exc:
            log.warning("could not conclude failed check run", error=str(exc))

    def publish_result(
        self,
        stage: StageName,
        run_id: int,
        check_run_id: int,
        result: StageResult,
        options: StageConfig,
        patches: Patches,
        files: list[ChangedFile],
    ) -> str:
        """Complete the check run with the result and store the run (inline comments are
        :meth:`publish_inline`, once the verdict stands)."""
        dismissed_by: dict[str, str] = {}
        if self.target.number is not None:
            dismissals = self.store.dismissed_findings(self.target.repo, self.target.number)
            dismissed_by = {item.fingerprint: item.by for item in dismissals}
        dismissed = set(dismissed_by)
        plan = check_run_output(
            result, options, details_url=self._details_url(run_id), dismissed=dismissed,
            dismissed_by=dismissed_by, apply_allowed=_apply_allowed(patches, stage), external_id=str(run_id),
        )
        requests = plan.payloads()
        sent = self._send_conclusion(check_run_id, requests)
        if sent:
            self._audit(
                "check_run.complete", "check_run", check_run_id, reason_code=plan.conclusion,
                reason=plan.title, run_id=run_id,
                payload={"annotations": plan.annotated, "requests": len(requests), "sent": sent},
            )
        by_severity: dict[str, int] = {}
        shown = [f for f in result.findings if not f.suppressed and f.fingerprint not in dismissed]
        for finding in shown:
            by_severity[finding.severity.value] = by_severity.get(finding.severity.value, 0) + 1
        self.store.finish_run(
            run_id,
            conclusion=plan.conclusion,
            metrics={
                **result.metrics,
                "notes": result.notes[:20],
                "by_severity": by_severity,
                "patches": sum(1 for p in result.patches if p.files),
                "fixes": offered_fixes(result),
                "can_apply": _apply_allowed(patches, stage),
                "row_note": row_note(result, options.fail_on, dismissed=dismissed),
                # remarks on the whole PR have no inline comment: the summary's row says them
                "remarks": list(pull_request_remarks(shown)),
            },
            findings_count=len(result.findings),
        )
        self._remember_patches(stage, run_id, result)
        self._remember_findings(stage, result)
        return plan.conclusion

    def _sent_key(self, check_run_id: int) -> str:
        return f"shunter:check-sent:{self.target.repo}:{self.target.head_sha}:{check_run_id}"

    def _requests_sent(self, check_run_id: int) -> int:
        """How many of the check run's concluding requests an earlier attempt sent."""
        return int(self.runtime.redis.get(self._sent_key(check_run_id)) or 0)

    def _send_conclusion(self, check_run_id: int, requests: list[dict[str, Any]]) -> int:
        """The concluding PATCH, then the follow-ups carrying the rest of the annotations;
        returns how many were sent now.

        GitHub appends the annotations of every PATCH, so a retried job (the inline review
        or the summary failed after the verdict went out, or the worker died) must not send
        them again: each request sent is counted in Redis, and a retry sends only the rest.
        Check runs are created per plan, so the count never outlives its check run's
        publication.
        """
        done = self._requests_sent(check_run_id)
        if done:  # the armed in_progress mark must not reopen the concluded check run
            progress = self._progress.pop(check_run_id, None)
            if progress is not None:
                progress.settle()
        key = self._sent_key(check_run_id)
        for index, payload in enumerate(requests):
            if index < done:
                continue
            if index == 0:
                self._conclude(check_run_id, payload)
            else:
                self._update_check(check_run_id, payload)
            self.runtime.redis.set(key, index + 1, ex=7 * 24 * 3600)
        return max(len(requests) - done, 0)

    def publish_inline(
        self,
        stage: StageName,
        run_id: int,
        result: StageResult,
        options: StageConfig,
        files: list[ChangedFile],
    ) -> None:
        """Inline review comments, after the verdict is out (:meth:`publish_result`).

        A transient failure re-raises for rq's retry, which publishes nothing twice (the
        check run's requests are counted, fingerprints claimed); anything else is logged:
        the check run is the verdict, comments are a courtesy.
        """
        if self.target.number is None or self.target.is_merge_group:
            return
        try:
            self._inline_comments(stage, run_id, result, options, files)
        except TransientError:
            raise
        except Exception:
            log.exception("inline comments failed")

    def _remember_findings(self, stage: StageName, result: StageResult) -> None:
        """Findings by short id, for ``/shunter explain`` and ``/shunter dismiss``."""
        if self.target.number is None or not result.findings:
            return
        key = f"shunter:findings:{self.target.repo}#{self.target.number}"
        mapping = {f.short_id: f.model_dump_json() for f in result.findings[:500] if f.fingerprint}
        if mapping:
            self.runtime.redis.hset(key, mapping=mapping)
            self.runtime.redis.expire(key, 30 * 24 * 3600)

    def _remember_patches(self, stage: StageName, run_id: int, result: StageResult) -> None:
        """Keep the stage's patch drafts so "Apply fixes" / ``/shunter apply`` can find them.

        This run's drafts replace an earlier run's on the same head, also when there are
        none: a re-run that kept no test (or found nothing to fix) shows no fix in its
        check and the summary, and ``/shunter apply`` must not land the old run's patch.
        Only drafts that change a file are kept, the ones the check and summary count.
        """
        key = f"shunter:patches:{self.target.repo}:{self.target.head_sha}:{stage.value}"
        drafts = [p.model_dump_json() for p in result.patches if p.files]
        pipe = self.runtime.redis.pipeline()
        pipe.delete(key)
        if drafts:
            pipe.rpush(key, *drafts)
            pipe.expire(key, 14 * 24 * 3600)
        pipe.execute()

    def _inline_comments(
        self,
        stage: StageName,
        run_id: int,
        result: StageResult,
        options: StageConfig,
        files: list[ChangedFile],
    ) -> None:
        """One review with the most important new findings; fixed ones marked resolved."""
        number = self.target.number
        assert number is not None
        repo = self.target.repo
        current = {f.fingerprint for f in result.findings}
        stages_key = f"shunter:inline-stage:{repo}#{number}"
        owners = {k.decode(): v.decode() for k, v in self.runtime.redis.hgetall(stages_key).items()}
        mine = [
            c for c in self.store.inline_comments(repo, number) if owners.get(c.fingerprint) == stage.value
        ]
        if any(c.comment_id is None and not c.resolved and c.fingerprint not in current for c in mine):
            self._remember_comment_ids()
            mine = [c for c in self.store.inline_comments(repo, number) if c.fingerprint in owners]
            mine = [c for c in mine if owners.get(c.fingerprint) == stage.value]
        for stale in outdated_comments(mine, current):
            self._resolve_comment(stale)
        uncertain = f"shunter:inline-uncertain:{repo}#{number}:{stage.value}"
        if self.runtime.redis.exists(uncertain):
            # an earlier review POST failed in transit, maybe after GitHub took it: adopt
            # what is on the PR before posting, or each finding could be commented twice
            try:
                self._adopt_posted_comments()
            except GitHubError as exc:
                log.info("could not list review comments; inline comments wait", status=exc.status)
                return
            self.runtime.redis.delete(uncertain)
        posted = self.store.posted_fingerprints(repo, number)
        picks = select_inline_comments(
            result.findings, files, posted, getattr(options, "max_inline_comments", 10)
        )
        if not picks:
            return
        won = self.store.claim_inline_comments(
            repo, number, self.target.head_sha, [(p.fingerprint, p.path, p.line) for p in picks]
        )
        picks = [p for p in picks if p.fingerprint in won]
        if not picks:
            return
        self.runtime.redis.hset(stages_key, mapping={p.fingerprint: stage.value for p in picks})
        self.runtime.redis.expire(stages_key, 90 * 24 * 3600)
        pending = list(picks)  # what is not on the PR yet (a lost answer's review may be)

        def post() -> int:
            return int(
                self.gh.rest.pulls.create_review(
                    self.target.owner,
                    self.target.name,
                    number,
                    data={
                        "commit_id": self.target.head_sha,
                        "event": "COMMENT",
                        "body": f"`{stage.check_name}`: {len(pending)} finding(s) on lines of this diff.",
                        "comments": [p.to_payload() for p in pending],
                    },
                ).parsed_data.id
            )

        def find() -> int | None:
            """Adopt the picks already on the PR; the review's id when none is missing."""
            on_pr = dict(self._our_review_comments())
            review_id = 0
            for pick in [p for p in pending if p.fingerprint in on_pr]:
                comment = on_pr[pick.fingerprint]
                self.store.set_inline_comment_id(repo, number, pick.fingerprint, comment.id)
                review_id = comment.pull_request_review_id or review_id
                pending.remove(pick)
            return None if pending else review_id

        try:
            review_id, adopted = create_once(f"posting review comments on {repo}#{number}", post, find)
        except (GitHubError, TransientError) as exc:
            # give the claims back, or the findings stay "posted" without a comment forever
            self.store.release_inline_comments(repo, number, [p.fingerprint for p in pending])
            if isinstance(exc, TransientError):
                self.runtime.redis.set(uncertain, 1, ex=7 * 24 * 3600)
                raise  # rq's retry posts them
            log.warning("review comments refused", status=exc.status, error=str(exc))
            return
        self._audit("review.create", "review", review_id, reason_code="inline_findings",
                    reason=f"{len(picks)} inline comments", run_id=run_id,
                    payload={"adopted": True} if adopted else None)

    def _our_review_comments(self) -> list[tuple[str, Any]]:
        """Shunter's review comments on the PR with their fingerprints, every page (a busy
        PR has more than 100 review comments, and ours come last)."""
        assert self.target.number is not None
        bot = (self.runtime.bot_login or "").casefold()
        found: list[tuple[str, Any]] = []
        with translate_errors("listing review comments"):
            for comment in self.gh.rest.paginate(
                self.gh.rest.pulls.list_review_comments,
                owner=self.target.owner, repo=self.target.name, pull_number=self.target.number,
                per_page=100,
            ):
                fingerprint = fingerprint_in_comment(comment.body or "")
                author = (comment.user.login if comment.user else "").casefold()
                if fingerprint and (not bot or author == bot):
                    found.append((fingerprint, comment))
        return found

    def _remember_comment_ids(self) -> None:
        """Learn the ids of our review comments from their bodies' fingerprint markers.

        Done lazily, only when a finding was fixed and its comment must be marked, so
        posting a review costs one request.
        """
        assert self.target.number is not None
        try:
            comments = self._our_review_comments()
        except GitHubError as exc:
            log.info("could not list review comments", status=exc.status)
            return
        for fingerprint, comment in comments:
            self.store.set_inline_comment_id(self.target.repo, self.target.number, fingerprint, comment.id)

    def _adopt_posted_comments(self) -> None:
        """Record every inline comment of ours found on the PR (claim and id)."""
        assert self.target.number is not None
        repo, number = self.target.repo, self.target.number
        for fingerprint, comment in self._our_review_comments():
            if not self.store.record_inline_comment(
                repo, number, fingerprint, comment_id=comment.id,
                head_sha=comment.commit_id or self.target.head_sha, path=comment.path,
                line=comment.line or comment.original_line or 0,
            ):
                self.store.set_inline_comment_id(repo, number, fingerprint, comment.id)

    def _resolve_comment(self, stale: Any) -> None:
        """A later push fixed the finding: say so on the comment and remember it."""
        assert self.target.number is not None
        try:
            with translate_errors("marking a review comment resolved"):
                comment = self.gh.rest.pulls.get_review_comment(
                    self.target.owner, self.target.name, stale.comment_id
                ).parsed_data
                self.gh.rest.pulls.update_review_comment(
                    self.target.owner, self.target.name, stale.comment_id,
                    data={"body": resolved_comment_body(comment.body, self.target.head_sha)},
                )
        except GitHubError as exc:
            log.info("could not mark comment resolved", status=exc.status)
        self.store.mark_inline_resolved(self.target.repo, self.target.number, [stale.fingerprint])
        self._audit("comment.resolve", "review_comment", stale.comment_id, reason_code="fixed",
                    reason=f"finding fixed in {self.target.head_sha}")

    # ------------------------------------------------------------------ summary
    def update_summary(self) -> None:
        """Create or edit the one summary comment of the PR (never a second one).

        Of a push's stage jobs only the last to finish calls it: the
        check runs already show each stage's verdict as it lands, and a comment created
        with half the table would notify everyone on the PR with half the story (GitHub
        mails new comments, not edits). One request per push instead of one per stage.
        When a stage is slow, a job scheduled at the first conclusion writes the table
        ``summary_patience`` seconds later with the stages still running
        (``stage_job.patient_summary_job``), and the last stage edits it.
        """
        number = self.target.number
        if number is None:
            return
        # one writer at a time per PR, each reading the rows inside the lock: the last
        # write always carries the newest results (a patient summary job and the last
        # stage can finish together)
        with self.runtime.redis.lock(
            f"shunter:summary-lock:{self.target.repo}#{number}", timeout=60, blocking_timeout=30
        ):
            self._write_summary(number)

    def _write_summary(self, number: int) -> None:
        repo = self.target.repo
        rows = self._summary_rows()
        state = self.store.pull_state(repo, number)
        notices = self._config_notices()
        body = summary_comment_body(
            repo, number, rows, head_sha=self.target.head_sha, paused=state.paused,
            paused_by=state.paused_by, recent_commands=state.recent_commands,
            config_notices=notices,
        )
        self._send_summary(number, body)
        self._track_default_notice(number, any(n.kind == "default" for n in notices))

    def _track_default_notice(self, number: int, shown: bool) -> None:
        """Remember which PRs' summaries say the default branch's config is broken: once it
        is fixed, exactly those are rewritten (``bot.pipeline.config_notices``), not every
        open PR's, and none of them waits for its next push to stop saying so."""
        key = noticed_summaries_key(self.target.repo)
        if shown:
            self.runtime.redis.hset(
                key, str(number), self.target.model_dump_json(exclude={"body", "title", "labels"})
            )
            self.runtime.redis.expire(key, 30 * 24 * 3600)
        else:
            self.runtime.redis.hdel(key, str(number))

    def _send_summary(self, number: int, body: str) -> None:
        repo = self.target.repo
        comment_id = self.store.get_summary_comment_id(repo, number)
        if comment_id is None:
            comment_id = self._create_summary(number, body, look=self.target.trigger != "opened")
            if comment_id is None:
                return  # created with this body, or the claimant writes it (our rows are stored)
        if self._edit_summary(comment_id, body):
            return
        # someone deleted the comment on GitHub: without a new one the PR would never see
        # a summary again (every later push edits the remembered id and gets 404)
        log.info("summary comment was deleted; posting a new one", comment_id=comment_id)
        self.store.forget_summary_comment(repo, number)
        comment_id = self._create_summary(number, body, look=False)
        if comment_id is not None:
            self._edit_summary(comment_id, body)

    def _summary_worker(self) -> str:
        """Who claims the summary: the rq job, so its retry may take its own claim back
        (a worker killed between claim and create leaves no stale claim for 5 minutes)."""
        job = get_current_job()
        return f"job:{job.id}" if job is not None else f"{id(self)}-{time.time()}"

    def _create_summary(self, number: int, body: str, *, look: bool) -> int | None:
        """Claim and create the summary comment; returns the id to edit instead when
        another worker created it or one was found on the PR, None when done (or when
        another worker holds the claim and will write it).

        ``look``: search the PR for an existing summary first (after a lost store). The
        search also runs after a create that failed with a transient error: GitHub may
        have posted the comment before the connection broke, and a blind retry would post
        a second one; so the create itself is never re-sent without that search
        (:func:`create_once`), and the job's retry searches first. A failed create gives
        the claim back, so the retry (or the next push) can post at once instead of
        waiting for the claim to go stale.
        """
        repo = self.target.repo
        worker = self._summary_worker()
        if not self.store.claim_summary_comment(repo, number, worker):
            return self._wait_for_summary_id()
        uncertain = f"shunter:summary-uncertain:{repo}#{number}"
        try:
            if look or self.runtime.redis.exists(uncertain):
                found = self._find_existing_summary()
                if found is not None:
                    self.store.set_summary_comment_id(repo, number, found, worker)
                    self.runtime.redis.delete(uncertain)
                    return found
            try:
                comment_id, adopted = create_once(
                    f"creating the summary comment on {repo}#{number}",
                    lambda: int(
                        self.gh.rest.issues.create_comment(
                            self.target.owner, self.target.name, number, data={"body": body}
                        ).parsed_data.id
                    ),
                    self._find_existing_summary,
                )
            except TransientError:
                self.runtime.redis.set(uncertain, 1, ex=7 * 24 * 3600)
                raise
        except (GitHubError, TransientError):
            self.store.release_summary_claim(repo, number, worker)
            raise
        self.store.set_summary_comment_id(repo, number, comment_id, worker)
        self.runtime.redis.delete(uncertain)
        if adopted:  # found after a lost answer: edit it, it may be an older one
            return comment_id
        self._audit("comment.create", "comment", comment_id, reason_code="summary")
        return None

    def _edit_summary(self, comment_id: int, body: str) -> bool:
        """Edit the summary comment; False when it is gone (404)."""
        try:
            with translate_errors(f"updating the summary comment on {self.target.repo}#{self.target.number}"):
                self.gh.rest.issues.update_comment(
                    self.target.owner, self.target.name, comment_id, data={"body": body}
                )
        except GitHubError as exc:
            if exc.status == 404:
                return False
            raise
        self._audit("comment.update", "comment", comment_id, reason_code="summary")
        return True

    def _find_existing_summary(self) -> int | None:
        """After a lost store (new database) or a create's lost answer, the summary comment
        already on the PR, to adopt."""
        number = self.target.number
        assert number is not None
        with translate_errors("listing PR comments"):
            # page by page until the oldest match (a busy PR has more than 100 comments)
            comments = self.gh.rest.paginate(
                self.gh.rest.issues.list_comments,
                owner=self.target.owner, repo=self.target.name, issue_number=number, per_page=100,
            )
            found = find_summary_comment(comments, self.runtime.bot_login or "")
        return int(found.id) if found else None

    def _wait_for_summary_id(self) -> int | None:
        assert self.target.number is not None
        for _ in range(50):
            comment_id = self.store.get_summary_comment_id(self.target.repo, self.target.number)
            if comment_id is not None:
                return comment_id
            time.sleep(0.1)
        return None

    def _summary_rows(self) -> list[StageRow]:
        assert self.target.number is not None
        rows = []
        latest = self.store.latest_runs(self.target.repo, self.target.number)
        for _, run in sorted(latest.items()):
            metrics = run.metrics if isinstance(run.metrics, dict) else {}
            counts = metrics.get("by_severity", {})
            rows.append(
                StageRow(
                    stage=run.stage,
                    status=run.status,
                    conclusion=run.conclusion,
                    errors=int(counts.get("error", 0)),
                    warnings=int(counts.get("warning", 0)),
                    notices=int(counts.get("notice", 0)),
                    # runs recorded before "fixes" was kept counted patches
                    fixes=int(metrics.get("fixes", metrics.get("patches")) or 0),
                    can_apply=bool(metrics.get("can_apply", True)),
                    check_url=self._check_url(run.check_run_id),
                    note=_row_note(run.conclusion, metrics),
                    remarks=tuple(str(r) for r in metrics.get("remarks") or ()),
                )
            )
        return rows

    def _check_url(self, check_run_id: int | None) -> str | None:
        if check_run_id is None:
            return None
        return f"{web_root(self.runtime.settings.github_url)}/{self.target.repo}/runs/{check_run_id}"


def noticed_summaries_key(repo: str) -> str:
    """The hash of ``repo``'s PRs (number to their ``Target`` as JSON) whose summary comment
    last said that the default branch's config is broken."""
    return f"shunter:config-noticed:{repo}"


def _row_note(conclusion: str | None, metrics: dict[str, Any]) -> str | None:
    """The reason the stage's run recorded for its row, for the conclusion it recorded it
    with (a re-run or a dismissal concludes the run again)."""
    note = metrics.get("row_note")
    shown = conclusion in {"success", "neutral", "skipped"}
    return note if isinstance(note, str) and note and shown else None


def _apply_allowed(patches: Patches, stage: StageName) -> bool:
    """The "Apply fixes" button shows only when policy lets this stage's patches land."""
    return getattr(patches.auto_apply, stage.value) != "never"
