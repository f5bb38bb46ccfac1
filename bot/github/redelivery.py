"""Missed webhook deliveries, found and asked for again.

GitHub sends each event once. When Shunter's front door was down, answered 503 (Redis
unreachable) or was too slow, the delivery is marked failed and stays lost unless someone
asks GitHub to send it again (``POST /app/hook/deliveries/{id}/attempts``). A sweep does
that on a timer: it lists the App's recent deliveries (newest first, with the App's JWT),
groups the attempts by delivery GUID and asks again for every event that never got a 2xx
and that Shunter has not stored. Redelivery keeps the GUID, so the front door's dedup still
holds if a "failed" attempt was in fact stored (GitHub gave up waiting after 10 s).

:func:`plan` is the functional core (attempts in, decisions out); :func:`sweep` is the
shell around it: paging, Redis, the redelivery requests, logs and the audit trail.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from redis.exceptions import LockError

from bot.errors import GitHubError, ShunterError
from bot.logs import get_logger

log = get_logger(__name__)

GITHUB_KEEPS = timedelta(days=3)
"""GitHub redelivers only deliveries from the past three days."""
MAX_REDELIVERIES = 3
"""Requests per delivery before Shunter stops asking (the failure is then not transient)."""
IN_FLIGHT = timedelta(minutes=2)
"""How long a fresh attempt, or a redelivery Shunter asked for, is left to finish."""
OVERLAP = timedelta(minutes=10)
"""Each sweep looks this far behind the previous one's start, for attempts still running."""
MAX_SCANNED = 20_000
"""Attempts read per sweep at most (200 pages); older ones wait for the next sweep."""
PER_SWEEP = 100
"""Redeliveries requested per sweep at most, so an outage's backlog comes back gradually."""
REFUSED_STATUSES = frozenset({400, 413, 422})
"""Answers that say the payload itself is unacceptable: sending it again changes nothing."""

LOCK_KEY = "shunter:redelivery:lock"
LAST_KEY = "shunter:redelivery:last"
"""The last sweep's figures (a hash), for ``shunter doctor``."""
TOTALS_KEY = "shunter:redelivery:totals"
"""Running counts by outcome (a hash), for ``/metrics``."""
MARK_KEY = "shunter:redelivery:mark"
SENT_PREFIX = "shunter:redelivery:sent:"
STORED_PREFIX = "shunter:delivery:"  # the front door's dedup keys (bot/web/ingest.py)


@dataclass(frozen=True)
class Attempt:
    """One row of ``GET /app/hook/deliveries``: one attempt to deliver one event."""

    id: int
    guid: str
    delivered_at: datetime
    status_code: int
    status: str
    event: str
    action: str | None = None
    redelivery: bool = False
    installation_id: int | None = None
    repository_id: int | None = None

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> Attempt:
        when = datetime.fromisoformat(str(item["delivered_at"]).replace("Z", "+00:00"))
        return cls(
            id=int(item["id"]),
            guid=str(item["guid"]),
            delivered_at=when if when.tzinfo else when.replace(tzinfo=UTC),
            status_code=int(item.get("status_code") or 0),
            status=str(item.get("status") or ""),
            event=str(item.get("event") or ""),
            action=item.get("action"),
            redelivery=bool(item.get("redelivery")),
            installation_id=item.get("installation_id"),
            repository_id=item.get("repository_id"),
        )


class Verdict(StrEnum):
    REDELIVER = "redeliver"
    RECEIVED = "received"  # an attempt got a 2xx
    STORED = "stored"  # Shunter holds the delivery id: GitHub stopped waiting, Shunter did not
    REFUSED = "refused"  # Shunter rejected the payload itself (400, 413, 422)
    IN_FLIGHT = "in_flight"  # an attempt, or a redelivery Shunter asked for, is still running
    GAVE_UP = "gave_up"  # asked MAX_REDELIVERIES times already
    TOO_OLD = "too_old"  # past GitHub's three days


@dataclass(frozen=True)
class Decision:
    guid: str
    verdict: Verdict
    latest: Attempt
    """The newest attempt: the one a redelivery is requested for."""
    attempts: int
    reason: str
    asked: int = 0
    """Redeliveries already requested: a sweep that cannot ask for everything serves the
    deliveries asked for least first, so one that keeps failing cannot starve the rest."""


@dataclass(frozen=True)
class Requested:
    """What Shunter remembers of its own redelivery requests for one GUID."""

    count: int
    last: datetime
    attempt_id: int = 0
    """The attempt the last request was made for: while it is still the newest listed, the
    redelivery has not been attempted yet (timestamps are too coarse to tell)."""


def group_attempts(attempts: Iterable[Attempt]) -> dict[str, list[Attempt]]:
    """Attempts by GUID, oldest first; an attempt listed twice (pages shifting under a
    reader) counts once."""
    seen: set[int] = set()
    groups: dict[str, list[Attempt]] = {}
    for attempt in attempts:
        if attempt.id in seen:
            continue
        seen.add(attempt.id)
        groups.setdefault(attempt.guid, []).append(attempt)
    for group in groups.values():
        group.sort(key=lambda a: (a.delivered_at, a.id))
    return groups


def unanswered(groups: Mapping[str, Sequence[Attempt]]) -> list[str]:
    """The GUIDs with no 2xx attempt: the ones worth asking Redis and GitHub about."""
    return [guid for guid, group in groups.items() if not any(a.succeeded for a in group)]


def _failure(attempt: Attempt) -> str:
    if attempt.status_code:
        return f"HTTP {attempt.status_code}"
    return attempt.status or "no answer"


def decide(
    group: Sequence[Attempt],
    *,
    now: datetime,
    stored: bool,
    requested: Requested | None,
    max_redeliveries: int = MAX_REDELIVERIES,
) -> Decision:
    """What to do about one delivery, from its attempts (oldest first), whether Shunter
    stored it, and Shunter's own earlier requests for it."""
    latest = group[-1]
    count = len(group)
    asked = max(requested.count if requested else 0, sum(1 for a in group if a.redelivery))

    def verdict(kind: Verdict, reason: str) -> Decision:
        return Decision(latest.guid, kind, latest, count, reason, asked)

    if any(a.succeeded for a in group):
        return verdict(Verdict.RECEIVED, "an attempt was answered 2xx")
    if stored:
        return verdict(Verdict.STORED, "Shunter stored it though GitHub saw a failure")
    if latest.status_code in REFUSED_STATUSES:
        return verdict(
            Verdict.REFUSED,
            f"Shunter refused the payload itself (HTTP {latest.status_code}); "
            "sending it again changes nothing",
        )
    pending = latest.status_code == 0 and latest.status in ("", "pending")
    if pending and now - latest.delivered_at < IN_FLIGHT:
        return verdict(Verdict.IN_FLIGHT, "the attempt is still running")
    if requested is not None and requested.attempt_id == latest.id and now - requested.last < IN_FLIGHT:
        return verdict(Verdict.IN_FLIGHT, "a redelivery was asked for and has not been attempted yet")
    if asked >= max_redeliveries:
        return verdict(
            Verdict.GAVE_UP,
            f"redelivered {asked} times and still failing ({_failure(latest)}); not asking again",
        )
    if now - group[0].delivered_at >= GITHUB_KEEPS:
        return verdict(Verdict.TOO_OLD, "older than GitHub's three days")
    return verdict(Verdict.REDELIVER, f"failed ({_failure(latest)}), never stored")


def plan(
    groups: Mapping[str, Sequence[Attempt]],
    *,
    now: datetime,
    stored: set[str] | frozenset[str],
    requested: Mapping[str, Requested],
    max_redeliveries: int = MAX_REDELIVERIES,
) -> list[Decision]:
    """A decision per delivery GUID of ``groups`` (from :func:`group_attempts`), oldest
    delivery first (events come back in the order they happened)."""
    decisions = [
        decide(
            group,
            now=now,
            stored=guid in stored,
            requested=requested.get(guid),
            max_redeliveries=max_redeliveries,
        )
        for guid, group in groups.items()
    ]
    return sorted(decisions, key=lambda d: (groups[d.guid][0].delivered_at, groups[d.guid][0].id))


@dataclass
class SweepReport:
    since: datetime
    scanned: int = 0
    complete: bool = True
    decisions: list[Decision] = field(default_factory=list)
    redelivered: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    skipped: str | None = None
    """Why no sweep ran (another one holds the lock), else None."""

    def count(self, verdict: Verdict) -> int:
        return sum(1 for d in self.decisions if d.verdict is verdict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "scanned": self.scanned,
            "complete": self.complete,
            "skipped": self.skipped,
            "redelivered": list(self.redelivered),
            "errors": dict(self.errors),
            "decisions": [
                {
                    "guid": d.guid,
                    "event": d.latest.event,
                    "action": d.latest.action,
                    "attempts": d.attempts,
                    "verdict": d.verdict.value,
                    "reason": d.reason,
                    "delivered_at": d.latest.delivered_at.isoformat(),
                }
                for d in self.decisions
                if d.verdict is not Verdict.RECEIVED
            ],
        }


def _requested(redis: Any, guids: Sequence[str]) -> dict[str, Requested]:
    pipe = redis.pipeline(transaction=False)
    for guid in guids:
        pipe.hgetall(SENT_PREFIX + guid)
    found: dict[str, Requested] = {}
    for guid, raw in zip(guids, pipe.execute(), strict=True):
        if raw:
            values = {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}
            found[guid] = Requested(
                count=int(values.get("count", 0)),
                last=datetime.fromtimestamp(float(values.get("last", 0)), UTC),
                attempt_id=int(values.get("attempt", 0)),
            )
    return found


def _stored(redis: Any, guids: Sequence[str]) -> set[str]:
    pipe = redis.pipeline(transaction=False)
    for guid in guids:
        pipe.exists(STORED_PREFIX + guid)
    return {guid for guid, there in zip(guids, pipe.execute(), strict=True) if there}


def _remember_request(redis: Any, decision: Decision, now: datetime) -> None:
    key = SENT_PREFIX + decision.guid
    pipe = redis.pipeline()
    pipe.hincrby(key, "count", 1)
    pipe.hset(key, mapping={"last": str(now.timestamp()), "attempt": str(decision.latest.id)})
    pipe.expire(key, int(GITHUB_KEEPS.total_seconds()) + 86400)
    pipe.execute()


def _since(redis: Any, now: datetime, within: timedelta, *, after_mark: bool) -> datetime:
    oldest = now - min(within, GITHUB_KEEPS)
    raw = redis.get(MARK_KEY) if after_mark else None
    if raw:
        mark = datetime.fromtimestamp(float(raw), UTC) - OVERLAP
        return max(oldest, mark)
    return oldest


def sweep(
    runtime: Any,
    *,
    within: timedelta | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    per_sweep: int = PER_SWEEP,
) -> SweepReport:
    """List the App's deliveries since the last sweep (at most ``within`` back) and ask
    GitHub again for the failed ones Shunter never stored. ``within`` given looks that far
    back whatever the last sweep saw (an operator after an outage). One sweep at a time
    across all processes (a Redis lock); ``dry_run`` decides but asks for nothing and moves
    no mark."""
    from bot.github.client import translate_errors

    now = now or datetime.now(UTC)
    redis = runtime.redis
    if within is None:
        since = _since(redis, now, timedelta(hours=runtime.settings.redeliver_within_hours), after_mark=True)
    else:
        since = _since(redis, now, within, after_mark=False)
    report = SweepReport(since=since)
    lock = redis.lock(LOCK_KEY, timeout=600)
    if not lock.acquire(blocking=False):
        report.skipped = "another sweep is running"
        return report
    try:
        gh = runtime.github.app()
        attempts: list[Attempt] = []
        with translate_errors("listing the App's webhook deliveries"):
            pages = gh.rest.paginate(
                gh.rest.apps.list_webhook_deliveries, map_func=lambda resp: resp.json(), per_page=100
            )
            for item in pages:
                try:
                    attempt = Attempt.from_api(item)
                except (KeyError, TypeError, ValueError):  # an entry we cannot read: skip it, say so
                    log.warning("unreadable webhook delivery entry skipped", entry=str(item)[:200])
                    continue
                if attempt.delivered_at < since:
                    break
                attempts.append(attempt)
                if len(attempts) >= MAX_SCANNED:
                    report.complete = False
                    break
        report.scanned = len(attempts)
        groups = group_attempts(attempts)
        open_guids = unanswered(groups)
        report.decisions = plan(
            groups,
            now=now,
            stored=_stored(redis, open_guids) if open_guids else set(),
            requested=_requested(redis, open_guids) if open_guids else {},
        )
        for decision in sorted(report.decisions, key=lambda d: d.asked):  # stable: event order
            if decision.verdict in (Verdict.RECEIVED, Verdict.STORED, Verdict.IN_FLIGHT):
                continue
            bound = log.bind(
                delivery=decision.guid, gh_event=decision.latest.event, action=decision.latest.action
            )
            if decision.verdict is not Verdict.REDELIVER:
                bound.warning(
                    "missed delivery not redelivered", verdict=decision.verdict.value, reason=decision.reason
                )
                continue
            if dry_run:
                continue
            if len(report.redelivered) >= per_sweep:
                report.complete = False  # the rest waits for the next sweep
                break
            try:
                with translate_errors(f"asking GitHub to redeliver {decision.guid}"):
                    gh.rest.apps.redeliver_webhook_delivery(decision.latest.id)
            except ShunterError as exc:
                report.errors[decision.guid] = exc.message
                bound.warning("redelivery request failed", error=report.errors[decision.guid])
                if not isinstance(exc, GitHubError):
                    report.complete = False
                    break  # the network or GitHub is down: stop, the next sweep retries
                _remember_request(redis, decision, now)  # a refusal counts: it is not asked forever
                continue
            _remember_request(redis, decision, now)
            report.redelivered.append(decision.guid)
            bound.info("missed delivery redelivered", reason=decision.reason)
            _audit(runtime, decision)
        if report.complete and not dry_run:
            redis.set(MARK_KEY, str(now.timestamp()))
        if not dry_run:
            _record(redis, report, now)
    finally:
        with contextlib.suppress(LockError):  # it outlived its timeout: someone else's now
            lock.release()
    return report


def _record(redis: Any, report: SweepReport, now: datetime) -> None:
    """Leave the sweep's figures where operators look: the last sweep for ``shunter
    doctor``, running totals for ``/metrics``."""
    gave_up = report.count(Verdict.GAVE_UP)
    pipe = redis.pipeline()
    pipe.delete(LAST_KEY)
    pipe.hset(
        LAST_KEY,
        mapping={
            "at": str(now.timestamp()),
            "scanned": report.scanned,
            "redelivered": len(report.redelivered),
            "gave_up": gave_up,
            "errors": len(report.errors),
            "complete": int(report.complete),
        },
    )
    pipe.hincrby(TOTALS_KEY, "sweeps", 1)
    pipe.hincrby(TOTALS_KEY, "redelivered", len(report.redelivered))
    pipe.hincrby(TOTALS_KEY, "gave_up", gave_up)
    pipe.hincrby(TOTALS_KEY, "errors", len(report.errors))
    pipe.execute()


def last_sweep(redis: Any) -> dict[str, float] | None:
    """The last sweep's figures (``at`` is a Unix timestamp), or None before the first."""
    raw = redis.hgetall(LAST_KEY)
    if not raw:
        return None
    return {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in raw.items()}


def _audit(runtime: Any, decision: Decision) -> None:
    """Redelivery is a write Shunter makes to GitHub: it goes in the audit log."""
    latest = decision.latest
    try:
        runtime.store.record_audit(
            repo=f"repository-id:{latest.repository_id}" if latest.repository_id else "(app)",
            actor="shunter",
            action="webhook.redeliver",
            target_type="hook_delivery",
            target_id=latest.id,
            installation_id=latest.installation_id,
            delivery_id=decision.guid,
            reason_code="missed_delivery",
            reason=decision.reason,
            payload={"event": latest.event, "action": latest.action, "attempts": decision.attempts},
        )
    except Exception as exc:  # the audit store is down: the redelivery stands, the log says so
        log.error("could not record the redelivery in the audit log", error=type(exc).__name__)


def sweep_job() -> dict[str, Any]:
    """rq job: one sweep with the worker's runtime."""
    from bot.runtime import get_runtime

    report = sweep(get_runtime())
    result = report.as_dict()
    result["decisions"] = len(result["decisions"])
    return result
