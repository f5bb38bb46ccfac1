"""Faults on demand: latency, 5xx, secondary rate limits, dropped connections, lost answers.

A fault matches requests by a ``"METHOD /path"`` glob (or ``"*"`` for all) and fires ``times``
times (None = until removed). The server's middleware consults :meth:`Faults.take` before the
route runs, so a fault hides the route completely, as a flaky GitHub would, except a
*lost response*: the route runs (a write takes effect, its webhooks go out) and only then is
its answer replaced by a 5xx or a dropped connection, as when GitHub's edge gives up on a
backend that acted. That is the fault a blind retry of a POST turns into a duplicate.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from bot.simulator.recorder import matches


@dataclass
class Fault:
    kind: str  # "latency", "status", "secondary_rate_limit", "drop", "lost_response"
    pattern: str = "*"
    times: int | None = 1
    status: int = 502
    delay: float = 0.0
    retry_after: int | None = 60
    drop_connection: bool = False  # lost_response: drop the connection instead of a status
    fired: int = 0


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.mutation_interval: float | None = None
        self.pacing_retry_after = 1
        self._last_mutation: dict[int, float] = {}

    def pace_mutations(self, min_interval: float = 1.0, retry_after: int = 1) -> None:
        """Enforce GitHub's advice for Apps: mutating requests (POST/PATCH/PUT/DELETE) of one
        installation at least ``min_interval`` seconds apart, else a secondary rate limit."""
        self.mutation_interval = min_interval
        self.pacing_retry_after = retry_after

    def too_fast(self, method: str, installation_id: int | None, now: float) -> bool:
        """Whether this request breaks the pacing rule (and remember it when it does not)."""
        if self.mutation_interval is None or installation_id is None:
            return False
        if method not in ("POST", "PATCH", "PUT", "DELETE"):
            return False
        with self._lock:
            last = self._last_mutation.get(installation_id)
            if last is not None and now - last < self.mutation_interval:
                return True
            self._last_mutation[installation_id] = now
            return False

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def latency(self, seconds: float, pattern: str = "*", times: int | None = None) -> Fault:
        return self.add(Fault("latency", pattern, times, delay=seconds))

    def error(self, status: int = 502, pattern: str = "*", times: int | None = 1) -> Fault:
        return self.add(Fault("status", pattern, times, status=status))

    def secondary_rate_limit(
        self, retry_after: int | None = 60, pattern: str = "*", times: int | None = 1
    ) -> Fault:
        """``retry_after=None``: the 403 names no wait, as GitHub's often does not."""
        return self.add(Fault("secondary_rate_limit", pattern, times, retry_after=retry_after))

    def drop(self, pattern: str = "*", times: int | None = 1) -> Fault:
        return self.add(Fault("drop", pattern, times))

    def lost_response(
        self, pattern: str = "*", times: int | None = 1, status: int = 502, *, drop: bool = False
    ) -> Fault:
        """Let the route run, then answer ``status`` (or, with ``drop``, close the connection
        without an answer): the write happened, the client cannot know it."""
        return self.add(Fault("lost_response", pattern, times, status=status, drop_connection=drop))

    def remove(self, fault: Fault) -> None:
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.mutation_interval = None
            self._last_mutation.clear()

    def take(self, method: str, path: str) -> list[Fault]:
        """The faults that fire for this request (latency first), spending one use of each."""
        fired: list[Fault] = []
        with self._lock:
            for fault in list(self._faults):
                if not matches(fault.pattern, method, path):
                    continue
                fault.fired += 1
                fired.append(fault)
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
        return sorted(fired, key=lambda f: f.kind != "latency")
