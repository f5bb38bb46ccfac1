"""The deferred ``in_progress`` mark: sent only for stages that outlast the grace period,
never after the conclusion, and the conclusion carries the real start otherwise."""

from __future__ import annotations

import re
import threading
import time

from bot.pipeline.progress import DeferredProgress


class Sends:
    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.at: list[float] = []
        self.delay = delay
        self.fail = fail
        self.inside = threading.Event()
        self.done = threading.Event()

    def __call__(self, started_at: str) -> None:
        assert started_at.endswith("Z")
        self.inside.set()
        time.sleep(self.delay)
        self.at.append(time.monotonic())
        self.done.set()
        if self.fail:
            raise RuntimeError("GitHub said no")


def test_a_quick_stage_never_sends_the_mark_and_gets_its_start_time() -> None:
    sends = Sends()
    # a grace no stall of this process outlasts: settle() always comes first
    progress = DeferredProgress(sends, after=60)
    started = progress.settle()
    assert started is not None and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", started)
    progress.now()  # a timer firing after the conclusion (the race settle() guards) sends nothing
    assert sends.at == []
    assert not progress.sent


def test_a_slow_stage_gets_the_mark_once_after_the_grace_period() -> None:
    sends = Sends()
    begun = time.monotonic()
    progress = DeferredProgress(sends, after=0.1)
    assert sends.done.wait(60)  # a wait that ends when the timer fires: load only delays it
    assert len(sends.at) == 1 and sends.at[0] - begun >= 0.1
    progress.now()  # a retry asking again sends nothing more
    assert progress.settle() is None  # the mark carried the start
    assert len(sends.at) == 1


def test_zero_grace_marks_at_once() -> None:
    sends = Sends()
    progress = DeferredProgress(sends, after=0)
    assert len(sends.at) == 1
    assert progress.settle() is None


def test_the_conclusion_waits_for_a_mark_being_sent() -> None:
    sends = Sends(delay=0.3)
    progress = DeferredProgress(sends, after=0.05)
    assert sends.inside.wait(60)
    progress.settle()
    settled = time.monotonic()
    assert sends.at and sends.at[0] <= settled  # the mark went out before the conclusion


def test_a_failed_mark_is_only_logged() -> None:
    sends = Sends(fail=True)
    progress = DeferredProgress(sends, after=0)
    assert progress.sent and len(sends.at) == 1
    assert progress.settle() is None
