"""The session queue: enqueueing (never twice), items, batches, cancellation.

Operations are written once as flows (see `_flow.py`); `QueueRepository` and
`AsyncQueueRepository` run them.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import httpx

from ._exceptions import (
    AmbiguousSubmissionError,
    APIConnectionError,
    InternalServerError,
    InvokeAIError,
    JobTimeoutError,
)
from ._flow import Call, Flow, Pause, backoff
from .queue_models import (
    BatchStatus,
    EnqueueBatchResult,
    QueueItem,
    QueueStatus,
    ServerModel,
    StatusCounts,
)

if TYPE_CHECKING:
    from .client import AsyncInvokeAIClient, InvokeAIClient
    from .jobs import AsyncJob, AsyncJobBatch, Job, JobBatch

__all__ = [
    "AsyncQueueRepository",
    "DestinationCounts",
    "ProcessorStatus",
    "QueueAndProcessorStatus",
    "QueueRepository",
    "new_destination_tag",
]

log = logging.getLogger("invokeai_py_client.queue")

DEFAULT_ORIGIN = "invokeai-py-client"


def new_destination_tag() -> str:
    """A unique `destination` for one submission, so it can be found again by lookup."""
    return f"invokeai-py:{uuid.uuid4().hex}"


def prepare_batch(body: Mapping[str, Any]) -> dict[str, Any]:
    """Copy an `enqueue_batch` body, filling in a client-chosen batch id and tags.

    The batch id is chosen here, not by the server, so events can be routed to the
    submission before it exists and an ambiguous failure can be resolved by lookup.
    """
    out = dict(body)
    batch = dict(out.get("batch") or {})
    batch.setdefault("batch_id", str(uuid.uuid4()))
    if not batch.get("origin"):
        batch["origin"] = DEFAULT_ORIGIN
    if not batch.get("destination"):
        batch["destination"] = new_destination_tag()
    out["batch"] = batch
    out.setdefault("prepend", False)
    return out


def _q(queue_id: str) -> str:
    return f"/api/v1/queue/{queue_id}"


def enqueue_flow(queue_id: str, body: Mapping[str, Any]) -> Flow[EnqueueBatchResult]:
    """POST enqueue_batch once; resolve a lost answer by looking the batch up.

    Never retried blindly. If the request could not even be sent (connection
    refused), it is sent again once the lookup confirms nothing was enqueued; if
    the answer was lost after sending, the lookup decides; if it stays unknown,
    `AmbiguousSubmissionError` is raised and nothing is sent twice.
    """
    prepared = prepare_batch(body)
    batch = prepared["batch"]
    batch_id: str = batch["batch_id"]
    destination: str = batch["destination"]
    for attempt in range(2):
        try:
            answer = yield Call("POST", f"{_q(queue_id)}/enqueue_batch", json=prepared, retry=False)
            return EnqueueBatchResult.model_validate(answer)
        except (APIConnectionError, InternalServerError) as exc:
            log.warning("enqueue of batch %s: %s; looking it up", batch_id, exc)
            found = yield from _lookup_batch(queue_id, batch_id, destination)
            if found is not None:
                log.info("batch %s was enqueued after all (%d items)", batch_id, len(found))
                return EnqueueBatchResult(
                    queue_id=queue_id,
                    enqueued=len(found),
                    requested=len(found),
                    batch=batch,
                    item_ids=sorted(found, reverse=True),
                )
            never_sent = isinstance(exc.__cause__, httpx.ConnectError)
            if isinstance(exc, InternalServerError):
                raise  # the server answered: it refused the batch, nothing is queued
            if not never_sent or attempt == 1:
                raise AmbiguousSubmissionError(
                    f"enqueue of batch {batch_id} failed ({exc}) and the batch is not on the "
                    f"queue yet; it may still appear. Look for destination {destination!r} "
                    "before submitting again.",
                    destination=destination,
                ) from exc
    raise AssertionError("unreachable")


def _lookup_batch(queue_id: str, batch_id: str, destination: str) -> Flow[list[int] | None]:
    try:
        status = yield Call("GET", f"{_q(queue_id)}/b/{batch_id}/status")
    except InvokeAIError:
        return None
    if not status or int(status.get("total", 0)) == 0:
        return None
    try:
        items = yield Call("GET", f"{_q(queue_id)}/list_all", params={"destination": destination})
    except InvokeAIError:
        return None
    ids = [int(i["item_id"]) for i in items or [] if i.get("batch_id") == batch_id]
    return ids or None


def get_item_flow(queue_id: str, item_id: int) -> Flow[QueueItem]:
    answer = yield Call("GET", f"{_q(queue_id)}/i/{item_id}")
    return QueueItem.model_validate(answer)


def items_by_ids_flow(queue_id: str, item_ids: Sequence[int]) -> Flow[list[QueueItem]]:
    """Full queue items (with sessions), in the order asked, 1000 per request."""
    found: dict[int, QueueItem] = {}
    for start in range(0, len(item_ids), 1000):
        chunk = list(item_ids[start : start + 1000])
        answer = yield Call("POST", f"{_q(queue_id)}/items_by_ids", json={"item_ids": chunk}, retry=True)
        for raw in answer or []:
            item = QueueItem.model_validate(raw)
            found[item.item_id] = item
    missing = [i for i in item_ids if i not in found]
    if missing:
        raise InvokeAIError(f"queue {queue_id!r} has no items {missing}")
    return [found[i] for i in item_ids]


def item_summaries_flow(queue_id: str, item_ids: Sequence[int]) -> Flow[list[QueueItem]]:
    """Light summaries (status, times, batch; no session), for polling."""
    out: list[QueueItem] = []
    for start in range(0, len(item_ids), 1000):
        chunk = list(item_ids[start : start + 1000])
        answer = yield Call(
            "POST", f"{_q(queue_id)}/item_summaries_by_ids", json={"item_ids": chunk}, retry=True
        )
        out.extend(QueueItem.model_validate({"queue_id": queue_id, **raw}) for raw in answer or [])
    return out


def batch_status_flow(queue_id: str, batch_id: str) -> Flow[BatchStatus]:
    answer = yield Call("GET", f"{_q(queue_id)}/b/{batch_id}/status")
    return BatchStatus.model_validate(answer)


def batch_item_ids_flow(queue_id: str, batch_id: str) -> Flow[list[int]]:
    """Item ids of a batch (for re-attaching to a batch after a restart)."""
    status = yield from batch_status_flow(queue_id, batch_id)
    if status.total == 0:
        raise InvokeAIError(f"queue {queue_id!r} has no batch {batch_id!r}")
    items = yield Call("GET", f"{_q(queue_id)}/list_all", params={"destination": status.destination})
    return sorted(int(i["item_id"]) for i in items or [] if i.get("batch_id") == batch_id)


def cancel_item_flow(queue_id: str, item_id: int) -> Flow[QueueItem]:
    answer = yield Call("PUT", f"{_q(queue_id)}/i/{item_id}/cancel")
    return QueueItem.model_validate(answer)


def cancel_batches_flow(queue_id: str, batch_ids: Iterable[str]) -> Flow[int]:
    answer = yield Call("PUT", f"{_q(queue_id)}/cancel_by_batch_ids", json={"batch_ids": list(batch_ids)})
    return int((answer or {}).get("canceled", 0))


# --- queue and processor status ----------------------------------------------------


class ProcessorStatus(ServerModel):
    """Whether the session processor runs (`is_started`) and is busy (`is_processing`)."""

    is_started: bool = False
    is_processing: bool = False


class QueueAndProcessorStatus(ServerModel):
    """`GET /{queue_id}/status`: the queue's counts and the processor's state."""

    queue: QueueStatus
    processor: ProcessorStatus

    @property
    def is_idle(self) -> bool:
        """Nothing pending, waiting or running."""
        q = self.queue
        return q.pending == 0 and q.in_progress == 0 and q.waiting == 0 and not self.processor.is_processing


class DestinationCounts(StatusCounts):
    """Counts of a destination's items by status (`GET /{queue_id}/counts_by_destination`)."""

    queue_id: str = "default"
    destination: str


OrderDir = Literal["ASC", "DESC"]


def status_flow(queue_id: str) -> Flow[QueueAndProcessorStatus]:
    answer = yield Call("GET", f"{_q(queue_id)}/status")
    return QueueAndProcessorStatus.model_validate(answer)


def item_ids_flow(queue_id: str, order_dir: OrderDir = "DESC") -> Flow[list[int]]:
    answer = yield Call("GET", f"{_q(queue_id)}/item_ids", params={"order_dir": order_dir})
    return [int(i) for i in (answer or {}).get("item_ids", [])]


def list_items_flow(
    queue_id: str, offset: int, limit: int | None, order_dir: OrderDir
) -> Flow[list[QueueItem]]:
    """Light summaries of a page of the queue (no sessions): item ids, then summaries."""
    ids = yield from item_ids_flow(queue_id, order_dir)
    page = ids[offset:] if limit is None else ids[offset : offset + limit]
    if not page:
        return []
    summaries = yield from item_summaries_flow(queue_id, page)
    by_id = {s.item_id: s for s in summaries}
    # An item deleted between the two requests is simply left out.
    return [by_id[i] for i in page if i in by_id]


def current_item_flow(queue_id: str) -> Flow[QueueItem | None]:
    answer = yield Call("GET", f"{_q(queue_id)}/current")
    return None if answer is None else QueueItem.model_validate(answer)


def cancel_by_destination_flow(queue_id: str, destination: str) -> Flow[int]:
    answer = yield Call(
        "PUT", f"{_q(queue_id)}/cancel_by_destination", params={"destination": destination}
    )
    return int((answer or {}).get("canceled", 0))


def cancel_all_except_current_flow(queue_id: str) -> Flow[int]:
    answer = yield Call("PUT", f"{_q(queue_id)}/cancel_all_except_current")
    return int((answer or {}).get("canceled", 0))


def clear_flow(queue_id: str) -> Flow[int]:
    answer = yield Call("PUT", f"{_q(queue_id)}/clear")
    return int((answer or {}).get("deleted", 0))


def prune_flow(queue_id: str) -> Flow[int]:
    answer = yield Call("PUT", f"{_q(queue_id)}/prune")
    return int((answer or {}).get("deleted", 0))


def processor_flow(queue_id: str, action: Literal["pause", "resume"]) -> Flow[ProcessorStatus]:
    answer = yield Call("PUT", f"{_q(queue_id)}/processor/{action}")
    return ProcessorStatus.model_validate(answer)


def retry_items_flow(queue_id: str, item_ids: Sequence[int]) -> Flow[list[int]]:
    """Re-enqueue finished items as new items; answers the ids the server retried."""
    answer = yield Call(
        "PUT", f"{_q(queue_id)}/retry_items_by_id", json=[int(i) for i in item_ids], retry=False
    )
    return [int(i) for i in (answer or {}).get("retried_item_ids", [])]


def counts_by_destination_flow(queue_id: str, destination: str) -> Flow[DestinationCounts]:
    answer = yield Call(
        "GET", f"{_q(queue_id)}/counts_by_destination", params={"destination": destination}
    )
    return DestinationCounts.model_validate(answer)


def wait_until_idle_flow(
    queue_id: str, timeout: float | None, max_interval: float = 1.0
) -> Flow[QueueAndProcessorStatus]:
    """Poll the queue status with backoff until nothing is pending or running."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for delay in backoff(cap=max_interval):
        status = yield from status_flow(queue_id)
        if status.is_idle:
            return status
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                q = status.queue
                raise JobTimeoutError(
                    f"queue {queue_id!r} still busy after {timeout}s (pending {q.pending}, "
                    f"in progress {q.in_progress}, processor started: {status.processor.is_started})",
                    None,
                )
            delay = min(delay, remaining)
        yield Pause(delay)
    raise AssertionError("unreachable")


class QueueRepository:
    """`client.queue_repo`: the session queue."""

    def __init__(self, client: InvokeAIClient, queue_id: str = "default") -> None:
        self._client = client
        self.queue_id = queue_id

    def enqueue_batch(self, body: Mapping[str, Any]) -> JobBatch:
        """Enqueue an `enqueue_batch` body; returns its jobs, already followed by events."""
        from .jobs import JobBatch

        return JobBatch.submit(self._client, self.queue_id, body)

    def get_item(self, item_id: int) -> QueueItem:
        return self._client._run(get_item_flow(self.queue_id, item_id))

    def get_items(self, item_ids: Sequence[int]) -> list[QueueItem]:
        return self._client._run(items_by_ids_flow(self.queue_id, item_ids))

    def get_batch_status(self, batch_id: str) -> BatchStatus:
        return self._client._run(batch_status_flow(self.queue_id, batch_id))

    def cancel_item(self, item_id: int) -> QueueItem:
        return self._client._run(cancel_item_flow(self.queue_id, item_id))

    def cancel_by_batch_ids(self, batch_ids: Iterable[str]) -> int:
        return self._client._run(cancel_batches_flow(self.queue_id, batch_ids))

    def attach_job(self, item_id: int) -> Job:
        """A Job for an existing queue item (e.g. after a restart)."""
        from .jobs import Job

        return Job.attach(self._client, self.queue_id, item_id)

    def attach_batch(self, batch_id: str) -> JobBatch:
        """The jobs of an existing batch (e.g. after a restart)."""
        from .jobs import JobBatch

        return JobBatch.attach(self._client, self.queue_id, batch_id)

    def get_status(self) -> QueueAndProcessorStatus:
        """The queue's counts by status and whether the processor runs."""
        return self._client._run(status_flow(self.queue_id))

    def list_item_ids(self, order_dir: OrderDir = "DESC") -> list[int]:
        return self._client._run(item_ids_flow(self.queue_id, order_dir))

    def list_items(
        self, offset: int = 0, limit: int | None = 100, order_dir: OrderDir = "DESC"
    ) -> list[QueueItem]:
        """A page of light item summaries (no sessions), newest first by default."""
        return self._client._run(list_items_flow(self.queue_id, offset, limit, order_dir))

    def get_current_item(self) -> QueueItem | None:
        """The item being processed, or None when the queue is idle."""
        return self._client._run(current_item_flow(self.queue_id))

    def cancel_by_destination(self, destination: str) -> int:
        """Cancel every pending or running item of `destination`; answers how many."""
        return self._client._run(cancel_by_destination_flow(self.queue_id, destination))

    def cancel_all_except_current(self) -> int:
        return self._client._run(cancel_all_except_current_flow(self.queue_id))

    def clear(self) -> int:
        """Delete every item (canceling the current one); answers how many were deleted."""
        return self._client._run(clear_flow(self.queue_id))

    def prune(self) -> int:
        """Delete finished items (completed, failed, canceled); answers how many."""
        return self._client._run(prune_flow(self.queue_id))

    def pause_processor(self) -> ProcessorStatus:
        """Stop starting new items (the current one finishes)."""
        return self._client._run(processor_flow(self.queue_id, "pause"))

    def resume_processor(self) -> ProcessorStatus:
        return self._client._run(processor_flow(self.queue_id, "resume"))

    def retry_items(self, item_ids: Sequence[int]) -> list[int]:
        return self._client._run(retry_items_flow(self.queue_id, item_ids))

    def counts_by_destination(self, destination: str) -> DestinationCounts:
        return self._client._run(counts_by_destination_flow(self.queue_id, destination))

    def wait_until_idle(self, timeout: float | None = None) -> QueueAndProcessorStatus:
        """Block until nothing is pending or running; JobTimeoutError after `timeout` s."""
        return self._client._run(wait_until_idle_flow(self.queue_id, timeout))


class AsyncQueueRepository:
    """`AsyncInvokeAIClient.queue_repo`: the session queue, non-blocking."""

    def __init__(self, client: AsyncInvokeAIClient, queue_id: str = "default") -> None:
        self._client = client
        self.queue_id = queue_id

    async def enqueue_batch(self, body: Mapping[str, Any]) -> AsyncJobBatch:
        from .jobs import AsyncJobBatch

        return await AsyncJobBatch.submit(self._client, self.queue_id, body)

    async def get_item(self, item_id: int) -> QueueItem:
        return await self._client._run(get_item_flow(self.queue_id, item_id))

    async def get_items(self, item_ids: Sequence[int]) -> list[QueueItem]:
        return await self._client._run(items_by_ids_flow(self.queue_id, item_ids))

    async def get_batch_status(self, batch_id: str) -> BatchStatus:
        return await self._client._run(batch_status_flow(self.queue_id, batch_id))

    async def cancel_item(self, item_id: int) -> QueueItem:
        return await self._client._run(cancel_item_flow(self.queue_id, item_id))

    async def cancel_by_batch_ids(self, batch_ids: Iterable[str]) -> int:
        return await self._client._run(cancel_batches_flow(self.queue_id, batch_ids))

    async def attach_job(self, item_id: int) -> AsyncJob:
        from .jobs import AsyncJob

        return await AsyncJob.attach(self._client, self.queue_id, item_id)

    async def attach_batch(self, batch_id: str) -> AsyncJobBatch:
        from .jobs import AsyncJobBatch

        return await AsyncJobBatch.attach(self._client, self.queue_id, batch_id)

    async def get_status(self) -> QueueAndProcessorStatus:
        return await self._client._run(status_flow(self.queue_id))

    async def list_item_ids(self, order_dir: OrderDir = "DESC") -> list[int]:
        return await self._client._run(item_ids_flow(self.queue_id, order_dir))

    async def list_items(
        self, offset: int = 0, limit: int | None = 100, order_dir: OrderDir = "DESC"
    ) -> list[QueueItem]:
        return await self._client._run(list_items_flow(self.queue_id, offset, limit, order_dir))

    async def get_current_item(self) -> QueueItem | None:
        return await self._client._run(current_item_flow(self.queue_id))

    async def cancel_by_destination(self, destination: str) -> int:
        return await self._client._run(cancel_by_destination_flow(self.queue_id, destination))

    async def cancel_all_except_current(self) -> int:
        return await self._client._run(cancel_all_except_current_flow(self.queue_id))

    async def clear(self) -> int:
        return await self._client._run(clear_flow(self.queue_id))

    async def prune(self) -> int:
        return await self._client._run(prune_flow(self.queue_id))

    async def pause_processor(self) -> ProcessorStatus:
        return await self._client._run(processor_flow(self.queue_id, "pause"))

    async def resume_processor(self) -> ProcessorStatus:
        return await self._client._run(processor_flow(self.queue_id, "resume"))

    async def retry_items(self, item_ids: Sequence[int]) -> list[int]:
        return await self._client._run(retry_items_flow(self.queue_id, item_ids))

    async def counts_by_destination(self, destination: str) -> DestinationCounts:
        return await self._client._run(counts_by_destination_flow(self.queue_id, destination))

    async def wait_until_idle(self, timeout: float | None = None) -> QueueAndProcessorStatus:
        return await self._client._run(wait_until_idle_flow(self.queue_id, timeout))
