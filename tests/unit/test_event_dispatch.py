"""The socket's events are read only when someone listens for them.

A client in the queue's room gets every client's events, most of them progress events
with preview images; parsing them all cost the reader thread most of its CPU.
"""

from __future__ import annotations

from typing import Any

import pytest

from invokeai_py_client import _socket
from invokeai_py_client._following import TRACKED_EVENTS
from invokeai_py_client._socket import SyncEventHub
from invokeai_py_client._transport import ClientOptions, Credentials


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []
    real = _socket.parse_event

    def counting(name: str, data: Any) -> Any:
        names.append(name)
        return real(name, data)

    monkeypatch.setattr(_socket, "parse_event", counting)
    return names


def progress(batch_id: str) -> dict[str, Any]:
    return {"queue_id": "default", "item_id": 1, "batch_id": batch_id, "session_id": "s",
            "invocation": {"id": "n", "type": "denoise_latents"}, "percentage": 0.5,
            "image": {"dataURL": "data:image/png;base64," + "A" * 20_000, "width": 64, "height": 64}}


def status(batch_id: str, item_id: int, sequence: int, value: str) -> dict[str, Any]:
    return {"queue_id": "default", "item_id": item_id, "batch_id": batch_id, "status": value,
            "status_sequence": sequence}


def test_events_nobody_wants_are_not_parsed(parsed: list[str]) -> None:
    hub = SyncEventHub(ClientOptions("http://host"), Credentials())
    tracker = hub.listen_all(TRACKED_EVENTS)
    mine = hub.listen(frozenset({"mine"}))
    hub.dispatch("invocation_progress", progress("someone-else"))
    assert parsed == [] and tracker.queue.empty() and mine.queue.empty()
    hub.dispatch("invocation_progress", progress("mine"))
    assert parsed == ["invocation_progress"] and mine.queue.qsize() == 1 and tracker.queue.empty()
    hub.dispatch("queue_item_status_changed", status("someone-else", 7, 1, "in_progress"))
    assert parsed[-1] == "queue_item_status_changed" and tracker.queue.qsize() == 1 and mine.queue.qsize() == 1
    assert hub.last_status(7) == "in_progress"  # statuses are always read
    assert hub.busy(60.0)


def test_a_status_change_is_read_even_with_no_listener(parsed: list[str]) -> None:
    hub = SyncEventHub(ClientOptions("http://host"), Credentials())
    hub.dispatch("invocation_complete", {"batch_id": "b", "item_id": 3})
    hub.dispatch("queue_item_status_changed", status("b", 3, 2, "completed"))
    assert parsed == ["queue_item_status_changed"] and hub.last_status(3) == "completed"


def test_a_closed_hub_does_not_connect() -> None:
    hub = SyncEventHub(ClientOptions("http://127.0.0.1:9"), Credentials())
    hub.close()
    assert hub.connect(timeout=0.5) is False and hub._sio is None
