"""Persisted runs with per-step traces: one run per (head SHA, stage) attempt.

A run moves ``queued -> in_progress -> completed`` or ends ``cancelled``/``superseded``.
Transitions are guarded in SQL (``WHERE status IN (...)``) so a worker finishing a run that
a newer push already superseded learns it lost the race instead of overwriting the record.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, update

from bot.errors import ShunterError
from bot.store import tables as t
from bot.store.base import StoreBase, inserted_id
from bot.store.records import RunRecord, RunStatus, StepRecord

_ACTIVE = (RunStatus.QUEUED.value, RunStatus.IN_PROGRESS.value)
_STEP_STATUSES = {"in_progress", "success", "failure", "skipped", "cancelled"}


class RunsMixin(StoreBase):
    def create_run(
        self,
        repo: str,
        pr: int | None,
        head_sha: str,
        stage: str,
        *,
        delivery_id: str | None = None,
        installation_id: int | None = None,
        reason: str | None = None,
        check_run_id: int | None = None,
    ) -> RunRecord:
        """Record a queued run (the planner calls this when it creates the check run)."""
        now = self.now()
        values = {
            "repo": repo,
            "pr": pr,
            "head_sha": head_sha,
            "stage": str(stage),
            "status": RunStatus.QUEUED.value,
            "check_run_id": check_run_id,
            "delivery_id": delivery_id,
            "installation_id": installation_id,
            "reason": self._clean(reason),
            "created_at": now,
            "metrics": {},
            "findings_count": 0,
        }
        with self._write() as conn:
            run_id = inserted_id(conn.execute(t.runs.insert().values(**values)))
            row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).one()
        return _run(row)

    def set_check_run_id(self, run_id: int, check_run_id: int) -> None:
        with self._write() as conn:
            conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(check_run_id=check_run_id))

    def start_run(self, run_id: int) -> bool:
        """Mark the run in progress; False when it already ended (e.g. superseded meanwhile)."""
        with self._write() as conn:
            result = conn.execute(
                update(t.runs)
                .where(t.runs.c.id == run_id, t.runs.c.status.in_(_ACTIVE))
                .values(status=RunStatus.IN_PROGRESS.value, started_at=self.now())
            )
        return result.rowcount == 1

    def finish_run(
        self,
        run_id: int,
        *,
        conclusion: str,
        metrics: Mapping[str, Any] | None = None,
        findings_count: int = 0,
        status: RunStatus = RunStatus.COMPLETED,
    ) -> bool:
        """End an active run; False when it had already ended, and then nothing changes."""
        if status.active:
            raise ShunterError(f"finish_run needs an end status, not {status.value!r}")
        now = self.now()
        with self._write() as conn:
            result = conn.execute(
                update(t.runs)
                .where(t.runs.c.id == run_id, t.runs.c.status.in_(_ACTIVE))
                .values(
                    status=status.value,
                    conclusion=conclusion,
                    finished_at=now,
                    metrics=self._clean(dict(metrics or {})),
                    findings_count=findings_count,
                )
            )
            if result.rowcount == 1:
                # A run that never started (cancelled in the queue) gets a zero duration.
                conn.execute(
                    update(t.runs)
                    .where(t.runs.c.id == run_id, t.runs.c.started_at.is_(None))
                    .values(started_at=now)
                )
        return result.rowcount == 1

    def supersede_runs(
        self,
        repo: str,
        pr: int,
        old_head_sha: str | None = None,
        new_head_sha: str | None = None,
        *,
        stage: str | None = None,
    ) -> list[RunRecord]:
        """End the PR's active runs on ``old_head_sha`` (or on any head but the new one).

        Returns the runs it ended; the publisher concludes their check runs with a line
        naming ``new_head_sha``.
        """
        if not new_head_sha:
            raise ShunterError("supersede_runs needs the new head SHA that replaces the runs")
        conditions = [
            t.runs.c.repo == repo,
            t.runs.c.pr == pr,
            t.runs.c.head_sha != new_head_sha,
            t.runs.c.status.in_(_ACTIVE),
        ]
        if old_head_sha is not None:
            conditions.append(t.runs.c.head_sha == old_head_sha)
        if stage is not None:
            conditions.append(t.runs.c.stage == str(stage))
        now = self.now()
        with self._write() as conn:
            ids = [row.id for row in conn.execute(select(t.runs.c.id).where(*conditions))]
            if not ids:
                return []
            conn.execute(
                update(t.runs)
                .where(t.runs.c.id.in_(ids), t.runs.c.status.in_(_ACTIVE))
                .values(
                    status=RunStatus.SUPERSEDED.value,
                    conclusion="cancelled",
                    finished_at=now,
                    reason=self._clean(f"superseded by {new_head_sha}"),
                )
            )
            rows = conn.execute(select(t.runs).where(t.runs.c.id.in_(ids)).order_by(t.runs.c.id))
            return [_run(row) for row in rows]

    def get_run(self, run_id: int) -> RunRecord | None:
        with self._read() as conn:
            row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).first()
        return _run(row) if row is not None else None

    def run_for_check_run(self, check_run_id: int) -> RunRecord | None:
        """The run behind a check run (for ``requested_action`` and ``rerequested``)."""
        with self._read() as conn:
            row = conn.execute(
                select(t.runs).where(t.runs.c.check_run_id == check_run_id).order_by(t.runs.c.id.desc())
            ).first()
        return _run(row) if row is not None else None

    def runs_for_pr(
        self, repo: str, pr: int, *, head_sha: str | None = None, limit: int = 200
    ) -> list[RunRecord]:
        """Newest first."""
        query = select(t.runs).where(t.runs.c.repo == repo, t.runs.c.pr == pr)
        if head_sha is not None:
            query = query.where(t.runs.c.head_sha == head_sha)
        query = query.order_by(t.runs.c.id.desc()).limit(limit)
        with self._read() as conn:
            return [_run(row) for row in conn.execute(query)]

    def recent_runs(self, *, repo: str | None = None, limit: int = 50) -> list[RunRecord]:
        """The newest runs overall (or of one repository): the web app's run list."""
        query = select(t.runs)
        if repo is not None:
            query = query.where(t.runs.c.repo == repo)
        with self._read() as conn:
            return [_run(row) for row in conn.execute(query.order_by(t.runs.c.id.desc()).limit(limit))]

    def runs_for_head(self, repo: str, head_sha: str) -> list[RunRecord]:
        """Every run on one commit, PR or not (merge groups and ``shunter run`` have none)."""
        query = (
            select(t.runs)
            .where(t.runs.c.repo == repo, t.runs.c.head_sha == head_sha)
            .order_by(t.runs.c.id.desc())
        )
        with self._read() as conn:
            return [_run(row) for row in conn.execute(query)]

    def active_runs(self, created_before: datetime, *, limit: int = 500) -> list[RunRecord]:
        """Runs still ``queued`` or ``in_progress`` that were created before
        ``created_before``, oldest first: what the lost-run sweep
        (``bot.pipeline.lost_runs``) checks against the jobs Redis still holds."""
        query = (
            select(t.runs)
            .where(t.runs.c.status.in_(_ACTIVE), t.runs.c.created_at < created_before)
            .order_by(t.runs.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [_run(row) for row in conn.execute(query)]

    def latest_runs(self, repo: str, pr: int, *, head_sha: str | None = None) -> dict[str, RunRecord]:
        """The newest run of each stage on the PR (or on one head): the summary table's rows."""
        conditions = [t.runs.c.repo == repo, t.runs.c.pr == pr]
        if head_sha is not None:
            conditions.append(t.runs.c.head_sha == head_sha)
        latest_ids = (
            select(func.max(t.runs.c.id)).where(*conditions).group_by(t.runs.c.stage)
        ).scalar_subquery()
        query = select(t.runs).where(t.runs.c.id.in_(latest_ids))
        with self._read() as conn:
            return {row.stage: _run(row) for row in conn.execute(query)}

    # Steps -------------------------------------------------------------------------------

    def start_step(self, run_id: int, name: str, detail: Mapping[str, Any] | None = None) -> int:
        with self._write() as conn:
            return inserted_id(
                conn.execute(
                    t.run_steps.insert().values(
                        run_id=run_id,
                        name=name,
                        status="in_progress",
                        started_at=self.now(),
                        detail=self._clean(dict(detail or {})),
                    )
                )
            )

    def finish_step(
        self, step_id: int, *, status: str = "success", detail: Mapping[str, Any] | None = None
    ) -> None:
        if status not in _STEP_STATUSES or status == "in_progress":
            raise ShunterError(
                f"unknown step status {status!r}",
                hint="use success, failure, skipped or cancelled",
            )
        values: dict[str, Any] = {"status": status, "finished_at": self.now()}
        with self._write() as conn:
            if detail:
                current = conn.execute(
                    select(t.run_steps.c.detail).where(t.run_steps.c.id == step_id)
                ).scalar_one_or_none()
                values["detail"] = {**(current or {}), **self._clean(dict(detail))}
            conn.execute(update(t.run_steps).where(t.run_steps.c.id == step_id).values(**values))

    @contextmanager
    def step(self, run_id: int, name: str, **detail: Any) -> Iterator[dict[str, Any]]:
        """Trace a block as a step; fill the yielded dict to store details with it.

        An exception marks the step ``failure`` with the error's one-line message (redacted)
        and propagates.
        """
        step_id = self.start_step(run_id, name, detail)
        extra: dict[str, Any] = {}
        try:
            yield extra
        except BaseException as exc:
            extra["error"] = f"{type(exc).__name__}: {exc}"
            self.finish_step(step_id, status="failure", detail=extra)
            raise
        self.finish_step(step_id, status="success", detail=extra)

    def steps(self, run_id: int) -> list[StepRecord]:
        query = select(t.run_steps).where(t.run_steps.c.run_id == run_id).order_by(t.run_steps.c.id)
        with self._read() as conn:
            return [
                StepRecord(
                    id=row.id,
                    run_id=row.run_id,
                    name=row.name,
                    status=row.status,
                    started_at=row.started_at,
                    finished_at=row.finished_at,
                    detail=dict(row.detail or {}),
                )
                for row in conn.execute(query)
            ]


def _run(row: Row[Any]) -> RunRecord:
    return RunRecord(
        id=row.id,
        repo=row.repo,
        pr=row.pr,
        head_sha=row.head_sha,
        stage=row.stage,
        status=RunStatus(row.status),
        conclusion=row.conclusion,
        check_run_id=row.check_run_id,
        delivery_id=row.delivery_id,
        installation_id=row.installation_id,
        reason=row.reason,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        metrics=dict(row.metrics or {}),
        findings_count=row.findings_count,
    )
