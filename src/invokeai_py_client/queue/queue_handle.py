"""1.1.1's `QueueHandle` (one queue's operations): ours is `QueueRepository`, one per queue id."""

from . import ProcessorStatus, QueueAndProcessorStatus
from . import QueueRepository as QueueHandle
from .queue_models import QueueItem, QueueItemStatus, QueueStatus

__all__ = ["ProcessorStatus", "QueueAndProcessorStatus", "QueueHandle", "QueueItem", "QueueItemStatus", "QueueStatus"]
