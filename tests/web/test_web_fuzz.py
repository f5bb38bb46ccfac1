"""Property: whatever bytes and headers arrive, the front door never answers 5xx
(503 is reserved for Redis being down, and Redis is up here)."""

from __future__ import annotations

import hashlib
import hmac

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.web.app import create_app

SECRET = "fuzz-secret"
header_value = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(st.binary(max_size=2048), st.text(max_size=512).map(str.encode)),
    event=st.one_of(st.none(), header_value, st.sampled_from(["pull_request", "ping", "push"])),
    delivery=st.one_of(st.none(), header_value),
    sign_it=st.booleans(),
    bogus_sig=st.one_of(st.none(), header_value),
)
async def test_arbitrary_input_never_5xx(redis_url, body, event, delivery, sign_it, bogus_sig):
    headers: dict[str, str] = {}
    if event is not None:
        headers["X-GitHub-Event"] = event
    if delivery is not None:
        headers["X-GitHub-Delivery"] = delivery
    if sign_it:
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    elif bogus_sig is not None:
        headers["X-Hub-Signature-256"] = bogus_sig
    async with TestClient(TestServer(create_app(SECRET, redis_url))) as client:
        resp = await client.post("/webhooks", data=body, headers=headers)
        assert resp.status < 500, (resp.status, await resp.text())
        if not sign_it:
            assert resp.status == 401
