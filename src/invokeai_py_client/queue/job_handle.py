"""1.1.1's `JobHandle` (one queue item): ours is `Job`."""

from ..jobs import Job as JobHandle
from .queue_models import QueueItem, QueueItemStatus

__all__ = ["JobHandle", "QueueItem", "QueueItemStatus"]
