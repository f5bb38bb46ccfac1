"""The one summary comment per PR: found by marker and author, rebuilt on every run.

The marker ``<!-- shunter:summary -->`` is the body's first line, and only a comment by
Shunter's own login counts: anyone can paste the marker into a comment of their own, and
Shunter must never start editing (or trusting) that one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.models import Finding, Severity, StageResult
from bot.publishing import limits
from bot.publishing.fixes import fixes_phrase, offered_fixes
from bot.publishing.markdown import cell, clip, code
from bot.wording import plural

if TYPE_CHECKING:  # the config loader behind it pulls in githubkit: ~0.25 s at `shunter run`
    from bot.policies.check_output import ConfigNotice

MARKER = "<!-- shunter:summary -->"
MAX_COMMANDS_SHOWN = 10
_MAX_URL = 500  # longer "links" are not links we made; leave them out
_NONE = "\u2013"  # an en dash for empty cells

_STATE_LABEL = {
    "queued": "🕒 queued",
    "in_progress": "🔄 running",
    "success": "✅ passed",
    "failure": "❌ failed",
    "neutral": "⚪ neutral",
    "cancelled": "🚫 cancelled",
    "superseded": "🚫 superseded",
    "skipped": "⏭️ skipped",
    "timed_out": "⌛ timed out",
    "action_required": "⚠️ action required",
    "stale": "🕒 waiting",
}
_OUTCOME_ICON = {
    "done": "🚀",
    "accepted": "👀",
    "running": "👀",
    "refused": "😕",
    "failed": "😕",
    "ignored": "🙈",
}


@dataclass(frozen=True)
class StageRow:
    """One stage's line in the summary table."""

    stage: str
    status: str
    """``queued``, ``in_progress``, ``completed``, ``cancelled``, ``superseded`` or ``skipped``."""
    conclusion: str | None = None
    errors: int = 0
    warnings: int = 0
    notices: int = 0
    fixes: int = 0
    """Fixes offered (``bot.publishing.fixes``): findings fixed, not patches."""
    can_apply: bool = True
    """Whether policy lets Shunter commit this stage's fixes (``patches.auto_apply`` is not
    ``never``): only then does the comment tell people to apply them."""
    check_url: str | None = None
    note: str | None = None
    """A short reason shown with skipped or neutral stages."""
    remarks: tuple[str, ...] = ()
    """Messages of the reported findings about the whole pull request ("This PR changes
    1,234 lines..."): with no line to comment on, the row says them beside the counts."""

    @classmethod
    def from_result(
        cls,
        result: StageResult,
        *,
        conclusion: str,
        check_url: str | None = None,
        dismissed: Iterable[str] = (),
    ) -> StageRow:
        gone = set(dismissed)
        shown = [f for f in result.findings if not f.suppressed and f.fingerprint not in gone]
        return cls(
            stage=result.stage.value,
            status="completed",
            conclusion=conclusion,
            errors=sum(f.severity is Severity.ERROR for f in shown),
            warnings=sum(f.severity is Severity.WARNING for f in shown),
            notices=sum(f.severity is Severity.NOTICE for f in shown),
            fixes=offered_fixes(result),
            check_url=check_url,
            remarks=pull_request_remarks(shown),
        )

    @property
    def state(self) -> str:
        if self.status == "completed" and self.conclusion:
            return self.conclusion
        if self.status in {"skipped", "superseded", "cancelled"}:
            return self.status
        return self.status if self.status in _STATE_LABEL else "stale"

    @property
    def counts(self) -> str:
        if self.status != "completed":
            return _NONE
        parts = [
            plural(n, word)
            for n, word in (
                (self.errors, "error"),
                (self.warnings, "warning"),
                (self.notices, "notice"),
            )
            if n
        ]
        counts = ", ".join(parts) or "none"
        if not self.remarks:
            return counts
        shown = [cell(remark, 200) for remark in self.remarks[:MAX_REMARKS]]
        return f"{counts}: {' '.join(shown)}"


MAX_REMARKS = 3


def pull_request_remarks(findings: Iterable[Finding]) -> tuple[str, ...]:
    """The messages of ``findings`` about the whole pull request, most severe first, for
    the summary comment's row (the publisher keeps them with the run)."""
    remarks = sorted((f for f in findings if f.on_pull_request), key=lambda f: -f.severity.rank)
    return tuple(f.message for f in remarks[:MAX_REMARKS])


def _field(item: Any, name: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(name)
    return getattr(item, name, None)


def summary_comment_body(
    repo: str,
    pr: int,
    stage_rows: Sequence[StageRow],
    *,
    head_sha: str,
    paused: bool = False,
    paused_by: str | None = None,
    recent_commands: Sequence[Any] = (),
    run_links: Mapping[str, str] | None = None,
    config_notices: Sequence[ConfigNotice] = (),
) -> str:
    """The summary comment's Markdown, marker first, always within GitHub's 65536 limit.

    ``recent_commands`` are records with ``verb``, ``user``, ``outcome`` and optionally
    ``args`` and ``at`` (``bot.store.CommandRecord`` or dicts), newest first.
    ``run_links`` maps a stage to its page on Shunter's web app. ``config_notices`` say
    that the config in force (or the one the PR proposes) is broken, above the table.
    """
    links = dict(run_links or {})
    commands = list(recent_commands)[:MAX_COMMANDS_SHOWN]
    # Rows and commands are clipped one by one, so this only triggers on absurd input;
    # dropping whole sections then keeps the Markdown well-formed, unlike a blind cut.
    for shown in (len(commands), 3, 0):
        body = _render(
            repo, pr, stage_rows, head_sha, paused, paused_by, commands[:shown], links, config_notices
        )
        if limits.size(body) <= limits.MAX_COMMENT_BODY:
            return body
    return clip(body, limits.MAX_COMMENT_BODY)


def _render(
    repo: str,
    pr: int,
    stage_rows: Sequence[StageRow],
    head_sha: str,
    paused: bool,
    paused_by: str | None,
    commands: Sequence[Any],
    links: Mapping[str, str],
    config_notices: Sequence[ConfigNotice],
) -> str:
    lines = [
        MARKER,
        "### Shunter",
        "",
        f"Results for {code(head_sha[:12])} on {cell(repo, 100)}#{pr}.",
        "",
    ]
    for notice in config_notices[:2]:
        lines += [_config_line(notice), ""]
    if paused:
        who = f" by {code(paused_by, 60)}" if paused_by else ""
        lines += [
            f"> ⏸️ **Paused**{who}: automatic runs are off on this PR. "
            "Comment `/shunter resume` to turn them back on; commands still work.",
            "",
        ]
    if stage_rows:
        lines += ["| Stage | Status | Findings | Fixes | Links |", "|---|---|---|---|---|"]
        for row in stage_rows[:20]:
            lines.append(_stage_line(row, links.get(row.stage)))
        lines.append("")
    else:
        lines += ["No stage runs on this PR under the current policy.", ""]
    if any(row.fixes and row.can_apply for row in stage_rows):
        lines += ["Apply the suggested fixes with `/shunter apply` or the checks' buttons.", ""]
    elif any(row.fixes for row in stage_rows):
        lines += [
            "The fixes are suggestions only: this repository's `patches.auto_apply` does not let "
            "Shunter commit them.",
            "",
        ]
    if commands:
        lines += [
            "<details><summary>Last commands</summary>",
            "",
            "| When | Who | Command | Outcome |",
            "|---|---|---|---|",
        ]
        lines += [_command_line(item) for item in commands]
        lines += ["", "</details>", ""]
    lines.append("<sub>Comment `/shunter help` for the commands you can use here.</sub>")
    return "\n".join(lines)


def _stage_line(row: StageRow, run_link: str | None) -> str:
    label = _STATE_LABEL.get(row.state, cell(row.state, 30))
    if row.note:
        label += f" ({cell(row.note, 120)})"
    links = []
    if row.check_url and len(row.check_url) <= _MAX_URL:
        links.append(f"[check]({_url(row.check_url)})")
    if run_link and len(run_link) <= _MAX_URL:
        links.append(f"[run]({_url(run_link)})")
    fixes = fixes_phrase(row.stage, row.fixes) if row.fixes else _NONE
    name = code(f"shunter/{row.stage}", 40, table=True)
    return f"| {name} | {label} | {row.counts} | {fixes} | {' · '.join(links) or _NONE} |"


def _config_line(notice: ConfigNotice) -> str:
    """One quoted line: what is broken, where the details are, what Shunter does meanwhile."""
    where = "see the `shunter/config` check"
    if notice.check_url and len(notice.check_url) <= _MAX_URL:
        where = f"see the [`shunter/config` check]({_url(notice.check_url)})"
    return f"> ⚠️ **{clip(notice.headline, 300)}** ({where}). {clip(notice.detail, 600)}"


def _command_line(item: Any) -> str:
    at = _field(item, "at")
    when = at.strftime("%Y-%m-%d %H:%M UTC") if isinstance(at, datetime) else _NONE
    verb = str(_field(item, "verb") or "?")
    args = str(_field(item, "args") or "")
    command = code(f"/shunter {verb} {args}".strip(), 80, table=True)
    outcome = str(_field(item, "outcome") or "")
    icon = _OUTCOME_ICON.get(outcome, "")
    user = code(str(_field(item, "user") or "?"), 40, table=True)
    return f"| {when} | {user} | {command} | {icon} {cell(outcome, 40)} |".replace("  ", " ")


def _url(url: str) -> str:
    """A link target that cannot break out of ``(...)`` in Markdown."""
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("\n", "")


def find_summary_comment(comments: Iterable[Any], bot_login: str) -> Any | None:
    """The PR's summary comment: marker on the first line AND written by ``bot_login``.

    ``comments`` are GitHub issue comments as dicts or objects (``body``, ``user.login``);
    the oldest match wins, so a stray duplicate never takes over.
    """
    wanted = bot_login.casefold()
    for comment in comments:
        body = _field(comment, "body") or ""
        user = _field(comment, "user")
        login = _field(user, "login") if user is not None else None
        if not isinstance(login, str) or login.casefold() != wanted:
            continue
        if body.lstrip("\ufeff").split("\n", 1)[0].strip() == MARKER:
            return comment
    return None
