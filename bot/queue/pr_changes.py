"""Per pull request, the changes the merge queue does not hold but ``/shunter queue`` must
list: those waiting for ``/shunter approve``, and those an operator dropped.

A change waiting for approval lives only in its record (``shunter:cr:<id>``), and a dropped
one's merge-queue entry is deleted, so a listing of the merge queue missed both: a
maintainer asking what is queued for a pull request did not see what waited for them.

Each index is a Redis sorted set per (kind, repository, pull request) whose scores are when
each member's record expires (Unix seconds): a member past its score is gone with its
record and is pruned when read; the set itself expires with its newest member.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

RECORD_TTL = 14 * 24 * 3600
"""How long the record of a change is kept (``bot.pipeline.patches.PENDING_TTL``)."""

Kind = Literal["waiting", "dropped"]


def record_key(change_id: str) -> str:
    """Where a change's record is: where it was proposed, the reply to edit, and for a
    change waiting for approval its request."""
    return f"shunter:cr:{change_id}"


def index_key(kind: Kind, repo: str, pr: int) -> str:
    return f"shunter:pr-changes:{kind}:{repo}#{pr}"


def note(redis: Any, kind: Kind, repo: str, pr: int, change_id: str, until: datetime) -> None:
    """List ``change_id`` under ``kind`` for pull request ``pr`` until ``until`` (its
    record's expiry); it leaves the other index (a dropped change asked for again waits
    again, a waiting one dropped is dropped)."""
    other: Kind = "dropped" if kind == "waiting" else "waiting"
    key, ends = index_key(kind, repo, pr), _seconds(until)
    pipe = redis.pipeline()
    pipe.zrem(index_key(other, repo, pr), change_id)
    pipe.zadd(key, {change_id: ends})
    pipe.execute()
    newest = redis.zrange(key, -1, -1, withscores=True)
    redis.expireat(key, int(max([ends, *(score for _, score in newest)])) + 1)


def forget(redis: Any, repo: str, pr: int, change_id: str) -> None:
    """``change_id`` is in the merge queue again (approved, retried, asked for again) or
    landed: neither index lists it any more."""
    pipe = redis.pipeline()
    for kind in ("waiting", "dropped"):
        pipe.zrem(index_key(kind, repo, pr), change_id)  # type: ignore[arg-type]
    pipe.execute()


def listed(redis: Any, kind: Kind, repo: str, pr: int, now: datetime) -> list[tuple[str, dict[str, Any]]]:
    """The changes of ``pr`` under ``kind`` whose record is still there, oldest first,
    each with its record; members whose record expired are pruned."""
    key = index_key(kind, repo, pr)
    redis.zremrangebyscore(key, "-inf", _seconds(now))
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in redis.zrange(key, 0, -1)]
    out: list[tuple[str, dict[str, Any]]] = []
    for change_id in ids:
        raw = redis.get(record_key(change_id))
        record = json_object(raw)
        if record.get("repo") != repo or record.get("pr") != pr or (kind == "waiting" and "cr" not in record):
            redis.zrem(key, change_id)  # expired, or proposed again elsewhere
            continue
        out.append((change_id, record))
    return out


DropCause = Literal["operator", "closed", "merged"]
"""Who or what dropped a change: an operator (``shunter queue drop``), or its pull request
being closed or merged (``bot.pipeline.closed_pulls``)."""


def mark_dropped(
    redis: Any,
    change_id: str,
    place: dict[str, Any],
    *,
    title: str,
    at: datetime,
    cause: DropCause = "operator",
) -> None:
    """Record that ``change_id``, proposed on ``place`` (its record, or what its request
    says: ``repo`` and ``pr``), was dropped and by what, so that ``/shunter queue`` lists it
    as dropped and ``/shunter retry`` and ``/shunter approve`` say so instead of not finding
    it. The record is kept ``RECORD_TTL`` from now, without the request it may have held:
    a dropped change cannot be approved."""
    record = {k: v for k, v in place.items() if k != "cr"}
    record["dropped"] = {"at": at.isoformat(timespec="seconds"), "title": title, "cause": cause}
    redis.set(record_key(change_id), json.dumps(record), ex=RECORD_TTL)
    repo, pr = record.get("repo"), record.get("pr")
    if isinstance(repo, str) and isinstance(pr, int):
        until = datetime.fromtimestamp(_seconds(at) + RECORD_TTL, tz=UTC)
        note(redis, "dropped", repo, pr, change_id, until)


def _seconds(moment: datetime) -> float:
    """Unix seconds of ``moment``; a naive one is UTC (as the store's clock gives it)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def json_object(raw: str | bytes | None) -> dict[str, Any]:
    """``raw`` read as a JSON object; empty when it is none, or not JSON."""
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def read_record(redis: Any, change_id: str) -> dict[str, Any]:
    """The record of ``change_id`` (empty when it expired or never was)."""
    return json_object(redis.get(record_key(change_id)))


def place_of(cr: Any) -> dict[str, Any]:
    """Where a change request says it was proposed (its record expired): the pull
    request's repository and number, or nothing when it does not say."""
    if cr is None or not cr.origin.pull_number:
        return {}
    return {"repo": cr.origin.repo or cr.repo, "pr": cr.origin.pull_number, "reply_id": None}
