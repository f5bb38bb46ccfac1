"""The ``in_progress`` mark of a stage's check run, sent only when somebody could see it.

A check run is created ``queued`` at planning time and concluded when its stage finishes.
Most stages finish in well under a second, and an ``in_progress`` PATCH sent just before
the conclusion is a request nobody sees (the checks page would flash a spinner for a few
hundred milliseconds) that still counts against the installation's rate limit. So the mark
is armed when a stage job starts and fires only if the stage is still running after a grace
period; a stage that ends sooner goes from ``queued`` straight to ``completed`` and carries
its real ``started_at`` in that PATCH, so the check still shows how long it ran.

The conclusion always waits for a mark being sent: GitHub applies PATCHes in the order they
arrive, and a late ``in_progress`` must never reopen a concluded check run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from bot.logs import get_logger

log = get_logger(__name__)


def iso_now() -> str:
    """GitHub's timestamp format (ISO 8601, UTC, seconds)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DeferredProgress:
    """Calls ``send(started_at)`` once, ``after`` seconds from now, unless :meth:`settle`
    comes first."""

    def __init__(self, send: Callable[[str], None], after: float) -> None:
        self.started_at = iso_now()
        self._send = send
        self._lock = threading.Lock()
        self._sent = False
        self._settled = False
        self._timer: threading.Timer | None = None
        if after <= 0:
            self.now()
        else:
            self._timer = threading.Timer(after, self.now)
            self._timer.daemon = True
            self._timer.start()

    @property
    def sent(self) -> bool:
        return self._sent

    def now(self) -> None:
        """Send the mark at once (the grace period ran out, or a retry is about to wait)."""
        with self._lock:
            if self._sent or self._settled:
                return
            self._sent = True
            try:
                self._send(self.started_at)
            except Exception as exc:  # a courtesy: the conclusion still follows
                log.warning("could not mark the check run in progress", error=str(exc))

    def settle(self) -> str | None:
        """Stop the mark before the check run is concluded; waits for one being sent.

        Returns the ``started_at`` the concluding PATCH should carry, or None when the mark
        went out (it carried the start itself).
        """
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._settled = True
            return None if self._sent else self.started_at
