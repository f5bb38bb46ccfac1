from __future__ import annotations

from bot.store import Store


def test_pause_and_resume(store: Store, clock) -> None:
    assert not store.is_paused("o/r", 5)
    assert store.set_paused("o/r", 5, True, by="alice")
    assert not store.set_paused("o/r", 5, True, by="bob")  # already paused: no change
    state = store.pull_state("o/r", 5)
    assert state.paused and state.paused_by == "alice" and state.paused_at == clock.now
    assert store.set_paused("o/r", 5, False, by="alice")
    state = store.pull_state("o/r", 5)
    assert not state.paused and state.paused_by is None
    assert not store.is_paused("o/r", 6)
    assert not store.set_paused("o/r", 6, False, by="x")  # resuming an unpaused PR


def test_recent_commands_newest_first_and_updated(store: Store, clock) -> None:
    ids = []
    for index, verb in enumerate(["review", "apply", "pause", "dismiss", "help", "tests"]):
        clock.advance(seconds=1)
        ids.append(
            store.record_command(
                "o/r", 5, verb=verb, user=f"user{index}", outcome="accepted", comment_id=100
            ).id
        )
    store.record_command("o/r", 6, verb="review", user="x", outcome="done")
    store.update_command(ids[-1], outcome="done", detail="3 findings")
    recent = store.recent_commands("o/r", 5)
    assert [c.verb for c in recent] == ["tests", "help", "dismiss", "pause", "apply"]
    assert recent[0].outcome == "done" and recent[0].detail == "3 findings"
    assert len(store.pull_state("o/r", 5, commands=2).recent_commands) == 2


def test_command_args_are_redacted(store: Store) -> None:
    record = store.record_command(
        "o/r", 5, verb="ask", user="u", outcome="refused", args="is ghp_abcdefghijklmnop0 safe?"
    )
    assert record.args == "is ghp_*** safe?"
    assert store.recent_commands("o/r", 5)[0].args == "is ghp_*** safe?"


def test_a_command_comment_runs_once_per_text(store: Store) -> None:
    assert store.mark_command_comment("o/r", 555, "/shunter review")
    assert not store.mark_command_comment("o/r", 555, "/shunter review")  # redelivery
    assert not store.mark_command_comment("o/r", 555, "/shunter review \n")  # edit, same text
    assert store.mark_command_comment("o/r", 555, "/shunter apply")  # edit, new text
    assert store.mark_command_comment("o/other", 555, "/shunter review")


def test_dismissals(store: Store) -> None:
    assert store.dismiss_finding("o/r", 5, "f" * 16, by="carol", reason="false positive")
    assert not store.dismiss_finding("o/r", 5, "f" * 16, by="dave")
    assert store.dismiss_finding("o/r", 5, "e" * 16, by="carol")
    assert store.dismissed_fingerprints("o/r", 5) == {"f" * 16, "e" * 16}
    state = store.pull_state("o/r", 5)
    assert state.dismissed_fingerprints == {"f" * 16, "e" * 16}
    first = next(d for d in state.dismissed if d.fingerprint == "f" * 16)
    assert first.by == "carol" and first.reason == "false positive"
    assert store.undismiss_finding("o/r", 5, "f" * 16)
    assert not store.undismiss_finding("o/r", 5, "f" * 16)
    assert store.dismissed_fingerprints("o/r", 5) == {"e" * 16}
    assert store.dismissed_fingerprints("o/r", 6) == set()


def test_a_moved_repository_takes_its_pull_requests_state_along(store: Store) -> None:
    """A rename or transfer: pause, dismissals and the summary comment follow the new name
    (compared in any case); a row an early event already wrote under the new name wins."""
    store.set_paused("Octo/Demo", 5, True, by="alice")
    store.dismiss_finding("Octo/Demo", 5, "f" * 16, by="alice")
    store.dismiss_finding("octo/renamed", 5, "f" * 16, by="bob")  # came first: kept
    store.set_summary_comment_id("octo/demo", 5, 77)
    store.set_paused("octo/other", 5, True, by="carol")
    assert store.move_repository("octo/demo", "octo/renamed") == 2  # the clash is dropped
    assert store.is_paused("octo/renamed", 5) and not store.is_paused("Octo/Demo", 5)
    assert [d.by for d in store.dismissed_findings("octo/renamed", 5)] == ["bob"]
    assert store.dismissed_findings("Octo/Demo", 5) == []
    assert store.get_summary_comment_id("octo/renamed", 5) == 77
    assert store.is_paused("octo/other", 5)
    assert store.move_repository("octo/renamed", "octo/Renamed") == 3  # a change of case only
    assert store.is_paused("octo/Renamed", 5)
