from __future__ import annotations

import pytest

from bot.store import Store, redact_secrets


def test_audit_event_records_who_what_why_when(store: Store, clock) -> None:
    run = store.create_run("o/r", 5, "a" * 40, "review", delivery_id="d-7")
    event = store.record_audit(
        repo="o/r",
        pr=5,
        run_id=run.id,
        installation_id=77,
        actor="shunter[bot]",
        action="check_run.update",
        target_type="check_run",
        target_id=123,
        delivery_id="d-7",
        reason_code="stage.completed",
        reason="The review stage finished with 3 findings.",
        payload={"conclusion": "failure", "annotations": 3},
    )
    assert event.target == "check_run 123"
    assert event.at == clock.now
    [stored] = store.audit_events(delivery_id="d-7")
    assert stored == event
    assert stored.payload == {"conclusion": "failure", "annotations": 3}


def test_audit_queries_filter_and_keep_order(store: Store, clock) -> None:
    for index, (repo, pr, delivery) in enumerate(
        [("o/r", 1, "d1"), ("o/r", 1, "d2"), ("o/r", 2, "d2"), ("o/other", 1, "d3")]
    ):
        clock.advance(seconds=1)
        store.record_audit(
            repo=repo,
            pr=pr,
            actor="shunter[bot]",
            action="comment.create" if index % 2 else "check_run.create",
            target_type="comment",
            target_id=str(index),
            delivery_id=delivery,
        )
    assert [e.target_id for e in store.audit_events(repo="o/r")] == ["0", "1", "2"]
    assert [e.target_id for e in store.audit_events(repo="o/r", pr=1)] == ["0", "1"]
    assert [e.target_id for e in store.audit_events(delivery_id="d2")] == ["1", "2"]
    assert [e.target_id for e in store.audit_events(action="comment.create")] == ["1", "3"]
    assert [e.target_id for e in store.audit_events(repo="o/r", limit=2)] == ["1", "2"]
    since = store.audit_events(repo="o/r")[2].at
    assert [e.target_id for e in store.audit_events(since=since)] == ["2", "3"]
    assert store.audit_events(repo="nobody/none") == []


def test_secrets_never_reach_the_audit_log(store: Store) -> None:
    token = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
    store.record_audit(
        repo="o/r",
        actor="installation ghs_16C7e42F292c6912E7710c838347Ae178B4a",
        action="ref.update",
        target_type="ref",
        target_id="heads/feature",
        reason=f"push to https://x-access-token:{token}@github.com/o/r.git",
        payload={
            "headers": {"Authorization": f"token {token}"},
            "urls": [f"https://x-access-token:{token}@github.com/o/r.git"],
            token: "as a key too",
            "pat": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "fine": "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
            "count": 3,
        },
    )
    with store.engine.connect() as conn:
        dumped = " ".join(
            str(value) for row in conn.exec_driver_sql("select * from shunter_audit_events") for value in row
        )
    assert "16C7e42F" not in dumped
    assert "abcdefghijklmnopqrstuvwxyz" not in dumped
    assert "ABCDEFG0123456789" not in dumped
    [event] = store.audit_events(repo="o/r")
    assert event.payload["count"] == 3
    assert event.reason == "push to https://x-access-token:***@github.com/o/r.git"


def test_a_custom_redactor_is_used(tmp_path) -> None:
    def shout(text: str) -> str:
        return text.replace("hunter2", "[gone]")

    with Store.open(f"sqlite:///{tmp_path / 's.sqlite3'}", redact=shout) as store:
        store.record_audit(repo="o/r", actor="a", action="x", target_type="t", payload={"pw": "hunter2"})
        assert store.audit_events()[0].payload == {"pw": "[gone]"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ghs_abcdefgh12345678", "ghs_***"),
        ("Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9.c2ln", "Bearer ***"),
        ("postgresql://user:pw@db/x", "postgresql://user:***@db/x"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "-----BEGIN"),
        ("plain words and ghs_ alone", "plain words and ghs_ alone"),
    ],
)
def test_default_redactor(text: str, expected: str) -> None:
    redacted = redact_secrets(text)
    assert redacted.startswith(expected)
    assert "MIIE" not in redacted
