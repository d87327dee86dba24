"""Queue operations against the real local server: status, listing, cancel, retry, pause."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient, JobTimeoutError
from tests.graphs import blank_image_body


def body_for(destination: str, red: int = 0) -> dict[str, Any]:
    body = blank_image_body(red=red)
    body["batch"]["destination"] = destination
    return body


def test_cancel_by_destination_cancels_only_that_destination(server_url: str) -> None:
    with InvokeAIClient(server_url, use_events=False) as client:
        queue = client.queue_repo
        queue.wait_until_idle(timeout=120)
        doomed, kept = f"doomed-{uuid.uuid4().hex[:8]}", f"kept-{uuid.uuid4().hex[:8]}"
        assert queue.pause_processor().is_started is False
        try:
            doomed_ids = [i for r in range(3) for i in queue.enqueue_batch(body_for(doomed, r)).item_ids]
            kept_ids = [i for r in range(2) for i in queue.enqueue_batch(body_for(kept, r)).item_ids]
            status = queue.get_status()
            assert status.processor.is_started is False
            assert status.queue.pending >= 5
            assert queue.get_current_item() is None
            counts = queue.counts_by_destination(doomed)
            assert (counts.pending, counts.total) == (3, 3)

            assert queue.cancel_by_destination(doomed) == 3
            assert {i.status for i in queue.get_items(doomed_ids)} == {"canceled"}
            assert {i.status for i in queue.get_items(kept_ids)} == {"pending"}
            assert queue.counts_by_destination(kept).pending == 2
            assert queue.counts_by_destination(doomed).canceled == 3
        finally:
            assert queue.resume_processor().is_started is True
        idle = queue.wait_until_idle(timeout=120)
        assert idle.is_idle and idle.queue.pending == 0
        assert {i.status for i in queue.get_items(kept_ids)} == {"completed"}
        assert {i.status for i in queue.get_items(doomed_ids)} == {"canceled"}

        retried = queue.retry_items(doomed_ids[:1])
        assert retried == doomed_ids[:1]
        queue.wait_until_idle(timeout=120)
        assert queue.counts_by_destination(doomed).completed == 1


def test_listing_current_item_and_cancel_all_except_current(server_url: str) -> None:
    with InvokeAIClient(server_url, use_events=False) as client:
        queue = client.queue_repo
        queue.wait_until_idle(timeout=120)
        tag = f"list-{uuid.uuid4().hex[:8]}"
        queue.pause_processor()
        try:
            ids = sorted(i for r in range(4) for i in queue.enqueue_batch(body_for(tag, r)).item_ids)
            newest = queue.list_items(limit=4)
            assert [i.item_id for i in newest] == ids[::-1]
            assert all(i.destination == tag and i.status == "pending" for i in newest)
            assert [i.item_id for i in queue.list_items(offset=1, limit=2)] == ids[::-1][1:3]
            oldest_first = queue.list_item_ids(order_dir="ASC")
            assert oldest_first[-4:] == ids and queue.list_item_ids()[:4] == ids[::-1]
            assert queue.get_current_item() is None
            assert queue.cancel_all_except_current() >= 4
            assert {i.status for i in queue.get_items(ids)} == {"canceled"}
        finally:
            queue.resume_processor()
        queue.wait_until_idle(timeout=60)


def test_wait_until_idle_times_out_while_paused(server_url: str) -> None:
    with InvokeAIClient(server_url, use_events=False) as client:
        queue = client.queue_repo
        queue.wait_until_idle(timeout=120)
        tag = f"paused-{uuid.uuid4().hex[:8]}"
        queue.pause_processor()
        try:
            queue.enqueue_batch(body_for(tag))
            with pytest.raises(JobTimeoutError) as info:
                queue.wait_until_idle(timeout=0.5)
            assert "still busy" in str(info.value)
        finally:
            queue.cancel_by_destination(tag)
            queue.resume_processor()
        queue.wait_until_idle(timeout=60)


def test_prune_and_clear(server_url: str) -> None:
    with InvokeAIClient(server_url, use_events=False) as client:
        queue = client.queue_repo
        queue.wait_until_idle(timeout=120)
        tag = f"prune-{uuid.uuid4().hex[:8]}"
        done = queue.enqueue_batch(body_for(tag))
        done.wait(timeout=60)
        assert queue.prune() >= 1
        assert queue.counts_by_destination(tag).total == 0
        queue.pause_processor()
        try:
            queue.enqueue_batch(body_for(tag))
            assert queue.counts_by_destination(tag).pending == 1
            assert queue.clear() >= 1
            assert queue.counts_by_destination(tag).total == 0
            assert queue.get_status().queue.total == 0
        finally:
            queue.resume_processor()


def test_async_queue_operations(server_url: str) -> None:
    async def run() -> None:
        async with AsyncInvokeAIClient(server_url, use_events=False) as client:
            queue = client.queue_repo
            await queue.wait_until_idle(timeout=120)
            tag = f"async-{uuid.uuid4().hex[:8]}"
            assert (await queue.pause_processor()).is_started is False
            try:
                batch = await queue.enqueue_batch(body_for(tag))
                assert (await queue.counts_by_destination(tag)).pending == 1
                assert [i.item_id for i in await queue.list_items(limit=1)] == batch.item_ids
                assert await queue.get_current_item() is None
                assert await queue.cancel_by_destination(tag) == 1
                assert await queue.retry_items(batch.item_ids) == batch.item_ids
                assert (await queue.get_status()).queue.pending >= 1
            finally:
                assert (await queue.resume_processor()).is_started is True
            assert (await queue.wait_until_idle(timeout=60)).is_idle
            assert (await queue.counts_by_destination(tag)).completed == 1
            await queue.cancel_all_except_current()
            assert await queue.prune() >= 1

    asyncio.run(run())
