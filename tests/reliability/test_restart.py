"""The server killed (SIGKILL) and started again while jobs are followed.

On the scenarios' own instance (never the shared default server). The waits must ride
out the outage and re-attach: items still pending when the server died complete after
the restart (the queue is in the server's database); the one in progress is canceled
by the restarted server, which its wait reports as `JobCanceledError`; an item the
server no longer has would be `JobLostError`. Nothing else: no connection error, no
hang, no timeout. Each outcome is counted.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from invokeai_py_client import (
    APIConnectionError,
    AsyncInvokeAIClient,
    InvokeAIClient,
    InvokeAIError,
    JobCanceledError,
    JobLostError,
)
from invokeai_py_client.server import LocalServer
from invokeai_py_client.server._common import read_state
from tests.graphs import blank_image_body, slow_body
from tests.reliability.conftest import items_of
from tests.reliability.test_proxy_faults import tagged

JOBS = 6


def kill(server: LocalServer) -> int:
    """SIGKILL the instance's invokeai-web (no shutdown of any kind); answers its pid."""
    state = read_state(server.paths.state_file)
    assert state is not None, "the reliability instance is not running"
    os.kill(state.pid, signal.SIGKILL)
    process = server._process
    if process is not None and process.pid == state.pid:
        process.wait(timeout=30)  # reap it, or it lingers as a zombie holding nothing
    return state.pid


def outcome(result: Any) -> str:
    if isinstance(result, BaseException):
        return type(result).__name__
    return str(result.status)


def wait_until_running(url: str, destination: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(row["status"] == "in_progress" for row in items_of(url, destination)):
            return
        time.sleep(0.05)
    raise AssertionError("no item of the batch started running")


@pytest.mark.parametrize("client_kind", ["sync", "async"])
def test_waits_ride_out_a_killed_and_restarted_server(
    own_server: LocalServer, own_url: str, client_kind: str, record_property: Any
) -> None:
    widths = [2400 + i for i in range(JOBS)]
    bodies = [tagged(slow_body(w)) for w in widths]
    destinations = [d for _, d in bodies]
    timings: dict[str, float] = {}

    def outage() -> None:
        wait_until_running(own_url, destinations[0])
        kill(own_server)
        timings["killed"] = time.monotonic()
        time.sleep(2.0)
        assert own_server.up(install_models=False) == own_url  # the same port again
        timings["back"] = time.monotonic()

    def sync_run() -> list[Any]:
        with InvokeAIClient(own_url) as client, ThreadPoolExecutor(JOBS + 1) as pool:
            jobs = [client.queue_repo.enqueue_batch(body)[0] for body, _ in bodies]
            waits = [pool.submit(job.wait, 300) for job in jobs]
            outage()
            results: list[Any] = []
            for wait in waits:
                try:
                    results.append(wait.result())
                except InvokeAIError as exc:
                    results.append(exc)
            return results

    async def async_run() -> list[Any]:
        async with AsyncInvokeAIClient(own_url) as client:
            jobs = [(await client.queue_repo.enqueue_batch(body))[0] for body, _ in bodies]
            waits = [asyncio.ensure_future(job.wait(300)) for job in jobs]
            await asyncio.to_thread(outage)
            return list(await asyncio.gather(*waits, return_exceptions=True))

    results = sync_run() if client_kind == "sync" else asyncio.run(async_run())
    timings["done"] = time.monotonic()
    counts = Counter(outcome(r) for r in results)
    record_property("jobs", JOBS)
    record_property("completed", counts["completed"])
    record_property("canceled_by_restart", counts["JobCanceledError"])
    record_property("lost", counts["JobLostError"])
    record_property("other_errors", JOBS - counts["completed"] - counts["JobCanceledError"] - counts["JobLostError"])
    record_property("outage_seconds", round(timings["back"] - timings["killed"], 1))
    record_property("seconds_to_settle_after_restart", round(timings["done"] - timings["back"], 1))
    assert set(counts) <= {"completed", "JobCanceledError", "JobLostError"}, counts
    for (_, destination), result in zip(bodies, results, strict=True):
        rows = items_of(own_url, destination)
        assert len(rows) == 1  # nothing enqueued twice
        if isinstance(result, JobCanceledError | JobLostError):
            assert result.item is None or result.item.item_id == rows[0]["item_id"]
        else:
            assert result.item_id == rows[0]["item_id"] and rows[0]["status"] == "completed"
    # the one running when the server died is canceled by the restarted server; the rest run
    assert outcome(results[0]) == "JobCanceledError"
    assert counts["completed"] >= JOBS - 2


def test_a_wait_gives_up_at_the_outage_deadline_and_the_item_is_attached_again_later(
    own_server: LocalServer, own_url: str, record_property: Any
) -> None:
    body, destination = tagged(blank_image_body(red=61))
    httpx.put(f"{own_url}/api/v1/queue/default/processor/pause", timeout=30).raise_for_status()
    with InvokeAIClient(own_url, outage_timeout=4) as client:
        job = client.queue_repo.enqueue_batch(body)[0]
        kill(own_server)
        started = time.monotonic()
        with pytest.raises(APIConnectionError) as info:
            job.wait(timeout=120)  # only the outage deadline may end it, long before
        gave_up_after = time.monotonic() - started
    assert "outage_timeout" in str(info.value)
    assert own_server.up(install_models=False) == own_url
    httpx.put(f"{own_url}/api/v1/queue/default/processor/resume", timeout=30).raise_for_status()
    with InvokeAIClient(own_url) as again:  # the item is in the server's database
        item = again.queue_repo.attach_job(job.item_id).wait(timeout=60)
    record_property("outage_timeout", 4)
    record_property("seconds_until_the_wait_gave_up", round(gave_up_after, 1))
    record_property("reattached_and_completed", int(item.status == "completed"))
    assert item.status == "completed"
    assert [row["item_id"] for row in items_of(own_url, destination)] == [job.item_id]


def test_the_server_answers_after_the_restart_scenarios(own_url: str) -> None:
    """The instance is usable again for what follows (the restarted server runs jobs)."""
    with InvokeAIClient(own_url) as client:
        body, destination = tagged(slow_body(64))
        assert client.queue_repo.enqueue_batch(body)[0].wait(timeout=60).status == "completed"
    assert [row["status"] for row in items_of(own_url, destination)] == ["completed"]
    assert httpx.get(f"{own_url}/api/v1/app/version", timeout=10).json()["version"]
