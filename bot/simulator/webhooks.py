"""Outgoing webhooks: signed, sent in order, every attempt recorded.

Deliveries are queued from any thread and sent one at a time by a task on the simulator's
loop, so a driver call made inside the loop (a ``git push`` handler) never blocks on the
receiver, and a receiver running on the same loop (``shunter serve`` in the demo) cannot
deadlock. GitHub does not retry failed deliveries; neither does this sender. Redelivery is
explicit (``POST /app/hook/deliveries/{id}/attempts``) and reuses the GUID.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import aiohttp

from bot.simulator.state import Delivery, World

DELIVERY_TIMEOUT = 10.0
ENTERPRISE_VERSION = "3.14.0"


def signature_256(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_1(secret: str, body: bytes) -> str:
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


class WebhookSender:
    def __init__(self, world: World, secret: str, url: str | None = None) -> None:
        self.world = world
        self.secret = secret
        self.url = url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Delivery] | None = None
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._backlog: list[Delivery] = []
        self.enterprise_host: str | None = None
        """Set when the simulator plays GitHub Enterprise Server: deliveries then carry
        ``X-GitHub-Enterprise-Host`` (this) and ``X-GitHub-Enterprise-Version``."""

    # -- lifecycle (on the simulator's loop) ---------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT))
        self._task = asyncio.create_task(self._run(), name="simulator-webhooks")
        for delivery in self._backlog:
            self._queue.put_nowait(delivery)
        self._backlog.clear()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()
        self._loop = self._queue = self._task = self._session = None

    async def drain(self) -> None:
        """Wait until every queued delivery has been attempted."""
        if self._queue is not None:
            await self._queue.join()

    # -- queueing (any thread) -----------------------------------------------------------

    def enqueue(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        guid: str | None = None,
        redelivery: bool = False,
    ) -> Delivery:
        inst = payload.get("installation") or {}
        repo = payload.get("repository") or {}
        delivery = Delivery(
            id=self.world.next_id(),
            guid=guid or str(uuid.uuid4()),
            event=event,
            action=payload.get("action"),
            payload=payload,
            installation_id=inst.get("id"),
            repository_id=repo.get("id"),
            delivered_at=self.world.clock.now(),
            redelivery=redelivery,
        )
        with self.world.lock:
            self.world.deliveries.append(delivery)
        loop, queue = self._loop, self._queue
        if loop is None or queue is None or loop.is_closed():
            self._backlog.append(delivery)
            return delivery
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            queue.put_nowait(delivery)
        else:
            loop.call_soon_threadsafe(queue.put_nowait, delivery)
        return delivery

    def redeliver(self, delivery: Delivery) -> Delivery:
        return self.enqueue(delivery.event, delivery.payload, guid=delivery.guid, redelivery=True)

    # -- sending -------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            delivery = await self._queue.get()
            try:
                await self._send(delivery)
            finally:
                self._queue.task_done()

    def headers_for(self, delivery: Delivery, body: bytes) -> dict[str, str]:
        app = self.world.app
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/simulator",
            "X-GitHub-Event": delivery.event,
            "X-GitHub-Delivery": delivery.guid,
            "X-GitHub-Hook-ID": "1",
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-GitHub-Hook-Installation-Target-ID": str(app.id if app else 0),
        }
        if self.enterprise_host:
            headers["X-GitHub-Enterprise-Host"] = self.enterprise_host
            headers["X-GitHub-Enterprise-Version"] = ENTERPRISE_VERSION
        if self.secret:
            headers["X-Hub-Signature"] = signature_1(self.secret, body)
            headers["X-Hub-Signature-256"] = signature_256(self.secret, body)
        return headers

    async def _send(self, delivery: Delivery) -> None:
        body = json.dumps(delivery.payload).encode()
        headers = self.headers_for(delivery, body)
        delivery.request_headers = headers
        delivery.url = self.url
        delivery.delivered_at = self.world.clock.now()
        if not self.url or self._session is None:
            delivery.status = "No webhook URL configured"
            return
        started = time.monotonic()
        try:
            async with self._session.post(self.url, data=body, headers=headers) as resp:
                delivery.response_body = (await resp.text())[:4096]
                delivery.status_code = resp.status
                delivery.status = (
                    "OK" if 200 <= resp.status < 300 else f"Invalid HTTP Response: {resp.status}"
                )
                delivery.response_headers = dict(resp.headers)
        except TimeoutError:
            delivery.status = "Timed out"
        except aiohttp.ClientError as exc:
            delivery.status = f"Failed to connect to host: {exc.__class__.__name__}"
        finally:
            delivery.duration = round(time.monotonic() - started, 3)
