"""An rq worker inside a command someone waits on (``shunter demo``, ``shunter run --queue``).

rq's worker takes SIGINT and SIGTERM for itself: a warm shutdown that lets the job in hand
finish and then returns as if the queues were empty, or ``StopRequested`` when it was
between jobs. Inside a command that then goes on, Ctrl-C was swallowed (the demo carried on
to its end, exit 0), broke the next step ("check run has no button 'apply'") or surfaced as
an "unexpected error: StopRequested". Here it is what it is everywhere else in the CLI: an
interrupt (``KeyboardInterrupt``, exit status 130), once the job in hand has stopped.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from rq import SimpleWorker
from rq.exceptions import StopRequested


class ForegroundWorker(SimpleWorker):
    """A ``SimpleWorker`` whose Ctrl-C ends the calling command with ``KeyboardInterrupt``,
    and which leaves the process's signal handlers as it found them."""

    interrupted = False

    def handle_warm_shutdown_request(self) -> None:
        self.interrupted = True
        super().handle_warm_shutdown_request()

    def request_force_stop(self, signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # a second Ctrl-C: stop the job in hand too

    def work(self, *args: Any, **kwargs: Any) -> bool:
        main = threading.current_thread() is threading.main_thread()
        saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
        try:
            done = super().work(*args, **kwargs)
        except StopRequested:
            raise KeyboardInterrupt from None
        finally:
            for sig, handler in saved.items():
                if handler is not None:
                    signal.signal(sig, handler)
        if self.interrupted:
            raise KeyboardInterrupt
        return done
