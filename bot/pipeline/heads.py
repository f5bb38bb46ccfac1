"""Which head SHA is current for each PR, and which stages were planned for it (Redis).

This is how a newer push supersedes older work across many workers: the planner moves the
PR's head pointer; queued jobs for the old SHA see it when they start and running ones at
their next checkpoint, and conclude their check runs as ``cancelled``. Bursts of deliveries
for one head collapse because each (head, stage) can be planned only once (``HSETNX``).
"""

from __future__ import annotations

from redis import Redis

TTL = 14 * 24 * 3600


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _pr_key(repo: str, number: int | None, head_sha: str) -> str:
    # merge groups have no PR: their head SHA is their identity
    return f"{repo}#{number}" if number is not None else f"{repo}@{head_sha}"


def _renamed_key(repo: str) -> str:
    return f"shunter:renamed:{repo}"


PER_PULL_KINDS = ("head", "head-at", "head-before", "closed")
PER_HEAD_KINDS = ("planned", "done")


def current_name(redis: Redis, repo: str) -> str:
    """The name ``repo`` has now (itself unless it was renamed or transferred): a job or an
    event still under a name the repository had before a rename or a transfer reads and
    moves the same head and closed state as the new name's (a few hops at most: renamed
    twice)."""
    for _ in range(5):
        value = redis.get(_renamed_key(repo))
        if not value:
            break
        repo = _text(value)
    return repo


def was_renamed(redis: Redis, repo: str) -> bool:
    """Whether ``repo`` is a name a repository had before a rename or a transfer."""
    return bool(redis.exists(_renamed_key(repo)))


def move_repository(redis: Redis, old: str, new: str) -> int:
    """``old`` was renamed or transferred to ``new``: its pull requests' heads, closed state
    and the stages planned and concluded for their heads move to the new name (a key
    already there, set by an event that came first, wins) and the old name points to the
    new one. Returns how many keys moved."""
    redis.set(_renamed_key(old), new, ex=TTL)
    redis.delete(_renamed_key(new))  # renamed back
    moved = 0
    patterns = [(f"shunter:{k}:{old}", "#@") for k in PER_PULL_KINDS]
    patterns += [(f"shunter:{k}:{old}", ":") for k in PER_HEAD_KINDS]
    for prefix, separators in patterns:
        kind = prefix.split(":")[1]
        for separator in separators:
            for key in redis.scan_iter(match=f"{prefix}{separator}*"):
                name = _text(key)
                if redis.renamenx(name, f"shunter:{kind}:{new}{name[len(prefix):]}"):
                    moved += 1
                else:
                    redis.delete(name)
    return moved


def _head_key(repo: str, number: int | None, head_sha: str) -> str:
    return f"shunter:head:{_pr_key(repo, number, head_sha)}"


def _planned_key(repo: str, head_sha: str) -> str:
    return f"shunter:planned:{repo}:{head_sha}"


def _done_key(repo: str, head_sha: str) -> str:
    return f"shunter:done:{repo}:{head_sha}"


def _head_at_key(repo: str, number: int | None, head_sha: str) -> str:
    return f"shunter:head-at:{_pr_key(repo, number, head_sha)}"


def _head_before_key(repo: str, number: int | None, head_sha: str) -> str:
    return f"shunter:head-before:{_pr_key(repo, number, head_sha)}"


# KEYS: head, head's updated_at, the head's push ``before``; ARGV: sha, ttl, updated_at and
# before ('' when the event has none)
_MOVE_HEAD = """
local old = redis.call('GET', KEYS[1])
local at = redis.call('GET', KEYS[2])
local before = redis.call('GET', KEYS[3])
if old ~= ARGV[1] and ARGV[3] ~= '' and at and (at > ARGV[3] or (at == ARGV[3] and before == ARGV[1])) then
  return {0, old}
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if ARGV[3] ~= '' and (not at or ARGV[3] > at) then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
end
if old ~= ARGV[1] then
  if ARGV[4] ~= '' then
    redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[2])
  else
    redis.call('DEL', KEYS[3])
  end
end
return {1, old}
"""


class StaleEvent(Exception):
    """The event describes the PR as it was before the head Shunter already works on."""

    def __init__(self, current: str) -> None:
        super().__init__(current)
        self.current = current


def move_head(
    redis: Redis,
    repo: str,
    number: int | None,
    head_sha: str,
    updated_at: str | None = None,
    before: str | None = None,
) -> str | None:
    """Make ``head_sha`` the PR's current head; return the previous one if it differs.

    ``updated_at`` is the PR's timestamp in the event: an event older than the one that set
    the current head (a late redelivery, deliveries out of order) raises
    :class:`StaleEvent` and moves nothing, so it cannot supersede newer work. Events without
    a timestamp (check suites, commands) move the head as they arrive.

    ``updated_at`` has whole seconds, so two pushes in one second cannot be told apart by
    it; a ``synchronize`` also says which commit it replaced (``before``): within the same
    second, the commit the current head replaced is the older one. (A later force-push
    back to that commit has a later timestamp, and moves the head as it should.)
    """
    repo = current_name(redis, repo)
    keys = (
        _head_key(repo, number, head_sha),
        _head_at_key(repo, number, head_sha),
        _head_before_key(repo, number, head_sha),
    )
    moved, old = redis.eval(_MOVE_HEAD, 3, *keys, head_sha, TTL, updated_at or "", before or "")
    previous = _text(old) if old else None
    if not moved:
        raise StaleEvent(previous or "")
    return previous if previous and previous != head_sha else None


def current_head(redis: Redis, repo: str, number: int | None, head_sha: str) -> str | None:
    repo = current_name(redis, repo)
    value = redis.get(_head_key(repo, number, head_sha))
    return _text(value) if value else None


def is_superseded(redis: Redis, repo: str, number: int | None, head_sha: str) -> str | None:
    """The SHA that replaced ``head_sha`` for this PR, or None while it is still current."""
    current = current_head(redis, repo, number, head_sha)
    return current if current and current != head_sha else None


# KEYS: planned, done; ARGV: stage, ttl, '1' to take over a stage concluded 'skipped'
_CLAIM = """
local first = redis.call('HSETNX', KEYS[1], ARGV[1], 'claimed')
redis.call('EXPIRE', KEYS[1], ARGV[2])
if first == 1 then
  return 1
end
if ARGV[3] == '1' and redis.call('HGET', KEYS[2], ARGV[1]) == 'skipped' then
  redis.call('HSET', KEYS[1], ARGV[1], 'claimed')
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
"""


def claim_stage(
    redis: Redis, repo: str, head_sha: str, stage: str, *, force: bool = False, over_skipped: bool = False
) -> bool:
    """True if this caller should plan ``stage`` for ``head_sha`` (first claim, or a re-run).

    ``over_skipped``: a stage the policy skipped on this head (a draft, a missing label, a
    WIP title) is planned again when a later event on the same head lets it run
    (``ready_for_review``, ``labeled``, the title edited). Without it the ``skipped`` check
    run would stand until the next push, and a required check could never pass. Taking a
    skip over is atomic, so two such events plan the stage once.
    """
    repo = current_name(redis, repo)
    key = _planned_key(repo, head_sha)
    if force:
        redis.hset(key, stage, "claimed")
        redis.hdel(_done_key(repo, head_sha), stage)
        redis.expire(key, TTL)
        return True
    done = _done_key(repo, head_sha)
    return bool(redis.eval(_CLAIM, 2, key, done, stage, TTL, "1" if over_skipped else "0"))


def all_claimed(redis: Redis, repo: str, head_sha: str, stages: list[str]) -> bool:
    """Whether every one of ``stages`` is already planned (run or skipped) for the head."""
    repo = current_name(redis, repo)
    return set(stages) <= {_text(s) for s in redis.hkeys(_planned_key(repo, head_sha))}


def release_stage(redis: Redis, repo: str, head_sha: str, stage: str) -> None:
    """Undo a claim whose check run could not be created, so a redelivery can plan it."""
    repo = current_name(redis, repo)
    redis.hdel(_planned_key(repo, head_sha), stage)


def record_check_run(redis: Redis, repo: str, head_sha: str, stage: str, check_run_id: int) -> None:
    repo = current_name(redis, repo)
    redis.hset(_planned_key(repo, head_sha), stage, str(check_run_id))


def planned_check_runs(redis: Redis, repo: str, head_sha: str) -> dict[str, int]:
    repo = current_name(redis, repo)
    raw = redis.hgetall(_planned_key(repo, head_sha))
    result: dict[str, int] = {}
    for stage, value in raw.items():
        text = _text(value)
        if text.isdigit():
            result[_text(stage)] = int(text)
    return result


def mark_done(redis: Redis, repo: str, head_sha: str, stage: str, conclusion: str) -> bool:
    """Record a stage's conclusion; True when every planned stage of the head is done."""
    repo = current_name(redis, repo)
    done_key = _done_key(repo, head_sha)
    pipe = redis.pipeline()
    pipe.hset(done_key, stage, conclusion)
    pipe.expire(done_key, TTL)
    pipe.hgetall(done_key)
    pipe.hkeys(_planned_key(repo, head_sha))
    _, _, done, planned = pipe.execute()
    return set(planned) <= set(done)


def all_done(redis: Redis, repo: str, head_sha: str) -> bool:
    """Whether every planned stage of the head has concluded."""
    repo = current_name(redis, repo)
    pipe = redis.pipeline()
    pipe.hkeys(_done_key(repo, head_sha))
    pipe.hkeys(_planned_key(repo, head_sha))
    done, planned = pipe.execute()
    return set(planned) <= set(done)


def conclusions(redis: Redis, repo: str, head_sha: str) -> dict[str, str]:
    repo = current_name(redis, repo)
    return {_text(k): _text(v) for k, v in redis.hgetall(_done_key(repo, head_sha)).items()}


def _closed_key(repo: str, number: int) -> str:
    return f"shunter:closed:{repo}#{number}"


def mark_closed(redis: Redis, repo: str, number: int, state: str, updated_at: str | None = None) -> None:
    """Note that the PR was closed (``state`` ``closed`` or ``merged``) at ``updated_at``:
    stage jobs still queued for it, or running, stop instead of publishing to a pull request
    nobody reads."""
    repo = current_name(redis, repo)
    redis.set(_closed_key(repo, number), f"{state} {updated_at or ''}".strip(), ex=TTL)


def mark_open(redis: Redis, repo: str, number: int, updated_at: str | None = None) -> None:
    """The PR is open again (reopened): its stages run as before. An event older than the
    close (a late redelivery of ``opened``) leaves it closed."""
    repo = current_name(redis, repo)
    key = _closed_key(repo, number)
    value = redis.get(key)
    if not value:
        return
    _, _, closed_at = _text(value).partition(" ")
    if updated_at and closed_at and updated_at < closed_at:
        return
    redis.delete(key)


def closed_state(redis: Redis, repo: str, number: int | None) -> str | None:
    """``closed`` or ``merged`` when the PR was closed since its stages were planned."""
    repo = current_name(redis, repo)
    if number is None:
        return None
    value = redis.get(_closed_key(repo, number))
    return _text(value).partition(" ")[0] if value else None
