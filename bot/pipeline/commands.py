"""``/shunter <verb>`` in PR comments, and the buttons on Shunter's check runs.

Flow for a comment: ignore bots (Shunter included) and comments with no command line; an
edited comment runs only the commands the edit added, and as the editor (the event's sender)
when someone other than the author edited it; acknowledge with 👀; refuse on closed
PRs, over the rate limit, or without the permission the config names; run each command;
answer in ONE reply comment (edited as work progresses) and finish with 🚀 or 😕.
A button click (``check_run.requested_action``) runs the matching command with the same
permission check — the clicker is the sender.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from gidgethub import sansio

from bot.commands.dismissals import (
    dismissed_entries,
    not_dismissed_text,
    of_stage,
    restored_text,
    stage_problem,
    unknown_text,
)
from bot.commands.finding_ids import candidates_text, matching_findings
from bot.commands.parse import (
    COMMANDS,
    FLAGS,
    MAX_LINE,
    STAGE_VERBS,
    VERBS,
    Command,
    Parsed,
    parse_comment,
)
from bot.errors import AccessPaused, GitHubError, ShunterError, TransientError
from bot.events.dispatch import EventContext
from bot.github.client import create_once, translate_errors
from bot.logs import bind, get_logger
from bot.models import StageName
from bot.pipeline.config_loader import LoadedConfig, load_config
from bot.pipeline.facts import Target, from_pull_request, own_pulls
from bot.policies.decisions import may_run_command
from bot.store.pull_state import text_hash
from bot.wording import code_span, markdown_block, one_line, path_code, plural, prose_text, typed_code

log = get_logger(__name__)

PERMISSION_TTL = 60
RATE_WINDOW = 60
RUN_CLAIM_TTL = 24 * 3600
"""How long a comment's commands are known to be running for a delivery: rq retries an
abandoned job within minutes, so a day covers every retry with room to spare."""
RATE_LIMIT = 10
REPLY_MARKER = "<!-- shunter:reply -->"
REPLY_NONCE = "shunter:reply-nonce"


@dataclass
class Session:
    """One command comment (or button click) being handled."""

    ctx: EventContext
    gh: Any
    target: Target
    user: str
    comment_id: int | None
    loaded: LoadedConfig
    permission: str = "none"
    lines: list[str] = field(default_factory=list)
    ok: bool = True
    reply_id: int | None = None
    reply_nonce: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Written into the reply (hidden) so a create whose answer was lost is found again."""
    reply_unsure: bool = False
    """An earlier create of the reply ended with its outcome unknown: look before posting."""
    source: str = "issue"
    """Where the commands were written: ``issue`` (a PR comment), ``review`` (a review
    comment on a diff line, whose reactions live on another route) or ``review-body`` (the
    text of a submitted review, which takes no reactions)."""
    edited: bool = False
    """The commands are those an edit added to a comment Shunter already handled."""
    ran: bool = False
    """A command got as far as being recorded (run or refused): the summary lists it."""
    button_sha: str | None = None
    """For a button click: the commit the clicked check run is for. Its fixes and findings
    are that commit's, which need not be the head's any more."""
    user_id: int | None = None
    """The GitHub account id of ``user``, from the event: its no-reply address
    (``<id>+<login>@users.noreply...``) credits the person in the commits they asked for."""

    @property
    def review_comment(self) -> bool:
        return self.source == "review"

    @property
    def runtime(self) -> Any:
        return self.ctx.runtime

    @property
    def config(self) -> Any:
        return self.loaded.config

    def say(self, text: str, *, ok: bool = True) -> None:
        self.lines.append(text)
        self.ok = self.ok and ok


# ---------------------------------------------------------------------- GitHub helpers
def _is_bot(user: dict[str, Any], bot_login: str | None) -> bool:
    login = user.get("login", "")
    return user.get("type") == "Bot" or login.endswith("[bot]") or login == bot_login


def _react(session: Session, content: str) -> None:
    if session.comment_id is None or session.source == "review-body":
        return
    try:
        with translate_errors("reacting to a command"):
            reactions = session.gh.rest.reactions
            create = (
                reactions.create_for_pull_request_review_comment
                if session.review_comment
                else reactions.create_for_issue_comment
            )
            create(session.target.owner, session.target.name, session.comment_id, data={"content": content})
        _audit_reaction(session, "reaction.create", f"{content} on @{session.user}'s command")
    except GitHubError as exc:
        log.info("reaction refused", status=exc.status)
    except TransientError as exc:
        # a reaction is decoration: a 5xx on it must not fail the event after the comment was
        # marked as processed (rq's retry would then drop the commands as a repeat)
        log.info("reaction failed", error=str(exc))


_OUTCOMES = frozenset({"confused", "rocket"})


def _take_back_outcome(session: Session) -> None:
    """Remove the 😕 or 🚀 Shunter left on an earlier version of an edited comment.

    The commands the edit added run and end with their own outcome; the old one left in
    place made the comment read 👀😕🚀, refused and done at once. The 👀 stays: this run
    acknowledges the comment with it again, and removing it only to add it back would be two
    more writes."""
    bot = (session.runtime.bot_login or "").casefold()
    if session.comment_id is None or session.source == "review-body" or not bot:
        return
    owner, name, comment_id = session.target.owner, session.target.name, session.comment_id
    reactions = session.gh.rest.reactions
    listing, delete = (
        (reactions.list_for_pull_request_review_comment, reactions.delete_for_pull_request_comment)
        if session.review_comment
        else (reactions.list_for_issue_comment, reactions.delete_for_issue_comment)
    )
    try:
        with translate_errors("removing Shunter's reactions to an edited command"):
            ours = [  # listed in full first: deleting while paging would shift the pages
                reaction
                for reaction in session.gh.rest.paginate(
                    listing, owner=owner, repo=name, comment_id=comment_id, per_page=100
                )
                if (reaction.user.login if reaction.user else "").casefold() == bot
                and reaction.content in _OUTCOMES
            ]
            for reaction in ours:
                delete(owner, name, comment_id, reaction.id)
                why = f"{reaction.content} of an earlier version of @{session.user}'s edited command"
                _audit_reaction(session, "reaction.delete", why)
    except GitHubError as exc:
        log.info("reaction removal refused", status=exc.status)
    except TransientError as exc:  # decoration, as in _react: the commands still run
        log.info("reaction removal failed", error=str(exc))


def _audit_reaction(session: Session, action: str, reason: str) -> None:
    session.runtime.store.record_audit(
        repo=session.target.repo,
        pr=session.target.number,
        actor="shunter",
        action=action,
        target_type="review_comment" if session.review_comment else "comment",
        target_id=session.comment_id,
        delivery_id=session.ctx.delivery.delivery_id,
        reason_code="command_ack",
        reason=reason,
    )


_LEVELS = {"admin", "maintain", "write", "triage", "read", "none"}
_LEGACY = {"pull": "read", "push": "write", "maintainer": "maintain"}


def _level(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = _LEGACY.get(value, value)
    return value if value in _LEVELS else None


def permission_of(runtime: Any, gh: Any, target: Target, user: str) -> str:
    """The user's permission on the repo (``admin``/``maintain``/``write``/``triage``/``read``/
    ``none``), cached briefly in Redis so a storm of comments costs one request."""
    key = f"shunter:perm:{target.repo}:{user}"
    cached = runtime.redis.get(key)
    if cached:
        return cached.decode()
    with translate_errors(f"reading {user}'s permission on {target.repo}"):
        data = gh.rest.repos.get_collaborator_permission_level(target.owner, target.name, user).json()
    level = _level(data.get("role_name"))
    if level is None:
        # a custom role's name (an organisation may define its own): GitHub's ``permission``
        # is then the base role it builds on (admin, write or read)
        level = _level(data.get("permission")) or "none"
    runtime.redis.set(key, level, ex=PERMISSION_TTL)
    return level


def _within_rate_limit(runtime: Any, target: Target, user: str, count: int) -> bool:
    key = f"shunter:cmdrate:{target.repo}#{target.number}:{user}"
    pipe = runtime.redis.pipeline()
    pipe.incrby(key, count)
    pipe.expire(key, RATE_WINDOW, nx=True)
    used, _ = pipe.execute()
    return int(used) <= RATE_LIMIT


def _reply(session: Session, *, final: bool) -> None:
    """Create the one reply of this command comment, or edit it."""
    quote = f"> @{session.user}\n\n" if session.user else ""
    state = "" if final else "\n\n_Working on it…_"
    nonce = f"<!-- {REPLY_NONCE} {session.reply_nonce} -->"
    body = f"{REPLY_MARKER}{nonce}\n{quote}" + "\n\n".join(session.lines) + state
    body = body[:65000]
    owner, name = session.target.owner, session.target.name
    # a comment's reply is found again by its comment (an edit, a retry); a button press's
    # by its delivery, so rq's retry after a killed worker edits the "Working on it…" reply
    anchor = session.comment_id if session.comment_id is not None else session.ctx.delivery.delivery_id
    key = f"shunter:reply:{session.target.repo}:{session.source}:{anchor}"
    if session.reply_id is None:
        stored = session.runtime.redis.get(key)
        session.reply_id = int(stored) if stored else None
    action = "comment.update"
    if session.reply_id is None:
        session.reply_id, adopted = _create_reply(session, body, nonce)
        session.runtime.redis.set(key, session.reply_id, ex=30 * 24 * 3600)
        if not adopted:  # else found after a lost answer, maybe an earlier text: edit it
            action = "comment.create"
    if action == "comment.update":
        with translate_errors("replying to a command"):
            session.gh.rest.issues.update_comment(owner, name, session.reply_id, data={"body": body})
    session.runtime.store.record_audit(
        repo=session.target.repo,
        pr=session.target.number,
        actor="shunter",
        action=action,
        target_type="comment",
        target_id=session.reply_id,
        delivery_id=session.ctx.delivery.delivery_id,
        reason_code="command_reply",
        reason=f"reply to @{session.user}",
    )


def _create_reply(session: Session, body: str, nonce: str) -> tuple[int, bool]:
    """Post the reply, or find the one already posted; returns its id and whether it was found.

    When an earlier create of this session's reply ended with its outcome unknown (every try
    lost its answer, or looking for it failed), GitHub may hold that reply: the next one
    (``/shunter apply``'s final text after its "Working on it…") looks for it by the nonce
    before posting, or the PR gets a second reply and the first stays "Working on it…"."""
    owner, name, number = session.target.owner, session.target.name, session.target.number
    if session.reply_unsure:
        with translate_errors("looking for the reply to a command"):
            found = _find_reply(session, nonce)
        if found is not None:
            session.reply_unsure = False
            return found, True
    try:
        created = create_once(
            "replying to a command",
            lambda: int(
                session.gh.rest.issues.create_comment(owner, name, number, data={"body": body}).parsed_data.id
            ),
            lambda: _find_reply(session, nonce),
        )
    except TransientError:
        session.reply_unsure = True
        raise
    session.reply_unsure = False
    return created


def _find_reply(session: Session, nonce: str) -> int | None:
    """The reply carrying ``nonce`` that Shunter already posted on the PR, if any."""
    bot = (session.runtime.bot_login or "").casefold()
    for comment in session.gh.rest.paginate(
        session.gh.rest.issues.list_comments,
        owner=session.target.owner, repo=session.target.name, issue_number=session.target.number,
        per_page=100,
    ):
        author = (comment.user.login if comment.user else "").casefold()
        if nonce in (comment.body or "") and (not bot or author == bot):
            return int(comment.id)
    return None


def _load_pull(ctx: EventContext, gh: Any, number: int) -> Target:
    payload = ctx.delivery.payload
    repo = payload["repository"]
    owner, name = repo["full_name"].split("/", 1)
    with translate_errors(f"reading {repo['full_name']}#{number}"):
        pr = gh.rest.pulls.get(owner, name, number).json()
    return from_pull_request(
        {"pull_request": pr, "repository": repo, "installation": payload.get("installation")},
        trigger="command",
    )


# ---------------------------------------------------------------------- entry points
def _account_id(user: dict[str, Any]) -> int | None:
    """The account id of an event's user object, when it carries one."""
    found = user.get("id")
    return found if isinstance(found, int) and not isinstance(found, bool) else None


def _acting_user(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """Who runs the commands of a comment event: ``(actor, author, edited_by_someone_else)``.

    GitHub lets anyone with write access edit other people's comments, and the ``edited``
    event's ``sender`` is the editor while ``comment.user`` stays the author. Running the
    commands as the author would let a write user add ``/shunter approve`` to a maintainer's
    comment and borrow the maintainer's permission, so an edit by someone else runs as the
    editor: their permission, bot check, rate limit, and the reply addresses them.
    """
    comment = _written(data)
    user, sender_data = comment.get("user"), data.get("sender")
    author: dict[str, Any] = user if isinstance(user, dict) else {}
    sender: dict[str, Any] = sender_data if isinstance(sender_data, dict) else {}
    if data.get("action") == "edited" and sender.get("login") != author.get("login"):
        return sender, author, True
    return author or sender, author, False


def _previous_body(data: dict[str, Any]) -> str | None:
    """The text an ``edited`` event's comment had before the edit, when GitHub sends it."""
    if data.get("action") != "edited":
        return None
    before = ((data.get("changes") or {}).get("body") or {}).get("from")
    return before if isinstance(before, str) else None


def _written(data: dict[str, Any]) -> dict[str, Any]:
    """The comment, or the submitted review, whose text holds the commands."""
    found = data.get("comment") or data.get("review")
    return found if isinstance(found, dict) else {}


async def handle_comment(event: sansio.Event, ctx: EventContext) -> None:
    """Commands in a PR comment, a review comment, or the text of a submitted review."""
    data = event.data
    comment = _written(data)
    body = comment.get("body") or ""
    actor, author, edited_by_other = _acting_user(data)
    bot_login = ctx.runtime.bot_login
    if "/" not in body or not actor.get("login") or _is_bot(actor, bot_login) or _is_bot(author, bot_login):
        return  # a bot's comment stays a bot's text even when a person edits it
    parsed = parse_comment(body, aliases=True)  # aliases only add: empty here is empty either way
    if parsed.empty:
        return
    repo = data["repository"]["full_name"]
    source = "review-body" if "review" in data and "comment" not in data else (
        "review" if "pull_request" in data and "issue" not in data else "issue"
    )
    runtime = ctx.runtime
    installation_id = ctx.delivery.installation_id or 0
    gh = runtime.github.installation(installation_id)
    number = int((data.get("issue") or data.get("pull_request") or {})["number"])
    target = _load_pull(ctx, gh, number)
    loaded = load_config(runtime, gh, target)
    if not loaded.config.commands.aliases:
        parsed = parse_comment(body, aliases=False)
        if parsed.empty:
            return
    # Marked only now, after everything that can fail transiently and have rq retry this
    # delivery: a mark made earlier would make the retry look like a repeat and drop the
    # commands. From here on run_session turns failures into the reply, so nothing runs twice.
    prefix = {"issue": "", "review": "review:", "review-body": "review-body:"}[source]
    signature = prefix + parsed.signature()  # what will run, aliases or not
    aliases = loaded.config.commands.aliases
    previous = _previous_body(data)
    kept: list[str] = []
    if previous is not None:
        earlier = parse_comment(previous, aliases=aliases)
        if earlier.signature() != parsed.signature():
            # the edit changed the commands: those it added run even when an earlier version
            # of the comment had them (pause, resume, pause again); this delivery runs them once
            signature += "@" + ctx.delivery.delivery_id
        # only what the edit added runs: the commands the comment already had ran for the
        # version that had them (a second review, re-queued fixes), and one the edit only
        # removed asks for nothing
        parsed, kept = parsed.added_since(earlier)
        if parsed.empty:
            ctx.handled("commands.repeat", "edited comment with no command added: nothing to do")
            return
    run_key = f"shunter:command-run:{repo}:{comment['id']}:{text_hash(signature)}"
    delivery_id = ctx.delivery.delivery_id
    interrupted = _earlier_attempt(runtime.redis, run_key, delivery_id)
    if runtime.store.mark_command_comment(repo, int(comment["id"]), signature):
        runtime.redis.set(run_key, delivery_id, ex=RUN_CLAIM_TTL)  # this delivery runs them
    elif interrupted:
        # rq's retry of this very delivery after its worker died mid-session (SIGKILL, OOM,
        # a lost host): run the commands again, or they are dropped as a repeat and the
        # reply says "Working on it…" for good
        runtime.store.interrupt_commands(repo, int(comment["id"]))
        log.info("commands resumed after an interrupted run", comment=comment["id"])
    else:
        ctx.handled("commands.repeat", "edited comment with the same commands: nothing to do")
        return
    user = str(actor["login"])
    session = Session(ctx, gh, target, user, int(comment["id"]), loaded, source=source)
    session.user_id = _account_id(actor)
    session.edited = data.get("action") == "edited"
    if edited_by_other:
        session.say(
            f"@{user} edited @{author.get('login', 'someone')}'s comment: its commands run as @{user}, "
            f"with @{user}'s permission (commands in a comment edited by someone else run as the editor)."
        )
    if kept:
        session.say(
            f"Not run again: {', '.join(typed_code(text) for text in dict.fromkeys(kept))}, which an "
            "earlier version of this comment asked for. An edit runs only the commands it adds; "
            "to run one again, write it in a new comment."
        )
    with bind(repo=repo, pr=number, user=user):
        run_session(session, parsed)
    if runtime.redis.get(run_key) == delivery_id.encode():  # ended: a repeat is a repeat again
        runtime.redis.delete(run_key)
    ctx.handled("commands.ran", f"{plural(len(parsed.commands), 'command')} by {user}")


def _earlier_attempt(redis: Any, run_key: str, delivery_id: str) -> bool:
    """Claim ``run_key`` for this delivery; True when an earlier attempt of this same
    delivery claimed it and did not finish (the front door stores each delivery id once, so
    only rq's retry of the job comes here with it again)."""
    if redis.set(run_key, delivery_id, nx=True, ex=RUN_CLAIM_TTL):
        return False
    return bool(redis.get(run_key) == delivery_id.encode())


def _recorded_pull(runtime: Any, data: dict[str, Any], check_run: dict[str, Any]) -> int | None:
    """The pull request of one of Shunter's check runs, from the run Shunter recorded for
    it: GitHub leaves ``pull_requests`` empty when the PR's branch is in a fork, and the
    buttons on a fork PR's checks would otherwise do nothing."""
    check_run_id = check_run.get("id")
    repo = (data.get("repository") or {}).get("full_name")
    if not isinstance(check_run_id, int) or not isinstance(repo, str):
        return None
    record = runtime.store.run_for_check_run(check_run_id)
    return record.pr if record is not None and record.repo == repo else None


async def handle_button(event: sansio.Event, ctx: EventContext) -> None:
    """``Apply fixes`` / ``Re-run`` / ``Dismiss`` on one of Shunter's check runs (a press on
    another App's check run never gets here: ``bot.events.checks`` logs and drops it)."""
    data = event.data
    check_run = data["check_run"]
    if not check_run.get("name", "").startswith("shunter/"):
        return
    identifier = (data.get("requested_action") or {}).get("identifier", "")
    stage = check_run["name"].removeprefix("shunter/")
    verb = {"apply": "apply", "rerun": stage, "dismiss": "dismiss"}.get(identifier)
    if verb is None:
        ctx.handled("buttons.unknown", f"unknown button {identifier!r}")
        return
    pulls = own_pulls(data, check_run.get("pull_requests")) or own_pulls(
        data, (check_run.get("check_suite") or {}).get("pull_requests")
    )
    runtime = ctx.runtime
    number = int(pulls[0]["number"]) if pulls else _recorded_pull(runtime, data, check_run)
    if number is None:
        ctx.handled("buttons.no_pr", "the check run belongs to no pull request")
        return
    gh = runtime.github.installation(ctx.delivery.installation_id or 0)
    target = _load_pull(ctx, gh, number)
    args: tuple[str, ...] = ()
    if verb == "apply":
        args = (stage,)
    elif verb == "dismiss":
        args = ("all-" + stage,)
    command = Command(verb, args, frozenset(), 0, f"button {identifier} on {check_run['name']}")
    sender = data.get("sender") or {}
    user = sender.get("login", "")
    session = Session(ctx, gh, target, user, None, load_config(runtime, gh, target))
    session.user_id = _account_id(sender)
    session.button_sha = check_run.get("head_sha") or None
    run_session(session, Parsed(commands=[command]))
    ctx.handled("buttons.ran", f"{identifier} by {user}")


def run_session(session: Session, parsed: Parsed) -> None:
    if session.edited:
        _take_back_outcome(session)
    _react(session, "eyes")
    target = session.target
    try:
        if target.state != "open":
            session.say(f"This pull request is {target.state}: Shunter commands do nothing here.", ok=False)
            return
        if not _within_rate_limit(session.runtime, target, session.user, max(1, len(parsed.commands))):
            session.say(
                f"Slow down: at most {RATE_LIMIT} commands per minute per person on a PR. "
                "Try again in a minute.",
                ok=False,
            )
            return
        for unknown in parsed.unknown:
            meant = typed_code(f"/shunter {unknown.suggestion}") if unknown.suggestion else ""
            hint = f" Did you mean {meant}?" if meant else ""
            said = typed_code(unknown.raw)
            session.say(f"{said}: there is no such command.{hint} `/shunter help` lists them.", ok=False)
        for number, length in parsed.too_long:
            session.say(
                f"Line {number}: a command line may be at most {MAX_LINE} characters and this one has "
                f"{length}, so it did not run. Shorten it.",
                ok=False,
            )
        if parsed.truncated:
            session.say("Only the first 10 commands of a comment run.", ok=False)
        session.permission = permission_of(session.runtime, session.gh, target, session.user)
        for command in parsed.commands:
            _run_one(session, command)
    except ShunterError as exc:
        session.say(f"Shunter could not finish: {exc}", ok=False)
    finally:
        try:
            _reply(session, final=True)
        except AccessPaused:
            raise  # archived or suspended: nothing more can be written; the dispatcher says why
        except ShunterError as exc:
            log.warning("could not reply", error=str(exc))
        _react(session, "rocket" if session.ok else "confused")
        if session.ran:  # on a closed PR, or over the rate limit, nothing the summary shows changed
            _refresh_summary(session)


def _refresh_summary(session: Session) -> None:
    from bot.pipeline.publisher import Publisher

    try:
        Publisher(
            session.gh, session.runtime, session.target, delivery_id=session.ctx.delivery.delivery_id
        ).update_summary()
    except Exception:  # the reply already told the user what happened
        log.exception("summary refresh after command failed")


def _run_one(session: Session, command: Command) -> None:
    target = session.target
    verb = command.verb
    is_author = session.user == target.author
    decision = may_run_command(
        session.config, verb, user=session.user, permission=session.permission, is_author=is_author
    )
    store = session.runtime.store
    record = store.record_command(
        target.repo,
        target.number,
        verb=verb,
        user=session.user,
        outcome="running",
        args=" ".join((*command.args, *sorted(f"--{f}" for f in command.flags))),
        comment_id=session.comment_id,
    )
    session.ran = True
    if not decision.allowed:
        session.say(f"`/shunter {verb}`: refused. {decision.message}", ok=False)
        store.update_command(record.id, outcome="refused", detail=decision.code)
        return
    stale = _stale_button(session, command)
    if stale:
        session.say(stale, ok=False)
        store.update_command(record.id, outcome="refused", detail="outdated_check_run")
        return
    unknown = command.unknown_flags()
    if unknown:  # running without it would do something else than was asked
        hints = "; ".join(
            typed_code(f"--{flag}") + (f" (did you mean `--{close}`?)" if close else "")
            for flag, close in unknown
        )
        takes = ", ".join(f"`--{f}`" for f in sorted(FLAGS.get(verb, ()))) or "no options"
        session.say(
            f"`/shunter {verb}`: not run. Unknown option {hints}; `/shunter {verb}` takes {takes}.",
            ok=False,
        )
        store.update_command(record.id, outcome="refused", detail="unknown_option")
        return
    command, ignored = command.split_ignored()
    synopsis = COMMANDS[verb].synopsis(verb)
    meant_options = [word for word in ignored if word.lower() in FLAGS[verb]]
    if meant_options:  # `/shunter review full` most likely meant --full: running without it would not
        hints = ", ".join(f"{typed_code(word)} (did you mean `--{word.lower()}`?)" for word in meant_options)
        session.say(f"`/shunter {verb}`: not run. Unexpected {hints}; usage: `{synopsis}`.", ok=False)
        store.update_command(record.id, outcome="refused", detail="unexpected_argument")
        return
    said = len(session.lines)
    try:
        outcome = HANDLERS[verb](session, command)
    except ShunterError as exc:
        session.say(f"`/shunter {verb}`: failed. {exc}", ok=False)
        store.update_command(record.id, outcome="failed", detail=str(exc)[:200])
        return
    if ignored:  # run as asked, and say which words played no part in it
        note = f" (ignored: {typed_code(' '.join(ignored))}; usage: `{synopsis}`)"
        if len(session.lines) > said:
            session.lines[said] += note
        else:
            session.say(f"`/shunter {verb}`{note}")
    store.update_command(record.id, outcome=outcome)


_STALE_BUTTONS = {"apply": "Apply fixes", "dismiss": "Dismiss"}


def _stale_button(session: Session, command: Command) -> str | None:
    """Why a button on a check run for an older commit of the PR does not act, or None.

    **Apply fixes** and **Dismiss** act on what the clicked check run shows: its fixes, its
    findings. After a push the head's differ, so acting on the head would commit a diff, or
    hide findings, the person pressing never saw. **Re-run** has no such content: it runs
    on the head, as its reply says."""
    button = _STALE_BUTTONS.get(command.verb)
    head = session.target.head_sha
    if button is None or not session.button_sha or session.button_sha == head:
        return None
    stage = command.args[0].removeprefix("all-") if command.args else "review"
    what = "fixes" if command.verb == "apply" else "findings"
    instead = f"/shunter {command.verb} {command.args[0]}" if command.args else f"/shunter {command.verb}"
    return (
        f"**{button}** on `shunter/{stage}`: not done. That check run is for `{session.button_sha[:7]}`, "
        f"an older commit of this pull request; its head is now `{head[:7]}`, whose {what} may differ. "
        f"Press **{button}** on the `shunter/{stage}` check run of `{head[:7]}`, or comment `{instead}`."
    )


# ---------------------------------------------------------------------- verbs
def _help(session: Session, command: Command) -> str:
    rows = []
    for verb, spec in COMMANDS.items():
        decision = may_run_command(
            session.config,
            verb,
            user=session.user,
            permission=session.permission,
            is_author=session.user == session.target.author,
        )
        if decision.allowed and (verb != "ask" or session.config.llm is not None):
            synopsis, summary = (text.replace("|", "\\|") for text in (spec.synopsis(verb), spec.summary))
            rows.append(f"| `{synopsis}` | {summary} |")
    aliases = (
        " Short forms `/review`, `/security`, `/tests`, `/apply` are on."
        if session.config.commands.aliases
        else ""
    )
    session.say(
        "Commands you can run here:\n\n| command | what it does |\n|---|---|\n" + "\n".join(rows) + "\n\n"
        f"One command per line; several per comment.{aliases}"
    )
    return "done"


def _rerun(session: Session, only: list[StageName], *, full: bool = False) -> tuple[list[str], list[str]]:
    """Run ``only`` again on the head, as a person asked: ``(ran, skipped with reasons)``."""
    from bot.pipeline.planning import plan_target

    target = session.target.model_copy(update={"trigger": "command"})
    verdicts = plan_target(session.ctx, target, force=True, only=only, full=full)
    ran = [v.stage.check_name for v in verdicts if v.run]
    skipped = [f"{v.stage.check_name} ({v.message})" for v in verdicts if not v.run]
    return ran, skipped


def _stages(session: Session, command: Command) -> str:
    only = list(StageName) if command.verb == "all" else [StageName(command.verb)]
    target = session.target
    ran, skipped = _rerun(session, only, full="full" in command.flags)
    text = (
        f"Running {', '.join(f'`{r}`' for r in ran)} on `{target.head_sha[:12]}`."
        if ran
        else "Nothing to run."
    )
    if "full" in command.flags and ran:
        text += " With `--full`: every finding, not only new ones on changed lines."
    if skipped:
        text += " Not run: " + "; ".join(skipped)
    session.say(text, ok=bool(ran))
    return "done" if ran else "refused"


def _pause(session: Session, command: Command) -> str:
    paused = command.verb == "pause"
    session.runtime.store.set_paused(session.target.repo, session.target.number, paused, by=session.user)
    session.say(
        "Automatic runs are paused on this PR; `/shunter resume` restarts them. Commands still work."
        if paused
        else "Automatic runs are back on for this PR."
    )
    return "done"


def _config(session: Session, command: Command) -> str:
    effective = session.loaded.effective
    rows = effective.explain()
    # a value is whatever the file says: a "|" in it split the row, a backtick ended the code
    lines = [
        f"| {code_span(path, table=True)} | {code_span(one_line(json.dumps(value), 60), table=True)} "
        f"| {source} |"
        for path, value, source in rows
        if source != "default"
    ]
    layers = " < ".join(effective.layers)
    intro = f"Effective config (layers, lowest first: {layers}). Settings not listed are Shunter's defaults."
    if effective.problems:
        problems = plural(len(effective.problems), "problem")
        intro += f"\n\n⚠️ {problems} in the config; see the `shunter/config` check."
    table = "\n".join(lines) or "| (all defaults) | | |"
    session.say(
        f"{intro}\n\n<details><summary>Settings</summary>\n\n| setting | value | from |\n|---|---|---|\n"
        f"{table}\n\n</details>"
    )
    return "done"


def _findings(session: Session) -> dict[str, Any]:
    raw = session.runtime.redis.hgetall(f"shunter:findings:{session.target.repo}#{session.target.number}")
    return {k.decode(): json.loads(v) for k, v in raw.items()}


def _find(session: Session, typed: str) -> dict[str, Any] | None:
    """The one finding ``typed`` names, or None after saying why not (unknown, or a prefix
    that fits several: those are listed, and none is picked)."""
    found = matching_findings(_findings(session), typed)
    if len(found) == 1:
        return found[0]
    if found:
        session.say(candidates_text(typed, found), ok=False)
    else:
        session.say(f"No finding {typed_code(typed, max_chars=20)} on this PR.", ok=False)
    return None


def _place(finding: dict[str, Any]) -> str:
    """``at `app.py:3```, or ``on the pull request`` for a remark on the whole PR (no path)."""
    if not finding.get("path"):
        return "on the pull request"
    return "at " + path_code(str(finding["path"]), suffix=f":{finding['start_line']}")


def _explain(session: Session, command: Command) -> str:
    if not command.args:
        session.say(COMMANDS["explain"].usage("explain"), ok=False)
        return "refused"
    finding = _find(session, command.args[0])
    if finding is None:
        return "refused"
    # the rule id and the message are an analyzer's or a model's, and may quote the code
    rule, message = code_span(one_line(str(finding["rule_id"]), 80)), markdown_block(str(finding["message"]))
    text = (
        f"{rule} ({finding['severity']}, {finding['stage']} stage, engine "
        f"`{finding['engine']}`) {_place(finding)}: {message}\n\n"
        + (
            "Reported because it is about the whole pull request (a stage's `filter` picks lines, "
            "not remarks on the PR) and the rule is enabled; its id is stable across pushes (the rule's)."
            if not finding.get("path")
            else f"Reported because {_why_reported(session.config, str(finding.get('stage')))} and the "
            "rule is enabled; its id is stable across pushes (rule + path + line text)."
        )
    )
    if session.config.llm is not None:
        try:
            from bot.engines.llm.factory import provider_from_config
            from bot.models import Finding
            from bot.stages.review_llm import explain_finding

            provider = provider_from_config(session.config.llm)
            text += "\n\n" + markdown_block(explain_finding(provider, Finding.model_validate(finding), ""))
        except ShunterError as exc:
            text += f"\n\n(The LLM explanation is unavailable: {exc})"
    session.say(text)
    return "done"


_FILTER_REASON = {
    "added": "it is on a line this PR added or changed (filter `added`)",
    "diff_context": "it is inside a hunk of this PR's diff (filter `diff_context`)",
    "file": "it is in a file this PR changed (filter `file`)",
    "nofilter": "the stage reports findings anywhere (filter `nofilter`)",
}


def _why_reported(config: Any, stage: str) -> str:
    """What let a finding of ``stage`` through, as this repository's config says."""
    options = getattr(config.stages, stage, None)
    if options is None:
        return "the stage reported it"
    if getattr(options, "new_only", False):
        return "this PR introduces it (`new_only`: it is not on the base branch)"
    mode = str(getattr(options.filter, "value", options.filter))
    return _FILTER_REASON.get(mode, f"the stage's filter `{mode}` keeps it")


def _ask(session: Session, command: Command) -> str:
    if session.config.llm is None:
        session.say(
            "`/shunter ask` needs the llm engine: add an `llm:` section to `.github/shunter.yml`.", ok=False
        )
        return "refused"
    if not command.args:
        session.say(COMMANDS["ask"].usage("ask"), ok=False)
        return "refused"
    from bot.engines.llm.factory import provider_from_config
    from bot.git.workspace import open_workspace
    from bot.stages.review_llm import answer_question

    target = session.target
    token = session.runtime.github.installation_token(target.installation_id)
    ws = open_workspace(session.runtime.settings.data_dir, target.repo, target.clone_url, token=token)
    assert target.number is not None  # commands only come from pull requests
    ws.fetch_pull_request(target.number, base_branch=target.base_ref)
    ctx = ws.context_for(f"refs/heads/{target.base_ref}", target.head_sha)
    answer = answer_question(provider_from_config(session.config.llm), " ".join(command.args), ctx)
    session.say(markdown_block(answer))  # the model's words may carry the PR author's
    return "done"


def _dismiss(session: Session, command: Command) -> str:
    if not command.args:
        session.say(COMMANDS["dismiss"].usage("dismiss"), ok=False)
        return "refused"
    store = session.runtime.store
    target = session.target
    first = command.args[0]
    reason = " ".join(command.args[1:])
    if first.startswith("all-"):
        problem = stage_problem(first)
        if problem:
            session.say(problem, ok=False)
            return "refused"
        chosen = [f for f in _findings(session).values() if f.get("stage") == first.removeprefix("all-")]
    else:
        found = _find(session, first)
        if found is None:
            return "refused"
        chosen = [found]
    if not chosen:
        session.say(f"No finding {typed_code(first, max_chars=20)} on this PR.", ok=False)
        return "refused"
    changed: set[str] = set()
    for finding in chosen:
        if store.dismiss_finding(
            target.repo, target.number, finding["fingerprint"], by=session.user, reason=reason
        ):
            changed.add(str(finding.get("stage")))
            _audit_dismissal(session, "finding.dismiss", finding, reason)
    text = (
        f"Dismissed {plural(len(chosen), 'finding')} on this PR"
        + (f" ({prose_text(reason.rstrip('.'), max_chars=200)})." if reason else ".")
        + (" It" if len(chosen) == 1 else " They")
        + " will not be reported here again; `/shunter undismiss "
        + (f"{str(chosen[0]['fingerprint'])[:8]}` shows it" if len(chosen) == 1 else f"{first}` shows them")
        + " again."
        if changed
        else f"Already dismissed on this PR: {plural(len(chosen), 'finding')}."
    )
    # the check runs already out still annotate (and may fail on) what was just dismissed:
    # run those stages again so the checks, and the summary, leave it out now
    why = "leave it out" if len(chosen) == 1 else "leave them out"
    session.say(text + _rerun_changed(session, changed, why))
    return "done"


def _undismiss(session: Session, command: Command) -> str:
    """The way back from ``/shunter dismiss``: the findings show on the PR's checks again."""
    if not command.args:
        session.say(COMMANDS["undismiss"].usage("undismiss"), ok=False)
        return "refused"
    store, target = session.runtime.store, session.target
    first, reason = command.args[0], " ".join(command.args[1:])
    known = {str(f.get("fingerprint")): f for f in _findings(session).values()}
    dismissals = store.dismissed_findings(target.repo, target.number)
    entries = dismissed_entries({d.fingerprint: (d.by, d.reason) for d in dismissals}, known)
    if first.startswith("all-"):
        problem = stage_problem(first)
        if problem:
            session.say(problem, ok=False)
            return "refused"
        chosen = of_stage(entries, first.removeprefix("all-"))
        if not chosen:
            stage = first.removeprefix("all-")
            session.say(f"No `{stage}` finding is dismissed on this PR: nothing to restore.", ok=False)
            return "refused"
    else:
        chosen = matching_findings(entries, first)
        if len(chosen) > 1:
            session.say(candidates_text(first, chosen), ok=False)
            return "refused"
        if not chosen:
            shown = matching_findings({fp[:8]: f for fp, f in known.items()}, first)
            answer = not_dismissed_text(shown[0]) if len(shown) == 1 else unknown_text(first, entries)
            session.say(answer, ok=False)
            return "refused"
    restored = [
        entry for entry in chosen if store.undismiss_finding(target.repo, target.number, entry["fingerprint"])
    ]
    if not restored:  # another command restored them in between
        session.say(f"Already restored on this PR: {plural(len(chosen), 'finding')}.")
        return "done"
    for entry in restored:
        _audit_dismissal(session, "finding.undismiss", entry, reason)
    changed = {str(entry.get("stage")) for entry in restored}
    again = "show it again" if len(restored) == 1 else "show them again"
    session.say(restored_text(restored, reason) + _rerun_changed(session, changed, again))
    return "done"


def _rerun_changed(session: Session, changed: set[str], why: str) -> str:
    """Run the stages whose dismissals changed again on the head: the check runs already
    out were concluded with the old ones. The reply's sentence saying so, or nothing."""
    stages = [stage for stage in StageName if stage.value in changed]
    ran = _rerun(session, stages)[0] if stages else []
    return f" Re-running {', '.join(f'`{r}`' for r in ran)} so the checks {why}." if ran else ""


def _audit_dismissal(session: Session, action: str, finding: dict[str, Any], reason: str) -> None:
    """One audit event per finding a person hid (``finding.dismiss``) or showed again
    (``finding.undismiss``): who, which finding, and the reason they gave."""
    session.runtime.store.record_audit(
        repo=session.target.repo,
        pr=session.target.number,
        actor=session.user,
        action=action,
        target_type="finding",
        target_id=str(finding.get("fingerprint", "")),
        delivery_id=session.ctx.delivery.delivery_id,
        reason_code="command",
        reason=(reason or f"/shunter {action.removeprefix('finding.')} by @{session.user}")[:500],
        payload={key: finding[key] for key in ("stage", "rule_id", "path", "start_line") if finding.get(key)},
    )


def _merge(session: Session, command: Command) -> str:
    from bot.pipeline import patches

    return patches.handle(session, command)


HANDLERS = {
    "help": _help,
    "review": _stages,
    "security": _stages,
    "tests": _stages,
    "all": _stages,
    "pause": _pause,
    "resume": _pause,
    "config": _config,
    "explain": _explain,
    "ask": _ask,
    "dismiss": _dismiss,
    "undismiss": _undismiss,
    "apply": _merge,
    "approve": _merge,
    "retry": _merge,
    "queue": _merge,
}
assert set(HANDLERS) == set(VERBS), "every verb has a handler"
assert set(STAGE_VERBS) <= set(HANDLERS)
