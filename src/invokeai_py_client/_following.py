"""Following queue items: one tracker per client and queue resolves every job's future.

The tracker runs `track_flow` on a thread (sync client) or a task (async client):
socket events drive it, polling of light summaries stands in when they go quiet or
there is no socket, an unreachable server is waited out, and an item deleted from the
queue settles its job with `JobLostError`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ._capabilities import server_schema
from ._exceptions import (
    APIConnectionError,
    InternalServerError,
    InvokeAIError,
    JobLostError,
    NotFoundError,
)
from ._flow import AsyncRunner, Flow, Pause, SyncRunner, backoff, call
from ._socket import AsyncListener, Listener
from ._transport import segment
from .events import Event, QueueItemStatusChangedEvent
from .queue_models import TERMINAL_STATUSES, QueueItem

__all__ = [
    "batch_item_ids_flow",
    "close_trackers",
    "item_summaries_flow",
    "items_by_ids_flow",
    "listed_rows_flow",
    "queue_path",
    "track_flow",
]

log = logging.getLogger("invokeai_py_client.jobs")


class Followed(Protocol):
    """What the tracker needs of a job (`jobs.Job` is one): its item, and a way to settle it."""

    item_id: int
    _seen: list[Event]

    def done(self) -> bool: ...

    def _settle(self, item: QueueItem | None, error: InvokeAIError | None) -> None: ...

POLL_FIRST = 0.05
POLL_MAX = 0.5
POLL_MAX_RUNNING = 0.25
"""Polling without events: the longest pause while one of the items is running."""
QUIET_POLL = 1.0
"""With events flowing, poll only after this many quiet seconds (missed events)."""
OUTAGE_PAUSE_MAX = 5.0
"""Longest pause between tries while the server cannot be reached."""


def queue_path(queue_id: str) -> str:
    return f"/api/v1/queue/{segment(queue_id, 'queue id')}"


# --- reading items ------------------------------------------------------------------------


# The bulk routes arrived late in 6.x; older servers answer one item per request.
ITEMS_BY_IDS = "/api/v1/queue/{queue_id}/items_by_ids"
ITEM_SUMMARIES_BY_IDS = "/api/v1/queue/{queue_id}/item_summaries_by_ids"
LIST_ALL = "/api/v1/queue/{queue_id}/list_all"
LIST_PAGE = "/api/v1/queue/{queue_id}/list"
LIST_PAGE_SIZE = 1000


def _items_one_by_one(queue_id: str, item_ids: Sequence[int]) -> Flow[dict[int, QueueItem]]:
    """`GET /i/{id}` for each item; deleted items are left out."""
    found: dict[int, QueueItem] = {}
    for item_id in dict.fromkeys(item_ids):
        try:
            found[item_id] = yield from call(QueueItem, "GET", item_path(queue_id, item_id))
        except NotFoundError:
            continue
        except InternalServerError:
            # 5.x lets "no such item" escape as a bare 500: only the queue's listing tells
            # a deleted item from a server fault.
            if (yield from _is_listed(queue_id, item_id)):
                raise
    return found


def _is_listed(queue_id: str, item_id: int) -> Flow[bool]:
    schema = yield server_schema()
    if not schema.has("GET", LIST_PAGE):
        return True  # cannot tell: treat it as a fault, not as a loss
    rows = yield from listed_rows_flow(queue_id, until=lambda rows: any(r["item_id"] == item_id for r in rows))
    return any(r["item_id"] == item_id for r in rows)


def items_by_ids_flow(queue_id: str, item_ids: Sequence[int]) -> Flow[list[QueueItem]]:
    """Full queue items (with sessions), in the order asked, 1000 per request."""
    schema = yield server_schema()
    found: dict[int, QueueItem] = {}
    if not schema.has("POST", ITEMS_BY_IDS):
        found = yield from _items_one_by_one(queue_id, item_ids)
    else:
        for start in range(0, len(item_ids), 1000):
            chunk = list(item_ids[start : start + 1000])
            items = yield from call(
                list[QueueItem], "POST", f"{queue_path(queue_id)}/items_by_ids", json={"item_ids": chunk}, retry=True
            )
            found.update((item.item_id, item) for item in items)
    missing = [i for i in item_ids if i not in found]
    if missing:
        raise JobLostError(f"queue {queue_id!r} has no items {missing} (deleted or cleared)", None)
    return [found[i] for i in item_ids]


def item_summaries_flow(queue_id: str, item_ids: Sequence[int]) -> Flow[list[QueueItem]]:
    """Light summaries (status, times, batch; no session); deleted items are left out.

    Where the server has no summaries route, the full items stand in.
    """
    schema = yield server_schema()
    if not schema.has("POST", ITEM_SUMMARIES_BY_IDS):
        found = yield from _items_one_by_one(queue_id, item_ids)
        return [found[i] for i in item_ids if i in found]
    out: list[QueueItem] = []
    for start in range(0, len(item_ids), 1000):
        chunk = list(item_ids[start : start + 1000])
        raws = yield from call(
            list[dict[str, Any]], "POST", f"{queue_path(queue_id)}/item_summaries_by_ids",
            json={"item_ids": chunk}, retry=True,
        )
        out.extend(QueueItem.model_validate({"queue_id": queue_id, **raw}) for raw in raws)
    return out


def listed_rows_flow(
    queue_id: str, *, status: str | None = None, until: Callable[[list[dict[str, Any]]], bool] | None = None
) -> Flow[list[dict[str, Any]]]:
    """Rows (item summaries) of the cursor-paged `GET /list` of servers before 6.7.

    With `status`, only the first page (5.x applies `status` wrongly together with a
    cursor); else every page, or until `until(rows so far)` holds.
    """
    schema = yield server_schema()
    schema.require("GET", LIST_PAGE, "listing queue items")
    q = queue_path(queue_id)
    params: dict[str, Any] = {"limit": LIST_PAGE_SIZE}
    if status is not None:
        page = yield from call(dict[str, Any], "GET", f"{q}/list", params={**params, "status": status})
        return list(page.get("items") or [])
    rows: list[dict[str, Any]] = []
    while True:
        page = yield from call(dict[str, Any], "GET", f"{q}/list", params=params)
        new = list(page.get("items") or [])
        rows.extend(new)
        if not page.get("has_more") or not new or (until is not None and until(rows)):
            return rows
        last = new[-1]
        params = {"limit": LIST_PAGE_SIZE, "cursor": int(last["item_id"]), "priority": int(last.get("priority", 0))}


def batch_item_ids_flow(
    queue_id: str, batch_id: str, destination: str | None, expected: int | None = None
) -> Flow[list[int]]:
    """The item ids of batch `batch_id` (whose items carry `destination`), ascending.

    `GET /list_all?destination=` where the server has it (a submission's destination
    is unique to it, so no other client's items come back); else the paged `GET /list`
    (5.x), read until `expected` items of the batch are found: its pending items first
    (one page, where a fresh batch is), then the whole queue. The batch id, chosen by
    this client, is unique: other clients' items are never taken for ours.
    """
    schema = yield server_schema()
    if destination is not None and schema.has("GET", LIST_ALL):
        rows = yield from call(
            list[dict[str, Any]], "GET", f"{queue_path(queue_id)}/list_all", params={"destination": destination}
        )
        return _of_batch(rows, batch_id)

    def enough(rows: list[dict[str, Any]]) -> bool:
        return expected is not None and len(_of_batch(rows, batch_id)) >= expected

    pending = yield from listed_rows_flow(queue_id, status="pending")
    if enough(pending):
        return _of_batch(pending, batch_id)
    rows = yield from listed_rows_flow(queue_id, until=enough)
    return _of_batch(rows, batch_id)


def _of_batch(rows: list[dict[str, Any]], batch_id: str) -> list[int]:
    return sorted({int(r["item_id"]) for r in rows if r.get("batch_id") == batch_id})


def item_path(queue_id: str, item_id: int) -> str:
    return f"{queue_path(queue_id)}/i/{int(item_id)}"


# --- the tracker: one follower per client and queue -------------------------------------------


class _Registry:
    """The jobs a tracker resolves (thread-safe; shared by the tracker and submitters)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[int, list[Followed]] = {}
        """The jobs following each item: several when an item was attached again."""
        self.running = False
        self.closed = False

    def add(self, jobs: Sequence[Followed]) -> bool:
        """Track `jobs`; True when no tracker runs yet (the caller starts one)."""
        with self._lock:
            if self.closed:
                raise InvokeAIError("the client is closed")
            for job in jobs:
                if not job.done():
                    following = self._jobs.setdefault(job.item_id, [])
                    if not any(other is job for other in following):
                        following.append(job)
            start = bool(self._jobs) and not self.running
            self.running = self.running or start
            return start

    def ids_or_stop(self) -> list[int]:
        """The item ids still pending; when none, the tracker is marked stopped."""
        with self._lock:
            if not self._jobs or self.closed:
                self.running = False
                return []
            return list(self._jobs)

    def get(self, item_id: int) -> list[Followed]:
        with self._lock:
            return list(self._jobs.get(item_id, ()))

    def settle(self, item_id: int, item: Any, error: InvokeAIError | None) -> None:
        """Stop following an item and settle every job that followed it."""
        with self._lock:
            jobs = self._jobs.pop(item_id, [])
        for job in jobs:
            job._settle(item, error)

    def settle_all(self, error: InvokeAIError) -> None:
        """Settle every job followed now with `error` (jobs added later are followed as usual)."""
        with self._lock:
            jobs, self._jobs = [j for js in self._jobs.values() for j in js], {}
        for job in jobs:
            job._settle(None, error)

    def fail_all(self, error: InvokeAIError) -> None:
        with self._lock:
            self.closed = True
            jobs, self._jobs = [j for js in self._jobs.values() for j in js], {}
        for job in jobs:
            job._settle(None, error)


TRACKED_EVENTS = frozenset({"queue_item_status_changed", "queue_cleared", "queue_items_canceled"})
"""What the tracker listens for; other events are not even parsed for it."""

BUSY = Event(name="(socket busy)")
"""`_NextEvent`'s answer when no tracked event came but the socket brought others: not quiet."""


@dataclass(frozen=True)
class _NextEvent:
    """The tracker's next event; `BUSY` or None (quiet) after `timeout` seconds without one."""

    listener: Listener | AsyncListener
    timeout: float

    def run_sync(self, runner: SyncRunner) -> Event | None:
        assert isinstance(self.listener, Listener)
        event = self.listener.get(self.timeout)
        return BUSY if event is None and runner.hub.busy(self.timeout) else event

    async def run_async(self, runner: AsyncRunner) -> Event | None:
        assert isinstance(self.listener, AsyncListener)
        event = await self.listener.get(self.timeout)
        return BUSY if event is None and runner.hub.busy(self.timeout) else event


@dataclass(frozen=True)
class _SocketUp:
    """How many times the socket has connected, when it is up; None when it is down
    (then it is asked to connect, without waiting)."""

    def run_sync(self, runner: SyncRunner) -> int | None:
        return _socket_up(runner)

    async def run_async(self, runner: AsyncRunner) -> int | None:
        return _socket_up(runner)


def _socket_up(runner: SyncRunner | AsyncRunner) -> int | None:
    if runner.hub.connected:
        return runner.hub.connections
    runner.hub.connect_soon()
    return None


@dataclass(frozen=True)
class _Deliver:
    """Hand an event found by polling to the job listeners, as if the socket sent it."""

    event: Event

    def run_sync(self, runner: SyncRunner) -> None:
        runner.hub.deliver(self.event)

    async def run_async(self, runner: AsyncRunner) -> None:
        runner.hub.deliver(self.event)


def track_flow(
    queue_id: str,
    registry: _Registry,
    listener: Listener | AsyncListener | None,
    known: Callable[[int], str | None] = lambda _: None,
    outage_timeout: float | None = None,
) -> Flow[None]:
    """Follow the registry's items until none is pending, resolving each job as it ends.

    With a `listener` (every event of the client's socket) it reacts to status events
    and polls only when they go quiet or the socket (re)connects; while there is no
    socket it polls light summaries with backoff. An item missing from the queue
    resolves its job with `JobLostError`; an unreachable server is waited out (the
    items are in its database) for up to `outage_timeout` seconds, after which every
    job fails with `APIConnectionError` (None: waited out for good).
    """
    status: dict[int, str] = {}
    delay = POLL_FIRST
    outage = backoff(0.5, OUTAGE_PAUSE_MAX)
    must_poll = True
    seen_up: int | None = None
    down_since: float | None = None
    while ids := registry.ids_or_stop():
        for item_id in ids:
            if item_id not in status and (seen := known(item_id)) is not None:
                status[item_id] = seen
        try:
            up = (yield _SocketUp()) if listener is not None else None
            if up is not None and up != seen_up:
                seen_up, must_poll = up, True  # (re)connected: what it missed meanwhile is read once
            if must_poll and all(status.get(i) in TERMINAL_STATUSES for i in ids):
                must_poll = False  # the socket already said how each ended
            if must_poll:
                summaries = yield from item_summaries_flow(queue_id, ids)
                down_since = None
                by_id = {s.item_id: s for s in summaries}
                for item_id in ids:
                    summary = by_id.get(item_id)
                    if summary is None:
                        registry.settle(item_id, None, JobLostError(
                            f"queue item {item_id} is no longer on queue {queue_id!r} "
                            "(deleted or cleared before it finished)", None,
                        ))
                    elif summary.status != status.get(item_id):
                        status[item_id] = summary.status
                        if up is None or summary.is_terminal:
                            event = _status_event(summary)
                            _note(registry, event)
                            yield _Deliver(event)
                must_poll = False
            finished = [i for i in ids if status.get(i) in TERMINAL_STATUSES]
            if finished:
                items = yield from items_by_ids_flow(queue_id, finished)
                for item in items:
                    registry.settle(item.item_id, item, None)
                    status.pop(item.item_id, None)
                continue
            if up is None or listener is None:
                yield Pause(delay)
                running = any(status.get(i) == "in_progress" for i in ids)
                delay = min(delay * 1.6, POLL_MAX_RUNNING if running else POLL_MAX)
                must_poll = True
                continue
            event = yield _NextEvent(listener, QUIET_POLL)
            if event is None or event.name in ("queue_cleared", "queue_items_canceled"):
                must_poll = True  # quiet, or news without per-item statuses
            elif (
                isinstance(event, QueueItemStatusChangedEvent) and event.item_id is not None and _note(registry, event)
            ):
                status[event.item_id] = event.status
            outage = backoff(0.5, OUTAGE_PAUSE_MAX)
        except JobLostError:
            must_poll = True  # an item vanished between two requests: the next poll settles it
        except (APIConnectionError, InternalServerError) as exc:
            now = time.monotonic()
            down_since = now if down_since is None else down_since
            if outage_timeout is not None and now - down_since >= outage_timeout:
                registry.settle_all(APIConnectionError(
                    f"following queue {queue_id!r}: the server could not be reached for "
                    f"{now - down_since:.0f}s (outage_timeout={outage_timeout:g}s); last error: {exc}. "
                    "The items may still run: attach to them again later.",
                ))
                down_since = None
                continue  # with no jobs left the tracker stops (ids_or_stop, under its lock)
            delay = next(outage)
            log.info("following queue %s: %s; trying again in %.1fs", queue_id, exc, delay)
            yield Pause(delay)
            must_poll = True


def _note(registry: _Registry, event: QueueItemStatusChangedEvent) -> bool:
    """Keep a status event on its job (for `events()` begun later); False if not ours."""
    jobs = registry.get(event.item_id) if event.item_id is not None else []
    for job in jobs:
        job._seen.append(event)
    return bool(jobs)


def _status_event(summary: QueueItem) -> QueueItemStatusChangedEvent:
    return QueueItemStatusChangedEvent(
        name="queue_item_status_changed", queue_id=summary.queue_id, item_id=summary.item_id,
        batch_id=summary.batch_id, status=summary.status, origin=summary.origin,
        destination=summary.destination,
    )


@dataclass(frozen=True)
class Track:
    """Hand jobs to the client's tracker for their queue, starting it if it is not running."""

    queue_id: str
    jobs: Sequence[Followed]

    def run_sync(self, runner: SyncRunner) -> None:
        registry = _registry(runner, self.queue_id)
        if not registry.add(self.jobs):
            return
        listener = runner.hub.listen_all(TRACKED_EVENTS) if runner.use_events else None

        def follow() -> None:
            try:
                runner.run(track_flow(
                    self.queue_id, registry, listener, runner.hub.last_status, runner.options.outage_timeout
                ))
            except BaseException as exc:  # noqa: BLE001 - settled into the jobs, never lost
                registry.fail_all(exc if isinstance(exc, InvokeAIError) else InvokeAIError(f"tracker stopped: {exc!r}"))
            finally:
                if listener is not None:
                    runner.hub.remove(listener)

        threading.Thread(target=follow, name=f"invokeai-tracker-{self.queue_id}", daemon=True).start()

    async def run_async(self, runner: AsyncRunner) -> None:
        registry = _registry(runner, self.queue_id)
        if not registry.add(self.jobs):
            return
        listener = runner.hub.listen_all(TRACKED_EVENTS) if runner.use_events else None

        async def follow() -> None:
            try:
                await runner.run(track_flow(
                    self.queue_id, registry, listener, runner.hub.last_status, runner.options.outage_timeout
                ))
            except BaseException as exc:
                registry.fail_all(exc if isinstance(exc, InvokeAIError) else InvokeAIError(f"tracker stopped: {exc!r}"))
                if isinstance(exc, asyncio.CancelledError):
                    raise
            finally:
                if listener is not None:
                    runner.hub.remove(listener)

        runner.keep(asyncio.get_running_loop().create_task(follow()))


def _registry(runner: SyncRunner | AsyncRunner, queue_id: str) -> _Registry:
    with _REGISTRY_LOCK:
        registry = runner.memo.get(f"tracker:{queue_id}")
        if registry is None or registry.closed:
            registry = runner.memo[f"tracker:{queue_id}"] = _Registry()
        assert isinstance(registry, _Registry)
        return registry


_REGISTRY_LOCK = threading.Lock()


def close_trackers(runner: SyncRunner | AsyncRunner) -> None:
    """Fail every job still followed by a closing client (nobody would resolve it)."""
    for key, value in list(runner.memo.items()):
        if key.startswith("tracker:") and isinstance(value, _Registry):
            value.fail_all(InvokeAIError("the client was closed before the job finished"))
