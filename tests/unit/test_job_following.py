"""The job state machine: following items by events and by polling, stale events, timeouts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter

from invokeai_py_client import (
    InvokeAIClient,
    JobCanceledError,
    JobFailedError,
    JobLostError,
    JobTimeoutError,
    QueueItemStatusChangedEvent,
)
from invokeai_py_client._capabilities import ServerSchema, bundled_document
from invokeai_py_client._exceptions import NotFoundError
from invokeai_py_client._flow import Call, Once, Pause
from invokeai_py_client._following import _Deliver, _NextEvent, _Registry, _SocketUp, track_flow
from invokeai_py_client.events import EventRouter, parse_event
from invokeai_py_client.jobs import Job
from tests.golden import golden_json


class FakeJob(Job[Any]):
    def __init__(self, item_id: int) -> None:
        super().__init__(None, "default", item_id, "b1")  # type: ignore[arg-type]


def registry_of(*item_ids: int) -> tuple[_Registry, dict[int, FakeJob]]:
    registry = _Registry()
    jobs = {i: FakeJob(i) for i in item_ids}
    registry.add(list(jobs.values()))
    return registry, jobs


def status_event(item_id: int, status: str, seq: int, batch_id: str = "b1") -> QueueItemStatusChangedEvent:
    return QueueItemStatusChangedEvent(
        name="queue_item_status_changed", item_id=item_id, batch_id=batch_id, status=status, status_sequence=seq
    )


MODERN = ServerSchema.from_openapi(bundled_document("6.14.2"), version="6.14.2")
OLD = ServerSchema.from_openapi(bundled_document("6.0.2"), version="6.0.2")


def drive(
    flow: Any, events: list[Any], answers: dict[str, Any], schema: ServerSchema = MODERN,
    socket: list[int | None] | None = None,
) -> tuple[list[Any], list[str]]:
    """Run a tracker flow by hand: events feed _NextEvent, answers feed Calls by path suffix
    (an exception as answer is raised into the flow), `schema` answers the server's schema,
    `socket` answers _SocketUp in turn (the connection count, None when down; the last
    answer repeats; default: up since the first connection)."""
    socket = list(socket or [1])
    delivered: list[Any] = []
    calls: list[str] = []
    answer: Any = None
    try:
        while True:
            if isinstance(answer, Exception):
                error, answer = answer, None
                step = flow.throw(error)
            else:
                step = flow.send(answer)
            answer = None
            if isinstance(step, Once):
                assert step.key == "server-schema"
                answer = schema
            elif isinstance(step, _SocketUp):
                answer = socket.pop(0) if len(socket) > 1 else socket[0]
            elif isinstance(step, _NextEvent):
                answer = events.pop(0) if events else None
            elif isinstance(step, Call):
                calls.append(step.path.rsplit("/", 1)[-1])
                raw = answers[step.path.rsplit("/", 1)[-1]]
                raw = raw(step) if callable(raw) else raw
                if isinstance(raw, Exception) or step.into is None:
                    answer = raw
                else:
                    answer = TypeAdapter(step.into).validate_python(raw)
            elif isinstance(step, _Deliver):
                delivered.append(step.event)
            else:
                assert isinstance(step, Pause)
    except StopIteration:
        return delivered, calls


def full_item(item_id: int, status: str) -> dict[str, Any]:
    return {"item_id": item_id, "status": status, "batch_id": "b1", "session": {"results": {}}}


SOCKET: Any = object()
"""Stands for the tracker's socket listener: the test feeds the events itself."""


def test_events_drive_completion_with_one_initial_poll() -> None:
    registry, jobs = registry_of(5)
    events = [status_event(5, "in_progress", 1), status_event(5, "completed", 2)]
    answers = {
        "item_summaries_by_ids": [{"item_id": 5, "status": "pending", "batch_id": "b1"}],
        "items_by_ids": [full_item(5, "completed")],
    }
    _, calls = drive(track_flow("default", registry, SOCKET), events, answers)
    assert calls == ["item_summaries_by_ids", "items_by_ids"]
    assert jobs[5].result().status == "completed"
    assert [e.status for e in jobs[5]._seen] == ["in_progress", "completed"]


def test_a_socket_not_up_yet_is_polled_for_until_it_connects_then_read_once() -> None:
    # The submit does not wait for the socket: until it is up the tracker polls (and
    # hands the statuses it finds to the job's listeners); when it connects, one more
    # poll reads what happened before the room was joined.
    polls = iter(["pending", "in_progress", "in_progress"])

    def summaries(call: Call[Any]) -> list[dict[str, Any]]:
        return [{"item_id": 5, "status": next(polls), "batch_id": "b1"}]

    registry, jobs = registry_of(5)
    delivered, calls = drive(
        track_flow("default", registry, SOCKET), [status_event(5, "completed", 3)],
        {"item_summaries_by_ids": summaries, "items_by_ids": [full_item(5, "completed")]},
        socket=[None, None, 1],
    )
    assert calls == ["item_summaries_by_ids"] * 3 + ["items_by_ids"]
    assert [e.status for e in delivered] == ["pending", "in_progress"]
    assert jobs[5].result().status == "completed"


def test_a_reconnected_socket_is_followed_by_one_poll() -> None:
    # Events sent while the socket was down are lost: a new connection means one read.
    polls = iter(["pending", "completed"])

    def summaries(call: Call[Any]) -> list[dict[str, Any]]:
        return [{"item_id": 5, "status": next(polls), "batch_id": "b1"}]

    registry, jobs = registry_of(5)
    _, calls = drive(
        track_flow("default", registry, SOCKET), [status_event(5, "in_progress", 1)],
        {"item_summaries_by_ids": summaries, "items_by_ids": [full_item(5, "completed")]},
        socket=[1, 1, 2],
    )
    assert calls == ["item_summaries_by_ids", "item_summaries_by_ids", "items_by_ids"]
    assert jobs[5].result().status == "completed"


def test_events_of_other_items_are_not_kept() -> None:
    registry, jobs = registry_of(5)
    events = [status_event(6, "completed", 1), status_event(5, "completed", 1)]
    answers = {
        "item_summaries_by_ids": [{"item_id": 5, "status": "pending", "batch_id": "b1"}],
        "items_by_ids": [full_item(5, "completed")],
    }
    drive(track_flow("default", registry, SOCKET), events, answers)
    assert [e.item_id for e in jobs[5]._seen] == [5]


def test_quiet_socket_falls_back_to_polling() -> None:
    polls = iter(["pending", "in_progress", "completed"])

    def summaries(call: Call[Any]) -> list[dict[str, Any]]:
        return [{"item_id": 5, "status": next(polls), "batch_id": "b1"}]

    registry, jobs = registry_of(5)
    _, calls = drive(
        track_flow("default", registry, SOCKET),
        [], {"item_summaries_by_ids": summaries, "items_by_ids": [full_item(5, "completed")]},
    )
    assert calls.count("item_summaries_by_ids") == 3
    assert jobs[5].result().status == "completed"


def test_already_terminal_items_need_no_polling() -> None:
    registry, jobs = registry_of(5)
    _, calls = drive(
        track_flow("default", registry, SOCKET, known=lambda i: "completed"),
        [], {"items_by_ids": [full_item(5, "completed")]},
    )
    assert calls == ["items_by_ids"]
    assert jobs[5].done()


def test_each_job_resolves_as_soon_as_its_own_item_ends() -> None:
    registry, jobs = registry_of(5, 6)
    seen_done: list[tuple[bool, bool]] = []

    def full(call: Call[Any]) -> list[dict[str, Any]]:
        seen_done.append((jobs[5].done(), jobs[6].done()))
        return [full_item(i, "completed") for i in call.json["item_ids"]]

    events = [status_event(6, "completed", 2), status_event(5, "completed", 2)]
    answers = {
        "item_summaries_by_ids": [{"item_id": i, "status": "pending", "batch_id": "b1"} for i in (5, 6)],
        "items_by_ids": full,
    }
    drive(track_flow("default", registry, SOCKET), events, answers)
    assert seen_done == [(False, False), (False, True)]  # 6 settled before 5 ended
    assert jobs[5].done() and jobs[6].done()


def test_an_item_attached_again_settles_every_job_that_follows_it() -> None:
    # One client, two jobs on one item (submitted, then attached by id): both end with it.
    registry, jobs = registry_of(5)
    again = FakeJob(5)
    assert registry.add([again]) is False  # the tracker already runs
    events = [status_event(5, "completed", 2)]
    answers = {
        "item_summaries_by_ids": [{"item_id": 5, "status": "in_progress", "batch_id": "b1"}],
        "items_by_ids": [full_item(5, "completed")],
    }
    drive(track_flow("default", registry, SOCKET), events, answers)
    assert jobs[5].result(timeout=0).status == again.result(timeout=0).status == "completed"
    assert [e.status for e in again._seen] == ["completed"]


def test_an_item_gone_from_the_queue_is_lost_not_awaited_forever() -> None:
    registry, jobs = registry_of(5)
    drive(track_flow("default", registry, None), [], {"item_summaries_by_ids": []})
    with pytest.raises(JobLostError):
        jobs[5].result()


def test_polling_without_a_socket_delivers_status_events() -> None:
    polls = iter(["pending", "completed"])
    registry, _ = registry_of(5)
    delivered, _ = drive(
        track_flow("default", registry, None),
        [],
        {
            "item_summaries_by_ids": lambda c: [{"item_id": 5, "status": next(polls), "batch_id": "b1"}],
            "items_by_ids": [full_item(5, "completed")],
        },
    )
    assert [e.status for e in delivered] == ["pending", "completed"]


def test_a_server_without_bulk_routes_is_followed_one_item_at_a_time() -> None:
    polls = iter(["pending", "in_progress", "completed", "completed"])

    def item(call: Call[Any]) -> dict[str, Any]:
        return full_item(5, next(polls))

    registry, jobs = registry_of(5)
    delivered, calls = drive(track_flow("default", registry, None), [], {"5": item}, schema=OLD)
    assert set(calls) == {"5"}  # GET /queue/default/i/5 only: no bulk route was asked
    assert jobs[5].result().status == "completed"
    assert [e.status for e in delivered] == ["pending", "in_progress", "completed"]


def test_an_item_deleted_from_an_old_server_is_lost() -> None:
    registry, jobs = registry_of(5)
    gone = NotFoundError("404", response=httpx.Response(404, request=httpx.Request("GET", "http://t/")), body=None)
    drive(track_flow("default", registry, None), [], {"5": gone}, schema=OLD)
    with pytest.raises(JobLostError):
        jobs[5].result()


def test_router_drops_stale_status_events() -> None:
    router = EventRouter()
    assert not router.is_stale(status_event(1, "in_progress", 2))
    assert router.is_stale(status_event(1, "pending", 1))
    assert router.is_stale(status_event(1, "in_progress", 2))
    assert not router.is_stale(status_event(1, "completed", 3))
    last = router.last_status(1)
    assert last is not None and last.status == "completed"


def test_recorded_event_stream_parses_into_typed_events() -> None:
    records = golden_json("invokeai-6.14.2-events-sample.json")
    kinds = {}
    for record in records:
        if record["event"].startswith("__"):
            continue
        event = parse_event(record["event"], record["data"])
        kinds[record["event"]] = type(event).__name__
        assert event.name == record["event"]
        if record["event"] == "queue_item_status_changed":
            assert event.status_sequence is not None  # type: ignore[attr-defined]
    assert kinds["invocation_progress"] == "InvocationProgressEvent"
    assert kinds["invocation_complete"] == "InvocationCompleteEvent"
    assert kinds["queue_item_status_changed"] == "QueueItemStatusChangedEvent"


class PollingServer:
    """A queue whose single item goes through the given statuses, one per poll."""

    def __init__(self, statuses: list[str], final: dict[str, Any]) -> None:
        self.statuses = statuses
        self.final = final
        self.canceled = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/item_summaries_by_ids"):
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return httpx.Response(200, json=[{"item_id": 9, "status": status, "batch_id": "b"}])
        if path.endswith("/items_by_ids"):
            return httpx.Response(200, json=[self.final])
        if path.endswith("/i/9"):
            return httpx.Response(200, json={"item_id": 9, "status": "pending", "batch_id": "b"})
        if path.endswith("/cancel"):
            self.canceled = True
            return httpx.Response(200, json={**self.final, "status": "canceled"})
        return httpx.Response(404, json={"detail": path})


def make_job(server: PollingServer) -> Job[Any]:
    client = InvokeAIClient("http://t", transport=httpx.MockTransport(server), use_events=False)
    return client.queue_repo.attach_job(9)


def test_failed_item_raises_with_the_servers_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)
    final = {
        "item_id": 9, "status": "failed", "batch_id": "b",
        "error_type": "ValueError", "error_message": "bad seed", "error_traceback": "Traceback...",
    }
    job = make_job(PollingServer(["pending", "in_progress", "failed"], final))
    with pytest.raises(JobFailedError) as info:
        job.wait()
    assert info.value.error_type == "ValueError" and info.value.error_message == "bad seed"
    assert info.value.error_traceback == "Traceback..."
    assert "ValueError: bad seed" in str(info.value)


def test_canceled_item_raises_canceled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)
    job = make_job(PollingServer(["canceled"], {"item_id": 9, "status": "canceled", "batch_id": "b"}))
    with pytest.raises(JobCanceledError):
        job.wait()


def test_timeout_can_cancel_the_item() -> None:
    server = PollingServer(["in_progress"], {"item_id": 9, "status": "in_progress", "batch_id": "b"})
    job = make_job(server)
    with pytest.raises(JobTimeoutError) as info:
        job.wait(timeout=0.2, cancel_on_timeout=True)
    assert server.canceled
    assert info.value.item is not None and info.value.item.status == "in_progress"


def test_job_events_iterate_status_changes_while_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)
    final = {"item_id": 9, "status": "completed", "batch_id": "b"}
    job = make_job(PollingServer(["pending", "in_progress", "completed"], final))
    statuses = [e.status for e in job.events() if isinstance(e, QueueItemStatusChangedEvent)]
    assert statuses == ["pending", "in_progress", "completed"]
