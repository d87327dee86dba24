"""Injected faults between the client and the real server, with counted outcomes.

Every case goes through a `FaultProxy` and is checked against the server itself:
- reads (GET, and the tracker's POST lookups) survive 5xx and cut connections by retrying,
  and answer what the server answers directly;
- a fault on `enqueue_batch`, before the server saw the request or after it processed
  it, never leaves two queue items for one submission: the client looks the batch up
  (counted on the server by the submission's destination);
- waits complete while the Socket.IO websocket is cut every couple of seconds, and
  while the tracker's own lookups fail;
- a slow server with `cancel_on_timeout` leaves no item behind on the queue.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from invokeai_py_client import (
    AmbiguousSubmissionError,
    AsyncInvokeAIClient,
    InvokeAIClient,
    InvokeAIError,
    JobTimeoutError,
)
from tests.graphs import blank_image_body, model_identifier, sdxl_txt2img_body
from tests.reliability.conftest import items_of
from tests.reliability.faultproxy import FaultKind, FaultProxy

CLIENTS = ["sync", "async"]
ENQUEUE = r"/api/v1/queue/[^/]+/enqueue_batch"

Record = Callable[[str, object], None]


async def maybe(value: Any) -> Any:
    """The value of a sync call, or of an awaited async one (actions serve both clients).

    (A sync job is awaitable too, as a Future: only coroutines are awaited.)
    """
    return await value if inspect.iscoroutine(value) else value


def with_client(kind: str, url: str, action: Callable[[Any], Awaitable[Any]], **options: Any) -> Any:
    """Run `action(client)` on a new sync or async client of `url`, closed afterwards."""

    async def run() -> Any:
        if kind == "sync":
            with InvokeAIClient(url, **options) as client:
                return await action(client)
        async with AsyncInvokeAIClient(url, **options) as client:
            return await action(client)

    return asyncio.run(run())


def tagged(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """`body` with a destination of its own, to count its items on the server."""
    destination = f"reliability:{uuid.uuid4().hex}"
    return {**body, "batch": {**body["batch"], "destination": destination}}, destination


# --- reads: retried through 5xx and cuts ----------------------------------------------------

READ_FAULTS: list[tuple[FaultKind, int]] = [
    ("status", 502), ("status", 503), ("status_after", 502),
    ("cut_before", 0), ("cut_mid_request", 0), ("cut_after", 0), ("cut_mid_response", 0),
]
READS = {
    "version": ("GET", r"/api/v1/app/version"),
    "queue item": ("GET", r"/api/v1/queue/[^/]+/i/\d+"),
    "image bytes": ("GET", r"/api/v1/images/i/[^/]+/full"),
    "item status": ("POST", r"/api/v1/queue/[^/]+/item_summaries_by_ids"),
}


@pytest.fixture(scope="module")
def finished_job(server_url: str) -> dict[str, Any]:
    """A completed job with an image, and what the server answers about it directly."""
    with InvokeAIClient(server_url, use_events=False) as client:
        item = client.queue_repo.enqueue_batch(blank_image_body(red=101))[0].wait(timeout=60)
        (image,) = [r["image"]["image_name"] for r in (item.session or {})["results"].values() if "image" in r]
        return {
            "item_id": item.item_id, "image": image, "version": client.server_version(),
            "bytes": client.image_repo.download_image(image),
        }


def _read(name: str, job: dict[str, Any]) -> Callable[[Any], Awaitable[Any]]:
    async def action(client: Any) -> Any:
        if name == "version":
            return await maybe(client.server_version())
        if name == "queue item":
            return (await maybe(client.queue_repo.get_item(job["item_id"]))).item_id
        if name == "image bytes":
            return await maybe(client.image_repo.download_image(job["image"]))
        attached = await maybe(client.queue_repo.attach_job(job["item_id"]))
        return await maybe(attached.status())

    return action


@pytest.mark.parametrize("client_kind", CLIENTS)
@pytest.mark.parametrize("read", list(READS))
@pytest.mark.parametrize(("kind", "status"), READ_FAULTS)
def test_a_read_is_retried_through_two_faults_and_answers_what_the_server_does(
    server_url: str, proxy_to: Callable[[str], FaultProxy], finished_job: dict[str, Any],
    client_kind: str, read: str, kind: FaultKind, status: int, record_property: Record,
) -> None:
    proxy = proxy_to(server_url)
    method, path = READS[read]
    fault = proxy.inject(method, path, kind, status=status or 502, times=2)
    answer = with_client(client_kind, proxy.url, _read(read, finished_job), use_events=False)
    expected = {
        "version": finished_job["version"], "queue item": finished_job["item_id"],
        "image bytes": finished_job["bytes"], "item status": "completed",
    }[read]
    record_property("faults_injected", fault.hits)
    record_property("faults_survived", fault.hits if answer == expected else 0)
    assert fault.hits == 2  # both injected, and the third try answered
    assert answer == expected


# --- enqueue: never twice -------------------------------------------------------------------

# (fault, status, does the server get the batch, what the submitter sees)
ENQUEUE_FAULTS: list[tuple[FaultKind, int, bool, str]] = [
    ("status", 502, False, "InternalServerError"),
    ("status", 500, False, "InternalServerError"),
    ("cut_before", 0, False, "AmbiguousSubmissionError"),
    ("cut_mid_request", 0, False, "AmbiguousSubmissionError"),
    ("status_after", 502, True, "completed"),
    ("status_after", 500, True, "completed"),
    ("cut_after", 0, True, "completed"),
    ("cut_mid_response", 0, True, "completed"),
]


@pytest.mark.parametrize("client_kind", CLIENTS)
@pytest.mark.parametrize(("kind", "status", "reaches_server", "expected"), ENQUEUE_FAULTS)
def test_a_fault_on_enqueue_never_leaves_a_duplicate_item(
    server_url: str, proxy_to: Callable[[str], FaultProxy], client_kind: str, kind: FaultKind,
    status: int, reaches_server: bool, expected: str, record_property: Record,
) -> None:
    proxy = proxy_to(server_url)
    fault = proxy.inject("POST", ENQUEUE, kind, status=status or 502)
    body, destination = tagged(blank_image_body(red=len(kind) * 7 + status % 7))

    async def submit(client: Any) -> Any:
        batch = await maybe(client.queue_repo.enqueue_batch(body))
        return await maybe(batch.wait(timeout=60))

    try:
        items = with_client(client_kind, proxy.url, submit, use_events=False)
        outcome = "completed" if [i.status for i in items] == ["completed"] else f"{items}"
    except InvokeAIError as exc:
        items, outcome = [], type(exc).__name__
    on_server = items_of(server_url, destination)
    record_property("faults_injected", fault.hits)
    record_property("items_on_server", len(on_server))
    record_property("duplicates", max(0, len(on_server) - 1))
    record_property("outcome", outcome)
    record_property("faults_survived", int(outcome == expected and len(on_server) == int(reaches_server)))
    assert fault.hits == 1
    assert len(on_server) == (1 if reaches_server else 0)
    assert proxy.forwarded_count("POST", ENQUEUE) == len(on_server)  # never sent twice
    assert outcome == expected
    if items:
        assert items[0].item_id == on_server[0]["item_id"]


@pytest.mark.parametrize("client_kind", CLIENTS)
def test_an_enqueue_answer_slower_than_the_timeout_is_ambiguous_and_never_resent(
    server_url: str, proxy_to: Callable[[str], FaultProxy], client_kind: str, record_property: Record,
) -> None:
    proxy = proxy_to(server_url)
    fault = proxy.inject("POST", ENQUEUE, "delay", seconds=3.0)
    body, destination = tagged(blank_image_body(red=202))

    async def submit(client: Any) -> Any:
        return await maybe(client.queue_repo.enqueue_batch(body))

    with pytest.raises(AmbiguousSubmissionError) as info:
        with_client(client_kind, proxy.url, submit, use_events=False, timeout=1.0)
    assert info.value.destination == destination  # what to look for before submitting again
    deadline = time.monotonic() + 20
    while not (on_server := items_of(server_url, destination)) and time.monotonic() < deadline:
        time.sleep(0.2)  # the proxy forwards the request after the client gave up on it
    record_property("faults_injected", fault.hits)
    record_property("faults_survived", int(len(on_server) == 1))
    record_property("items_on_server", len(on_server))
    record_property("duplicates", max(0, len(on_server) - 1))
    assert len(on_server) == 1
    assert proxy.forwarded_count("POST", ENQUEUE) == 1


@pytest.mark.parametrize("client_kind", CLIENTS)
def test_a_refused_connection_is_an_error_and_nothing_is_queued(
    server_url: str, proxy_to: Callable[[str], FaultProxy], client_kind: str, record_property: Record,
) -> None:
    proxy = proxy_to(server_url)
    body, destination = tagged(blank_image_body(red=203))

    async def submit(client: Any) -> Any:
        proxy.refuse()
        try:
            return await maybe(client.queue_repo.enqueue_batch(body))
        finally:
            proxy.accept()

    with pytest.raises(InvokeAIError) as info:
        with_client(client_kind, proxy.url, submit, use_events=False, max_retries=0)
    assert not isinstance(info.value, AmbiguousSubmissionError)  # nothing could have been sent
    assert items_of(server_url, destination) == []
    record_property("faults_injected", 1)
    record_property("faults_survived", 1)  # the asserts above held: a typed error, nothing queued
    record_property("duplicates", 0)
    # listening again, the same client address works
    assert with_client(client_kind, proxy.url, lambda c: maybe(c.server_version()), use_events=False)


# --- waits: through socket cuts and failing lookups -------------------------------------------


def _cut_every(proxy: FaultProxy, seconds: float, stop: threading.Event, cuts: list[int]) -> None:
    while not stop.wait(seconds):
        cuts.append(proxy.cut_sockets())


@pytest.mark.parametrize("client_kind", CLIENTS)
def test_waits_complete_while_the_socket_is_cut_every_one_and_a_half_seconds(
    server_url: str, proxy_to: Callable[[str], FaultProxy], client_kind: str, record_property: Record,
) -> None:
    proxy = proxy_to(server_url)
    with InvokeAIClient(server_url, use_events=False) as direct:
        model = model_identifier(direct, "tiny-sdxl")
    seeds = [1000 + i for i in range(6)]
    stop, cuts = threading.Event(), list[int]()
    cutter = threading.Thread(target=_cut_every, args=(proxy, 1.5, stop, cuts), daemon=True)

    async def run(client: Any) -> list[Any]:
        jobs = []
        for seed in seeds:
            batch = await maybe(client.queue_repo.enqueue_batch(sdxl_txt2img_body(model, seed=seed, steps=3)))
            jobs.append(batch[0])
        cutter.start()
        try:
            return [await maybe(job.wait(timeout=180)) for job in jobs]
        finally:
            stop.set()

    items = with_client(client_kind, proxy.url, run)
    cutter.join()
    used = [
        node["seed"] for item in items for node in item.session["graph"]["nodes"].values() if node["type"] == "noise"
    ]
    record_property("jobs", len(items))
    record_property("socket_cuts", sum(cuts))
    record_property("websockets_opened", proxy.websockets_opened)
    record_property("waits_completed", sum(i.status == "completed" for i in items))
    assert [i.status for i in items] == ["completed"] * len(seeds)
    assert used == seeds  # each wait got its own job's item
    assert sum(cuts) >= 2, f"the jobs ended before the socket was cut twice ({cuts})"
    assert proxy.websockets_opened >= sum(cuts)  # reconnected after every cut (the last: maybe after the end)


@pytest.mark.parametrize("client_kind", CLIENTS)
def test_waits_complete_while_the_trackers_lookups_fail(
    server_url: str, proxy_to: Callable[[str], FaultProxy], client_kind: str, record_property: Record,
) -> None:
    proxy = proxy_to(server_url)
    faults = [
        proxy.inject("POST", r".*/item_summaries_by_ids", "status", status=502, times=3),
        proxy.inject("POST", r".*/item_summaries_by_ids", "cut_mid_response", times=3),
        proxy.inject("POST", r".*/item_summaries_by_ids", "status", status=500, times=2),
        proxy.inject("POST", r".*/items_by_ids", "cut_after", times=2),
        proxy.inject("POST", r".*/items_by_ids", "status", status=503, times=2),
    ]
    reds = list(range(30, 36))

    async def run(client: Any) -> list[Any]:
        jobs = [(await maybe(client.queue_repo.enqueue_batch(blank_image_body(red=r))))[0] for r in reds]
        return [await maybe(job.wait(timeout=120)) for job in jobs]

    items = with_client(client_kind, proxy.url, run, use_events=False)
    colors = [
        node["color"]["r"] for item in items for node in item.session["graph"]["nodes"].values()
    ]
    injected = sum(f.hits for f in faults)
    record_property("faults_injected", injected)
    record_property("faults_survived", injected if colors == reds else 0)
    assert [i.status for i in items] == ["completed"] * len(reds)
    assert colors == reds
    assert all(f.hits == f.times for f in faults)


# --- a slow server and cancel_on_timeout ------------------------------------------------------


@pytest.mark.parametrize("client_kind", CLIENTS)
def test_a_timeout_on_a_slow_server_cancels_and_leaves_no_orphan(
    own_url: str, proxy_to: Callable[[str], FaultProxy], client_kind: str, record_property: Record,
) -> None:
    proxy = proxy_to(own_url)
    body, destination = tagged(blank_image_body(red=204))
    body["batch"]["runs"] = 3
    timeout = 3.0
    httpx.put(f"{own_url}/api/v1/queue/default/processor/pause", timeout=30).raise_for_status()
    late: list[float] = []

    async def run(client: Any) -> None:
        batch = await maybe(client.queue_repo.enqueue_batch(body))
        proxy.latency = 1.0  # every request from here on takes a second more
        started = time.monotonic()
        try:
            await maybe(batch.wait(timeout=timeout, cancel_on_timeout=True))
        finally:
            late.append(time.monotonic() - started - timeout)

    try:
        with pytest.raises(JobTimeoutError):
            with_client(client_kind, proxy.url, run)
    finally:
        httpx.put(f"{own_url}/api/v1/queue/default/processor/resume", timeout=30).raise_for_status()
    statuses = sorted(str(row["status"]) for row in items_of(own_url, destination))
    record_property("items", len(statuses))
    record_property("orphans", sum(s not in ("canceled", "completed", "failed") for s in statuses))
    record_property("seconds_past_deadline", round(late[0], 2))
    assert statuses == ["canceled"] * 3

