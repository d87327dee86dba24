"""Hundreds of jobs at once on one sync client (16 threads) and one async client, then no leaks.

On the scenarios' own instance. Each job is the cheapest real graph there is (one
`add` node, no model: a job is a job for the client) whose answer is its own number,
so every wait is checked to get its own item's result. After both clients are closed,
the process's threads, open file descriptors and sockets are back to where they were.

How many: `RELIABILITY_LOAD_JOBS` (500 by default, in `make test` and `make reliability`:
about 6 minutes, as the server spends ~0.7 s of CPU per item whatever the graph: it
runs a full `gc.collect()` before each one).
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient
from tests.reliability.conftest import items_of
from tests.reliability.test_proxy_faults import tagged

THREADS = 16
JOBS = int(os.environ.get("RELIABILITY_LOAD_JOBS", "500"))
ASYNC_JOBS = JOBS // 5  # from asyncio tasks; the rest from the threads
OFFSET = 100_000


def add_body(n: int) -> dict[str, Any]:
    """One `add` node: the job's answer is `n + OFFSET`."""
    node = {"id": "add", "type": "add", "a": n, "b": OFFSET, "use_cache": False}
    return {"batch": {"graph": {"id": f"add-{n}", "nodes": {"add": node}, "edges": []}}}


def answer(item: Any) -> int:
    (value,) = [r["value"] for r in item.session["results"].values() if r.get("type") == "integer_output"]
    return int(value)


def resources() -> dict[str, int]:
    """Threads, open file descriptors and sockets of this process."""
    fds = os.listdir("/proc/self/fd")
    sockets = 0
    for fd in fds:
        try:
            sockets += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor)
    return {"threads": threading.active_count(), "fds": len(fds), "sockets": sockets}


def settled_resources(
    baseline: dict[str, int], timeout: float = 15.0, threads_before: set[int | None] | None = None
) -> dict[str, int]:
    """The counts once they stop exceeding `baseline` and no thread started since
    `threads_before` lives (threads take a moment to end)."""
    deadline = time.monotonic() + timeout
    while True:
        gc.collect()
        now = resources()
        settled = all(now[k] <= baseline[k] for k in now)
        if threads_before is not None:
            settled = not started_threads(threads_before) and now["fds"] <= baseline["fds"]
            settled = settled and now["sockets"] <= baseline["sockets"]
        if settled or time.monotonic() > deadline:
            return now
        time.sleep(0.2)


def started_threads(threads_before: set[int | None]) -> list[str]:
    """Names of the live threads not among `threads_before`."""
    return sorted(t.name for t in threading.enumerate() if t.ident not in threads_before)


def run_load(url: str, numbers: list[int], async_numbers: list[int]) -> dict[int, int]:
    """Submit and wait for every number's job; answers number -> the job's result."""
    results: dict[int, int] = {}
    lock = threading.Lock()

    def worker(client: InvokeAIClient, mine: list[int]) -> None:
        jobs = [(n, client.queue_repo.enqueue_batch(add_body(n))[0]) for n in mine]
        for n, job in jobs:
            value = answer(job.wait(timeout=600))
            with lock:
                results[n] = value

    async def async_side() -> None:
        async with AsyncInvokeAIClient(url) as client:

            async def one(n: int) -> None:
                job = (await client.queue_repo.enqueue_batch(add_body(n)))[0]
                value = answer(await job.wait(timeout=600))
                with lock:
                    results[n] = value

            await asyncio.gather(*(one(n) for n in async_numbers))

    with InvokeAIClient(url) as client, ThreadPoolExecutor(THREADS + 1) as pool:
        side = pool.submit(asyncio.run, async_side())
        chunks = [numbers[i::THREADS] for i in range(THREADS)]
        for done in [pool.submit(worker, client, chunk) for chunk in chunks]:
            done.result()
        side.result()
    return results


def test_jobs_from_16_threads_and_asyncio_each_get_their_own_result_and_nothing_leaks(
    own_url: str, record_property: Any
) -> None:
    run_load(own_url, [1, 2], [3])  # warm-up: imports and one-time set-up are not leaks
    baseline = settled_resources({"threads": 0, "fds": 0, "sockets": 0}, timeout=0)
    threads_before = {t.ident for t in threading.enumerate()}
    numbers = list(range(10, 10 + JOBS - ASYNC_JOBS))
    async_numbers = list(range(5000, 5000 + ASYNC_JOBS))
    started = time.monotonic()
    results = run_load(own_url, numbers, async_numbers)
    seconds = time.monotonic() - started
    after = settled_resources(baseline, threads_before=threads_before)
    wrong = {n: v for n, v in results.items() if v != n + OFFSET}
    record_property("jobs", len(numbers) + len(async_numbers))
    record_property("results_correct", len(results) - len(wrong))
    record_property("seconds", round(seconds, 1))
    for key in baseline:
        record_property(f"{key}_before", baseline[key])
        record_property(f"{key}_after", after[key])
    assert sorted(results) == sorted(numbers + async_numbers)
    assert wrong == {}
    # Other tests' stray threads may end meanwhile: a leak is a thread this run started that still lives.
    new_threads = started_threads(threads_before)
    assert new_threads == [] and after["fds"] <= baseline["fds"] and after["sockets"] <= baseline["sockets"], (
        f"before {baseline}, after closing {after}; threads started and still alive: {new_threads}"
    )


def test_one_destination_per_submission_even_under_load(own_url: str) -> None:
    """Concurrent submissions make one item each, counted by destination on the server."""
    with InvokeAIClient(own_url) as client:
        bodies = [tagged(add_body(n)) for n in range(10)]
        with ThreadPoolExecutor(10) as pool:
            jobs = list(pool.map(lambda b: client.queue_repo.enqueue_batch(b[0])[0], bodies))
        assert [answer(j.wait(timeout=120)) for j in jobs] == [n + OFFSET for n in range(10)]
    assert [len(items_of(own_url, d)) for _, d in bodies] == [1] * 10
