"""The threaded Socket.IO client's packets, and the hub's choice of what to decode."""

from __future__ import annotations

import json
from typing import Any

import pytest

from invokeai_py_client._socket import SyncEventHub
from invokeai_py_client._threaded_socket import (
    ACK,
    DISCONNECT,
    EVENT,
    Packet,
    ThreadedSocketIO,
    connect_frame,
    event_frame,
    parse_message,
)
from invokeai_py_client._transport import ClientOptions, Credentials


def test_an_event_is_read_with_its_name_before_its_data() -> None:
    data = {"queue_id": "default", "batch_id": "b", "item_id": 7, "message": 'say "hi", [ok]'}
    packet = parse_message('42["invocation_progress",' + json.dumps(data) + "]")
    assert packet == Packet(EVENT, None, '["invocation_progress",' + json.dumps(data) + "]")
    assert packet.event_name == "invocation_progress"
    assert json.loads(packet.payload) == ["invocation_progress", data]


def test_acks_disconnects_and_other_namespaces() -> None:
    assert parse_message('4312["ok"]') == Packet(ACK, 12, '["ok"]')
    assert parse_message("41") == Packet(DISCONNECT, None, "")
    assert parse_message("43[]").event_name is None  # not an event
    with pytest.raises(ValueError, match="'/admin'"):
        parse_message('42/admin,["x",1]')


@pytest.mark.parametrize("payload", ['[1,"x"]', '["esc\\"aped",1]', '[""]', "not json"])
def test_an_event_whose_name_cannot_be_read_plainly_has_none(payload: str) -> None:
    assert Packet(EVENT, None, payload).event_name is None  # decoded in full instead


def test_frames_the_client_sends() -> None:
    assert event_frame("subscribe_queue", {"queue_id": "q"}, 3) == '423["subscribe_queue", {"queue_id": "q"}]'
    assert event_frame("x", None) == '42["x", null]'
    assert connect_frame({"token": "t"}) == '40{"token": "t"}'
    assert connect_frame(None) == "40"


def frames_for(socket: ThreadedSocketIO, frames: list[str]) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    socket.on("*", lambda name, data: seen.append((name, data)))
    for frame in frames:
        socket._message(frame)
    return seen


def test_events_nobody_wants_are_not_decoded() -> None:
    asked: list[str] = []

    def wants(name: str) -> bool:
        asked.append(name)
        return name != "invocation_progress"

    socket = ThreadedSocketIO(wants=wants)
    seen = frames_for(socket, [
        '42["invocation_progress",{not json: never decoded}]',
        '42["queue_item_status_changed",{"item_id":1}]',
        '42[7,"a name that is not plain is decoded and then judged"]',
    ])
    assert asked == ["invocation_progress", "queue_item_status_changed"]
    assert seen == [("queue_item_status_changed", {"item_id": 1})]


def test_a_malformed_event_someone_wants_is_an_error_the_reader_survives() -> None:
    socket = ThreadedSocketIO()
    with pytest.raises(ValueError):
        frames_for(socket, ['42["queue_item_status_changed",{broken'])


def test_the_hub_decodes_status_changes_always_and_the_rest_only_for_listeners() -> None:
    hub = SyncEventHub(ClientOptions("http://host"), Credentials())
    assert hub._may_read("queue_item_status_changed") and not hub._may_read("invocation_progress")
    only_status = hub.listen(frozenset({"b"}), frozenset({"queue_item_status_changed"}))
    assert not hub._may_read("invocation_progress")
    everything = hub.listen(frozenset({"c"}))
    assert hub._may_read("invocation_progress")
    hub.remove(everything)
    hub.remove(only_status)
    assert not hub._may_read("invocation_progress")
    assert hub.last_event_at > 0  # an event read or not still shows the socket is alive


def test_an_unreachable_server_is_a_connection_error() -> None:
    socket = ThreadedSocketIO()
    with pytest.raises(ConnectionError, match="event socket"):
        socket.connect("http://127.0.0.1:9", socketio_path="ws/socket.io", wait_timeout=2)
    assert not socket.connected
    socket.disconnect()  # nothing to close: no error


def test_an_async_listener_is_fed_on_its_loop_from_the_sockets_thread() -> None:
    import asyncio
    import threading

    from invokeai_py_client._socket import AsyncEventHub
    from invokeai_py_client.events import parse_event

    async def main() -> list[int]:
        hub = AsyncEventHub(ClientOptions("http://host"), Credentials())
        listener = hub.listen(frozenset({"b"}))
        loop_thread = threading.get_ident()
        put_from: list[int] = []
        original = listener.queue.put_nowait

        def spy(event: Any) -> None:
            put_from.append(threading.get_ident())
            original(event)

        listener.queue.put_nowait = spy
        events = [parse_event("queue_item_status_changed", status_data(k)) for k in range(3)]
        reader = threading.Thread(target=lambda: [hub.deliver(e) for e in events])
        reader.start()
        got = [await listener.get(5) for _ in events]
        reader.join()
        assert put_from == [loop_thread] * 3  # queued by the loop itself, never by the reader
        return [e.item_id for e in got if e is not None]

    assert asyncio.run(main()) == [0, 1, 2]  # in the order the socket brought them


def status_data(item_id: int) -> dict[str, Any]:
    return {"queue_id": "default", "item_id": item_id, "batch_id": "b", "status": "in_progress",
            "session_id": "s", "origin": None, "destination": None, "error_type": None, "error_message": None,
            "error_traceback": None, "created_at": "2026-01-01T00:00:00", "updated_at": "2026-01-01T00:00:00",
            "started_at": None, "completed_at": None}


def test_a_refused_socket_is_retried_at_once_when_the_token_changes() -> None:
    credentials = Credentials()
    hub = SyncEventHub(ClientOptions("http://127.0.0.1:9"), credentials)
    assert hub.connect(timeout=0.5) is False  # refused: nothing listens there
    assert not hub.may_try_connect()  # the pause after a failure
    credentials.set("a-token-from-a-login")
    assert hub.may_try_connect()
