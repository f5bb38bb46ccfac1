"""The whole loop in one process: simulator, Redis (or embedded Valkey), store, web, worker.

``shunter demo``, the end-to-end tests and ``bench/pipeline.py`` all run Shunter this way:
real HTTP on loopback between the simulator and Shunter's front door, real git, real
Redis; only the process boundary is folded away. Workers run in the caller's thread
(``drain``), so a test decides exactly when jobs execute.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from redis import Redis
from rq.serializers import JSONSerializer

from bot.queue.connection import RedisHandle, open_redis
from bot.queue.foreground import ForegroundWorker
from bot.queue.jobs import ALL_QUEUES
from bot.runtime import Runtime, set_runtime
from bot.settings import Settings, load_settings
from bot.web.app import create_app
from bot.web.commands import WebThread


class LocalStack:
    def __init__(
        self,
        data_dir: Path,
        *,
        redis_url: str | None = None,
        database_url: str | None = None,
        simulator: dict[str, Any] | None = None,
        **settings: Any,
    ) -> None:
        """``simulator`` holds :class:`~bot.simulator.Simulator` options (``api_prefix``,
        ``url_host``: a GitHub Enterprise Server at a name of its own); ``settings`` are
        Shunter's."""
        self.data_dir = Path(data_dir)
        self.simulator_options = dict(simulator or {})
        self.redis_url = redis_url
        self.database_url = database_url
        self.extra_settings = settings
        self.sim: Any = None
        self._sim_thread: Any = None
        self.web: WebThread | None = None
        self.handle: RedisHandle | None = None
        self.settings: Settings | None = None
        self.runtime: Runtime | None = None

    def start(self) -> LocalStack:
        from bot.simulator import SimulatorThread

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._sim_thread = SimulatorThread(self.data_dir / "simulator", **self.simulator_options)
        self.sim = self._sim_thread.start()
        env = self.sim.settings_env()
        options: dict[str, Any] = {
            "github_url": env["SHUNTER_GITHUB_URL"],
            "app_id": int(env["SHUNTER_APP_ID"]),
            "private_key_path": env["SHUNTER_PRIVATE_KEY_PATH"],
            "webhook_secret": env["SHUNTER_WEBHOOK_SECRET"],
            "bot_login": env["SHUNTER_BOT_LOGIN"],
            "data_dir": self.data_dir / "shunter",
            "redis_url": self.redis_url,
            "database_url": self.database_url,
            "mutation_interval": 0,
        }
        self.settings = load_settings(**{**options, **self.extra_settings})  # a test's win
        self.handle = open_redis(self.settings)
        self.runtime = Runtime(self.settings, self.handle.url)
        set_runtime(self.runtime)
        app = create_app(
            env["SHUNTER_WEBHOOK_SECRET"], self.handle.url, store=self.runtime.store,
            data_dir=self.settings.data_dir, github_url=self.settings.github_url,
        )
        self.web = WebThread(app, "127.0.0.1", 0)
        self.web.start()
        self.sim.webhook_url = f"http://127.0.0.1:{self.web.port}/webhooks"
        if self.settings.public_url is None:  # check runs link to this web app's run pages
            self.settings.public_url = f"http://127.0.0.1:{self.web.port}"
        return self

    @property
    def redis(self) -> Redis:
        assert self.runtime is not None
        return self.runtime.redis

    def pending_jobs(self) -> int:
        return sum(int(self.redis.llen(f"rq:queue:{name}")) for name in ALL_QUEUES)

    def work(self, queues: tuple[str, ...] = ALL_QUEUES) -> None:
        """Run every queued job (and what they enqueue) in this thread, then return."""
        assert self.runtime is not None
        worker = ForegroundWorker(
            list(queues), connection=Redis.from_url(self.runtime.redis_url), serializer=JSONSerializer
        )
        worker.work(burst=True, logging_level="WARNING", with_scheduler=False)

    def drain(self, timeout: float = 120.0) -> None:
        """Until quiet: deliver the simulator's webhooks, run the jobs they cause, repeat."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sim.wait_for_deliveries()
            if self.pending_jobs() == 0:
                return
            self.work()
        raise TimeoutError("the stack did not settle")

    def stop(self) -> None:
        if self.web is not None:
            self.web.stop()
        if self.sim is not None:
            self._sim_thread.stop()
        if self.handle is not None:
            self.handle.close()
        set_runtime(None)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
