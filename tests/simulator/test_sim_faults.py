"""Faults on demand: 5xx, secondary rate limits, latency, dropped connections, lost answers; the
recorder."""

from __future__ import annotations

import time

import httpx
import pytest


@pytest.fixture
def repo(simulator):
    simulator.create_repo("octo/demo")
    return simulator, {"Authorization": f"token {simulator.installation_token('octo/demo')}"}


def test_server_error_fires_n_times_on_matching_routes(repo):
    sim, auth = repo
    sim.faults.error(502, pattern="GET /repos/octo/*", times=2)
    statuses = [httpx.get(f"{sim.url}/repos/octo/demo", headers=auth).status_code for _ in range(3)]
    assert statuses == [502, 502, 200]
    assert sim.recorder.count("GET /repos/octo/demo", status=502) == 2


def test_secondary_rate_limit_has_retry_after(repo):
    sim, auth = repo
    sim.faults.secondary_rate_limit(retry_after=7, pattern="POST *")
    answer = httpx.post(f"{sim.url}/repos/octo/demo/issues/1/comments", headers=auth,
                        json={"body": "x"})
    assert answer.status_code == 403
    assert answer.headers["retry-after"] == "7"
    assert "secondary rate limit" in answer.json()["message"]
    assert "x-ratelimit-remaining" in answer.headers
    # a GET was not matched
    assert httpx.get(f"{sim.url}/repos/octo/demo", headers=auth).status_code == 200


def test_latency_and_global_faults(repo):
    sim, auth = repo
    fault = sim.faults.latency(0.3)
    started = time.monotonic()
    assert httpx.get(f"{sim.url}/repos/octo/demo", headers=auth).status_code == 200
    assert time.monotonic() - started >= 0.3  # a lower bound: load only makes it longer
    assert fault.fired == 1
    sim.faults.remove(fault)
    assert httpx.get(f"{sim.url}/repos/octo/demo", headers=auth).status_code == 200
    # the removed fault no longer applies: counted, not timed (a loaded machine can take
    # 0.3 s over a plain request)
    assert fault.fired == 1


def test_dropped_connection(repo):
    sim, auth = repo
    sim.faults.drop(pattern="GET /repos/octo/demo")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{sim.url}/repos/octo/demo", headers=auth)
    assert httpx.get(f"{sim.url}/repos/octo/demo", headers=auth).status_code == 200


def test_recorder_sees_method_path_body_status_and_installation(repo):
    sim, auth = repo
    sim.recorder.clear()
    httpx.post(f"{sim.url}/repos/octo/demo/git/blobs", headers=auth, json={"content": "hi"})
    httpx.get(f"{sim.url}/repos/octo/missing", headers=auth)
    first, second = sim.recorder.requests
    assert (first.method, first.path, first.body, first.status) == (
        "POST", "/repos/octo/demo/git/blobs", {"content": "hi"}, 201)
    assert first.installation_id == sim.installation_id("octo/demo")
    assert (second.status, second.route) == (404, "GET /repos/octo/missing")
    assert sim.recorder.last("POST *").path.endswith("/blobs")


def test_mutation_pacing_per_installation(repo):
    sim, auth = repo
    # a minute apart first: no stall of a loaded machine makes the second write slow enough
    sim.faults.pace_mutations(min_interval=60, retry_after=1)
    url = f"{sim.url}/repos/octo/demo/git/blobs"
    assert httpx.post(url, headers=auth, json={"content": "a"}).status_code == 201
    fast = httpx.post(url, headers=auth, json={"content": "b"})
    assert fast.status_code == 403 and fast.headers["retry-after"] == "1"
    assert httpx.get(f"{sim.url}/repos/octo/demo", headers=auth).status_code == 200  # reads pass
    sim.faults.pace_mutations(min_interval=0.5, retry_after=1)  # the last write is remembered
    time.sleep(0.55)  # a lower bound: load only makes it longer
    assert httpx.post(url, headers=auth, json={"content": "c"}).status_code == 201


async def test_wait_for_deliveries_refuses_to_block_its_own_loop(tmp_path):
    from bot.simulator import Simulator

    sim = Simulator(tmp_path)
    await sim.start()
    try:
        with pytest.raises(RuntimeError, match="await sim.drain"):
            sim.wait_for_deliveries()
    finally:
        await sim.stop()



def test_lost_response_lets_the_write_happen_then_answers_502(demo):
    sim = demo
    auth = {"Authorization": f"token {sim.installation_token('octo/demo')}"}
    url = f"{sim.url}/repos/octo/demo/issues/1/comments"
    fault = sim.faults.lost_response(pattern="POST /repos/*/issues/*/comments", times=1)
    lost = httpx.post(url, headers=auth, json={"body": "lost"})
    assert lost.status_code == 502 and lost.json()["message"] == "Server Error"
    assert fault.fired == 1
    assert sim.recorder.count("POST /repos/octo/demo/issues/1/comments", status=502) == 1
    assert [c.body for c in sim.comments("octo/demo", 1)] == ["lost"]  # posted all the same
    assert httpx.post(url, headers=auth, json={"body": "next"}).status_code == 201  # spent
    assert httpx.get(url, headers=auth).status_code == 200  # other routes never matched


def test_lost_response_can_drop_the_connection_after_the_write(demo):
    sim = demo
    auth = {"Authorization": f"token {sim.installation_token('octo/demo')}"}
    sim.faults.lost_response(pattern="POST /repos/*/issues/*/comments", drop=True)
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{sim.url}/repos/octo/demo/issues/1/comments", headers=auth, json={"body": "hi"})
    assert [c.body for c in sim.comments("octo/demo", 1)] == ["hi"]
