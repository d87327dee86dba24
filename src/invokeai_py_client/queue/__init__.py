"""The session queue: enqueueing (never twice), items, batches, cancellation, the processor.

`QueueRepository` (`client.queue_repo`) is written once over its runner; submitting
and following jobs is `jobs.py`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import Field

from .._capabilities import server_schema
from .._exceptions import JobTimeoutError, ValidationError
from .._flow import AsyncRunner, Flow, Pause, Runner, SyncRunner, backoff, call
from .._following import (
    LIST_ALL,
    LIST_PAGE,
    item_summaries_flow,
    items_by_ids_flow,
    listed_rows_flow,
    queue_path,
)
from .._models import OrderDir, ServerModel
from .._resource import Resource, operation
from .._transport import segment
from ..jobs import (
    Job,
    JobBatch,
    ReportedResults,
    attach_batch_flow,
    attach_job_flow,
    new_destination_tag,
    submit_flow,
)
from ..queue_models import BatchStatus, QueueItem, QueueStatus, StatusCounts

__all__ = [
    "AsyncQueueRepository",
    "DestinationCounts",
    "JobHandle",
    "ProcessorStatus",
    "QueueAndProcessorStatus",
    "QueueHandle",
    "QueueRepository",
    "new_destination_tag",
]

log = logging.getLogger("invokeai_py_client.queue")

ITEM_IDS = "/api/v1/queue/{queue_id}/item_ids"


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




def _wait_until_idle(
    queue_id: str, timeout: float | None, max_interval: float = 1.0
) -> Flow[QueueAndProcessorStatus]:
    """Poll the queue status with backoff until nothing is pending or running."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for delay in backoff(cap=max_interval):
        status = yield from call(QueueAndProcessorStatus, "GET", f"{queue_path(queue_id)}/status")
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




def _counted(answer: Mapping[str, Any], key: str) -> int:
    return int(answer.get(key, 0))


class QueueRepository(Resource[Runner]):
    """`client.queue_repo`: the session queue."""

    def __init__(self, runner: Runner, queue_id: str = "default") -> None:
        self._runner = runner
        self.queue_id = queue_id

    @property
    def _path(self) -> str:
        return queue_path(self.queue_id)

    def _put(self, route: str, **kwargs: Any) -> Flow[dict[str, Any]]:
        return call(dict[str, Any], "PUT", f"{self._path}/{route}", **kwargs)

    @operation
    def enqueue_batch(self, body: Mapping[str, Any]) -> Flow[JobBatch[Runner]]:
        """Enqueue an `enqueue_batch` body; returns its jobs, already followed."""
        return submit_flow(self._runner, self.queue_id, [body])

    @operation
    def get_item(self, item_id: int) -> Flow[QueueItem]:
        return call(QueueItem, "GET", f"{self._path}/i/{int(item_id)}")

    @operation
    def get_items(self, item_ids: Sequence[int]) -> Flow[list[QueueItem]]:
        return items_by_ids_flow(self.queue_id, item_ids)

    @operation
    def get_batch_status(self, batch_id: str) -> Flow[BatchStatus]:
        return call(BatchStatus, "GET", f"{self._path}/b/{segment(batch_id, 'batch id')}/status")

    @operation
    def cancel_item(self, item_id: int) -> Flow[QueueItem]:
        return call(QueueItem, "PUT", f"{self._path}/i/{int(item_id)}/cancel")

    @operation
    def cancel_by_batch_ids(self, batch_ids: Iterable[str]) -> Flow[int]:
        answer = yield from self._put("cancel_by_batch_ids", json={"batch_ids": list(batch_ids)})
        return _counted(answer, "canceled")

    @operation
    def attach_job(self, item_id: int) -> Flow[Job[Runner]]:
        """A Job for an existing queue item (e.g. after a restart)."""
        return attach_job_flow(self._runner, self.queue_id, item_id)

    @operation
    def attach_batch(self, batch_id: str) -> Flow[JobBatch[Runner]]:
        """The jobs of an existing batch (e.g. after a restart)."""
        return attach_batch_flow(self._runner, self.queue_id, batch_id)

    @operation
    def get_status(self) -> Flow[QueueAndProcessorStatus]:
        """The queue's counts by status and whether the processor runs."""
        return call(QueueAndProcessorStatus, "GET", f"{self._path}/status")

    def _item_ids(self, order_dir: OrderDir) -> Flow[list[int]]:
        schema = yield server_schema()
        if not schema.has("GET", ITEM_IDS) and schema.has("GET", LIST_PAGE):
            rows = yield from listed_rows_flow(self.queue_id)  # servers before 6.7
            return sorted((int(r["item_id"]) for r in rows), reverse=order_dir == "DESC")
        schema.require("GET", ITEM_IDS, "listing queue item ids")
        answer = yield from call(_ItemIds, "GET", f"{self._path}/item_ids", params={"order_dir": order_dir})
        return answer.item_ids

    @operation
    def list_item_ids(self, order_dir: OrderDir = "DESC") -> Flow[list[int]]:
        return self._item_ids(order_dir)

    @operation
    def list_items(
        self, offset: int = 0, limit: int | None = 100, order_dir: OrderDir = "DESC"
    ) -> Flow[list[QueueItem]]:
        """A page of light item summaries (no sessions), newest first by default."""
        schema = yield server_schema()
        if not schema.has("GET", ITEM_IDS) and schema.has("GET", LIST_PAGE):
            # Servers before 6.7 list summaries themselves, by priority: order them here.
            rows = yield from listed_rows_flow(self.queue_id)
            rows.sort(key=lambda r: int(r["item_id"]), reverse=order_dir == "DESC")
            chosen = rows[offset:] if limit is None else rows[offset : offset + limit]
            return [QueueItem.model_validate({"queue_id": self.queue_id, **r}) for r in chosen]
        ids = yield from self._item_ids(order_dir)
        page = ids[offset:] if limit is None else ids[offset : offset + limit]
        if not page:
            return []
        summaries = yield from item_summaries_flow(self.queue_id, page)
        by_id = {s.item_id: s for s in summaries}
        # An item deleted between the two requests is simply left out.
        return [by_id[i] for i in page if i in by_id]

    @operation
    def get_current_item(self) -> Flow[QueueItem | None]:
        """The item being processed, or None when the queue is idle."""
        answer = yield from call(object, "GET", f"{self._path}/current")
        return None if answer is None else QueueItem.model_validate(answer)

    @operation
    def cancel_by_destination(self, destination: str) -> Flow[int]:
        """Cancel every pending or running item of `destination`; answers how many."""
        answer = yield from self._put("cancel_by_destination", params={"destination": destination})
        return _counted(answer, "canceled")

    @operation
    def cancel_all_except_current(self) -> Flow[int]:
        return _counted((yield from self._put("cancel_all_except_current")), "canceled")

    @operation
    def clear(self) -> Flow[int]:
        """Delete every item (canceling the current one); answers how many were deleted."""
        return _counted((yield from self._put("clear")), "deleted")

    @operation
    def prune(self) -> Flow[int]:
        """Delete finished items (completed, failed, canceled); answers how many."""
        return _counted((yield from self._put("prune")), "deleted")

    @operation
    def pause_processor(self) -> Flow[ProcessorStatus]:
        """Stop starting new items (the current one finishes)."""
        return call(ProcessorStatus, "PUT", f"{self._path}/processor/pause")

    @operation
    def resume_processor(self) -> Flow[ProcessorStatus]:
        return call(ProcessorStatus, "PUT", f"{self._path}/processor/resume")

    @operation
    def retry_items(self, item_ids: Sequence[int]) -> Flow[list[int]]:
        """Re-enqueue finished items as new items; answers the ids the server retried."""
        answer = yield from self._put("retry_items_by_id", json=[int(i) for i in item_ids], retry=False)
        return [int(i) for i in answer.get("retried_item_ids", [])]

    @operation
    def items_by_destination(self, destination: str) -> Flow[list[QueueItem]]:
        """Every item of the queue with this `destination` (e.g. one run's submissions)."""
        schema = yield server_schema()
        if not schema.has("GET", LIST_ALL) and schema.has("GET", LIST_PAGE):
            rows = yield from listed_rows_flow(self.queue_id)  # 5.x: no list_all
            ids = sorted(int(r["item_id"]) for r in rows if r.get("destination") == destination)
            return (yield from items_by_ids_flow(self.queue_id, ids)) if ids else []
        return (
            yield from call(list[QueueItem], "GET", f"{self._path}/list_all", params={"destination": destination})
        )

    @operation
    def counts_by_destination(self, destination: str) -> Flow[DestinationCounts]:
        params = {"destination": destination}
        return call(DestinationCounts, "GET", f"{self._path}/counts_by_destination", params=params)

    def reported_results(self, destination: str) -> ReportedResults:
        """Keep what the event socket reports each node of `destination`'s items made,
        from now until it is closed (see `ReportedResults`). Sync client only."""
        if not isinstance(self._runner, SyncRunner):
            raise ValidationError("reported_results is for the sync client (InvokeAIClient)")
        return ReportedResults(self._runner, destination)

    @operation
    def wait_until_idle(self, timeout: float | None = None) -> Flow[QueueAndProcessorStatus]:
        """Wait until nothing is pending or running; JobTimeoutError after `timeout` s."""
        return _wait_until_idle(self.queue_id, timeout)


class _ItemIds(ServerModel):
    item_ids: list[int] = Field(default_factory=list)


AsyncQueueRepository = QueueRepository[AsyncRunner]
"""`AsyncInvokeAIClient.queue_repo`: the same methods, as coroutines."""


# invokeai-py-client 1.1.1's names for these, at its import paths (its submodules too).
from .job_handle import JobHandle  # noqa: E402
from .queue_handle import QueueHandle  # noqa: E402
