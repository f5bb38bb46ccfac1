"""Per-PR state people set with slash commands: pause, dismissals, command history.

Also the record of command comments already executed, keyed by comment id and a hash of
its text, so an edited comment runs again only when its text really changed and a
redelivered webhook never runs the same command twice.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Row, delete, exists, func, select, update

from bot.store import tables as t
from bot.store.base import StoreBase, inserted_id
from bot.store.records import CommandRecord, DismissedFinding, PullState

RECENT_COMMANDS = 5
_MAX_TEXT = 500


def text_hash(text: str) -> str:
    """The identity of a command comment's text (whitespace at the ends does not count)."""
    return hashlib.sha256(text.strip().encode()).hexdigest()


MOVED_WITH_THE_REPOSITORY = (
    (t.pr_state, ("pr",)),
    (t.dismissed_findings, ("pr", "fingerprint")),
    (t.processed_comments, ("comment_id", "text_hash")),
    (t.summary_comments, ("pr",)),
    (t.inline_comments, ("pr", "fingerprint")),
    (t.commands, ()),
)
"""The per-PR tables a renamed or transferred repository takes along, with their keys
besides ``repo``."""


class PullStateMixin(StoreBase):
    def move_repository(self, old: str, new: str) -> int:
        """Put the per-PR state of ``old`` (any case) under ``new`` (a rename or a transfer);
        a row already there under the new name (an event that came first) wins. Returns how
        many rows moved."""
        moved = 0
        with self._write() as conn:
            for table, keys in MOVED_WITH_THE_REPOSITORY:
                c = table.c
                was = (func.lower(c.repo) == old.lower(), c.repo != new)
                if keys:
                    other = table.alias("other")
                    taken = exists().where(
                        func.lower(other.c.repo) == new.lower(),
                        other.c.repo != c.repo,
                        *[other.c[key] == c[key] for key in keys],
                    )
                    conn.execute(delete(table).where(*was, taken))
                moved += conn.execute(update(table).where(*was).values(repo=new)).rowcount or 0
        return moved

    def set_paused(self, repo: str, pr: int, paused: bool, *, by: str) -> bool:
        """Pause or resume automatic runs; returns True when the state changed."""
        now = self.now()
        values = {
            "paused": paused,
            "paused_by": by if paused else None,
            "paused_at": now if paused else None,
            "updated_at": now,
        }
        c = t.pr_state.c
        with self._write() as conn:
            conn.execute(
                self._insert(t.pr_state)
                .values(repo=repo, pr=pr, paused=False, updated_at=now)
                .on_conflict_do_nothing(index_elements=["repo", "pr"])
            )
            current = conn.execute(
                select(c.paused).where(c.repo == repo, c.pr == pr).with_for_update()
            ).scalar_one()
            if bool(current) == paused:
                return False
            conn.execute(update(t.pr_state).where(c.repo == repo, c.pr == pr).values(**values))
            return True

    def is_paused(self, repo: str, pr: int) -> bool:
        c = t.pr_state.c
        with self._read() as conn:
            value = conn.execute(select(c.paused).where(c.repo == repo, c.pr == pr)).scalar_one_or_none()
        return bool(value)

    def pull_state(self, repo: str, pr: int, *, commands: int = RECENT_COMMANDS) -> PullState:
        """Pause flag, the last ``commands`` commands (newest first) and dismissals."""
        c = t.pr_state.c
        with self._read() as conn:
            row = conn.execute(select(t.pr_state).where(c.repo == repo, c.pr == pr)).first()
        return PullState(
            repo=repo,
            pr=pr,
            paused=bool(row.paused) if row else False,
            paused_by=row.paused_by if row else None,
            paused_at=row.paused_at if row else None,
            recent_commands=tuple(self.recent_commands(repo, pr, limit=commands)),
            dismissed=tuple(self.dismissed_findings(repo, pr)),
        )

    # Commands ----------------------------------------------------------------------------

    def record_command(
        self,
        repo: str,
        pr: int,
        *,
        verb: str,
        user: str,
        outcome: str,
        args: str = "",
        detail: str | None = None,
        comment_id: int | None = None,
    ) -> CommandRecord:
        values = {
            "repo": repo,
            "pr": pr,
            "verb": verb[:50],
            "args": self._clean(args[:_MAX_TEXT]),
            "user": user,
            "outcome": outcome[:50],
            "detail": self._clean(detail[:_MAX_TEXT] if detail else detail),
            "comment_id": comment_id,
            "at": self.now(),
        }
        with self._write() as conn:
            command_id = inserted_id(conn.execute(t.commands.insert().values(**values)))
        return CommandRecord(id=command_id, **values)

    def update_command(self, command_id: int, *, outcome: str, detail: str | None = None) -> None:
        """Move a command on (``accepted`` -> ``done``/``refused``/``failed``)."""
        values: dict[str, Any] = {"outcome": outcome[:50]}
        if detail is not None:
            values["detail"] = self._clean(detail[:_MAX_TEXT])
        with self._write() as conn:
            conn.execute(update(t.commands).where(t.commands.c.id == command_id).values(**values))

    def interrupt_commands(self, repo: str, comment_id: int) -> int:
        """Mark this comment's commands still ``running`` as ``interrupted``: their worker
        died mid-session and the retry runs them again, each with a record of its own."""
        c = t.commands.c
        query = (
            update(t.commands)
            .where(c.repo == repo, c.comment_id == comment_id, c.outcome == "running")
            .values(outcome="interrupted")
        )
        with self._write() as conn:
            return int(conn.execute(query).rowcount or 0)

    def recent_commands(self, repo: str, pr: int, *, limit: int = RECENT_COMMANDS) -> list[CommandRecord]:
        """Newest first."""
        c = t.commands.c
        query = select(t.commands).where(c.repo == repo, c.pr == pr).order_by(c.id.desc()).limit(limit)
        with self._read() as conn:
            return [_command(row) for row in conn.execute(query)]

    def mark_command_comment(self, repo: str, comment_id: int, text: str) -> bool:
        """True the first time this comment is seen with this text; False for a repeat.

        Call it before running the commands of a created or edited comment.
        """
        with self._write() as conn:
            return self._insert_new(
                conn,
                t.processed_comments,
                ["repo", "comment_id", "text_hash"],
                {
                    "repo": repo,
                    "comment_id": comment_id,
                    "text_hash": text_hash(text),
                    "at": self.now(),
                },
            )

    # Dismissals --------------------------------------------------------------------------

    def dismiss_finding(self, repo: str, pr: int, fingerprint: str, *, by: str, reason: str = "") -> bool:
        """Hide a finding from later runs on this PR; False when it was already dismissed."""
        with self._write() as conn:
            return self._insert_new(
                conn,
                t.dismissed_findings,
                ["repo", "pr", "fingerprint"],
                {
                    "repo": repo,
                    "pr": pr,
                    "fingerprint": fingerprint,
                    "by": by,
                    "reason": self._clean(reason[:_MAX_TEXT]),
                    "at": self.now(),
                },
            )

    def undismiss_finding(self, repo: str, pr: int, fingerprint: str) -> bool:
        c = t.dismissed_findings.c
        with self._write() as conn:
            result = conn.execute(
                delete(t.dismissed_findings).where(c.repo == repo, c.pr == pr, c.fingerprint == fingerprint)
            )
        return result.rowcount == 1

    def dismissed_findings(self, repo: str, pr: int) -> list[DismissedFinding]:
        c = t.dismissed_findings.c
        query = select(t.dismissed_findings).where(c.repo == repo, c.pr == pr).order_by(c.at, c.fingerprint)
        with self._read() as conn:
            return [
                DismissedFinding(fingerprint=row.fingerprint, by=row.by, reason=row.reason, at=row.at)
                for row in conn.execute(query)
            ]

    def dismissed_fingerprints(self, repo: str, pr: int) -> set[str]:
        return {item.fingerprint for item in self.dismissed_findings(repo, pr)}


def _command(row: Row[Any]) -> CommandRecord:
    return CommandRecord(
        id=row.id,
        repo=row.repo,
        pr=row.pr,
        verb=row.verb,
        args=row.args,
        user=row.user,
        outcome=row.outcome,
        detail=row.detail,
        comment_id=row.comment_id,
        at=row.at,
    )
