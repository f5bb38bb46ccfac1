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
