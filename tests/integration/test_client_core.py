"""The client core against the real local server: concurrency, failures, cancel, events."""

from __future__ import annotations

import asyncio
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from invokeai_py_client import (
    APIResponseError,
    AsyncInvokeAIClient,
    InternalServerError,
    InvocationProgressEvent,
    InvokeAIClient,
    JobCanceledError,
    JobFailedError,
    NotFoundError,
    QueueItemStatusChangedEvent,
)
from invokeai_py_client._capabilities import version_key
from tests.graphs import blank_image_body, failing_body, model_identifier, sdxl_txt2img_body


def result_width(item: Any) -> int:
    (result,) = [r for r in item.session["results"].values() if r.get("type") == "image_output"]
    return int(result["width"])


def test_version_and_health(server_url: str, expected_version: str) -> None:
    with InvokeAIClient.from_url(server_url) as client:
        assert client.server_version() == expected_version
        assert client.health_check() is True


def test_unknown_route_is_an_error_not_html(server_url: str, expected_version: str) -> None:
    with InvokeAIClient.from_url(server_url) as client:
        with pytest.raises(APIResponseError) as info:
            client.request("GET", "/no-such-route-here")
        # 6.14 answers unknown routes with the web UI's HTML page; 6.0 and 5.x with a JSON 404.
        assert isinstance(info.value, NotFoundError) or "not JSON" in str(info.value)
        # 5.x lets "no such queue item" escape as a bare 500 (the job follower copes: unit tests).
        missing = NotFoundError if version_key(expected_version) >= (6,) else InternalServerError
        with pytest.raises(missing):
            client.request("GET", "/api/v1/queue/default/i/999999999")


CONCURRENT = 8
"""Jobs in flight at once: each on its own thread or task, each with its own width to tell results apart."""


@pytest.mark.parametrize("use_events", [True, False], ids=["events", "polling"])
def test_concurrent_jobs_from_threads_each_get_their_own_result(server_url: str, use_events: bool) -> None:
    with InvokeAIClient.from_url(server_url, use_events=use_events) as client:

        def run(i: int) -> tuple[int, int]:
            job = client.queue_repo.enqueue_batch(blank_image_body(width=64 + 8 * i, red=i))[0]
            item = job.wait(timeout=120)
            return i, result_width(item)

        with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
            results = list(pool.map(run, range(CONCURRENT)))
        assert [w for _, w in results] == [64 + 8 * i for i in range(CONCURRENT)]
        if use_events:
            assert client._runner.hub.connected


def test_concurrent_jobs_with_asyncio(server_url: str) -> None:
    async def main() -> list[int]:
        async with AsyncInvokeAIClient.from_url(server_url) as client:

            async def run(i: int) -> int:
                batch = await client.queue_repo.enqueue_batch(blank_image_body(width=64 + 8 * i, red=i))
                item = await batch[0].wait(timeout=120)
                return result_width(item)

            widths = await asyncio.gather(*(run(i) for i in range(CONCURRENT)))
            assert client._runner.hub.connected
            return list(widths)

    assert asyncio.run(main()) == [64 + 8 * i for i in range(CONCURRENT)]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_failed_job_raises_with_the_servers_error(server_url: str, mode: str) -> None:
    if mode == "sync":
        with InvokeAIClient.from_url(server_url) as client:
            job = client.queue_repo.enqueue_batch(failing_body())[0]
            with pytest.raises(JobFailedError) as info:
                job.wait(timeout=60)
    else:

        async def main() -> JobFailedError:
            async with AsyncInvokeAIClient.from_url(server_url) as client:
                job = (await client.queue_repo.enqueue_batch(failing_body()))[0]
                with pytest.raises(JobFailedError) as caught:
                    await job.wait(timeout=60)
                return caught.value

        asyncio.run(main())
        return
    err = info.value
    assert err.error_type and err.error_message
    assert err.item is not None and err.item.status == "failed"
    # 6.14 looks the record up first; 6.0 and 5.x open the file first.
    assert (err.error_type, err.error_message) in {
        ("ImageRecordNotFoundException", "Image record not found"),
        ("ImageFileNotFoundException", "Image file not found"),
    }
    assert err.error_type in (err.error_traceback or "")


def test_cancel_a_pending_job(server_url: str) -> None:
    with InvokeAIClient.from_url(server_url) as client:
        client.request("PUT", "/queue/default/processor/pause")
        try:
            job = client.queue_repo.enqueue_batch(blank_image_body(red=201))[0]
            assert job.status() == "pending"
            job.cancel()
        finally:
            client.request("PUT", "/queue/default/processor/resume")
        with pytest.raises(JobCanceledError):
            job.wait(timeout=30)
        assert job.status() == "canceled"


def test_events_arrive_in_order_with_progress_during_denoise(server_url: str) -> None:
    with InvokeAIClient.from_url(server_url) as client:
        model = model_identifier(client, "tiny-sdxl")
        job = client.queue_repo.enqueue_batch(sdxl_txt2img_body(model, seed=11, steps=4))[0]
        events = list(job.events(timeout=120))
        statuses = [e.status for e in events if isinstance(e, QueueItemStatusChangedEvent)]
        assert statuses[-1] == "completed"
        assert statuses == sorted(statuses, key=["pending", "in_progress", "completed"].index)
        progress = [e for e in events if isinstance(e, InvocationProgressEvent) and e.percentage is not None]
        assert progress, "no progress percentages during denoise"
        pcts = [e.percentage for e in progress if e.invocation_source_id == "denoise"]
        assert pcts == sorted(pcts) and 0 < pcts[-1] <= 1
        started = [e.invocation_source_id for e in events if e.name == "invocation_started"]
        assert started.index("denoise") < started.index("l2i")
        item = job.wait(timeout=10)
        assert item.status == "completed"


def test_progress_callback_is_called(server_url: str) -> None:
    seen: list[str] = []
    with InvokeAIClient.from_url(server_url) as client:
        model = model_identifier(client, "tiny-sdxl")
        job = client.queue_repo.enqueue_batch(sdxl_txt2img_body(model, seed=12, steps=3))[0]
        job.wait(timeout=120, on_event=lambda e: seen.append(e.name))
    assert "invocation_progress" in seen and "invocation_complete" in seen


def kill_socket_transport(client: InvokeAIClient) -> None:
    """Cut the event socket's TCP connection under the client (a network cut)."""
    sio = client._runner.hub._sio
    ws = getattr(sio, "_ws", None)
    assert ws is not None and ws.sock is not None, "no open event socket to cut"
    ws.sock.shutdown(socket.SHUT_RDWR)


def test_killed_socket_reconnects_and_waits_still_complete(server_url: str) -> None:
    with InvokeAIClient.from_url(server_url) as client:
        assert client._runner.hub.connect()
        body = blank_image_body(red=77)
        body["batch"]["runs"] = 6
        batch = client.queue_repo.enqueue_batch(body)
        killer = threading.Timer(0.3, kill_socket_transport, args=(client,))
        killer.start()
        items = batch.wait(timeout=120)
        killer.join()
        assert [i.status for i in items] == ["completed"] * 6
        # The client's own reconnection brings the socket back and re-subscribes.
        for _ in range(100):
            if client._runner.hub.connected and client._runner.hub.reconnects >= 1:
                break
            threading.Event().wait(0.1)
        assert client._runner.hub.reconnects >= 1 and client._runner.hub.connected
        job = client.queue_repo.enqueue_batch(blank_image_body(red=78))[0]
        assert job.wait(timeout=60).status == "completed"


def test_reattach_by_item_id_and_batch_id(server_url: str) -> None:
    with InvokeAIClient.from_url(server_url) as client:
        batch = client.queue_repo.enqueue_batch({"batch": {**blank_image_body(red=90)["batch"], "runs": 3}})
        ids = batch.item_ids
    # A new process would only know the ids.
    with InvokeAIClient.from_url(server_url) as other:
        again = other.queue_repo.attach_batch(batch.batch_ids[0])
        assert again.item_ids == ids
        items = again.wait(timeout=60)
        assert [i.status for i in items] == ["completed"] * 3
        job = other.queue_repo.attach_job(ids[0])
        assert job.wait(timeout=5).item_id == ids[0]
