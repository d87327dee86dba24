"""Where a pool's work goes (pure: no server)."""

from __future__ import annotations

import pytest

from invokeai_py_client import ValidationError
from invokeai_py_client.pipelines.placement import (
    ServerLoad,
    SpeedMeter,
    choose_server,
    item_seconds,
    plan_moves,
    seconds_per_item,
    split_batch,
)


def test_a_new_chain_goes_where_it_would_finish_first() -> None:
    loads = [ServerLoad("a", 4, 1.0), ServerLoad("b", 1, 3.0), ServerLoad("c", 2, 1.0)]
    # a: (4+1)*1 = 5, b: (1+1)*3 = 6, c: (2+1)*1 = 3
    assert choose_server(loads) == "c"
    assert choose_server(loads, eligible=["a", "b"]) == "a"


def test_other_clients_items_count_against_a_server() -> None:
    idle_slow = ServerLoad("slow", 0, 2.0)
    busy_fast = ServerLoad("fast", 5, 1.0)
    assert choose_server([busy_fast, idle_slow]) == "slow"
    assert choose_server([ServerLoad("fast", 0, 1.0), idle_slow]) == "fast"


def test_a_batch_splits_in_proportion_to_speed() -> None:
    loads = [ServerLoad("x1", 0, 4.0), ServerLoad("x2", 0, 2.0), ServerLoad("x4", 0, 1.0)]
    assert split_batch(70, loads) == {"x1": 10, "x2": 20, "x4": 40}


def test_a_batch_split_fills_the_idle_server_first() -> None:
    loads = [ServerLoad("busy", 6, 1.0), ServerLoad("idle", 0, 1.0)]
    assert split_batch(4, loads) == {"idle": 4}
    assert split_batch(10, loads) == {"busy": 2, "idle": 8}


def test_the_split_ends_every_queue_at_about_the_same_time() -> None:
    loads = [ServerLoad("a", 3, 0.7), ServerLoad("b", 0, 1.3), ServerLoad("c", 1, 2.9), ServerLoad("d", 0, 0.2)]
    shares = split_batch(101, loads)
    assert sum(shares.values()) == 101
    ends = {s.name: (s.outstanding + shares.get(s.name, 0)) * s.seconds_per_item for s in loads}
    slowest_item = max(s.seconds_per_item for s in loads if s.seconds_per_item is not None)
    assert max(ends.values()) - min(ends.values()) <= slowest_item


def test_unknown_speeds_are_taken_as_the_known_median() -> None:
    loads = [ServerLoad("a", 0, 1.0), ServerLoad("b", 0, 3.0), ServerLoad("new", 0, None)]
    assert seconds_per_item(loads) == {"a": 1.0, "b": 3.0, "new": 2.0}
    assert seconds_per_item([ServerLoad("x"), ServerLoad("y")]) == {"x": 1.0, "y": 1.0}
    assert split_batch(4, [ServerLoad("x"), ServerLoad("y")]) == {"x": 2, "y": 2}


def test_no_eligible_server_is_an_error() -> None:
    with pytest.raises(ValidationError, match="no server"):
        split_batch(3, [ServerLoad("a")], eligible=[])
    with pytest.raises(ValidationError, match="no server"):
        choose_server([], None)


def test_item_seconds_from_the_servers_timestamps() -> None:
    item = {"started_at": "2026-12-02 20:00:00.250", "completed_at": "2026-12-02 20:00:02.000"}
    assert item_seconds(item) == pytest.approx(1.75)
    assert item_seconds({"started_at": None, "completed_at": "2026-12-02 20:00:02"}) is None
    assert item_seconds({"started_at": "later", "completed_at": "2026-12-02 20:00:02"}) is None


def test_speed_is_the_median_of_recent_items() -> None:
    meter = SpeedMeter(keep=3)
    assert meter.seconds_per_item is None
    for seconds in (10.0, 1.0, 2.0, 3.0):
        meter.add(seconds)
    assert len(meter) == 3 and meter.seconds_per_item == 2.0  # 10 s fell out
    meter.add(None)
    assert len(meter) == 3


def test_pending_items_are_split_again_over_every_server_onto_the_one_running_dry() -> None:
    fast = ServerLoad("fast", 0, 1.0)
    busy = [ServerLoad("slow", 9, 2.0), ServerLoad("mid", 6, 1.0)]
    # 13 movable items (8 + 5) over fast (0 fixed), slow (1 fixed), mid (1 fixed), all ending at ~6 s:
    moves = plan_moves([fast], busy, {"slow": 8, "mid": 5})
    assert moves == [("slow", "fast", 6)]
    ends = {"fast": 6 * 1.0, "slow": (9 - 6) * 2.0, "mid": 6 * 1.0}
    assert max(ends.values()) - min(ends.values()) <= 2.0


def test_the_excess_of_several_busy_servers_moves() -> None:
    takers = [ServerLoad("t", 0, 1.0)]
    busy = [ServerLoad("a", 10, 1.0), ServerLoad("b", 10, 1.0)]
    moves = plan_moves(takers, busy, {"a": 9, "b": 9})
    assert sorted(moves) == [("a", "t", 3), ("b", "t", 4)] or sorted(moves) == [("a", "t", 4), ("b", "t", 3)]


def test_nothing_moves_when_it_would_not_end_sooner() -> None:
    assert plan_moves([ServerLoad("slow", 0, 5.0)], [ServerLoad("fast", 2, 1.0)], {"fast": 1}) == []
    assert plan_moves([ServerLoad("a", 0, 1.0)], [ServerLoad("b", 5, 1.0)], {}) == []
    assert plan_moves([], [ServerLoad("b", 5, 1.0)], {"b": 4}) == []
