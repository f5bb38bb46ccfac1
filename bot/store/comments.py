"""Which comments Shunter owns on a PR: the one summary comment and the inline comments.

Both are guarded by unique keys, so the database arbitrates between concurrent workers:
exactly one worker wins the right to create the summary comment, and a finding's
fingerprint can be claimed for an inline comment only once per PR, across pushes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, delete, select, update

from bot.store import tables as t
from bot.store.base import StoreBase
from bot.store.records import PostedComment

DEFAULT_STALE_CLAIM = timedelta(minutes=5)


class CommentsMixin(StoreBase):
    # Summary comment ---------------------------------------------------------------------

    def claim_summary_comment(
        self, repo: str, pr: int, worker: str, *, stale_after: timedelta = DEFAULT_STALE_CLAIM
    ) -> bool:
        """True when ``worker`` may create the PR's summary comment, False otherwise.

        False means another worker holds a fresh claim or the comment already exists (read
        it with :meth:`get_summary_comment_id` and update it). A claim whose worker died
        before recording a comment id is taken over after ``stale_after``. Claiming again
        as the same worker is idempotent.
        """
        c = t.summary_comments.c
        now = self.now()
        with self._write() as conn:
            if self._insert_new(
                conn,
                t.summary_comments,
                ["repo", "pr"],
                {"repo": repo, "pr": pr, "worker": worker, "claimed_at": now, "comment_id": None},
            ):
                return True
            row = conn.execute(select(t.summary_comments).where(c.repo == repo, c.pr == pr)).one()
            if row.comment_id is not None:
                return False
            if row.worker == worker:
                return True
            if now - row.claimed_at < stale_after:
                return False
            taken = conn.execute(
                update(t.summary_comments)
                .where(
                    c.repo == repo,
                    c.pr == pr,
                    c.worker == row.worker,
                    c.claimed_at == row.claimed_at,
                    c.comment_id.is_(None),
                )
                .values(worker=worker, claimed_at=now)
            )
            return taken.rowcount == 1

    def set_summary_comment_id(self, repo: str, pr: int, comment_id: int, worker: str = "") -> None:
        """Record the created (or found) summary comment; clears any pending claim."""
        now = self.now()
        with self._write() as conn:
            conn.execute(
                self._insert(t.summary_comments)
                .values(repo=repo, pr=pr, worker=worker, claimed_at=now, comment_id=comment_id)
                .on_conflict_do_update(index_elements=["repo", "pr"], set_={"comment_id": comment_id})
            )

    def get_summary_comment_id(self, repo: str, pr: int) -> int | None:
        c = t.summary_comments.c
        with self._read() as conn:
            return conn.execute(select(c.comment_id).where(c.repo == repo, c.pr == pr)).scalar_one_or_none()

    def release_summary_claim(self, repo: str, pr: int, worker: str) -> None:
        """Give up a claim (creating the comment failed) so another worker can try at once."""
        c = t.summary_comments.c
        with self._write() as conn:
            conn.execute(
                delete(t.summary_comments).where(
                    c.repo == repo, c.pr == pr, c.worker == worker, c.comment_id.is_(None)
                )
            )

    def forget_summary_comment(self, repo: str, pr: int) -> None:
        """The comment is gone on GitHub (someone deleted it): allow a new one."""
        c = t.summary_comments.c
        with self._write() as conn:
            conn.execute(delete(t.summary_comments).where(c.repo == repo, c.pr == pr))

    # Inline comments ---------------------------------------------------------------------

    def claim_inline_comments(
        self,
        repo: str,
        pr: int,
        head_sha: str,
        items: Iterable[tuple[str, str, int]],
    ) -> set[str]:
        """Claim ``(fingerprint, path, line)`` items before posting them; returns those won.

        A fingerprint already claimed or posted on this PR (by any push, any worker) is not
        returned, so the same finding is never commented twice. Record the posted comment
        with :meth:`set_inline_comment_id`, or give the claim back with
        :meth:`release_inline_comments` when posting failed.
        """
        won: set[str] = set()
        now = self.now()
        with self._write() as conn:
            for fingerprint, path, line in items:
                values = {
                    "repo": repo,
                    "pr": pr,
                    "fingerprint": fingerprint,
                    "comment_id": None,
                    "head_sha": head_sha,
                    "path": path,
                    "line": line,
                    "resolved": False,
                    "created_at": now,
                }
                if self._insert_new(conn, t.inline_comments, ["repo", "pr", "fingerprint"], values):
                    won.add(fingerprint)
        return won

    def set_inline_comment_id(self, repo: str, pr: int, fingerprint: str, comment_id: int) -> None:
        c = t.inline_comments.c
        with self._write() as conn:
            conn.execute(
                update(t.inline_comments)
                .where(c.repo == repo, c.pr == pr, c.fingerprint == fingerprint)
                .values(comment_id=comment_id)
            )

    def record_inline_comment(
        self,
        repo: str,
        pr: int,
        fingerprint: str,
        *,
        comment_id: int,
        head_sha: str,
        path: str,
        line: int,
    ) -> bool:
        """Claim and record in one step; False when the fingerprint was already there."""
        if not self.claim_inline_comments(repo, pr, head_sha, [(fingerprint, path, line)]):
            return False
        self.set_inline_comment_id(repo, pr, fingerprint, comment_id)
        return True

    def release_inline_comments(self, repo: str, pr: int, fingerprints: Iterable[str]) -> None:
        """Drop claims that never became comments (posting failed), so a retry can post."""
        c = t.inline_comments.c
        wanted = list(fingerprints)
        if not wanted:
            return
        with self._write() as conn:
            conn.execute(
                delete(t.inline_comments).where(
                    c.repo == repo,
                    c.pr == pr,
                    c.fingerprint.in_(wanted),
                    c.comment_id.is_(None),
                )
            )

    def posted_fingerprints(self, repo: str, pr: int) -> set[str]:
        """Every fingerprint claimed or commented on this PR, resolved or not."""
        c = t.inline_comments.c
        with self._read() as conn:
            return set(conn.execute(select(c.fingerprint).where(c.repo == repo, c.pr == pr)).scalars())

    def inline_comments(self, repo: str, pr: int, *, resolved: bool | None = None) -> list[PostedComment]:
        c = t.inline_comments.c
        query = select(t.inline_comments).where(c.repo == repo, c.pr == pr)
        if resolved is not None:
            query = query.where(c.resolved == resolved)
        with self._read() as conn:
            return [_posted(row) for row in conn.execute(query.order_by(c.id))]

    def mark_inline_resolved(self, repo: str, pr: int, fingerprints: Iterable[str]) -> int:
        """Flag comments whose findings a later push fixed; returns how many changed."""
        c = t.inline_comments.c
        wanted = list(fingerprints)
        if not wanted:
            return 0
        with self._write() as conn:
            result = conn.execute(
                update(t.inline_comments)
                .where(
                    c.repo == repo,
                    c.pr == pr,
                    c.fingerprint.in_(wanted),
                    c.resolved.is_(False),
                )
                .values(resolved=True, resolved_at=self.now())
            )
        return int(result.rowcount)


def _posted(row: Row[Any]) -> PostedComment:
    return PostedComment(
        repo=row.repo,
        pr=row.pr,
        fingerprint=row.fingerprint,
        comment_id=row.comment_id,
        head_sha=row.head_sha,
        path=row.path,
        line=row.line,
        resolved=bool(row.resolved),
        resolved_at=row.resolved_at,
        created_at=row.created_at,
    )
