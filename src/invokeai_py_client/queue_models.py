"""Queue records as the server sends them: queue items, batch status, enqueue results.

Models tolerate the server: unknown fields are kept (`extra="allow"`) and statuses
are plain strings, so a newer server's values never crash a client. Every model also
reads like a dict (`item["status"]`, `item.get("status")`), as the seed's examples do.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ._models import ServerModel

__all__ = [
    "TERMINAL_STATUSES",
    "BatchStatus",
    "EnqueueBatchResult",
    "QueueItem",
    "QueueItemStatus",
    "QueueStatus",
    "StatusCounts",
]

QueueItemStatus = Literal["pending", "in_progress", "waiting", "completed", "failed", "canceled"]
"""Statuses a 6.14 server uses; newer servers may send others, which are kept as strings."""

TERMINAL_STATUSES = frozenset({"completed", "failed", "canceled"})




class QueueItem(ServerModel):
    """One queue item (`GET /api/v1/queue/{queue_id}/i/{item_id}`).

    `session` holds the graph, the execution state and `results`; it is absent from
    light summaries such as status events.
    """

    item_id: int
    status: str
    batch_id: str
    queue_id: str = "default"
    session_id: str | None = None
    priority: int = 0
    origin: str | None = None
    destination: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    error_traceback: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    status_sequence: int | None = None
    field_values: list[dict[str, Any]] | None = None
    session: dict[str, Any] | None = None
    workflow: dict[str, Any] | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class StatusCounts(ServerModel):
    """How many items are in each status (the shape of every counts answer)."""

    pending: int = 0
    in_progress: int = 0
    waiting: int = 0
    completed: int = 0
    failed: int = 0
    canceled: int = 0
    total: int = 0


class BatchStatus(StatusCounts):
    """Counts of a batch's items by status (`GET /{queue_id}/b/{batch_id}/status`)."""

    queue_id: str = "default"
    batch_id: str
    origin: str | None = None
    destination: str | None = None

    @property
    def done(self) -> bool:
        return self.total > 0 and self.completed + self.failed + self.canceled >= self.total


class QueueStatus(StatusCounts):
    """Counts for a whole queue (`GET /{queue_id}/status` -> `queue`)."""

    queue_id: str = "default"
    item_id: int | None = None
    batch_id: str | None = None
    session_id: str | None = None


class EnqueueBatchResult(ServerModel):
    """The answer to `enqueue_batch`: what was requested, what was enqueued, item ids."""

    queue_id: str = "default"
    enqueued: int
    requested: int
    batch: dict[str, Any] = Field(default_factory=dict)
    priority: int = 0
    item_ids: list[int] = Field(default_factory=list)

    @property
    def batch_id(self) -> str:
        return str(self.batch.get("batch_id", ""))
