"""The job state machine: following items by events and by polling, stale events, timeouts."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from invokeai_py_client import (
    InvokeAIClient,
    JobCanceledError,
    JobFailedError,
    JobTimeoutError,
    QueueItemStatusChangedEvent,
)
from invokeai_py_client._flow import Call, Pause
from invokeai_py_client.events import EventRouter, parse_event
from invokeai_py_client.jobs import Job, _Emit, _follow_flow, _NextEvent

SOCKET = object()
"""Stands for a socket listener: the test feeds the events itself."""


def status_event(item_id: int, status: str, seq: int, batch_id: str = "b1") -> QueueItemStatusChangedEvent:
    return QueueItemStatusChangedEvent(
        name="queue_item_status_changed", item_id=item_id, batch_id=batch_id, status=status, status_sequence=seq
    )


def drive(flow: Any, events: list[Any], answers: dict[str, Any]) -> tuple[Any, list[Any], list[str]]:
    """Run a follow flow by hand: events feed _NextEvent, answers feed Calls by path suffix."""
    emitted: list[Any] = []
    calls: list[str] = []
    answer: Any = None
    try:
        while True:
            step = flow.send(answer)
            answer = None
            if isinstance(step, _NextEvent):
                answer = events.pop(0) if events else None
            elif isinstance(step, Call):
                calls.append(step.path.rsplit("/", 1)[-1])
                answer = answers[step.path.rsplit("/", 1)[-1]]
                if callable(answer):
                    answer = answer(step)
            elif isinstance(step, _Emit):
                emitted.append(step.event)
            else:
                assert isinstance(step, Pause)
    except StopIteration as done:
        return done.value, emitted, calls


def full_item(item_id: int, status: str) -> dict[str, Any]:
    return {"item_id": item_id, "status": status, "batch_id": "b1", "session": {"results": {}}}


def test_events_drive_completion_with_one_initial_poll() -> None:
    flow = _follow_flow("default", [5], listener=SOCKET, sink=None, known={}, timeout=None)
    events = [status_event(5, "in_progress", 1), status_event(5, "completed", 2)]
    answers = {
        "item_summaries_by_ids": [{"item_id": 5, "status": "pending", "batch_id": "b1"}],
        "items_by_ids": [full_item(5, "completed")],
    }
    outcome, emitted, calls = drive(flow, events, answers)
    assert not outcome.timed_out
    assert outcome.items[0].status == "completed"
    assert calls == ["item_summaries_by_ids", "items_by_ids"]
    assert [e.status for e in emitted] == ["in_progress", "completed"]


def test_events_of_other_items_are_not_emitted() -> None:
    flow = _follow_flow("default", [5], listener=SOCKET, sink=None, known={}, timeout=None)
    events = [status_event(6, "completed", 1), status_event(5, "completed", 1)]
    answers = {
        "item_summaries_by_ids": [{"item_id": 5, "status": "pending", "batch_id": "b1"}],
        "items_by_ids": [full_item(5, "completed")],
    }
    _, emitted, _ = drive(flow, events, answers)
    assert [e.item_id for e in emitted] == [5]


def test_quiet_socket_falls_back_to_polling() -> None:
    polls = iter(["pending", "in_progress", "completed"])

    def summaries(call: Call) -> list[dict[str, Any]]:
        return [{"item_id": 5, "status": next(polls), "batch_id": "b1"}]

    flow = _follow_flow("default", [5], listener=SOCKET, sink=None, known={}, timeout=None)
    outcome, _, calls = drive(flow, [], {"item_summaries_by_ids": summaries, "items_by_ids": [full_item(5, "completed")]})
    assert calls.count("item_summaries_by_ids") == 3
    assert outcome.items[0].status == "completed"


def test_already_terminal_items_need_no_polling() -> None:
    flow = _follow_flow("default", [5], listener=SOCKET, sink=None, known={5: "completed"}, timeout=None)
    _, _, calls = drive(flow, [], {"items_by_ids": [full_item(5, "completed")]})
    assert calls == ["items_by_ids"]


def test_timeout_returns_summaries_marked_timed_out() -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 10.0
        return now[0]

    flow = _follow_flow("default", [5], listener=None, sink=None, known={}, timeout=15.0, clock=clock)
    answers = {"item_summaries_by_ids": [{"item_id": 5, "status": "in_progress", "batch_id": "b1"}]}
    outcome, _, _ = drive(flow, [], answers)
    assert outcome.timed_out and outcome.items[0].status == "in_progress"


def test_router_drops_stale_status_events() -> None:
    router = EventRouter()
    assert not router.is_stale(status_event(1, "in_progress", 2))
    assert router.is_stale(status_event(1, "pending", 1))
    assert router.is_stale(status_event(1, "in_progress", 2))
    assert not router.is_stale(status_event(1, "completed", 3))
    last = router.last_status(1)
    assert last is not None and last.status == "completed"


def test_recorded_event_stream_parses_into_typed_events() -> None:
    from pathlib import Path

    ref = Path(__file__).resolve().parents[3] / "shared" / "reference" / "invokeai-6.14.2-events-sample.json"
    if not ref.exists():
        pytest.skip("reference data at ../shared/reference is not present (not committed)")
    records = json.loads(ref.read_text())
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
        if path.endswith("/cancel"):
            self.canceled = True
            return httpx.Response(200, json={**self.final, "status": "canceled"})
        return httpx.Response(404, json={"detail": path})


def make_job(server: PollingServer) -> Job:
    client = InvokeAIClient("http://t", transport=httpx.MockTransport(server), use_events=False)
    return Job(client, "default", 9, "b")


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
