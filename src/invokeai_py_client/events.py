"""Server events: typed models and the routing rules that send each event to its job.

Everything here is pure; the Socket.IO connections live in `_socket.py`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from ._models import ServerModel

__all__ = [
    "QUEUE_EVENTS",
    "BatchEnqueuedEvent",
    "Event",
    "EventRouter",
    "InvocationCompleteEvent",
    "InvocationErrorEvent",
    "InvocationProgressEvent",
    "InvocationStartedEvent",
    "QueueItemStatusChangedEvent",
    "parse_event",
]


class Event(ServerModel):
    """A queue event. `name` is the Socket.IO event name; other fields as the server sent."""

    name: str
    queue_id: str | None = None
    item_id: int | None = None
    batch_id: str | None = None
    session_id: str | None = None
    origin: str | None = None
    destination: str | None = None
    timestamp: float | None = None


class InvocationStartedEvent(Event):
    """A node started running."""

    invocation_source_id: str | None = None
    invocation: dict[str, Any] | None = None

    @property
    def node_type(self) -> str | None:
        return (self.invocation or {}).get("type")


class InvocationProgressEvent(InvocationStartedEvent):
    """Progress inside a node: a message, a percentage (0..1) and maybe a preview image."""

    message: str | None = None
    percentage: float | None = None
    image: dict[str, Any] | None = None

    @property
    def preview_data_url(self) -> str | None:
        """The preview as a `data:image/...;base64,` URL, when the server sent one."""
        return (self.image or {}).get("dataURL")


class InvocationCompleteEvent(InvocationStartedEvent):
    """A node finished; `result` is its output (e.g. an image_output)."""

    result: dict[str, Any] | None = None


class InvocationErrorEvent(InvocationStartedEvent):
    """A node failed."""

    error_type: str | None = None
    error_message: str | None = None
    error_traceback: str | None = None


class QueueItemStatusChangedEvent(Event):
    """A queue item changed status; `status_sequence` orders these per item."""

    status: str
    status_sequence: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    error_traceback: str | None = None
    batch_status: dict[str, Any] | None = None
    queue_status: dict[str, Any] | None = None


class BatchEnqueuedEvent(Event):
    """A batch was enqueued."""

    enqueued: int | None = None
    requested: int | None = None


_EVENT_TYPES: dict[str, type[Event]] = {
    "invocation_started": InvocationStartedEvent,
    "invocation_progress": InvocationProgressEvent,
    "invocation_complete": InvocationCompleteEvent,
    "invocation_error": InvocationErrorEvent,
    "queue_item_status_changed": QueueItemStatusChangedEvent,
    "batch_enqueued": BatchEnqueuedEvent,
}

QUEUE_EVENTS = frozenset(_EVENT_TYPES) | {"queue_items_canceled", "queue_cleared"}


def parse_event(name: str, data: Any) -> Event:
    """Build the typed event for a Socket.IO event; unknown names give a plain `Event`."""
    payload = dict(data) if isinstance(data, Mapping) else {"data": data}
    payload.pop("name", None)
    cls = _EVENT_TYPES.get(name, Event)
    try:
        return cls.model_validate({**payload, "name": name})
    except ValueError:
        return Event.model_validate({**payload, "name": name})


class EventRouter:
    """Decides which listeners get an event, dropping stale status changes.

    Listeners are keyed by batch id: a submission's batch id is chosen by the client
    before enqueueing, so a listener is in place before the first event can arrive.
    Queue-wide events (cleared, items canceled) go to every listener.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_sequence: dict[int, int] = {}
        self._last_status: dict[int, QueueItemStatusChangedEvent] = {}

    def is_stale(self, event: Event) -> bool:
        """True for a status change older than one already seen for the same item."""
        if not isinstance(event, QueueItemStatusChangedEvent):
            return False
        if event.item_id is None or event.status_sequence is None:
            return False
        with self._lock:
            last = self._last_sequence.get(event.item_id, -1)
            if event.status_sequence <= last:
                return True
            self._last_sequence[event.item_id] = event.status_sequence
            self._last_status[event.item_id] = event
            if len(self._last_sequence) > 50_000:
                # Forget the oldest items; ids only grow.
                for key in sorted(self._last_sequence)[:25_000]:
                    del self._last_sequence[key]
                    self._last_status.pop(key, None)
            return False

    def last_status(self, item_id: int) -> QueueItemStatusChangedEvent | None:
        """The newest status change seen for an item (so a late listener misses nothing)."""
        with self._lock:
            return self._last_status.get(item_id)

    @staticmethod
    def keys_for(event: Event) -> tuple[str, ...] | None:
        """Listener keys for an event; None means "every listener"."""
        if event.name in ("queue_cleared", "queue_items_canceled"):
            return None
        if event.batch_id:
            return (event.batch_id,)
        return ()
