"""NUL characters in stored text: PostgreSQL refuses them, so the store must drop them.

A ``/shunter help me\\x00please`` comment used to crash the write that records the command
on PostgreSQL (SQLite accepted it), so the command never ran and its reply was empty.
Every test runs on both databases.
"""

from __future__ import annotations

import pytest

from bot.errors import ShunterError
from bot.store import Store

FFFD = "\ufffd"


def test_command_text_with_nul_is_recorded(store: Store) -> None:
    record = store.record_command(
        "o/r", 1, verb="help", user="al\x00ice", outcome="running", args="me\x00please", detail="d\x00"
    )
    assert record.args == f"me{FFFD}please"
    store.update_command(record.id, outcome="done", detail="ok\x00")
    [stored] = store.recent_commands("o/r", 1)
    assert (stored.args, stored.user, stored.detail) == (f"me{FFFD}please", f"al{FFFD}ice", f"ok{FFFD}")
    assert store.mark_command_comment("o/r", 7, "/shunter help me\x00please")


def test_run_reason_metrics_and_steps_with_nul(store: Store) -> None:
    run = store.create_run("o/r", 1, "a" * 40, "review", reason="x\x00y")
    assert run.reason == f"x{FFFD}y"
    step = store.start_step(run.id, "lint\x00", {"m\x00": "\x00", "list": ["a\x00", 1, None]})
    store.finish_step(step, detail={"error": "bad\x00byte"})
    assert store.finish_run(run.id, conclusion="success", metrics={"msg\x00": {"deep": "bad\x00byte"}})
    [stored_step] = store.steps(run.id)
    assert stored_step.name == f"lint{FFFD}"
    assert stored_step.detail == {f"m{FFFD}": FFFD, "list": [f"a{FFFD}", 1, None], "error": f"bad{FFFD}byte"}
    stored_run = store.get_run(run.id)
    assert stored_run is not None
    assert stored_run.metrics == {f"msg{FFFD}": {"deep": f"bad{FFFD}byte"}}


def test_audit_event_with_nul(store: Store) -> None:
    event = store.record_audit(
        repo="o/r",
        actor="a\x00",
        action="comment.create",
        target_type="comment",
        target_id="1\x00",
        reason="r\x00",
        payload={"m\x00": "r\x00"},
    )
    [stored] = store.audit_events(repo="o/r")
    assert stored == event
    assert (stored.actor, stored.reason, stored.payload) == (f"a{FFFD}", f"r{FFFD}", {f"m{FFFD}": f"r{FFFD}"})


def test_pull_state_and_comments_with_nul(store: Store) -> None:
    assert store.set_paused("o/r", 1, True, by="b\x00ob")
    assert store.dismiss_finding("o/r", 1, "f" * 64, by="bob", reason="noise\x00")
    assert store.claim_inline_comments("o/r", 1, "a" * 40, [("g" * 64, "src/a\x00.py", 3)]) == {"g" * 64}
    state = store.pull_state("o/r", 1)
    assert state.paused_by == f"b{FFFD}ob"
    assert state.dismissed[0].reason == f"noise{FFFD}"
    assert store.inline_comments("o/r", 1)[0].path == f"src/a{FFFD}.py"


def test_lookup_with_nul_does_not_crash(store: Store) -> None:
    store.record_command("o/r\x00", 1, verb="help", user="u", outcome="done")
    assert [c.repo for c in store.recent_commands("o/r\x00", 1)] == [f"o/r{FFFD}"]
    assert store.audit_events(repo="x\x00") == []


def test_value_the_database_refuses_is_a_shunter_error(store: Store) -> None:
    """PostgreSQL enforces VARCHAR lengths (SQLite does not): a DataError, never a crash."""
    if store.dialect != "postgresql":
        pytest.skip("SQLite accepts over-long values")
    with pytest.raises(ShunterError, match="refused a value"):
        store.record_audit(repo="o/" + "r" * 300, actor="a", action="x", target_type="t")
    assert store.audit_events() == []  # the failed write left nothing behind
