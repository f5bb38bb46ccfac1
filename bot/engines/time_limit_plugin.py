"""A pytest plugin Shunter writes into the sandbox: a time limit for each generated test.

Not imported by the worker: ``bot.engines.coverage_probe`` copies this file into the work
dir and loads it with ``-p shunter_time_limit --shunter-time-limit=SECONDS``, in the run
that validates a batch of candidates. Without it a candidate that hangs on some input
(humanize's ``metric`` given ``precision=1073741816`` formats a billion digits, again and
again while Hypothesis shrinks) holds the whole batch until the run's wall clock, and the
others are run again without it.

Two stops, both naming the test that ran over:

- at the limit, ``SIGALRM`` raises ``TimeLimitExceeded`` in the test, with the input the
  test was called with. It is a ``BaseException``: Hypothesis takes an ``Exception`` (and
  pytest's ``Failed``, which pytest-timeout raises) for a failure and shrinks it, running
  the slow input again with no alarm left. pytest records it as the test's failure and
  goes on with the next test. The alarm repeats each second in case the code under test
  swallows it.
- code that does not come back to Python (a long C call) never sees the alarm, so
  ``faulthandler`` ends the process at half the limit again (plus 2 s), writing where it
  was stuck to ``hung.log`` beside this file; the progress log names the test, and the
  others run again without it.
"""

from __future__ import annotations

import faulthandler
import functools
import os
import reprlib
import signal
import time
from collections.abc import Callable, Generator
from typing import Any

import pytest

HANG_LOG = "hung.log"
"""``bot.engines.coverage_probe.HANG_LOG``: the worker reads it back from there."""
_ARGS = reprlib.Repr()
_ARGS.maxstring = _ARGS.maxother = 60
_ARGS.maxlong = 40


class TimeLimitExceeded(BaseException):
    """The test ran over its time limit (see the module docstring for why not ``Exception``).
    ``bot.engines.testgen_validate`` finds its name in the JUnit report."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--shunter-time-limit", type=float, default=0.0, help="seconds per test (0: none)")


def _call_text(name: str, kwargs: dict[str, Any]) -> str:
    """``f(x=1, s='…')`` with each value's repr bounded: the values are the generated input,
    and their reprs (PR code's own) may be huge or raise."""
    parts = []
    for key, value in kwargs.items():
        try:
            shown = _ARGS.repr(value)
        except Exception:
            shown = f"<{type(value).__name__}>"
        parts.append(f"{key}={shown}")
    return f"{name}({', '.join(parts)})"


class _Watch:
    """The example a Hypothesis test is running, and since when (Hypothesis lets plugins
    wrap ``inner_test``, which it calls once per example with the generated arguments)."""

    def __init__(self) -> None:
        self.call = ""
        self.since = time.monotonic()

    def wrap(self, item: pytest.Item) -> Callable[[], None]:
        handle = getattr(getattr(item, "obj", None), "hypothesis", None)
        inner = getattr(handle, "inner_test", None)
        if handle is None or inner is None:
            return lambda: None

        @functools.wraps(inner)
        def each_example(*args: Any, **kwargs: Any) -> Any:
            self.call, self.since = _call_text(getattr(inner, "__name__", "test"), kwargs), time.monotonic()
            return inner(*args, **kwargs)

        handle.inner_test = each_example

        def restore() -> None:
            handle.inner_test = inner

        return restore


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    limit = float(item.config.getoption("shunter_time_limit") or 0)
    if limit <= 0:
        yield
        return
    watch = _Watch()
    restore = watch.wrap(item)

    def stop(_signum: int, _frame: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 1.0)  # again, should the code swallow this one
        message = f"stopped at the {limit:g} s per-test limit"
        if watch.call:
            message += f" while running {watch.call} (for {time.monotonic() - watch.since:.1f} s)"
        raise TimeLimitExceeded(message)

    previous = signal.signal(signal.SIGALRM, stop)
    log = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), HANG_LOG), "a")  # noqa: SIM115
    faulthandler.dump_traceback_later(limit * 1.5 + 2, exit=True, file=log)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, previous)
        log.close()
        restore()
