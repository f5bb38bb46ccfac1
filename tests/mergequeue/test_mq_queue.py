"""The Redis queue on its own: leases, renewal, exactly-once finish, retries, dead letters,
operator retry/drop."""

from __future__ import annotations

import time

import pytest
from mq_forge import edited

from bot.errors import ShunterError
from bot.queue.merge import MergeQueue, QueueSettings


@pytest.fixture
def quick(redis_client) -> MergeQueue:
    """Leases that run out soon: for the steps that wait for one to expire."""
    return MergeQueue(
        redis_client,
        QueueSettings(lease_seconds=0.3, max_attempts=2, backoff_base=0.05, backoff_max=0.05),
    )


@pytest.fixture
def held(redis_client) -> MergeQueue:
    """The same queue with leases no stall of this process outlasts: for the steps that
    check a lease is still held (with ``quick``'s 0.3 s, a loaded machine let it expire
    between two lines and another worker claimed it)."""
    return MergeQueue(redis_client, QueueSettings(lease_seconds=60, max_attempts=2))


def _server_ms(queue: MergeQueue) -> int:
    seconds, micros = queue.redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _wait_past(queue: MergeQueue, expiry_ms: int, within: float = 30.0) -> None:
    """Wait until Redis's clock (the one leases expire by) is 50 ms past ``expiry_ms``.
    The margin: Redis judges the branch lock's expiry by the time it cached when a command
    began, which can trail what TIME said a moment before, so a claim right at the expiry
    still found the lock (once in some 2,000 runs)."""
    deadline = time.monotonic() + within
    while _server_ms(queue) <= expiry_ms + 50:
        assert time.monotonic() < deadline, f"Redis's clock did not pass {expiry_ms} within {within}s"
        time.sleep(0.02)


def test_lease_is_exclusive_and_expires_back_to_the_queue(forge, quick, held, git_policy):
    cr = forge.change({"src/mod1.py": edited(1)})
    held.enqueue(cr, git_policy)
    first = held.claim("w1")
    assert first.ids == [cr.id] and first.entries[0].attempt == 1
    assert held.claim("w2") is None
    assert quick.renew(first)  # w1's last renewal: 0.3 s more, then it stalls
    _wait_past(quick, first.lease_expires_ms)
    second = quick.claim("w2")
    assert second.ids == [cr.id] and second.entries[0].attempt == 2
    assert "lease of w1 expired" in quick.get(cr.id).fields["last_error"]
    # the first worker can no longer finish it: finished exactly once, by the holder
    assert not quick.finish_landed(first, cr.id, "1" * 40)
    assert not quick.renew(first) and first.lost == {cr.id}
    assert quick.finish_landed(second, cr.id, "2" * 40)
    assert not quick.finish_landed(second, cr.id, "2" * 40)
    assert quick.get(cr.id).fields["landed_sha"] == "2" * 40


def test_renewal_keeps_the_lease(forge, quick, held, git_policy):
    cr = forge.change({"src/mod1.py": edited(1)})
    quick.enqueue(cr, git_policy)
    claim = quick.claim("w1")
    claimed_until = claim.lease_expires_ms
    expiries = []
    for _ in range(3):
        assert quick.renew(claim)
        expiries.append(claim.lease_expires_ms)
    assert claimed_until <= expiries[0] <= expiries[1] <= expiries[2]
    assert held.renew(claim)  # renewed for longer than any stall below
    _wait_past(quick, claimed_until)  # the lease as claimed is over ...
    assert quick.claim("w2") is None  # ... but the renewed one still holds
    assert quick.holds(claim, cr.id) and claim.lost == set()


def _claim_when_due(queue: MergeQueue, owner: str, within: float = 30.0):
    """Claim as soon as a backing-off entry is due (a wait that ends when it is, so a loaded
    machine only makes it longer, never fails it)."""
    deadline = time.monotonic() + within
    while (claim := queue.claim(owner)) is None:
        assert time.monotonic() < deadline, f"nothing became claimable within {within}s"
        time.sleep(0.01)
    return claim


def test_transient_failures_back_off_then_dead_letter(forge, quick, redis_client, git_policy):
    # while it backs off it is not claimed: a minute's backoff, so no stall of this process
    # can outlast it (a 0.05 s one could, and the test then claimed it)
    patient = MergeQueue(redis_client, QueueSettings(max_attempts=2, backoff_base=60, backoff_max=60))
    waits = forge.change({"src/mod2.py": edited(2)})
    patient.enqueue(waits, git_policy)
    claim = patient.claim("w")
    assert patient.finish_retry(claim, waits.id, "network down") == "delayed"
    patient.unlock(claim)
    assert quick.claim("w") is None  # backing off
    # once its backoff is over, it is claimed again, as a second attempt
    cr = forge.change({"src/mod1.py": edited(1)})
    quick.enqueue(cr, git_policy)
    claim = quick.claim("w")
    assert claim.ids == [cr.id]
    assert quick.finish_retry(claim, cr.id, "network down") == "delayed"
    quick.unlock(claim)
    entry = quick.get(cr.id)
    assert entry.state == "delayed" and entry.fields["last_error"] == "network down"
    claim = _claim_when_due(quick, "w")
    assert claim.ids == [cr.id] and claim.entries[0].attempt == 2
    assert quick.finish_retry(claim, cr.id, "network still down") == "dead"
    entry = quick.get(cr.id)
    assert entry.state == "dead" and entry.fields["dead_reason"] == "attempts_exhausted"
    assert "network still down" in entry.fields["dead_detail"]
    assert quick.get(waits.id).state == "delayed"  # still backing off


def test_operator_retry_and_drop(forge, quick, git_policy):
    a = forge.change({"src/mod1.py": edited(1)})
    b = forge.change({"src/mod2.py": edited(2)})
    quick.enqueue(a, git_policy)
    quick.enqueue(b, git_policy)
    claim = quick.claim("w")
    quick.finish_dead(claim, a.id, "conflict", "src/mod1.py changed")
    quick.finish_dead(claim, b.id, "conflict", "src/mod2.py changed")
    quick.unlock(claim)
    assert {e.id: e.state for e in quick.entries()} == {a.id: "dead", b.id: "dead"}
    assert quick.retry(a.id).state == "waiting"
    assert quick.get(a.id).attempts == 0
    assert quick.drop(b.id).state == "dropped"
    assert quick.get(b.id) is None
    claim = quick.claim("w")
    with pytest.raises(ShunterError, match="being applied"):
        quick.drop(a.id)
    quick.finish_landed(claim, a.id, "3" * 40)
    with pytest.raises(ShunterError, match="landed"):
        quick.retry(a.id)
    with pytest.raises(ShunterError, match="no merge-queue entry"):
        quick.retry("cr-nope")


def test_release_returns_without_counting(forge, quick, git_policy):
    cr = forge.change({"src/mod1.py": edited(1)})
    quick.enqueue(cr, git_policy)
    claim = quick.claim("w")
    assert quick.release(claim, cr.id)
    quick.unlock(claim)
    assert quick.get(cr.id).attempts == 0
    assert quick.claim("w").ids == [cr.id]


def test_batches_stop_at_max_batch(forge, redis_client, git_policy):
    mq = MergeQueue(redis_client, QueueSettings(max_batch=3))
    crs = [forge.change({f"src/mod{i}.py": edited(i)}) for i in range(7)]
    for cr in crs:
        mq.enqueue(cr, git_policy)
    sizes = []
    while (claim := mq.claim("w")) is not None:
        sizes.append(len(claim.ids))
        mq.unlock(claim)
    assert sizes == [3, 3, 1]


def test_branch_lock_serialises_batches_and_expires_with_the_lease(forge, quick, held, git_policy):
    a = forge.change({"src/mod1.py": edited(1)})
    b = forge.change({"src/mod1.py": edited(1, "b")})  # overlaps a: separate batch
    held.enqueue(a, git_policy)
    held.enqueue(b, git_policy)
    first = held.claim("w1")
    assert first.ids == [a.id]
    assert held.claim("w2") is None  # b waits: a's batch holds the branch
    held.finish_landed(first, a.id, "1" * 40)
    held.unlock(first)
    second = quick.claim("w2")
    assert second.ids == [b.id]
    _wait_past(quick, second.lease_expires_ms)  # w2 dies: its lease and the lock expire together
    third = quick.claim("w3")
    assert third is not None and third.ids == [b.id]


def test_other_branches_proceed_in_parallel(forge, quick, git_policy):
    a = forge.change({"src/mod1.py": edited(1)})
    other = a.model_copy(update={"id": "cr-other", "branch": "release"})
    quick.enqueue(a, git_policy)
    quick.enqueue(other, git_policy)
    claims = [quick.claim("w1"), quick.claim("w2")]
    assert sorted(c.branch for c in claims) == ["main", "release"]
    assert quick.workers() == {}
    quick.heartbeat("w1", {"pid": 1})
    assert quick.workers() == {"w1": {"pid": 1}}


def test_batches_stop_at_max_batch_paths(forge, redis_client, git_policy):
    mq = MergeQueue(redis_client, QueueSettings(max_batch=50, max_batch_paths=5))
    two_files = [
        forge.change({f"src/mod{i}.py": edited(i), f"src/mod{i + 30}.py": edited(i + 30)}) for i in range(5)
    ]
    for cr in two_files:
        mq.enqueue(cr, git_policy)
    sizes = []
    while (claim := mq.claim("w")) is not None:
        sizes.append(len(claim.ids))
        mq.unlock(claim)
    assert sizes == [2, 2, 1]


def test_next_due_says_when_work_nobody_is_running_becomes_claimable(forge, redis_client, git_policy):
    mq = MergeQueue(redis_client, QueueSettings(lease_seconds=30, backoff_base=10, backoff_max=10))

    def now_ms() -> int:
        return _server_ms(mq)

    def due_now() -> bool:
        """Due at Redis's 'now' of the call (bracketed, so a stall between calls is no matter)."""
        before = now_ms()
        due = mq.next_due_ms()
        return due is not None and before <= due <= now_ms()

    assert mq.next_due_ms() is None  # an empty queue needs no job
    first = forge.change({"src/mod1.py": edited(1)})
    mq.enqueue(first, git_policy)
    assert due_now()  # waiting on a free branch: now
    claim = mq.claim("w")
    claim_ended = claim.lease_expires_ms
    second = forge.change({"src/mod2.py": edited(2)}, title="second")
    mq.enqueue(second, git_policy)  # waits behind the branch lock the claim holds
    due = mq.next_due_ms()
    assert claim_ended - 2 <= due <= claim_ended  # when that lock (and the lease) runs out
    retried_from = now_ms()
    assert mq.finish_retry(claim, first.id, "GitHub answered 502") == "delayed"
    retried_by = now_ms()
    mq.unlock(claim)
    assert due_now()  # the second change can go now
    claim = mq.claim("w")
    assert claim.ids == [second.id]
    assert mq.finish_landed(claim, second.id, "2" * 40)
    mq.unlock(claim)
    backoff_ends = int(redis_client.zscore(mq.keys.delayed(claim.queue), first.id))
    assert mq.next_due_ms() == backoff_ends
    assert retried_from + 8_000 < backoff_ends <= retried_by + 11_000
