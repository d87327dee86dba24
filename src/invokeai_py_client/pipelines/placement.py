"""Where a pool's work goes: pure functions over what the servers report.

    >>> loads = [ServerLoad("a", outstanding=4, seconds_per_item=1.0),
    ...          ServerLoad("b", outstanding=0, seconds_per_item=2.0)]
    >>> choose_server(loads)
    'b'
    >>> split_batch(6, loads)
    {'a': 2, 'b': 4}

A server's speed is the time it takes per queue item, measured from the items'
`started_at`/`completed_at`; its outstanding work is what its queue status reports
pending and in progress, every client's items included. Work goes where it finishes
first: a new chain to the server whose queue (plus the chain) ends earliest, a batch of
N chains split so that every server's queue ends at about the same time.
"""

from __future__ import annotations

import heapq
import statistics
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .._exceptions import ValidationError

__all__ = [
    "ServerLoad",
    "SpeedMeter",
    "choose_server",
    "item_seconds",
    "plan_moves",
    "seconds_per_item",
    "split_batch",
]

DEFAULT_SECONDS_PER_ITEM = 1.0
"""What a server of unknown speed is taken to need per item when no server's speed is known."""


@dataclass(frozen=True)
class ServerLoad:
    """What placement knows of one server: its queue's outstanding items and its speed."""

    name: str
    outstanding: int = 0
    """Items pending or in progress on its queue (every client's)."""
    seconds_per_item: float | None = None
    """Measured time per item; None when not known yet."""


def item_seconds(item: Mapping[str, Any] | Any) -> float | None:
    """How long a finished queue item ran (`completed_at - started_at`), or None."""
    get = item.get if isinstance(item, Mapping) else lambda key: getattr(item, key, None)
    started, completed = get("started_at"), get("completed_at")
    if not started or not completed:
        return None
    try:
        seconds = (datetime.fromisoformat(str(completed)) - datetime.fromisoformat(str(started))).total_seconds()
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class SpeedMeter:
    """A server's recent item durations; its speed is their median."""

    def __init__(self, keep: int = 16) -> None:
        self._seconds: deque[float] = deque(maxlen=keep)

    def add(self, seconds: float | None) -> None:
        if seconds is not None and seconds >= 0:
            self._seconds.append(seconds)

    def __len__(self) -> int:
        return len(self._seconds)

    @property
    def seconds_per_item(self) -> float | None:
        if not self._seconds:
            return None
        # Timestamps have millisecond resolution: never let a server look infinitely fast.
        return max(statistics.median(self._seconds), 0.001)


def seconds_per_item(loads: Sequence[ServerLoad]) -> dict[str, float]:
    """Each server's time per item; unknown ones get the median of the known (or 1 s)."""
    known = [s.seconds_per_item for s in loads if s.seconds_per_item is not None and s.seconds_per_item > 0]
    fallback = statistics.median(known) if known else DEFAULT_SECONDS_PER_ITEM
    return {
        s.name: s.seconds_per_item if s.seconds_per_item is not None and s.seconds_per_item > 0 else fallback
        for s in loads
    }


def _eligible(loads: Sequence[ServerLoad], eligible: Iterable[str] | None) -> list[ServerLoad]:
    chosen = list(loads) if eligible is None else [s for s in loads if s.name in set(eligible)]
    if not chosen:
        raise ValidationError("no server of the pool can take this work (none is up and able to run it)")
    return chosen


def choose_server(loads: Sequence[ServerLoad], eligible: Iterable[str] | None = None) -> str:
    """The server where one more item would finish first (ties: the first listed)."""
    servers = _eligible(loads, eligible)
    pace = seconds_per_item(servers)
    return min(servers, key=lambda s: (max(s.outstanding, 0) + 1) * pace[s.name]).name


def split_batch(count: int, loads: Sequence[ServerLoad], eligible: Iterable[str] | None = None) -> dict[str, int]:
    """How many of `count` items each server gets, so that all queues end together.

    Item by item, each goes where it would finish earliest given the server's
    outstanding items and the ones already given to it: proportional to speed, with
    busy servers (other clients' work) getting less. Servers given none are left out.
    """
    if count < 0:
        raise ValidationError(f"cannot split {count} items")
    servers = _eligible(loads, eligible)
    pace = seconds_per_item(servers)
    order = {s.name: k for k, s in enumerate(servers)}
    heap = [((max(s.outstanding, 0) + 1) * pace[s.name], order[s.name], s.name) for s in servers]
    heapq.heapify(heap)
    given = dict.fromkeys((s.name for s in servers), 0)
    for _ in range(count):
        _, rank, name = heapq.heappop(heap)
        given[name] += 1
        ahead = max(next(s for s in servers if s.name == name).outstanding, 0)
        heapq.heappush(heap, ((ahead + given[name] + 1) * pace[name], rank, name))
    return {name: n for name, n in given.items() if n}


def plan_moves(
    takers: Sequence[ServerLoad], busy: Sequence[ServerLoad], movable: Mapping[str, int]
) -> list[tuple[str, str, int]]:
    """Which pending items to move onto servers running dry: ``(from, to, how many)``.

    `movable[name]` is how many of the run's items are still pending (not started) on
    busy server `name`. The movable items are split again over every server as
    `split_batch` would, each server's other work staying where it is; the busy
    servers' excess goes to the `takers` (nothing moves between busy servers).
    """
    fixed = [ServerLoad(s.name, max(s.outstanding - movable.get(s.name, 0), 0), s.seconds_per_item) for s in busy]
    total = sum(movable.get(s.name, 0) for s in busy)
    if not takers or total <= 0:
        return []
    shares = split_batch(total, [*takers, *fixed])
    wanted = {t.name: shares.get(t.name, 0) for t in takers}
    excess = {s.name: movable.get(s.name, 0) - shares.get(s.name, 0) for s in busy}
    moves: list[tuple[str, str, int]] = []
    for source in sorted((n for n in excess if excess[n] > 0), key=lambda n: -excess[n]):
        for taker in wanted:
            count = min(excess[source], wanted[taker])
            if count > 0:
                moves.append((source, taker, count))
                excess[source] -= count
                wanted[taker] -= count
    return moves
