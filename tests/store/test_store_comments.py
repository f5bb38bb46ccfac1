from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable

from bot.store import Store

SHA = "a" * 40


def test_summary_claim_then_record(store: Store) -> None:
    assert store.get_summary_comment_id("o/r", 5) is None
    assert store.claim_summary_comment("o/r", 5, "w1")
    assert store.claim_summary_comment("o/r", 5, "w1")  # idempotent for the holder
    assert not store.claim_summary_comment("o/r", 5, "w2")
    store.set_summary_comment_id("o/r", 5, 9001, "w1")
    assert store.get_summary_comment_id("o/r", 5) == 9001
    # once the comment exists nobody creates another, not even the first worker
    assert not store.claim_summary_comment("o/r", 5, "w1")
    assert not store.claim_summary_comment("o/r", 5, "w3")
    assert store.claim_summary_comment("o/r", 6, "w2")  # another PR is independent


def test_summary_claim_released_or_stale(store: Store, clock) -> None:
    assert store.claim_summary_comment("o/r", 5, "w1")
    store.release_summary_claim("o/r", 5, "w2")  # not the holder: nothing happens
    assert not store.claim_summary_comment("o/r", 5, "w2")
    store.release_summary_claim("o/r", 5, "w1")
    assert store.claim_summary_comment("o/r", 5, "w2")
    clock.advance(minutes=4)
    assert not store.claim_summary_comment("o/r", 5, "w3")
    clock.advance(minutes=2)  # w2 died without recording a comment: take over
    assert store.claim_summary_comment("o/r", 5, "w3")
    assert not store.claim_summary_comment("o/r", 5, "w2")


def test_summary_comment_found_elsewhere_or_deleted(store: Store) -> None:
    store.set_summary_comment_id("o/r", 5, 42)  # found on GitHub by marker, no claim
    assert store.get_summary_comment_id("o/r", 5) == 42
    store.forget_summary_comment("o/r", 5)  # deleted on GitHub
    assert store.get_summary_comment_id("o/r", 5) is None
    assert store.claim_summary_comment("o/r", 5, "w9")


def test_inline_fingerprints_are_claimed_once_across_pushes(store: Store) -> None:
    won = store.claim_inline_comments("o/r", 5, SHA, [("f1", "a.py", 3), ("f2", "b.py", 9)])
    assert won == {"f1", "f2"}
    store.set_inline_comment_id("o/r", 5, "f1", 111)
    store.release_inline_comments("o/r", 5, ["f2"])  # posting f2 failed
    # next push: f1 must not be posted again, f2 may be retried, f3 is new
    won = store.claim_inline_comments("o/r", 5, "b" * 40, [("f1", "a.py", 4), ("f2", "b.py", 9)])
    assert won == {"f2"}
    assert store.record_inline_comment("o/r", 5, "f3", comment_id=333, head_sha="b" * 40, path="c.py", line=1)
    assert not store.record_inline_comment(
        "o/r", 5, "f3", comment_id=334, head_sha="b" * 40, path="c.py", line=1
    )
    store.release_inline_comments("o/r", 5, ["f1"])  # posted comments are never released
    assert store.posted_fingerprints("o/r", 5) == {"f1", "f2", "f3"}
    assert store.posted_fingerprints("o/r", 6) == set()
    posted = {c.fingerprint: c for c in store.inline_comments("o/r", 5)}
    assert posted["f1"].comment_id == 111 and posted["f1"].line == 3
    assert posted["f1"].head_sha == SHA
    assert posted["f3"].comment_id == 333


def test_fixed_findings_are_marked_resolved(store: Store, clock) -> None:
    for fp, cid in (("f1", 1), ("f2", 2), ("f3", 3)):
        store.record_inline_comment("o/r", 5, fp, comment_id=cid, head_sha=SHA, path="a", line=1)
    assert store.mark_inline_resolved("o/r", 5, ["f1", "f3", "nope"]) == 2
    assert store.mark_inline_resolved("o/r", 5, ["f1"]) == 0
    assert store.mark_inline_resolved("o/r", 5, []) == 0
    resolved = store.inline_comments("o/r", 5, resolved=True)
    assert [c.fingerprint for c in resolved] == ["f1", "f3"]
    assert all(c.resolved_at == clock.now for c in resolved)
    assert [c.fingerprint for c in store.inline_comments("o/r", 5, resolved=False)] == ["f2"]


def _race(workers: int, attempt: Callable[[int], object]) -> list[object]:
    barrier = threading.Barrier(workers)
    results: list[object] = [None] * workers

    def run(index: int) -> None:
        barrier.wait()
        results[index] = attempt(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_threads_one_summary_claim_wins(store: Store) -> None:
    for pr in range(1, 6):
        results = _race(8, lambda i, pr=pr: store.claim_summary_comment("o/r", pr, f"t{i}"))
        assert results.count(True) == 1, results


def test_concurrent_threads_split_inline_claims(store: Store) -> None:
    items = [(f"fp{n}", "a.py", n) for n in range(1, 21)]
    results = _race(4, lambda i: store.claim_inline_comments("o/r", 5, SHA, items))
    union: set[str] = set()
    for won in results:
        assert isinstance(won, set)
        assert not (union & won), "a fingerprint was won twice"
        union |= won
    assert union == {fp for fp, _, _ in items}


def _claim_in_process(
    url: str, schema: str | None, worker: str, start: multiprocessing.synchronize.Event, out
) -> None:
    store = Store.open(url, schema=schema)
    start.wait(30)
    wins = [store.claim_summary_comment("o/r", pr, worker) for pr in range(1, 11)]
    for n in range(10):  # plus plain concurrent writes, which must not hit "locked"
        run = store.create_run("o/r", 1, SHA, f"stage-{worker}-{n}")
        store.record_audit(repo="o/r", actor=worker, action="x", target_type="run", run_id=run.id)
    out.put((worker, wins))
    store.close()


def test_concurrent_processes_one_summary_claim_wins(db: tuple[str, str | None]) -> None:
    url, schema = db
    Store.open(url, schema=schema).close()  # create the schema before the race
    context = multiprocessing.get_context("fork")
    start = context.Event()
    out = context.Queue()
    processes = [
        context.Process(target=_claim_in_process, args=(url, schema, f"p{i}", start, out)) for i in range(4)
    ]
    for process in processes:
        process.start()
    start.set()
    results = dict(out.get(timeout=60) for _ in processes)
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    for pr_index in range(10):
        winners = [w for w, wins in results.items() if wins[pr_index]]
        assert len(winners) == 1, (pr_index, results)
    with Store.open(url, schema=schema) as store:
        assert len(store.runs_for_pr("o/r", 1)) == 40
        assert len(store.audit_events(repo="o/r")) == 40


def test_concurrent_first_open_creates_schema_once(db: tuple[str, str | None]) -> None:
    url, schema = db

    def open_and_read(_: int) -> int:
        with Store.open(url, schema=schema) as store:
            return store.schema_version()

    assert _race(3, open_and_read) == [1, 1, 1]
