"""How long a wait rides out a server that cannot be reached (`outage_timeout`).

The tracker flow is driven by hand (see test_job_following.drive) with a clock that
moves two seconds each time it is read.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

import pytest

from invokeai_py_client import APIConnectionError, InvokeAIClient, ValidationError, _following
from invokeai_py_client._following import track_flow
from tests.unit.test_job_following import drive, full_item, registry_of


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = itertools.count(0.0, 2.0)
    monkeypatch.setattr(_following, "time", SimpleNamespace(monotonic=lambda: next(ticks)))


def refused(_: Any) -> APIConnectionError:
    return APIConnectionError("POST /api/v1/queue/default/item_summaries_by_ids failed: ConnectError")


def test_an_outage_longer_than_the_deadline_fails_every_job_with_a_connection_error(clock: None) -> None:
    registry, jobs = registry_of(5, 6)
    _, calls = drive(track_flow("default", registry, None, outage_timeout=5), [], {"item_summaries_by_ids": refused})
    assert calls == ["item_summaries_by_ids"] * 4  # down at 0 s, still at 2 and 4, gave up at 6
    for job in jobs.values():
        with pytest.raises(APIConnectionError, match=r"could not be reached for 6s \(outage_timeout=5s\)"):
            job.result(timeout=0)
    assert registry.ids_or_stop() == [] and not registry.running  # a later job starts a new tracker


def test_a_server_back_before_the_deadline_is_followed_to_the_end(clock: None) -> None:
    registry, jobs = registry_of(5)
    answers = iter([refused(None), refused(None), [{"item_id": 5, "status": "completed", "batch_id": "b1"}]])
    drive(
        track_flow("default", registry, None, outage_timeout=5),
        [], {"item_summaries_by_ids": lambda _: next(answers), "items_by_ids": [full_item(5, "completed")]},
    )
    assert jobs[5].result(timeout=0).status == "completed"


def test_each_success_starts_the_outage_clock_again(clock: None) -> None:
    """Failures with answers between them are not one long outage."""
    registry, jobs = registry_of(5)
    pending = [{"item_id": 5, "status": "pending", "batch_id": "b1"}]
    answers = iter([refused(None), refused(None), pending] * 3 + [[{**pending[0], "status": "completed"}]])
    drive(
        track_flow("default", registry, None, outage_timeout=5),
        [], {"item_summaries_by_ids": lambda _: next(answers), "items_by_ids": [full_item(5, "completed")]},
    )
    assert jobs[5].result(timeout=0).status == "completed"


def test_without_a_deadline_the_outage_is_waited_out(clock: None) -> None:
    registry, jobs = registry_of(5)
    answers = itertools.chain(
        (refused(None) for _ in range(200)), [[{"item_id": 5, "status": "completed", "batch_id": "b1"}]]
    )
    drive(
        track_flow("default", registry, None, outage_timeout=None),
        [], {"item_summaries_by_ids": lambda _: next(answers), "items_by_ids": [full_item(5, "completed")]},
    )
    assert jobs[5].result(timeout=0).status == "completed"


@pytest.mark.parametrize("value", [0, -5, "10", True])
def test_a_bad_outage_timeout_is_refused(value: Any) -> None:
    with pytest.raises(ValidationError, match="outage_timeout"):
        InvokeAIClient("http://127.0.0.1:1", outage_timeout=value, use_events=False)


def test_the_outage_timeout_reaches_the_options() -> None:
    with InvokeAIClient("http://127.0.0.1:1", outage_timeout=7, use_events=False) as client:
        assert client.options.outage_timeout == 7.0
    with InvokeAIClient("http://127.0.0.1:1", outage_timeout=None, use_events=False) as client:
        assert client.options.outage_timeout is None
