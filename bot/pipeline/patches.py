"""From "Apply fixes" / ``/shunter apply`` / ``auto_apply: always`` to a commit on the branch.

The stage's patch drafts for the head are turned into ``ChangeRequest``s, judged by the
policy (``may_apply_change``: never / on command / always, guardrails that need a
maintainer's ``/shunter approve``), validated against the head tree and the App's
permissions, and queued in the per-branch merge queue. A ``merge`` job then lands them
(3-way apply, compare-and-swap push) and edits the command's reply with the commit link —
or with what conflicted and how to retry. Every step leaves an audit event.

What these steps create on GitHub (the suggestions review, the follow-up branch and pull
request, a landing report) is never created twice when GitHub loses a create's answer (a 502
after the write, a dropped connection): :func:`~bot.github.client.create_once` looks for it
first, by a hidden nonce in its text, by the branch's sha, by the pull request's head and
base. A branch or pull request GitHub says exists already is taken only when it is the one
Shunter meant to make.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from rq import get_current_job

from bot.changes.model import Approval, ChangeRequest
from bot.changes.outcomes import DeadLetter, LandingReport
from bot.changes.replies import ReplyLine, dead_letter_reply, landed_reply, set_aside_reply
from bot.changes.route import Route, RouteDecision, decide_route
from bot.changes.triggers import priority_for
from bot.commands.finding_ids import MIN_PREFIX
from bot.commands.parse import COMMANDS, Command
from bot.errors import ChangeRejected, GitHubError, ShunterError
from bot.git.apply import Pygit2BaseTree, below_own_commits
from bot.git.push import GitRemote, leased_push
from bot.git.workspace import open_workspace
from bot.github.client import create_once, translate_errors
from bot.github.hosts import web_root
from bot.logs import get_logger
from bot.models import PatchDraft, StageName
from bot.pipeline.facts import Target
from bot.policies.decisions import APPROVAL_GUARDRAILS, may_apply_change
from bot.policies.schema import PERMISSION_RANK, Patches
from bot.queue import pr_changes
from bot.queue.jobs import MERGE, queue, safe_id
from bot.queue.merge import MergeQueue, queue_name, unreadable_problem
from bot.wording import path_code, plural, prose_text, shown_path, typed_code

log = get_logger(__name__)
FORK_DELETED = "the fork this pull request came from was deleted, so its branch no longer exists to push to"
PENDING_TTL = pr_changes.RECORD_TTL
SUGGESTIONS_NONCE = "shunter:suggestions-nonce"
REPORT_NONCE = "shunter:report-nonce"


# ---------------------------------------------------------------------- stored drafts
def stored_drafts(redis: Any, target: Target, stage: StageName) -> list[PatchDraft]:
    raw = redis.lrange(f"shunter:patches:{target.repo}:{target.head_sha}:{stage.value}", 0, -1)
    return [PatchDraft.model_validate_json(item) for item in raw]


def _lines_changed(draft: PatchDraft) -> int:
    return sum(
        1
        for f in draft.files
        for line in f.diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    )


def app_permissions(runtime: Any, installation_id: int) -> dict[str, str]:
    """What the App was granted on this installation (cached): checked before queueing."""
    key = f"shunter:app-perms:{installation_id}"
    cached = runtime.redis.get(key)
    if cached:
        return dict(json.loads(cached))
    with translate_errors("reading the installation's permissions"):
        inst = runtime.github.app().rest.apps.get_installation(installation_id).json()
    perms = {k: str(v) for k, v in (inst.get("permissions") or {}).items()}
    runtime.redis.set(key, json.dumps(perms), ex=600)
    return perms


# ---------------------------------------------------------------------- submitting
def submit_drafts(
    runtime: Any,
    target: Target,
    drafts: list[PatchDraft],
    policy: Any,
    *,
    requester: str,
    permission: str,
    trigger: str,
    reply: tuple[str, int | None, int | None],
    requester_email: str | None = None,
) -> list[ReplyLine]:
    """Judge, validate and queue each draft; return one sentence per draft for the reply,
    each saying whether it is good news.

    ``requester_email`` is the address the commit's ``Co-authored-by`` trailer credits the
    requester with (:func:`requester_address`).

    ``reply`` is (repo, PR number, reply comment id) for the landing report.
    """
    patches: Patches = policy.patches
    route = decide_route(
        base_repo=target.repo,
        head_repo=_head_repo(target),
        head_branch=target.head_ref or "",
        maintainer_can_modify=target.maintainer_can_modify,
        push_to=patches.push_to,
    )
    if target.from_fork and not target.head_clone_url:
        # GitHub sends ``head.repo: null`` once the fork is deleted: its branch is gone, and
        # the base repository's branch of the same name (if any) is someone else's
        route = RouteDecision(Route.SUGGESTIONS, target.repo, route.branch, FORK_DELETED)
    branch = route.branch
    follow_up = (
        route.route is Route.FOLLOW_UP_PR and route.repo.lower() == target.repo.lower() and target.head_ref
    )
    if not follow_up and not route.uses_queue:
        return [
            ReplyLine(
                f"Shunter cannot push to this branch: {route.reason}. "
                + _post_suggestions(runtime, target, drafts),
                ok=False,
            )
        ]
    token = runtime.github.installation_token(target.installation_id)
    ws = open_workspace(runtime.settings.data_dir, target.repo, target.clone_url, token=token)
    if target.number is not None:
        ws.fetch_pull_request(target.number, base_branch=target.base_ref)
    lines: list[ReplyLine] = []
    if follow_up:
        branch, moved = _follow_up_branch(runtime, target, ws)
        lines.extend([ReplyLine(moved, ok=True)] if moved else [])
    base = Pygit2BaseTree(ws.repo, target.head_sha)
    granted = app_permissions(runtime, target.installation_id)
    mq = MergeQueue(runtime.redis)
    queued = 0
    for draft in drafts:
        title = prose_text(draft.title)  # it may name a file: no markup, no pings
        cr = ChangeRequest.from_draft(
            draft,
            repo=route.repo,
            branch=branch,
            head_sha=target.head_sha,
            requester=requester,
            requester_email=requester_email,
            priority=priority_for(requested_by_person=trigger != "auto", permission=permission),
            pull_number=target.number,
            pull_repo=target.repo,
        )
        decision = may_apply_change(
            policy,
            draft.stage.value,
            trigger,  # type: ignore[arg-type]
            paths=cr.paths,  # what validation checks: a rename counts both names
            lines_changed=_lines_changed(draft),
        )
        audit_change(runtime, target, "change.requested", cr.id, decision.code, decision.message)
        if not decision.allowed and decision.needs_approval:
            asked = runtime.store.now()
            until = approvable_until(asked)
            _remember(runtime, cr, reply, pending=True, waits=(decision.message, asked))
            text = (
                f"**{title}** (`{cr.id}`) waits for approval. {decision.message} "
                f"A maintainer can comment `/shunter approve {cr.id}` until {until}."
            )
            lines.append(ReplyLine(text, ok=True))
            continue
        if not decision.allowed:
            lines.append(ReplyLine(f"**{title}**: not applied. {decision.message}", ok=False))
            continue
        try:
            result = mq.submit(cr, base, patches, granted)
        except ChangeRejected as exc:
            audit_change(runtime, target, "change.rejected", cr.id, exc.reason, str(exc))
            text = f"**{title}** (`{cr.id}`): rejected ({exc.reason}). {exc.shown(authored_code)}"
            lines.append(ReplyLine(text, ok=False))
            continue
        _remember(runtime, cr, reply, pending=False)
        if route.route is Route.FORK:
            _remember_fork_route(runtime, route.repo, target)
        queued += 1
        state = "queued" if result.created else f"already {result.state}"
        lines.append(ReplyLine(f"**{title}** (`{cr.id}`): {state} for {authored_code(branch)}.", ok=True))
    if queued:
        enqueue_merge_job(runtime, target)
    return lines


def authored_code(value: str) -> str:
    """A value a refusal names that the change's author chose (a file name, a branch, a line
    of the diff) as code in a reply: quoted as git quotes a name (a line break stays
    visible), one code span nothing in it can break, no mention that pings."""
    return typed_code(shown_path(value), max_chars=300)


def _remember_fork_route(runtime: Any, fork: str, target: Target) -> None:
    """How the merge worker reaches ``fork``: the App lives on the base repository, and
    GitHub lets its token push to the fork's PR branch because the author allowed edits
    from maintainers. Written for every change bound for a fork, approved ones included."""
    runtime.redis.set(
        f"shunter:push-via:{fork}",
        json.dumps({"installation_id": target.installation_id, "clone_url": target.head_clone_url}),
        ex=PENDING_TTL,
    )


def _post_suggestions(runtime: Any, target: Target, drafts: list[PatchDraft]) -> str:
    """The fallback for branches Shunter may not push to: one review, a suggestion a hunk."""
    from bot.publishing.patch_suggestions import suggestions_from_drafts

    token = runtime.github.installation_token(target.installation_id)
    ws = open_workspace(runtime.settings.data_dir, target.repo, target.clone_url, token=token)
    assert target.number is not None
    ws.fetch_pull_request(target.number, base_branch=target.base_ref)
    files = ws.context_for(f"refs/heads/{target.base_ref}", target.head_sha).files
    suggestions, skipped = suggestions_from_drafts(drafts, files)
    left_out = (
        f" {plural(skipped, 'change')} {'touches' if skipped == 1 else 'touch'} lines outside this "
        f"PR's diff and {'is' if skipped == 1 else 'are'} not shown."
        if skipped
        else ""
    )
    if not suggestions:
        return "None of the fixes touch lines of this PR's diff, so none can be suggested." + left_out
    gh = runtime.github.installation(target.installation_id)
    number = target.number
    nonce = _nonce(SUGGESTIONS_NONCE)
    review_id, _ = create_once(
        "posting the fixes as suggestions",
        lambda: int(
            gh.rest.pulls.create_review(
                target.owner,
                target.name,
                number,
                data={
                    "commit_id": target.head_sha,
                    "event": "COMMENT",
                    "body": f"Shunter's fixes as suggestions: apply them with “Commit suggestion”.{nonce}",
                    "comments": [s.to_payload() for s in suggestions],
                },
            ).parsed_data.id
        ),
        lambda: _find_written(
            runtime, gh, gh.rest.pulls.list_reviews, nonce,
            owner=target.owner, repo=target.name, pull_number=number,
        ),
    )
    posted = f"{len(suggestions)} suggestions"
    audit_change(runtime, target, "review.create", str(review_id), "suggestions", posted)
    return f"The fixes are posted as {plural(len(suggestions), 'suggestion')} in a review instead.{left_out}"


def _follow_up_branch(runtime: Any, target: Target, ws: Any) -> tuple[str, str | None]:
    """``patches.push_to: pull_request``: fixes go to ``shunter/<head>-fixes``, started at the
    PR's head; a pull request against the PR's branch is opened when the first one lands.
    Returns the branch, and a sentence for the reply when Shunter had to move it to the
    PR's new head."""
    branch = follow_up_branch_name(target.head_ref or "")
    gh = runtime.github.installation(target.installation_id)
    moved = None

    def at_head() -> str | None:
        return target.head_sha if _branch_sha(gh, target, branch) == target.head_sha else None

    try:
        create_once(
            f"creating branch {branch}",
            lambda: gh.rest.git.create_ref(
                target.owner, target.name, data={"ref": f"refs/heads/{branch}", "sha": target.head_sha}
            ),
            at_head,
        )
    except GitHubError as exc:
        if exc.status != 422:
            raise
        moved = _take_existing_branch(runtime, gh, target, ws, branch, exc)
    # ``start``: the PR head Shunter's commits on the branch were made on
    runtime.redis.set(
        _follow_up_key(target.repo, branch),
        json.dumps({"base": target.head_ref, "pr": target.number, "start": target.head_sha}),
        ex=PENDING_TTL,
    )
    runtime.redis.expire(_pushed_key(target.repo, branch), PENDING_TTL)
    why = "follow-up branch for fixes"
    audit_change(runtime, target, "branch.create", branch, "push_to_pull_request", why)
    return branch, moved


def follow_up_branch_name(head_ref: str) -> str:
    return f"shunter/{head_ref}-fixes"


def _follow_up_key(repo: str, branch: str) -> str:
    return f"shunter:followup:{repo}:{branch}"


def _pushed_key(repo: str, branch: str) -> str:
    """The commits Shunter pushed to its follow-up ``branch``: the only ones a move to the
    PR's new head may leave behind (a trailer can be on a person's amended copy)."""
    return f"shunter:followup-commits:{repo}:{branch}"


def _branch_sha(gh: Any, target: Target, branch: str) -> str | None:
    """Where ``branch`` of the PR's repository points now, or None when there is none."""
    try:
        with translate_errors(f"reading branch {branch}"):
            ref = gh.rest.git.get_ref(
                target.owner, target.name, f"heads/{branch}", headers={"Cache-Control": "no-cache"}
            ).parsed_data
    except GitHubError as exc:
        if exc.status == 404:
            return None
        raise
    return str(ref.object_.sha)


def _take_existing_branch(
    runtime: Any, gh: Any, target: Target, ws: Any, branch: str, refused: GitHubError
) -> str | None:
    """GitHub refused to create the follow-up branch (422): carry on with the one that is
    there only when Shunter made it, for this head (a create whose answer was lost) or for
    an earlier apply on a PR from the same branch (remembered in Redis). Another branch of
    that name is someone's work: the fixes are not pushed onto it, and the reply says so.
    Any other 422 (no such commit, say) is the refusal it is.

    Shunter's branch made for an earlier head of the PR is moved to this one
    (:func:`_move_to_head`); returns what the reply should say about that."""
    sha = _branch_sha(gh, target, branch)
    if sha is None:
        raise refused
    if sha == target.head_sha:
        return None
    raw = runtime.redis.get(_follow_up_key(target.repo, branch))
    if raw is None:
        raise GitHubError(
            f"branch {branch} already exists and Shunter did not make it for this pull request's "
            "fixes, so they are not pushed there",
            status=422,
            hint=f"delete or rename {branch}, then ask again with /shunter apply",
        )
    return _move_to_head(runtime, gh, target, ws, branch, json.loads(raw))


def _move_to_head(
    runtime: Any, gh: Any, target: Target, ws: Any, branch: str, info: dict[str, Any]
) -> str | None:
    """Make Shunter's follow-up ``branch`` hold the PR's head, which the changes are computed
    on (without it, the merge queue finds their base missing and drops them).

    After the author pushed (or force-pushed) the PR, the branch holds Shunter's fixes for
    an older head. It is moved to the new head only when every commit it has above that
    older head is Shunter's own (its trailer says so): those fixes are made again from the
    new head's patches. A person's commit on it is never dropped: the reply says what to do
    instead. The move is a compare-and-swap on the sha just read (git's lease), so a push
    that lands meanwhile is not overwritten either."""
    remote = GitRemote(url=target.clone_url, token=ws.token)
    tip = ws.fetch_branch(branch)
    head = target.head_sha
    if tip is None or tip == head or ws.repo.descendant_of(tip, head):
        return None  # gone meanwhile (the push will say so), or it already holds the head
    pushed = {sha.decode() for sha in runtime.redis.smembers(_pushed_key(target.repo, branch))}
    count, below = below_own_commits(ws.repo, tip, pushed=pushed)
    earlier_head = below is not None and (
        below == info.get("start") or below == head or ws.repo.descendant_of(head, below)
    )
    if not earlier_head:
        where = f" ({below[:12]})" if below else ""
        raise GitHubError(
            f"branch {branch} does not hold this pull request's head {head[:12]}, and it has "
            f"commits Shunter did not make{where}, so Shunter neither moves it nor pushes there",
            status=409,
            hint=f"merge {branch} into {target.head_ref} or delete it, then ask again with /shunter apply",
        )
    outcome = leased_push(ws.repo, remote, branch, head, tip)
    if outcome.status != "landed":
        raise GitHubError(
            f"branch {branch} moved while Shunter was updating it ({outcome.detail}), so it was "
            "left as it is",
            status=409,
            hint="ask again with /shunter apply",
        )
    detail = f"{tip[:12]} -> {head[:12]}, {plural(count, 'own commit')} left behind"
    audit_change(runtime, target, "branch.move", branch, "head_moved", detail)
    closed = _forget_closed_follow_up(runtime, gh, target, branch)
    dropped = (
        f"its {plural(count, 'commit')} of fixes for an earlier head {'is' if count == 1 else 'are'}"
        if count
        else "nothing is"
    )
    return (
        f"Moved {authored_code(branch)} from `{tip[:7]}` to this pull request's head `{head[:7]}`: "
        f"it held only Shunter's own work, and {dropped} made again from the new head's fixes.{closed}"
    )


def _forget_closed_follow_up(runtime: Any, gh: Any, target: Target, branch: str) -> str:
    """After a move: a follow-up pull request that is no longer open is forgotten, so the
    next landing opens a new one instead of pointing at it."""
    key = f"shunter:followup-pr:{target.repo}:{branch}"
    known = runtime.redis.get(key)
    if not known:
        return ""
    with translate_errors("reading the follow-up pull request"):
        pull = gh.rest.pulls.get(target.owner, target.name, int(known)).parsed_data
    if pull.state == "open":
        return f" Pull request #{int(known)} shows them."
    runtime.redis.delete(key)
    return f" Pull request #{int(known)} is closed, so a new one is opened when they land."


def _nonce(kind: str) -> str:
    """A hidden, unique mark for a text Shunter is about to post, by which a create whose
    answer GitHub lost is found again."""
    return f"<!-- {kind} {uuid.uuid4().hex} -->"


def _find_written(
    runtime: Any, gh: Any, list_items: Callable[..., Any], nonce: str, **where: Any
) -> int | None:
    """The id of the item (an issue comment, a review) Shunter wrote with ``nonce`` in it,
    from every page of ``list_items``."""
    bot = (runtime.bot_login or "").casefold()
    for item in gh.rest.paginate(list_items, per_page=100, **where):
        author = (item.user.login if item.user else "").casefold()
        if nonce in (item.body or "") and (not bot or author == bot):
            return int(item.id)
    return None


def _head_repo(target: Target) -> str:
    if not target.from_fork or not target.head_clone_url:
        return target.repo
    path = target.head_clone_url.rstrip("/").removesuffix(".git").split("/")
    return "/".join(path[-2:])


def _remember(
    runtime: Any,
    cr: ChangeRequest,
    reply: tuple[str, int | None, int | None],
    *,
    pending: bool,
    waits: tuple[str, datetime] | None = None,
) -> None:
    """Keep the record of ``cr`` (see :func:`_keep_record`). A change waiting for approval
    (``pending``) keeps its request, what it waits for and when it was asked (``waits``),
    and is listed in its pull request's index of waiting changes for ``/shunter queue``;
    any other leaves that index (and the dropped one: it is asked for again)."""
    repo, number, reply_id = reply
    data: dict[str, Any] = {"repo": repo, "pr": number, "reply_id": reply_id}
    if pending:
        data["cr"] = cr.model_dump(mode="json")
    if waits is not None:
        data["waits_for"], data["asked"] = waits[0], waits[1].isoformat()
    _keep_record(runtime, cr.id, data)
    if number is None:
        return
    if pending and waits is not None:
        pr_changes.note(runtime.redis, "waiting", repo, number, cr.id, approval_deadline(waits[1]))
    else:
        pr_changes.forget(runtime.redis, repo, number, cr.id)


def _keep_record(runtime: Any, change_id: str, data: dict[str, Any]) -> None:
    """Write the record of a change (where it was proposed, the reply to edit) for another
    ``PENDING_TTL``: written again whenever a command puts the change back in the queue."""
    runtime.redis.set(pr_changes.record_key(change_id), json.dumps(data), ex=PENDING_TTL)


def proposed_here(runtime: Any, change_id: str, target: Target) -> dict[str, Any] | None:
    """What ``_remember`` kept about a change proposed on ``target``'s pull request, or
    None for one proposed anywhere else (or forgotten).

    Change ids are public (they are in the PR's replies) and the key is global, so without
    this check anyone who can install the App could approve or retry a change of another
    repository from a PR of their own, with their own permission there.

    The record expires (``PENDING_TTL``) while the change may still be in the merge queue
    (a dead letter stays until someone retries or drops it): then the change's own stored
    request says where it was proposed (:func:`proposed_on`), and the record that would
    have been kept, without a reply to edit, is returned.
    """
    raw = runtime.redis.get(pr_changes.record_key(change_id))
    if raw is None:
        entry = MergeQueue(runtime.redis).get(change_id)
        if entry is None or entry.cr is None:
            return None
        here = proposed_on(entry.cr, target.repo, target.number, _head_repo(target))
        return {"repo": target.repo, "pr": target.number, "reply_id": None} if here else None
    info = _json_object(raw)
    if info.get("repo") != target.repo or info.get("pr") != target.number:
        return None
    return info


def approvable_until(asked: datetime) -> str:
    """When a change asked for at ``asked`` can no longer be approved: its record (the only
    copy of a change waiting for approval) expires ``PENDING_TTL`` later. Said in the
    waiting reply so it does not promise an approval that would find nothing."""
    return _utc(approval_deadline(asked))


def approval_deadline(asked: datetime) -> datetime:
    """The moment a change asked for at ``asked`` can no longer be approved (UTC)."""
    moment = asked if asked.tzinfo else asked.replace(tzinfo=UTC)
    return moment.astimezone(UTC) + timedelta(seconds=PENDING_TTL)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _expired_here(runtime: Any, change_id: str, target: Target) -> str | None:
    """When the record of a change proposed on ``target``'s pull request expired (as
    :func:`approvable_until` says), found by its ``change.requested`` audit event, which
    is kept after the record; None for an id never proposed there."""
    events = runtime.store.audit_events(repo=target.repo, pr=target.number)
    mine = [e for e in events if e.target_id == change_id and e.target_type == "change_request"]
    if any(e.action == "change.approved" for e in mine):
        return None  # approved: it was queued, not left waiting
    asked = [e.at for e in mine if e.action == "change.requested" and e.reason_code in APPROVAL_GUARDRAILS]
    return approvable_until(asked[-1]) if asked else None


def _dropped_reply(change_id: str, dropped: dict[str, Any]) -> str:
    """``/shunter retry`` or ``approve`` of a change that was dropped (``shunter queue
    drop``, or its pull request closed): said as such, rather than "not found" or the
    queue's "no entry"."""
    return (
        f"{typed_code(change_id, max_chars=40)} was dropped from the merge queue "
        f"{dropped_because(dropped)}{_on_date(dropped)}, so it cannot be retried or approved. "
        "To ask again, press **Apply fixes** on the check run or comment `/shunter apply`."
    )


def dropped_because(dropped: dict[str, Any]) -> str:
    """What dropped a change, as its record says (records from before causes were kept
    were all dropped by an operator)."""
    cause = dropped.get("cause")
    if cause in ("closed", "merged"):
        return f"when the pull request was {cause}"
    return "by an operator"


def _on_date(dropped: dict[str, Any]) -> str:
    try:
        return f" on {_utc(datetime.fromisoformat(str(dropped.get('at'))))}"
    except ValueError:
        return ""


def _expired_reply(change_id: str, until: str) -> str:
    return (
        f"{typed_code(change_id, max_chars=40)} could be approved until {until}; Shunter "
        f"keeps a change waiting for approval {PENDING_TTL // 86400} days, and this one "
        "has expired. To ask again, press **Apply fixes** on the check run or comment "
        "`/shunter apply`: a change that still needs approval waits for it again."
    )


def proposed_on(cr: ChangeRequest, repo: str, number: int | None, head_repo: str) -> bool:
    """Whether ``cr`` was proposed on pull request ``number`` of ``repo`` (whose head
    branch lives in ``head_repo``), by what the change itself says.

    A change queued before ``origin.repo`` was kept names only the repository it lands in:
    the pull request's own, or its head's (a fork's pull request)."""
    if number is None or cr.origin.pull_number != number:
        return False
    if cr.origin.repo is not None:
        return cr.origin.repo == repo
    return cr.repo in {repo, head_repo}


def audit_change(
    runtime: Any,
    target: Target,
    action: str,
    change_id: str,
    code: str,
    reason: str,
    *,
    delivery_id: str | None = None,
) -> None:
    """Record what Shunter did with a change of ``target``'s pull request."""
    runtime.store.record_audit(
        repo=target.repo,
        pr=target.number,
        actor="shunter",
        action=action,
        target_type="change_request",
        target_id=change_id,
        installation_id=target.installation_id,
        delivery_id=delivery_id,
        reason_code=code,
        reason=reason,
    )


def enqueue_merge_job(runtime: Any, target: Target) -> None:
    wake_merge_queue(runtime.redis, why=target.repo)


# ---------------------------------------------------------------------- landing
class GitHubHooks:
    """Tell the PR what happened: edit the command's reply, audit, remember applied findings."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def before_push(self, claim: Any, commit_sha: str) -> None:
        return None

    def withdrawn(self, changes: list[ChangeRequest]) -> dict[str, str]:
        """The changes whose pull request was closed or merged while this worker held them."""
        from bot.pipeline.closed_pulls import withdrawn

        return withdrawn(self.runtime, changes)

    def dropped(self, change: ChangeRequest, why: str) -> None:
        from bot.pipeline.closed_pulls import dropped_by_worker

        dropped_by_worker(self.runtime, change, why)

    def after_push(self, claim: Any, landed_sha: str) -> None:
        self._remember_pushed(claim.repo, claim.branch, [landed_sha])

    def _remember_pushed(self, repo: str, branch: str, shas: list[str]) -> None:
        """Note the commits Shunter put on a follow-up branch (see ``_pushed_key``)."""
        if not shas or not self.runtime.redis.exists(_follow_up_key(repo, branch)):
            return
        key = _pushed_key(repo, branch)
        self.runtime.redis.sadd(key, *shas)
        self.runtime.redis.expire(key, PENDING_TTL)

    def landed(self, report: LandingReport) -> None:
        # a push whose answer was lost, found on the retry, is Shunter's as much
        self._remember_pushed(report.repo, report.branch, sorted(report.confirmed))
        text = landed_reply(report, web_root(self.runtime.settings.github_url))
        follow_up = self._follow_up_pull(report)
        if follow_up:
            text += f"\n\n{follow_up}"
        # one message per place: each command's reply is edited once, and the changes that
        # have no reply (auto-apply) share one report per PR, not one identical comment each
        places: dict[tuple[str, int | None, int | None], None] = {}
        for change in report.changes:
            # a change confirmed on a retry is in the commit found on the branch, not a new one
            sha = report.already_landed.get(change.id) or report.commit_sha or ""
            place = self._record(change, "change.landed", sha)
            places.setdefault(place)
            if place[1] is not None:
                pr_changes.forget(self.runtime.redis, place[0], place[1], change.id)
        for place in places:
            self._say(*place, text)

    def _follow_up_pull(self, report: LandingReport) -> str | None:
        """Open (once) the follow-up pull request of a ``push_to: pull_request`` branch."""
        raw = self.runtime.redis.get(_follow_up_key(report.repo, report.branch))
        # a push whose answer was lost is ``confirmed`` on the retry: its commits need the
        # pull request as much as a push that was answered
        if not raw or not (report.commit_sha or report.confirmed):
            return None
        info = json.loads(raw)
        key = f"shunter:followup-pr:{report.repo}:{report.branch}"
        known = self.runtime.redis.get(key)
        if known:
            return f"The fixes are in pull request #{int(known)}."
        owner, name = report.repo.split("/", 1)
        try:
            _, gh = self.runtime.github.installation_for_repo(owner, name)
            number, adopted = self._open_follow_up(gh, owner, name, report.branch, info)
        except ShunterError as exc:
            log.warning("could not open the follow-up PR", error=str(exc))
            return None
        self.runtime.redis.set(key, number, ex=PENDING_TTL)
        self.runtime.store.record_audit(
            repo=report.repo,
            pr=info["pr"],
            actor="shunter",
            action="pull_request.create",
            target_type="pull_request",
            target_id=number,
            reason_code="push_to_pull_request",
            reason=f"follow-up for #{info['pr']}",
            payload={"adopted": True} if adopted else None,
        )
        return f"The fixes are in pull request #{number}, against `{info['base']}`."

    def _open_follow_up(
        self, gh: Any, owner: str, name: str, branch: str, info: dict[str, Any]
    ) -> tuple[int, bool]:
        """Open the follow-up pull request; returns its number and whether it was there
        already. One GitHub made before losing its answer, or that an earlier landing opened
        (a 422 "already exists"), is found by its head branch and base and taken."""

        def find() -> int | None:
            base = info["base"]
            pulls = gh.rest.pulls.list(owner, name, state="open", head=f"{owner}:{branch}", base=base)
            same = [p for p in pulls.parsed_data if p.head.ref == branch and p.base.ref == base]
            return int(same[0].number) if same else None

        try:
            return create_once(
                "opening the follow-up pull request",
                lambda: int(
                    gh.rest.pulls.create(
                        owner,
                        name,
                        data={
                            "title": f"Shunter fixes for #{info['pr']}",
                            "head": branch,
                            "base": info["base"],
                            "body": f"Fixes Shunter proposed on #{info['pr']}, applied on request. "
                            "Merge this into the PR's branch to take them.",
                        },
                    ).parsed_data.number
                ),
                find,
            )
        except GitHubError as exc:
            if exc.status != 422:
                raise
            with translate_errors("looking for the follow-up pull request"):
                number = find()
            if number is None:
                raise
            return number, True

    def dead_lettered(self, letter: DeadLetter) -> None:
        place = self._record(letter.change, "change.dead_letter", letter.reason)
        self._say(*place, dead_letter_reply(letter))

    def set_aside(self, queue: str, change_id: str, detail: str) -> None:
        """A queued change whose stored entry did not read was dropped: its pull request is
        told so, and how to ask again, where Shunter can still tell which one it is (the
        record made when the change was queued, else what of the stored request still
        reads, checked against GitHub). Otherwise an operator finds it by its key in the log."""
        mq = MergeQueue(self.runtime.redis)
        entry = mq.get(change_id)
        place = self._place(change_id, entry.fields.get("cr") if entry else None, queue)
        if place is None:
            log.warning(
                "dropped an unreadable merge-queue entry; no pull request to tell",
                key=mq.keys.entry(change_id),
                queue=queue,
                detail=detail,
            )
            return
        self.runtime.store.record_audit(
            repo=place.repo,
            pr=place.pr,
            actor="shunter",
            action="change.dead_letter",
            target_type="change_request",
            target_id=change_id,
            reason_code="dead_letter",
            reason="unreadable",
        )
        text = set_aside_reply(change_id, unreadable_problem(detail))
        self._say(place.repo, place.pr, place.reply_id, text)

    def _place(self, change_id: str, stored: str | None, queue: str) -> SetAsidePlace | None:
        """Where to tell what happened to a change (:func:`set_aside_place`); a place read
        from the stored request only when GitHub agrees. A record found lives on with the
        entry, for as long again: a dead letter stays in the queue."""
        key = pr_changes.record_key(change_id)
        place = set_aside_place(self.runtime.redis.get(key), stored, queue)
        if place is not None and place.unconfirmed and not self._pull_request_of(place, queue):
            return None
        if place is not None and not place.unconfirmed:
            self.runtime.redis.expire(key, PENDING_TTL)
        return place

    def _pull_request_of(self, place: SetAsidePlace, queue: str) -> bool:
        """Whether pull request ``place.pr`` of ``place.repo`` is the one whose branch (or
        follow-up branch) the queue lands on: a stored request names the repository pushed
        to, which for a fork's pull request is not the one the number belongs to."""
        owner, name = place.repo.split("/", 1)
        try:
            _, gh = self.runtime.github.installation_for_repo(owner, name)
            with translate_errors("reading the pull request of a dropped change"):
                pull = gh.rest.pulls.get(owner, name, place.pr).parsed_data
        except ShunterError:
            return False
        head = pull.head.repo.full_name if pull.head.repo else ""
        branches = {f"{head}:{pull.head.ref}", f"{head}:{follow_up_branch_name(pull.head.ref)}"}
        return queue.casefold() in {b.casefold() for b in branches}

    def _record(
        self, change: ChangeRequest, action: str, detail: str
    ) -> tuple[str, int | None, int | None]:
        """Audit what happened to ``change``; returns where to tell it: (repo, PR number,
        the id of the command's reply to edit, or None to post a report).

        Once the record made when the change was queued has expired, the change names its
        pull request itself, checked with GitHub: for a fork's change its own ``repo`` is the
        fork, where the number is another pull request (or none), so a change queued before
        ``origin.repo`` was kept is audited without a pull request and told nowhere."""
        place = self._place(change.id, change.model_dump_json(), queue_name(change.repo, change.branch))
        repo, number, reply_id = change.repo, None, None
        if place is not None:
            repo, number, reply_id = place.repo, place.pr, place.reply_id
        self.runtime.store.record_audit(
            repo=repo,
            pr=number,
            actor="shunter",
            action=action,
            target_type="change_request",
            target_id=change.id,
            reason_code=action.rsplit(".", 1)[1],
            reason=detail,
            payload={"findings": change.origin.finding_fingerprints, "requester": change.requester},
        )
        return repo, number, reply_id

    def _say(self, repo: str, number: int | None, reply_id: int | None, text: str) -> None:
        """Add ``text`` to the command's reply (once: a retried job finds it there), or post
        it as a report when there is no reply to edit."""
        if number is None:
            return
        owner, name = repo.split("/", 1)
        try:
            _, gh = self.runtime.github.installation_for_repo(owner, name)
            with translate_errors("reporting a landed change"):
                if reply_id:
                    body = gh.rest.issues.get_comment(owner, name, reply_id).parsed_data.body or ""
                    if text in body:
                        return
                    gh.rest.issues.update_comment(
                        owner, name, reply_id, data={"body": f"{body}\n\n{text}"[:65000]}
                    )
                    action, comment_id = "comment.update", reply_id
                else:
                    action, comment_id = "comment.create", self._report(gh, owner, name, number, text)
        except ShunterError as exc:
            log.warning("could not report change outcome", repo=repo, pr=number, error=str(exc))
            return
        # every write to GitHub is audited, the merge queue's word on a command's reply too
        self.runtime.store.record_audit(
            repo=repo, pr=number, actor="shunter", action=action, target_type="comment",
            target_id=comment_id, reason_code="change_report", reason=text[:200],
        )

    def _report(self, gh: Any, owner: str, name: str, number: int, text: str) -> int:
        """Post ``text`` as a new comment (no reply to edit), once: a hidden nonce finds a
        comment GitHub made before losing its answer."""
        nonce = _nonce(REPORT_NONCE)
        body = f"{nonce}\n{text}"[:65000]
        comment_id, _ = create_once(
            "reporting a landed change",
            lambda: int(
                gh.rest.issues.create_comment(owner, name, number, data={"body": body}).parsed_data.id
            ),
            lambda: _find_written(
                self.runtime, gh, gh.rest.issues.list_comments, nonce,
                owner=owner, repo=name, issue_number=number,
            ),
        )
        return comment_id


@dataclass(frozen=True)
class SetAsidePlace:
    """Where to tell of a dropped change: its repository, pull request and the command's
    reply to edit (None: post a comment)."""

    repo: str
    pr: int
    reply_id: int | None = None
    unconfirmed: bool = False
    """Read from the stored request rather than the record made when it was queued."""


def set_aside_place(record: str | bytes | None, stored: str | None, queue: str) -> SetAsidePlace | None:
    """The pull request of a change whose merge-queue entry does not read, or None when
    nothing says which it is (nothing is guessed).

    The record made when it was queued (``shunter:cr:<id>``) names the repository, the pull
    request and the reply; after it expires, the stored request may still hold its
    ``origin.pull_number`` and the pull request's repository (``origin.repo``, else its own
    ``repo``) even if it no longer reads as a whole, when its ``repo`` is the queue's."""
    known = _json_object(record)
    if isinstance(known.get("repo"), str) and _number(known.get("pr")):
        reply_id = known.get("reply_id")
        return SetAsidePlace(known["repo"], known["pr"], reply_id if _number(reply_id) else None)
    cr = _json_object(stored)
    origin = cr.get("origin")
    origin = origin if isinstance(origin, dict) else {}
    pr, repo = origin.get("pull_number"), cr.get("repo")
    pull_repo = origin.get("repo") or repo
    if not (isinstance(repo, str) and queue.startswith(f"{repo}:") and _number(pr)):
        return None
    if isinstance(pull_repo, str) and "/" in pull_repo:
        return SetAsidePlace(pull_repo, pr, unconfirmed=True)
    return None


_json_object = pr_changes.json_object


def _number(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _repo_store(runtime: Any) -> Any:
    """The merge worker's remotes; forks are reached with the base repository's token."""
    from bot.git.cleanup import merge_repos_root
    from bot.git.push import GitCliPusher, GitRemote
    from bot.queue.merge_worker import GitHubRepoStore

    class UpstreamRepoStore(GitHubRepoStore):
        def _via(self, repo: str) -> dict[str, Any] | None:
            raw = runtime.redis.get(f"shunter:push-via:{repo}")
            return json.loads(raw) if raw else None

        def remote(self, repo: str) -> GitRemote:
            via = self._via(repo)
            if via is None:
                return super().remote(repo)
            token = self.factory.installation_token(int(via["installation_id"]))
            return GitRemote(url=via["clone_url"], token=token)

        def pushers(self) -> Any:
            upstream = super().pushers()

            def make(repo: str, policy: Patches, remote: GitRemote) -> Any:
                # the Git Data API refuses cross-repository writes: forks get a plain push
                return GitCliPusher(remote) if self._via(repo) else upstream(repo, policy, remote)

            return make

    return UpstreamRepoStore(runtime.github, merge_repos_root(runtime.settings.data_dir))


def merge_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Job (queue ``merge``): land what the merge queue holds, batch by batch; then, at
    most hourly, the repositories' upkeep (a host may run only merge workers)."""
    from bot.github.identity import bot_signature
    from bot.pipeline.stage_job import _maintain_mirrors_now_and_then
    from bot.queue.merge_worker import process_once
    from bot.runtime import get_runtime

    runtime = get_runtime()
    store = _repo_store(runtime)
    owner_id = f"{socket.gethostname()}-{os.getpid()}"
    current = get_current_job()
    hooks = GitHubHooks(runtime)
    landed = dead = 0
    idle = False
    signature = bot_signature(runtime)  # None: the worker's fallback, which names no account
    try:
        for _ in range(MERGE_JOB_BATCHES):
            outcome = process_once(
                runtime.redis, store, owner_id=owner_id, pushers=store.pushers(), hooks=hooks,
                signature=signature,
            )
            if outcome is None:
                idle = True
                break
            landed += len(outcome.report.change_ids) if outcome.report else 0
            dead += len(outcome.dead)
    finally:
        wake_after = schedule_next_merge_job(
            runtime.redis, idle=idle, running=current.id if current else None
        )
    _maintain_mirrors_now_and_then(runtime)
    return {"landed": landed, "dead": dead, "next_run_in_seconds": wake_after}


MERGE_JOB_BATCHES = 20
"""Batches one merge job lands before it hands the rest to a fresh job (other queues'
jobs get a turn on the worker)."""
IDLE_RECHECK_SECONDS = 30.0
"""How soon an idle job that still saw a claimable batch looks again (never at once: a
batch it could not claim would otherwise spin jobs)."""
_WAKE_KEY = "shunter:mq:wake"


def schedule_next_merge_job(redis: Any, *, idle: bool, running: str | None = None) -> float | None:
    """Schedule the merge job that will pick up what the queue still holds; returns its
    delay in seconds, or None when nothing is left (or an earlier one is scheduled).

    A merge job runs when a change is submitted. Without this, a change backing off after a
    transient failure (GitHub answered 502 to the push), a lease left by a worker that died
    or a batch past this job's share would wait for the next change of any repository,
    maybe for ever, while its reply said "queued".

    ``running`` is the calling job's id: when it is the scheduled one, woken early (rq's
    scheduler runs on some worker's clock, which may be ahead of the one that scheduled
    it), no job is left to come and this one must schedule the next.
    """
    due = MergeQueue(redis).next_due_ms()
    if due is None:
        return None
    seconds, micros = redis.time()
    now = int(seconds) * 1000 + int(micros) // 1000
    # past the due instant, even after rq rounds the schedule down to whole seconds
    delay = max(0.0, (due - now) / 1000) + (1.0 if due > now else 0.0)
    if idle and due <= now:  # claimable now, yet this job found nothing it could claim
        delay = IDLE_RECHECK_SECONDS
    wake_at = now + int(delay * 1000)
    scheduled = redis.get(_WAKE_KEY)
    if scheduled is not None:
        at, _, job_id = scheduled.decode().partition(" ")
        if job_id != running and now < int(at) <= wake_at:
            return None  # another job already wakes up in time
    job_id = wake_merge_queue(redis, delay)
    redis.set(_WAKE_KEY, f"{wake_at} {job_id}", px=int(delay * 1000) + 60_000)
    return round(delay, 3)


def wake_merge_queue(redis: Any, delay: float = 0.0, *, why: str = "scheduled") -> str:
    """Run a merge job (after ``delay`` seconds): it lands whatever any queue holds, so
    ``why`` (a repository that just submitted a change) only names the job. Returns its id."""
    jobs = queue(MERGE, redis)
    job_id = safe_id(f"merge-{why}-{os.urandom(4).hex()}")
    options: dict[str, Any] = {
        "job_id": job_id,
        "job_timeout": 600,
        "result_ttl": 3600,
        "failure_ttl": 7 * 24 * 3600,
        "description": f"merge queue ({why})",
    }
    if delay > 0:
        jobs.enqueue_in(timedelta(seconds=delay), "bot.pipeline.patches.merge_job", {}, **options)
    else:
        jobs.enqueue("bot.pipeline.patches.merge_job", {}, **options)
    return job_id


# ---------------------------------------------------------------------- commands
def handle(session: Any, command: Command) -> str:
    return {"apply": _apply, "approve": _approve, "retry": _retry, "queue": _queue}[command.verb](
        session, command
    )


def requester_address(runtime: Any, login: str, user_id: int | None) -> str | None:
    """The id-based no-reply address of the person who asked for a change, which GitHub
    links to their account even after a rename; None when the event gave no id (the
    trailer then names no address GitHub would link to someone else, ``bot.git.apply``)."""
    from bot.github.identity import noreply_domain, noreply_email

    if user_id is None or not login:
        return None
    return noreply_email(login, user_id, noreply_domain(runtime.settings.github_url))


def _finding_ids_problem(wanted: set[str], offered: list[PatchDraft]) -> str | None:
    """Why finding ids given to ``/shunter apply`` cannot say which fixes to commit: one too
    short to be meant (``apply a`` matched every fix whose finding id began with "a"), or
    one that fits findings of several fixes (committing an arbitrary one is worse than
    asking again). None when each names the fixes of one offer, or nothing at all."""
    for typed in sorted(wanted):
        shown = typed_code(typed, max_chars=20)
        if len(typed) < MIN_PREFIX:
            return (
                f"{shown} is too short to name a finding: use the finding's id as its "
                f"annotation shows it (8 characters), or a stage name."
            )
        fits = [d for d in offered if any(fp.startswith(typed) for fp in d.finding_fingerprints)]
        if not fits:  # said even beside a stage name: the person meant a fix that is not there
            return (
                f"{shown} is not the id of a finding with a fix on this head, so nothing "
                f"was queued. The ids are on the annotations of the checks that offer fixes."
            )
        if len(fits) > 1:
            rows = "\n".join(f"- {d.stage.value}: {prose_text(d.title)}" for d in fits)
            return (
                f"{shown} fits findings of {len(fits)} different fixes, so nothing was "
                f"queued. Use a longer id:\n\n{rows}"
            )
    return None


def _forgotten_fixes(runtime: Any, target: Target, stages: set[StageName]) -> list[str]:
    """The check runs among ``stages`` whose latest run on ``target``'s head recorded fixes
    in the database though Redis holds no draft of them: the drafts live in Redis only, and
    a Redis that lost data answered "No fixes to apply" under a check showing some."""
    if target.number is None:
        return []
    runs = runtime.store.latest_runs(target.repo, target.number, head_sha=target.head_sha)
    return [
        stage.check_name
        for stage in sorted(stages, key=lambda s: s.value)
        if (run := runs.get(stage.value)) is not None and int(run.metrics.get("patches") or 0) > 0
    ]


def _apply(session: Any, command: Command) -> str:
    from bot.pipeline.commands import _reply

    target: Target = session.target
    args = [a.lower().strip("`") for a in command.args] or ["all"]
    stages = {s for s in StageName if "all" in args or s.value in args}
    wanted = {a for a in args if a != "all" and a not in {s.value for s in StageName}}
    offered = [d for stage in StageName for d in stored_drafts(session.runtime.redis, target, stage)]
    problem = _finding_ids_problem(wanted, offered)
    if problem:
        session.say(problem, ok=False)
        return "refused"
    drafts = [
        draft
        for draft in offered
        if draft.stage in stages
        or any(fp.startswith(w) for w in wanted for fp in draft.finding_fingerprints)
    ]
    if not drafts:
        forgotten = _forgotten_fixes(session.runtime, target, stages) if not offered else []
        if forgotten:
            session.say(
                f"Shunter no longer holds the fixes {', '.join(forgotten)} offered on "
                f"`{target.head_sha[:12]}`: its Redis lost them (restarted without persistence, "
                "failed over or evicting keys), so nothing was queued. Re-run the check, then "
                "press \"Apply fixes\" again.",
                ok=False,
            )
            return "refused"
        session.say(
            f"No fixes to apply on `{target.head_sha[:12]}`"
            + (f" for {', '.join(args)}" if args != ["all"] else "")
            + ". The stages offer fixes in their check runs when they have some.",
            ok=False,
        )
        return "refused"
    _reply(session, final=False)  # the reply exists now, so the landing can edit it
    trigger = "button" if session.comment_id is None else "command"
    lines = submit_drafts(
        session.runtime,
        target,
        drafts,
        session.config,
        requester=session.user,
        permission=session.permission,
        trigger=trigger,
        reply=(target.repo, target.number, session.reply_id),
        requester_email=requester_address(session.runtime, session.user, session.user_id),
    )
    for line in lines:
        session.say(line.text, ok=line.ok)
    return "done"


def _approve(session: Any, command: Command) -> str:
    if not command.args:
        session.say(COMMANDS["approve"].usage("approve"), ok=False)
        return "refused"
    change_id = command.args[0].strip("`")
    info = proposed_here(session.runtime, change_id, session.target)
    until = None if info is not None else _expired_here(session.runtime, change_id, session.target)
    if until is not None:
        session.say(_expired_reply(change_id, until), ok=False)
        return "refused"
    if info is not None and "dropped" in info:
        session.say(_dropped_reply(change_id, info["dropped"]), ok=False)
        return "refused"
    if info is None or "cr" not in info:
        shown = typed_code(change_id, max_chars=40)
        session.say(f"No change {shown} waits for approval on this pull request.", ok=False)
        return "refused"
    cr = ChangeRequest.model_validate(info["cr"])
    cr = cr.model_copy(update={"approval": Approval(approver=session.user, permission=session.permission)})
    target: Target = session.target
    token = session.runtime.github.installation_token(target.installation_id)
    ws = open_workspace(session.runtime.settings.data_dir, target.repo, target.clone_url, token=token)
    assert target.number is not None  # commands only come from pull requests
    ws.fetch_pull_request(target.number, base_branch=target.base_ref)
    try:
        MergeQueue(session.runtime.redis).submit(
            cr,
            Pygit2BaseTree(ws.repo, cr.head_sha),
            session.config.patches,
            app_permissions(session.runtime, target.installation_id),
        )
    except ChangeRejected as exc:
        why = exc.shown(authored_code)
        session.say(f"`{change_id}` approved but rejected ({exc.reason}): {why}", ok=False)
        return "failed"
    _remember(session.runtime, cr, (info["repo"], info["pr"], info.get("reply_id")), pending=False)
    if cr.repo.lower() != target.repo.lower():
        _remember_fork_route(session.runtime, cr.repo, target)
    audit_change(session.runtime, target, "change.approved", cr.id, "approved", f"approved by {session.user}")
    enqueue_merge_job(session.runtime, target)
    where = authored_code(cr.branch)
    session.say(f"Approved `{change_id}` ({prose_text(cr.title)}); it is queued for {where}.")
    return "done"


def _retry(session: Any, command: Command) -> str:
    if not command.args:
        session.say(COMMANDS["retry"].usage("retry"), ok=False)
        return "refused"
    change_id = command.args[0].strip("`")
    if proposed_here(session.runtime, change_id, session.target) is None:
        until = _expired_here(session.runtime, change_id, session.target)
        if until is not None:
            session.say(_expired_reply(change_id, until), ok=False)
            return "refused"
        session.say(
            f"No change {typed_code(change_id, max_chars=40)} was proposed on this pull request.", ok=False
        )
        return "refused"
    dropped = (proposed_here(session.runtime, change_id, session.target) or {}).get("dropped")
    if dropped is not None and MergeQueue(session.runtime.redis).get(change_id) is None:
        session.say(_dropped_reply(change_id, dropped), ok=False)
        return "refused"
    try:
        view = MergeQueue(session.runtime.redis).retry(change_id)
    except ShunterError as exc:
        session.say(f"Cannot retry {typed_code(change_id, max_chars=40)}: {exc}", ok=False)
        return "refused"
    info = proposed_here(session.runtime, change_id, session.target)
    if info is not None:  # the record lives on with the entry (it may have expired)
        _keep_record(session.runtime, change_id, info)
    enqueue_merge_job(session.runtime, session.target)
    session.say(f"`{change_id}` is back in the queue ({view.state}).")
    return "done"


def _queue(session: Any, command: Command) -> str:
    """List what the merge queue holds of the changes proposed on this pull request.

    Which changes those are is what ``_remember`` kept when they were proposed, the same
    record ``/shunter retry`` and ``/shunter approve`` go by: a change's own repository and
    branch are not the pull request's when it lands on Shunter's follow-up branch
    (``push_to: pull_request``) or on a fork, and a listing by the PR's branch missed them.
    """
    target: Target = session.target
    mq = MergeQueue(session.runtime.redis)
    rows = []
    for entry in mq.entries(include_landed=True):
        if proposed_here(session.runtime, entry.id, target) is None:
            continue
        # a stored request that no longer reads is listed by its record, with its queue's branch
        title, branch = ("(unreadable)", entry.queue.partition(":")[2])
        if entry.cr is not None:
            title, branch = entry.cr.title, entry.cr.branch
        detail = entry.fields.get("dead_reason") or entry.fields.get("landed_sha", "")[:12] or ""
        # a title may hold a file name, and a branch name may hold "|" or a backtick
        rows.append(
            f"| `{entry.id}` | {prose_text(title)} | {path_code(branch, table=True)} "
            f"| {entry.state} | {entry.attempts} | {detail} |"
        )
    now = session.runtime.store.now()
    waiting = _waiting_for_approval(session, now)
    dropped = _dropped_listing(session, now)
    if not (rows or waiting or dropped):
        session.say("The merge queue holds none of the changes proposed on this pull request.")
        return "done"
    if rows:
        session.say(
            "Merge queue, changes proposed on this pull request:\n\n"
            "| change | title | lands on | state | attempts | detail |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows[:50])
        )
    elif waiting or dropped:
        session.say("The merge queue holds none of the changes proposed on this pull request.")
    for paragraph in (waiting, dropped):
        if paragraph:
            session.say(paragraph)
    return "done"


def _waiting_for_approval(session: Any, now: datetime) -> str:
    """The changes of this pull request waiting for ``/shunter approve``, from its index
    (they are not in the merge queue until approved): what each waits for, who may
    approve it and until when. Empty when none waits."""
    items = []
    for change_id, record in _listed(session, "waiting", now):
        title = prose_text(str(record["cr"].get("title", "")))
        waits = record.get("waits_for") or "What it waits for was not recorded."
        try:
            until = f" until {approvable_until(datetime.fromisoformat(record['asked']))}"
        except (KeyError, TypeError, ValueError):
            until = ""
        approve = f"`/shunter approve {change_id}`{until}"
        items.append(f"- **{title}** (`{change_id}`): {waits} Approve it with {approve}.")
    if not items:
        return ""
    return (
        f"Waiting for `/shunter approve` from someone with {_approvers(session.config)} permission "
        f"(not in the merge queue until then):\n\n" + "\n".join(items[:50])
    )


def _listed(session: Any, kind: pr_changes.Kind, now: datetime) -> list[tuple[str, dict[str, Any]]]:
    target: Target = session.target
    if target.number is None:
        return []
    return pr_changes.listed(session.runtime.redis, kind, target.repo, target.number, now)


def _approvers(config: Any) -> str:
    """Who may approve a change: the ``approve`` command's permission, and at least
    maintain (a lesser approval does not lift a guardrail, ``bot.changes.validation``)."""
    rule = config.commands.rules.get("approve")
    needed = rule.permission if rule is not None else "maintain"
    if PERMISSION_RANK.get(needed, 0) < PERMISSION_RANK["maintain"]:
        needed = "maintain"
    return " or ".join(p for p in ("maintain", "admin") if PERMISSION_RANK[p] >= PERMISSION_RANK[needed])


def _dropped_listing(session: Any, now: datetime) -> str:
    """The changes of this pull request that were dropped (``shunter queue drop``, or the
    pull request closed), each with what dropped it."""
    items = []
    for change_id, record in _listed(session, "dropped", now):
        dropped = record.get("dropped") or {}
        title = prose_text(str(dropped.get("title") or "(untitled)"))
        items.append(f"- **{title}** (`{change_id}`): dropped {dropped_because(dropped)}{_on_date(dropped)}.")
    if not items:
        return ""
    return (
        "Dropped from the merge queue, so they will not land:\n\n"
        + "\n".join(items[:50])
        + "\n\nTo ask for them again, press **Apply fixes** on the check run or comment `/shunter apply`."
    )


def auto_apply(runtime: Any, target: Target, stage: StageName, policy: Any, head_message: str) -> list[str]:
    """After a stage: apply its patches without asking when the policy says ``always`` —
    but never on top of Shunter's own commit for the same stage (no loops)."""
    from bot.changes.triggers import auto_apply_decision

    decision = auto_apply_decision(policy.patches, stage, head_message)
    if not decision.allowed:
        return []
    drafts = stored_drafts(runtime.redis, target, stage)
    if not drafts or target.number is None:
        return []
    try:
        lines = submit_drafts(
            runtime,
            target,
            drafts,
            policy,
            requester="shunter",
            permission="none",
            trigger="auto",
            reply=(target.repo, target.number, None),
        )
    except (GitHubError, ShunterError) as exc:
        log.warning("auto-apply failed", error=str(exc))
        return []
    return [line.text for line in lines]
