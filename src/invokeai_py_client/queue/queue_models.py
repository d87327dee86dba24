"""1.1.1's `invokeai_py_client.queue.queue_models`: our queue records under its path."""

import enum

from ..queue_models import QueueItem, QueueStatus
from . import ProcessorStatus, QueueAndProcessorStatus

__all__ = ["ProcessorStatus", "QueueAndProcessorStatus", "QueueItem", "QueueItemStatus", "QueueStatus"]


class QueueItemStatus(enum.StrEnum):
    """A queue item's status (the server's strings; `QueueItem.status` compares equal)."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
