"""Ctrl-C in a command whose jobs run in its own thread (``shunter demo``, ``run --queue``)."""

from __future__ import annotations

import os
import signal

import pytest

from bot.queue.jobs import queue


def test_ctrl_c_during_a_job_interrupts_the_demo_instead_of_being_swallowed(stack):
    """rq's worker took SIGINT as a warm shutdown: the job in hand finished, ``work`` returned
    as if the queues were empty and the demo went on to its end (exit 0). Now the job in hand
    ends, no other job starts, and the command sees KeyboardInterrupt (exit 130)."""
    events = queue("events", stack.redis)
    events.enqueue(os.kill, os.getpid(), int(signal.SIGINT))  # Ctrl-C while a job runs
    later = events.enqueue(os.getpid)
    before = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(KeyboardInterrupt):
            stack.work(("events",))
        assert signal.getsignal(signal.SIGINT) is before  # rq's handlers do not outlive the work
    finally:
        signal.signal(signal.SIGINT, before)
    later.refresh()
    assert later.get_status() == "queued"
