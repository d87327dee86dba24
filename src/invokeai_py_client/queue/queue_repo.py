"""1.1.1's `invokeai_py_client.queue.queue_repo`: our queue repository under its path."""

from . import QueueRepository
from .queue_handle import QueueHandle

__all__ = ["QueueHandle", "QueueRepository"]
