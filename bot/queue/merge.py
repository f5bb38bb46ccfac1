"""The merge queue: per-(repo, branch) queues of change requests in Redis, with leases.

Guarantees, and how they are kept:

- **Idempotent enqueue.** An entry is a hash keyed by the change-request id; enqueue is a
  Lua script that does nothing when the hash exists (a second click returns the first
  entry's state).
- **One worker at a time per entry.** ``claim`` moves entries from the waiting sorted set to
  the leased sorted set (score = lease expiry) and stamps them with a fresh lease token, all
  in one script, so two workers never hold the same entry.
- **Nothing lost.** Every claim first returns expired leases to the waiting set, so the
  entries of a worker that died are picked up by the next claim of any worker. Time is the
  Redis server's (``TIME`` inside the scripts), so leases do not depend on worker clocks.
- **Finished exactly once.** ``finish`` only acts when the caller's lease token is still the
  entry's token and the entry is still leased; a worker whose lease expired cannot finish
  an entry another worker has taken over. (Double *landing* is prevented separately: the
  ``Shunter-Change`` trailer on the branch is checked before applying, see
  ``bot.queue.merge_worker``.)
- **Order.** The waiting set's score is ``priority band * 10^13 + sequence``: a maintainer's
  request goes before an auto-apply, and within a band the first in is the first out.
- **One batch per branch at a time** (``branch_lock``, on by default). A claim also takes
  the branch's lock (same token, same expiry, renewed with the lease), so workers do not
  build batches on the same head only to lose the push race; the lock of a dead worker
  expires with its lease. Other branches are worked on in parallel.
- **Batches.** A claim takes the longest prefix of the waiting set (up to ``max_batch``
  entries and ``max_batch_paths`` files)
  whose entries touch pairwise different paths and were queued under the same policy
  (:func:`same_policy_prefix`); each entry keeps its own lease state.
- **Retries and dead letters.** A transient failure puts the entry in the delayed set with
  exponential backoff; after ``max_attempts`` claims, or on a real conflict, it goes to the
  dead-letter set with a reason code and a sentence saying what happened.
- **An unreadable entry stands alone.** A stored request that no longer reads as one (say,
  written by an older Shunter whose schema has since changed) is dead-lettered as
  ``unreadable`` by the claim that meets it; the rest of its batch is claimed and lands.

Keys live under ``shunter:mq:`` (see ``Keys``). The scripts name entry hashes they compute
from ids, so this targets a single Redis/Valkey (not Redis Cluster), like the rest of Shunter.
"""

from __future__ import annotations

import ast
import inspect
import json
import logging
import random
import secrets
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pydantic
import redis

from bot.changes.model import ChangeRequest
from bot.changes.validation import BaseTree, ValidationReport, validate_change
from bot.errors import QueueUnavailable, ShunterError
from bot.policies.schema import Patches

log = logging.getLogger("shunter.merge_queue")

PREFIX = "shunter:mq:"
BAND = 10**13

STATES = ("waiting", "delayed", "leased", "landed", "dead")


@dataclass(frozen=True)
class QueueSettings:
    """Operator knobs (not repository policy): how long leases last, how hard to retry.

    Each knob's docstring is also the help of the ``python -m bot.queue.merge_worker`` flag
    that sets it (see :func:`knob_docs`): keep each one under its own knob.
    """

    lease_seconds: float = 30.0
    """Seconds a claim holds its entries (and the branch lock) unless renewed; a worker
    renews every third of it, so entries of a worker that died go back after this long."""
    max_attempts: int = 5
    """Claims an entry gets: a transient failure (or an expired lease) on the last one sends
    it to the dead letters instead of back to the queue."""
    max_batch: int = 50
    """Most entries landed by one commit. Conflicts are isolated per entry, so a large batch
    costs nothing in retries; ``max_batch_paths`` keeps the commit reviewable."""
    max_batch_paths: int = 400
    """Most files one batch touches: the entry that would pass it waits for the next batch
    (an entry touching more than this lands alone)."""
    backoff_base: float = 2.0
    """Seconds before the first retry of a transient failure; doubled each attempt."""
    backoff_max: float = 300.0
    """The longest wait between retries, in seconds."""
    landed_ttl_seconds: int = 7 * 86400
    """How long a landed entry is kept (and a re-submitted identical change is a no-op)."""
    branch_lock: bool = True
    """One batch in flight per branch: later batches wait instead of racing the push (and
    losing the compare-and-swap). Off, workers race and CAS sorts them out."""

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: exponential, capped, with 10 % jitter."""
        delay = min(self.backoff_max, self.backoff_base * 2 ** max(0, attempts - 1))
        return delay * (0.9 + random.random() * 0.2)  # noqa: S311 (jitter, not crypto)


def knob_docs() -> dict[str, str]:
    """Each ``QueueSettings`` knob's docstring by name, on one line.

    Read from the class's source, where editors and documentation generators read attribute
    docstrings too, so ``python -m bot.queue.merge_worker --help`` cannot describe a knob
    differently (or describe the wrong one); empty when the source is not installed, and
    the flags then go without help.
    """
    try:
        source = textwrap.dedent(inspect.getsource(QueueSettings))
    except (OSError, TypeError):
        return {}
    cls = ast.parse(source).body[0]
    if not isinstance(cls, ast.ClassDef):
        return {}
    docs: dict[str, str] = {}
    for node, after in zip(cls.body, cls.body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.replace("``", "").split())
    return docs


class Keys:
    """Every Redis key the merge queue uses, in one place."""

    def __init__(self, prefix: str = PREFIX) -> None:
        self.prefix = prefix
        self.seq = prefix + "seq"
        self.queues = prefix + "queues"
        self.dead = prefix + "dead"
        self.landed = prefix + "landed"

    def entry(self, change_id: str) -> str:
        return f"{self.prefix}e:{change_id}"

    def waiting(self, queue: str) -> str:
        return f"{self.prefix}q:{queue}"

    def leased(self, queue: str) -> str:
        return f"{self.prefix}leased:{queue}"

    def delayed(self, queue: str) -> str:
        return f"{self.prefix}delayed:{queue}"

    def lock(self, queue: str) -> str:
        return f"{self.prefix}lock:{queue}"


def queue_name(repo: str, branch: str) -> str:
    """``owner/name:branch`` (validated branch names cannot hold ``:``)."""
    return f"{repo}:{branch}"


_ENQUEUE = """
local ek = KEYS[1]
if redis.call('EXISTS', ek) == 1 then
  return {0, redis.call('HGET', ek, 'state')}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seq = redis.call('INCR', KEYS[4])
local score = tonumber(ARGV[5]) * 10000000000000 + seq
redis.call('HSET', ek, 'id', ARGV[1], 'cr', ARGV[2], 'policy', ARGV[3], 'queue', ARGV[4],
  'paths', ARGV[6], 'state', 'waiting', 'score', tostring(score), 'attempts', '0',
  'created_ms', tostring(now), 'updated_ms', tostring(now))
redis.call('ZADD', KEYS[2], score, ARGV[1])
redis.call('SADD', KEYS[3], ARGV[4])
return {1, 'waiting'}
"""

# KEYS: waiting, leased, delayed, dead, branch lock
# ARGV: prefix, owner, token, lease_ms, max_batch, max_attempts, use_lock ('1'/'0'),
#       max_batch_paths, the dead_detail of an entry whose paths do not read
# Returns {'0'} when the branch is locked, else {expiry, n, n ids dead-lettered as
# unreadable, then id, cr, policy, attempt for each entry claimed}
_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix = ARGV[1]
local max_attempts = tonumber(ARGV[6])
local function to_dead(ek, id, reason, detail)
  redis.call('HSET', ek, 'state', 'dead', 'dead_reason', reason, 'dead_detail', detail,
    'lease_owner', '', 'lease_token', '', 'updated_ms', tostring(now))
  redis.call('ZADD', KEYS[4], now, id)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  local ek = prefix .. 'e:' .. id
  redis.call('ZREM', KEYS[2], id)
  if redis.call('HGET', ek, 'state') == 'leased' then
    local who = redis.call('HGET', ek, 'lease_owner') or '?'
    local msg = 'the lease of ' .. who .. ' expired (worker died or stalled)'
    if tonumber(redis.call('HGET', ek, 'attempts') or '0') >= max_attempts then
      to_dead(ek, id, 'attempts_exhausted', msg)
    else
      redis.call('HSET', ek, 'state', 'waiting', 'last_error', msg, 'lease_owner', '',
        'lease_token', '', 'updated_ms', tostring(now))
      redis.call('HINCRBY', ek, 'reclaims', 1)
      redis.call('ZADD', KEYS[1], redis.call('HGET', ek, 'score'), id)
    end
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do
  local ek = prefix .. 'e:' .. id
  redis.call('ZREM', KEYS[3], id)
  if redis.call('HGET', ek, 'state') == 'delayed' then
    redis.call('HSET', ek, 'state', 'waiting', 'updated_ms', tostring(now))
    redis.call('ZADD', KEYS[1], redis.call('HGET', ek, 'score'), id)
  end
end
if ARGV[7] == '1' and redis.call('EXISTS', KEYS[5]) == 1 then
  return {'0'}
end
local max_batch = tonumber(ARGV[5])
local taken = {}
local unreadable = {}
local seen = {}
local npaths = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, max_batch - 1)) do
  local ek = prefix .. 'e:' .. id
  local ok, paths = pcall(cjson.decode, redis.call('HGET', ek, 'paths') or '[]')
  if not ok or type(paths) ~= 'table' then
    -- raising here would fail every claim of this queue, for ever: set the entry aside
    redis.call('ZREM', KEYS[1], id)
    to_dead(ek, id, 'unreadable', ARGV[9])
    table.insert(unreadable, id)
  else
    local clash = false
    for _, p in ipairs(paths) do
      if seen[p] then clash = true end
    end
    if clash then break end
    npaths = npaths + #paths
    if #taken > 0 and npaths > tonumber(ARGV[8]) then break end
    for _, p in ipairs(paths) do seen[p] = true end
    table.insert(taken, id)
  end
end
local expiry = now + tonumber(ARGV[4])
local out = {tostring(expiry), tostring(#unreadable)}
for _, id in ipairs(unreadable) do
  table.insert(out, id)
end
if #taken > 0 and ARGV[7] == '1' then
  redis.call('SET', KEYS[5], ARGV[3], 'PX', tonumber(ARGV[4]))
end
for _, id in ipairs(taken) do
  local ek = prefix .. 'e:' .. id
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], expiry, id)
  local attempts = redis.call('HINCRBY', ek, 'attempts', 1)
  redis.call('HSET', ek, 'state', 'leased', 'lease_owner', ARGV[2], 'lease_token', ARGV[3],
    'lease_expiry_ms', tostring(expiry), 'updated_ms', tostring(now))
  table.insert(out, id)
  table.insert(out, redis.call('HGET', ek, 'cr'))
  table.insert(out, redis.call('HGET', ek, 'policy'))
  table.insert(out, tostring(attempts))
end
return out
"""

# KEYS: leased, branch lock   ARGV: prefix, token, lease_ms, ids...
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = now + tonumber(ARGV[3])
local renewed = 0
for i = 4, #ARGV do
  local ek = ARGV[1] .. 'e:' .. ARGV[i]
  local held = redis.call('HMGET', ek, 'state', 'lease_token')
  if held[1] == 'leased' and held[2] == ARGV[2] then
    redis.call('HSET', ek, 'lease_expiry_ms', tostring(expiry))
    redis.call('ZADD', KEYS[1], expiry, ARGV[i])
    renewed = renewed + 1
  end
end
if redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]))
end
return {renewed, tostring(expiry)}
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: entry, leased, waiting, delayed, dead, landed
# ARGV: token, outcome, id, a, b, c, landed_ttl, max_attempts
_FINISH = """
local ek = KEYS[1]
local held = redis.call('HMGET', ek, 'state', 'lease_token')
if held[1] ~= 'leased' or held[2] ~= ARGV[1] then
  return 'not-held'
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id = ARGV[3]
redis.call('ZREM', KEYS[2], id)
redis.call('HSET', ek, 'lease_owner', '', 'lease_token', '', 'updated_ms', tostring(now))
local outcome = ARGV[2]
if outcome == 'retry' and tonumber(redis.call('HGET', ek, 'attempts')) >= tonumber(ARGV[8]) then
  outcome = 'dead'
  local n = redis.call('HGET', ek, 'attempts')
  ARGV[5] = 'attempts exhausted (' .. n .. '); last error: ' .. ARGV[4]
  ARGV[4] = 'attempts_exhausted'
end
if outcome == 'landed' then
  redis.call('HSET', ek, 'state', 'landed', 'landed_sha', ARGV[4], 'landed_note', ARGV[5])
  redis.call('ZADD', KEYS[6], now, id)
  redis.call('EXPIRE', ek, tonumber(ARGV[7]))
elseif outcome == 'dead' then
  redis.call('HSET', ek, 'state', 'dead', 'dead_reason', ARGV[4], 'dead_detail', ARGV[5])
  redis.call('ZADD', KEYS[5], now, id)
elseif outcome == 'retry' then
  local due = now + tonumber(ARGV[6])
  redis.call('HSET', ek, 'state', 'delayed', 'last_error', ARGV[4], 'not_before_ms', tostring(due))
  redis.call('ZADD', KEYS[4], due, id)
elseif outcome == 'release' then
  redis.call('HINCRBY', ek, 'attempts', -1)
  redis.call('HSET', ek, 'state', 'waiting')
  redis.call('ZADD', KEYS[3], redis.call('HGET', ek, 'score'), id)
elseif outcome == 'drop' then
  redis.call('DEL', ek)
end
return outcome
"""

# KEYS: entry, waiting, delayed, dead, queues   ARGV: id, mode ('retry' | 'drop')
_OPERATE = """
local ek = KEYS[1]
local state = redis.call('HGET', ek, 'state')
if not state then return 'missing' end
if state == 'leased' then return 'leased' end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == 'retry' then
  if state ~= 'dead' and state ~= 'delayed' then return 'state:' .. state end
  redis.call('ZREM', KEYS[4], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('HSET', ek, 'state', 'waiting', 'attempts', '0', 'updated_ms', tostring(now))
  redis.call('HDEL', ek, 'dead_reason', 'dead_detail', 'not_before_ms')
  redis.call('ZADD', KEYS[2], redis.call('HGET', ek, 'score'), ARGV[1])
  redis.call('SADD', KEYS[5], redis.call('HGET', ek, 'queue'))
  return 'waiting'
end
if state == 'landed' then return 'state:landed' end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('DEL', ek)
return 'dropped'
"""


@dataclass(frozen=True)
class EnqueueResult:
    change_id: str
    created: bool
    state: str
    validation: ValidationReport | None = None


@dataclass(frozen=True)
class QueuedChange:
    """A claimed entry: the request, the policy it was queued under, its attempt number."""

    cr: ChangeRequest
    policy: Patches
    attempt: int


@dataclass
class Claim:
    """What a worker holds: a batch from one queue under one lease token."""

    queue: str
    owner: str
    token: str
    entries: list[QueuedChange]
    lease_expires_ms: int
    lost: set[str] = field(default_factory=set)
    """Ids whose lease renewal failed: another worker may own them now."""
    unreadable: dict[str, str] = field(default_factory=dict)
    """Ids this claim met but could not read (id -> why), already dead-lettered: they are
    not in ``entries``."""

    @property
    def repo(self) -> str:
        return self.queue.split(":", 1)[0]

    @property
    def branch(self) -> str:
        return self.queue.split(":", 1)[1]

    @property
    def ids(self) -> list[str]:
        return [e.cr.id for e in self.entries]


@dataclass(frozen=True)
class EntryView:
    """An entry as ``shunter queue show`` prints it."""

    id: str
    queue: str
    state: str
    attempts: int
    priority: int
    fields: Mapping[str, str]
    cr: ChangeRequest | None

    def as_dict(self) -> dict[str, Any]:
        def ms(name: str) -> str | None:
            value = self.fields.get(name)
            if not value:
                return None
            return datetime.fromtimestamp(int(value) / 1000, UTC).isoformat()

        out: dict[str, Any] = {
            "id": self.id,
            "queue": self.queue,
            "state": self.state,
            "attempts": self.attempts,
            "priority": self.priority,
            "created": ms("created_ms"),
            "updated": ms("updated_ms"),
        }
        for name in ("lease_owner", "last_error", "dead_reason", "dead_detail", "landed_sha"):
            if self.fields.get(name):
                out[name] = self.fields[name]
        if self.state == "leased":
            out["lease_expires"] = ms("lease_expiry_ms")
        if self.state == "delayed":
            out["not_before"] = ms("not_before_ms")
        if self.cr is not None:
            out["title"] = self.cr.title
            out["requester"] = self.cr.requester
            out["paths"] = self.cr.paths
            out["head_sha"] = self.cr.head_sha
        return out


class MergeQueue:
    """The queue's operations; one instance per Redis client, safe to share across threads."""

    def __init__(
        self,
        client: redis.Redis,
        settings: QueueSettings | None = None,
        *,
        prefix: str = PREFIX,
    ) -> None:
        self.redis = client
        self.settings = settings or QueueSettings()
        self.keys = Keys(prefix)
        self._enqueue = client.register_script(_ENQUEUE)
        self._claim = client.register_script(_CLAIM)
        self._renew = client.register_script(_RENEW)
        self._unlock = client.register_script(_UNLOCK)
        self._finish = client.register_script(_FINISH)
        self._operate = client.register_script(_OPERATE)

    # -- producers -------------------------------------------------------------------------

    def submit(
        self,
        cr: ChangeRequest,
        base: BaseTree,
        policy: Patches,
        app_permissions: Mapping[str, str],
    ) -> EnqueueResult:
        """Validate, then enqueue. A rejected request raises ``ChangeRejected``; nothing is
        written to Redis in that case."""
        report = validate_change(cr, base, policy, app_permissions)
        result = self.enqueue(cr, policy)
        return EnqueueResult(result.change_id, result.created, result.state, report)

    def enqueue(self, cr: ChangeRequest, policy: Patches) -> EnqueueResult:
        """Store ``cr`` (already validated) in its branch's queue; idempotent by id."""
        name = queue_name(cr.repo, cr.branch)
        args = [
            cr.id,
            cr.model_dump_json(),
            policy.model_dump_json(),
            name,
            int(cr.priority),
            json.dumps(sorted(set(cr.paths))),
        ]
        keys = [self.keys.entry(cr.id), self.keys.waiting(name), self.keys.queues, self.keys.seq]
        created, state = self._call(self._enqueue, keys, args)
        return EnqueueResult(cr.id, bool(int(created)), _text(state))

    # -- workers ---------------------------------------------------------------------------

    def queues(self) -> list[str]:
        return sorted(_text(q) for q in self._do(self.redis.smembers, self.keys.queues))

    def claim(self, owner: str, queue: str | None = None) -> Claim | None:
        """Lease the next batch of ``queue`` (or of any queue, in random order), or None.

        The entries met on the way that did not read are in the claim's ``unreadable``
        (dead-lettered already). When a queue held nothing else, the claim has no entries
        (and holds no lock) but still names them: their authors are owed a reply."""
        names = [queue] if queue else self.queues()
        random.shuffle(names)
        for name in names:
            met: Claim | None = None
            while (claim := self._claim_batch(owner, name)) is not None:
                claim.unreadable = {**(met.unreadable if met else {}), **claim.unreadable}
                met = claim
                if claim.entries:
                    return claim
                # the whole batch was unreadable (and is dead-lettered now): the next one
                self.unlock(claim)
            if met is not None:
                return met
        return None

    def _claim_batch(self, owner: str, name: str) -> Claim | None:
        """One claim script run on queue ``name``: the batch it leased, less the entries that
        do not read as a change request and its policy, which are dead-lettered here (each
        with a log line naming it). None when nothing was claimable."""
        token = f"{owner}:{secrets.token_hex(6)}"
        keys = [
            self.keys.waiting(name),
            self.keys.leased(name),
            self.keys.delayed(name),
            self.keys.dead,
            self.keys.lock(name),
        ]
        args = [
            self.keys.prefix,
            owner,
            token,
            int(self.settings.lease_seconds * 1000),
            self.settings.max_batch,
            self.settings.max_attempts,
            "1" if self.settings.branch_lock else "0",
            self.settings.max_batch_paths,
            _UNREADABLE_PATHS,
        ]
        raw = self._call(self._claim, keys, args)
        if len(raw) <= 1:  # the branch is locked
            return None
        claim = Claim(name, owner, token, [], int(raw[0]))
        first = 2 + int(raw[1])
        set_aside = [_text(i) for i in raw[2:first]]
        for change_id in set_aside:  # the script dead-lettered these already
            claim.unreadable[change_id] = _UNREADABLE_PATHS
            log.warning("merge queue %s: set aside entry %s: %s", name, change_id, _UNREADABLE_PATHS)
        if len(raw) == first and not set_aside:
            return None
        for i in range(first, len(raw), 4):
            change_id, attempt = _text(raw[i]), int(raw[i + 3])
            try:
                what = "change request"
                cr = ChangeRequest.model_validate_json(raw[i + 1])
                what = "patches policy"
                policy = Patches.model_validate_json(raw[i + 2])
            except pydantic.ValidationError as exc:
                claim.unreadable[change_id] = unreadable_detail(what, exc)
                continue
            claim.entries.append(
                QueuedChange(cr=cr.model_copy(update={"attempts": attempt}), policy=policy, attempt=attempt)
            )
        for change_id, detail in claim.unreadable.items():
            if change_id not in set_aside:
                log.warning("merge queue %s: set aside entry %s: %s", name, change_id, detail)
                self.finish_dead(claim, change_id, "unreadable", detail)
        batch = same_policy_prefix(claim.entries)
        for entry in claim.entries[len(batch) :]:  # first in line for the next claim
            self.release(claim, entry.cr.id)
        claim.entries = batch
        return claim

    def renew(self, claim: Claim) -> bool:
        """Extend the lease of every entry still held; False when any was lost."""
        ids = [i for i in claim.ids if i not in claim.lost]
        if not ids:
            return False
        args = [self.keys.prefix, claim.token, int(self.settings.lease_seconds * 1000), *ids]
        keys = [self.keys.leased(claim.queue), self.keys.lock(claim.queue)]
        renewed, expiry = self._call(self._renew, keys, args)
        claim.lease_expires_ms = int(expiry)
        if int(renewed) != len(ids):
            for change_id in ids:
                if not self.holds(claim, change_id):
                    claim.lost.add(change_id)
            return False
        return True

    def unlock(self, claim: Claim) -> None:
        """Let the next batch of this branch start (only if this claim still holds it)."""
        self._call(self._unlock, [self.keys.lock(claim.queue)], [claim.token])

    def holds(self, claim: Claim, change_id: str) -> bool:
        fields = self._do(self.redis.hmget, self.keys.entry(change_id), "state", "lease_token")
        return _text(fields[0]) == "leased" and _text(fields[1]) == claim.token

    def finish_landed(self, claim: Claim, change_id: str, commit_sha: str, note: str = "") -> bool:
        return self._finish_one(claim, change_id, "landed", commit_sha, note) == "landed"

    def finish_dead(self, claim: Claim, change_id: str, reason: str, detail: str) -> bool:
        return self._finish_one(claim, change_id, "dead", reason, detail) == "dead"

    def finish_retry(self, claim: Claim, change_id: str, error: str) -> str:
        """Back off and retry later; returns ``delayed``, ``dead`` (attempts used up) or
        ``not-held``."""
        entry = next((e for e in claim.entries if e.cr.id == change_id), None)
        attempt = entry.attempt if entry else 1
        delay_ms = int(self.settings.backoff(attempt) * 1000)
        outcome = self._finish_one(claim, change_id, "retry", error, "", delay_ms)
        return "delayed" if outcome == "retry" else outcome

    def finish_dropped(self, claim: Claim, change_id: str) -> bool:
        """Delete an entry this claim holds, as :meth:`drop` deletes one nobody holds: the
        change is no longer wanted (its pull request was closed before it was pushed)."""
        return self._finish_one(claim, change_id, "drop", "", "") == "drop"

    def release(self, claim: Claim, change_id: str) -> bool:
        """Give an entry back untouched (e.g. on shutdown); the attempt is not counted."""
        return self._finish_one(claim, change_id, "release", "", "") == "release"

    def _finish_one(self, claim: Claim, change_id: str, outcome: str, a: str, b: str, c: int = 0) -> str:
        keys = [
            self.keys.entry(change_id),
            self.keys.leased(claim.queue),
            self.keys.waiting(claim.queue),
            self.keys.delayed(claim.queue),
            self.keys.dead,
            self.keys.landed,
        ]
        args = [
            claim.token,
            outcome,
            change_id,
            a,
            b,
            c,
            self.settings.landed_ttl_seconds,
            self.settings.max_attempts,
        ]
        return _text(self._call(self._finish, keys, args))

    def heartbeat(self, owner: str, info: Mapping[str, Any], ttl: float = 30.0) -> None:
        """Say this worker is alive (operators see it in ``shunter queue ls``)."""
        key = f"{self.keys.prefix}worker:{owner}"
        self._do(self.redis.set, key, json.dumps(dict(info)), None, int(ttl * 1000))

    def workers(self) -> dict[str, dict[str, Any]]:
        """Workers whose heartbeat has not expired, by owner id."""
        out: dict[str, dict[str, Any]] = {}
        prefix = f"{self.keys.prefix}worker:"
        for key in self._do(self.redis.scan_iter, prefix + "*"):
            raw = self._do(self.redis.get, key)
            if raw is not None:
                out[_text(key)[len(prefix) :]] = json.loads(raw)
        return out

    # -- operators -------------------------------------------------------------------------

    def get(self, change_id: str) -> EntryView | None:
        raw = self._do(self.redis.hgetall, self.keys.entry(change_id))
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
        cr = None
        if fields.get("cr"):
            try:
                cr = ChangeRequest.model_validate_json(fields["cr"])
            except ValueError:
                cr = None
        return EntryView(
            id=fields.get("id", change_id),
            queue=fields.get("queue", ""),
            state=fields.get("state", "?"),
            attempts=int(fields.get("attempts", "0") or 0),
            priority=int(float(fields.get("score", "0") or 0)) // BAND,
            fields=fields,
            cr=cr,
        )

    def entries(self, *, include_landed: bool = False) -> Iterator[EntryView]:
        """Live entries queue by queue (leased, waiting, delayed), then dead letters."""
        ids: list[str] = []
        for name in self.queues():
            for key in (self.keys.leased(name), self.keys.waiting(name), self.keys.delayed(name)):
                ids.extend(_text(i) for i in self._do(self.redis.zrange, key, 0, -1))
        ids.extend(_text(i) for i in self._do(self.redis.zrange, self.keys.dead, 0, -1))
        if include_landed:
            ids.extend(_text(i) for i in self._do(self.redis.zrange, self.keys.landed, 0, -1))
        for change_id in dict.fromkeys(ids):
            view = self.get(change_id)
            if view is not None:
                yield view

    def next_due_ms(self) -> int | None:
        """When the queue next holds work that no running job will pick up unprompted, in
        Redis's milliseconds: now when a batch waits on a free branch, else the earliest end
        of a backoff, of a branch lock or of a lease (its worker may have died); None when
        nothing live is left. A worker that ends its job asks this to schedule the next."""
        names = self.queues()
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.zcard(self.keys.waiting(name))
            pipe.pttl(self.keys.lock(name))
            pipe.zrange(self.keys.delayed(name), 0, 0, withscores=True)
            pipe.zrange(self.keys.leased(name), 0, 0, withscores=True)
        pipe.time()
        answers = self._do(pipe.execute)
        seconds, micros = answers.pop()
        now = int(seconds) * 1000 + int(micros) // 1000
        due: list[float] = []
        for waiting, lock_ms, delayed, leased in zip(*(iter(answers),) * 4, strict=True):
            if waiting:
                due.append(now + lock_ms if lock_ms > 0 else now)
            due.extend(score for _, score in (*delayed, *leased))
        return int(min(due)) if due else None

    def retry(self, change_id: str) -> EntryView:
        """Put a dead (or backing-off) entry back in its queue with a fresh attempt count."""
        return self._operate_on(change_id, "retry")

    def drop(self, change_id: str) -> EntryView:
        """Delete a waiting, delayed or dead entry (never one a worker holds)."""
        return self._operate_on(change_id, "drop")

    def _operate_on(self, change_id: str, mode: str) -> EntryView:
        before = self.get(change_id)
        if before is None:
            raise ShunterError(f"no merge-queue entry {change_id!r}")
        keys = [
            self.keys.entry(change_id),
            self.keys.waiting(before.queue),
            self.keys.delayed(before.queue),
            self.keys.dead,
            self.keys.queues,
        ]
        outcome = _text(self._call(self._operate, keys, [change_id, mode]))
        if outcome == "leased":
            raise ShunterError(
                f"{change_id} is being applied by {before.fields.get('lease_owner')}",
                hint="wait for the worker to finish, or for its lease to expire",
            )
        if outcome.startswith("state:"):
            raise ShunterError(f"cannot {mode} {change_id}: it is {outcome[6:]}")
        if outcome == "missing":
            raise ShunterError(f"no merge-queue entry {change_id!r}")
        after = self.get(change_id)
        if after is None:  # dropped
            return EntryView(
                before.id,
                before.queue,
                "dropped",
                before.attempts,
                before.priority,
                before.fields,
                before.cr,
            )
        return after

    # -- plumbing --------------------------------------------------------------------------

    def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except redis.ConnectionError as exc:
            raise QueueUnavailable(f"the merge queue's Redis is unreachable: {exc}") from None

    def _do(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except redis.ConnectionError as exc:
            raise QueueUnavailable(f"the merge queue's Redis is unreachable: {exc}") from None


_SET_ASIDE = (
    "it was set aside so the rest of its batch could land. Retrying it fails the same way: "
    "drop it and ask for the change again (e.g. /shunter apply on the pull request)"
)
_UNREADABLE_PATHS = f"the stored list of the paths it changes is not a JSON list; {_SET_ASIDE}"


def same_policy_prefix(entries: list[QueuedChange]) -> list[QueuedChange]:
    """The leading ``entries`` queued under the first one's policy: they land together.

    A batch is one commit, made with one message template and pushed by one method. When a
    repository's config changed between two requests for a branch, taking the first
    entry's policy for all would land a later change with a message or push method its own
    policy no longer allows. Each change lands under the policy it was queued under instead;
    the entries held back are the next claim's.
    """
    for i, entry in enumerate(entries):
        if entry.policy != entries[0].policy:
            return entries[:i]
    return entries


def unreadable_problem(detail: str) -> str:
    """What was wrong with an unreadable entry, without the advice to operators (a pull
    request's author cannot drop a queue entry)."""
    return detail.removesuffix(f"; {_SET_ASIDE}")


def unreadable_detail(what: str, exc: pydantic.ValidationError) -> str:
    """One line for an operator on why a stored entry's ``what`` does not read (its first
    problem: pydantic's own text spans lines and links to its docs) and what to do."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "the stored JSON"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"the stored {what} does not read as one ({where}: {first['msg']}{more}); {_SET_ASIDE}"


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)
