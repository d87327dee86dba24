"""Jobs: what a submission returns. Status, wait, cancel, events, re-attach by id.

`Job` follows one queue item, `JobBatch` the items of one submission. Following is
written once (`_follow_flow`): it yields steps (wait for an event, pause, poll the
server, emit an event to the caller) that a sync or async driver executes. With the
client's socket it reacts to events and polls only when events stop coming; without
it, it polls light item summaries with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._exceptions import JobCanceledError, JobFailedError, JobTimeoutError
from ._flow import Call, Flow, Pause, backoff
from .events import Event, QueueItemStatusChangedEvent
from .queue import (
    batch_item_ids_flow,
    cancel_batches_flow,
    cancel_item_flow,
    enqueue_flow,
    get_item_flow,
    item_summaries_flow,
    items_by_ids_flow,
    prepare_batch,
)
from .queue_models import TERMINAL_STATUSES, EnqueueBatchResult, QueueItem

if TYPE_CHECKING:
    from .client import AsyncInvokeAIClient, InvokeAIClient

__all__ = ["AsyncJob", "AsyncJobBatch", "EventCallback", "Job", "JobBatch"]

log = logging.getLogger("invokeai_py_client.jobs")

EventCallback = Callable[[Event], None]

POLL_FIRST = 0.05
POLL_MAX = 0.5
QUIET_POLL = 1.0
"""With events flowing, poll only after this many quiet seconds (missed events)."""


# --- the follow flow (pure) -----------------------------------------------------------


@dataclass(frozen=True)
class _NextEvent:
    """The next event of a listener, or None after `timeout` seconds."""

    listener: Any
    timeout: float

    def run_sync(self, client: InvokeAIClient) -> Event | None:
        try:
            event: Event = self.listener.queue.get(timeout=max(self.timeout, 0.0))
        except queue.Empty:
            return None
        return event

    async def run_async(self, client: AsyncInvokeAIClient) -> Event | None:
        try:
            event: Event = await asyncio.wait_for(self.listener.queue.get(), max(self.timeout, 0.0))
        except TimeoutError:
            return None
        return event


@dataclass(frozen=True)
class _Emit:
    """Hand an event to the caller's sink (a callback, sync or async)."""

    event: Event
    sink: Callable[[Event], Any] | None

    def run_sync(self, client: InvokeAIClient) -> None:
        if self.sink is not None:
            self.sink(self.event)

    async def run_async(self, client: AsyncInvokeAIClient) -> None:
        if self.sink is not None:
            result = self.sink(self.event)
            if asyncio.iscoroutine(result):
                await result


@dataclass
class _Outcome:
    items: list[QueueItem]
    timed_out: bool


def _follow_flow(
    queue_id: str,
    item_ids: Sequence[int],
    *,
    listener: Any,
    sink: Callable[[Event], Any] | None,
    known: Mapping[int, str],
    timeout: float | None,
    clock: Callable[[], float] = time.monotonic,
) -> Flow[_Outcome]:
    """Follow items until all are terminal or `timeout` passes; return them in full.

    With a `listener` (the client's socket), react to its events and poll only when
    they go quiet; without one, poll light summaries with backoff.
    """
    events = listener is not None
    ids = set(item_ids)
    status: dict[int, str | None] = {i: known.get(i) for i in item_ids}
    deadline = None if timeout is None else clock() + timeout
    intervals = backoff(POLL_FIRST, POLL_MAX)
    polled_once = False

    def done() -> bool:
        return all(s in TERMINAL_STATUSES for s in status.values())

    while not done():
        remaining = None if deadline is None else deadline - clock()
        if remaining is not None and remaining <= 0:
            summaries = yield Call(
                "POST", f"/api/v1/queue/{queue_id}/item_summaries_by_ids",
                json={"item_ids": list(item_ids)}, retry=True,
            )
            return _Outcome([QueueItem.model_validate({"queue_id": queue_id, **s}) for s in summaries], True)
        if events and polled_once:
            wait = QUIET_POLL if remaining is None else min(QUIET_POLL, remaining)
            event: Event | None = yield _NextEvent(listener, wait)
            if event is not None:
                if event.item_id is None or event.item_id in ids or event.name == "queue_cleared":
                    yield _Emit(event, sink)
                if isinstance(event, QueueItemStatusChangedEvent) and event.item_id in ids:
                    status[event.item_id] = event.status
                    continue
                if event.name not in ("queue_cleared", "queue_items_canceled"):
                    continue
                # Those carry no per-item status: poll.
        elif polled_once:
            interval = next(intervals)
            yield Pause(interval if remaining is None else min(interval, remaining))
        # Poll (first pass, when events went quiet, or without a socket).
        summaries = yield from item_summaries_flow(queue_id, list(item_ids))
        polled_once = True
        for s in summaries:
            if s.item_id in ids and s.status != status.get(s.item_id):
                status[s.item_id] = s.status
                if not events or s.is_terminal:
                    yield _Emit(
                        QueueItemStatusChangedEvent(
                            name="queue_item_status_changed",
                            queue_id=queue_id,
                            item_id=s.item_id,
                            batch_id=s.batch_id,
                            status=s.status,
                            origin=s.origin,
                            destination=s.destination,
                        ),
                        sink,
                    )
    items = yield from items_by_ids_flow(queue_id, list(item_ids))
    return _Outcome(items, False)


def _known_statuses(hub: Any, item_ids: Sequence[int]) -> dict[int, str]:
    """Statuses the hub already saw for these items (events that came before we listened)."""
    known: dict[int, str] = {}
    for item_id in item_ids if hub is not None else ():
        last = hub.router.last_status(item_id)
        if last is not None:
            known[item_id] = last.status
    return known


def _raise_for(item: QueueItem) -> None:
    if item.status == "failed":
        raise JobFailedError(
            f"queue item {item.item_id} failed: {item.error_type}: {item.error_message}", item
        )
    if item.status == "canceled":
        raise JobCanceledError(f"queue item {item.item_id} was canceled", item)


def _timeout_error(items: Sequence[QueueItem], timeout: float | None) -> JobTimeoutError:
    pending = [i for i in items if not i.is_terminal]
    first = pending[0] if pending else (items[0] if items else None)
    states = ", ".join(f"{i.item_id}: {i.status}" for i in items[:10])
    return JobTimeoutError(f"timed out after {timeout}s waiting for queue items ({states})", first)


# --- sync -------------------------------------------------------------------------------


class _SyncFollower:
    """Runs the follow flow with blocking I/O and the client's event hub."""

    def __init__(self, client: InvokeAIClient, queue_id: str, batch_ids: Sequence[str]) -> None:
        self.client = client
        self.queue_id = queue_id
        self.batch_ids = frozenset(batch_ids)

    def run(
        self, item_ids: Sequence[int], timeout: float | None, sink: Callable[[Event], None] | None
    ) -> _Outcome:
        hub = self.client._events if self.client._use_events else None
        listener = hub.listen(self.batch_ids) if hub is not None and hub.connect() else None
        try:
            return self.client._run(
                _follow_flow(
                    self.queue_id, item_ids, listener=listener, sink=sink,
                    known=_known_statuses(hub, item_ids), timeout=timeout,
                )
            )
        finally:
            if hub is not None and listener is not None:
                hub.remove(listener)


class JobBatch:
    """The queue items of one submission (a sweep, `runs` > 1, or several batches)."""

    def __init__(
        self,
        client: InvokeAIClient,
        queue_id: str,
        results: Sequence[EnqueueBatchResult],
    ) -> None:
        self._client = client
        self.queue_id = queue_id
        self.results = list(results)
        self.batch_ids = [r.batch_id for r in results]
        # The server lists item ids newest first; jobs are kept in enqueue order.
        self.jobs = [
            Job(client, queue_id, item_id, r.batch_id) for r in results for item_id in sorted(r.item_ids)
        ]

    @classmethod
    def submit(cls, client: InvokeAIClient, queue_id: str, body: Mapping[str, Any]) -> JobBatch:
        return cls.submit_many(client, queue_id, [body])

    @classmethod
    def submit_many(
        cls, client: InvokeAIClient, queue_id: str, bodies: Sequence[Mapping[str, Any]]
    ) -> JobBatch:
        """Enqueue several batch bodies as one submission (events open before enqueueing)."""
        if client._use_events:
            client._events.connect()
        results = []
        for body in bodies:
            prepared = prepare_batch(body)
            result = client._run(enqueue_flow(queue_id, prepared))
            if result.enqueued < result.requested:
                log.warning(
                    "the server enqueued %d of %d requested items (max_queue_size?)",
                    result.enqueued,
                    result.requested,
                )
            results.append(result)
        return cls(client, queue_id, results)

    @classmethod
    def attach(cls, client: InvokeAIClient, queue_id: str, batch_id: str) -> JobBatch:
        ids = client._run(batch_item_ids_flow(queue_id, batch_id))
        result = EnqueueBatchResult(
            queue_id=queue_id, enqueued=len(ids), requested=len(ids), batch={"batch_id": batch_id}, item_ids=ids
        )
        return cls(client, queue_id, [result])

    @property
    def item_ids(self) -> list[int]:
        return [j.item_id for j in self.jobs]

    def __len__(self) -> int:
        return len(self.jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(self.jobs)

    def __getitem__(self, index: int) -> Job:
        return self.jobs[index]

    def __repr__(self) -> str:
        return f"JobBatch(batch_ids={self.batch_ids}, items={self.item_ids})"

    def status(self) -> dict[int, str]:
        """Current status of each item (one light request)."""
        summaries = self._client._run(item_summaries_flow(self.queue_id, self.item_ids))
        return {s.item_id: s.status for s in summaries}

    def wait(
        self,
        timeout: float | None = None,
        *,
        on_event: EventCallback | None = None,
        cancel_on_timeout: bool = False,
        raise_on_error: bool = True,
    ) -> list[QueueItem]:
        """Wait for every item; returns them in full, in enqueue order.

        Raises `JobFailedError`/`JobCanceledError` for the first item that did not
        complete (unless `raise_on_error=False`), `JobTimeoutError` on timeout.
        """
        outcome = _SyncFollower(self._client, self.queue_id, self.batch_ids).run(
            self.item_ids, timeout, on_event
        )
        if outcome.timed_out:
            if cancel_on_timeout:
                self.cancel()
            raise _timeout_error(outcome.items, timeout)
        if raise_on_error:
            for item in outcome.items:
                _raise_for(item)
        return outcome.items

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Iterate over this submission's events until every item is finished."""
        yield from _iterate_sync(
            lambda sink: _SyncFollower(self._client, self.queue_id, self.batch_ids).run(
                self.item_ids, timeout, sink
            )
        )

    def cancel(self) -> int:
        """Cancel every item not yet finished; returns how many the server canceled."""
        return self._client._run(cancel_batches_flow(self.queue_id, self.batch_ids))


class Job:
    """One queue item: status, wait, cancel, events. Re-attach with `Job.attach`."""

    def __init__(self, client: InvokeAIClient, queue_id: str, item_id: int, batch_id: str) -> None:
        self._client = client
        self.queue_id = queue_id
        self.item_id = item_id
        self.batch_id = batch_id
        self.item: QueueItem | None = None
        """The finished queue item, once `wait` returned."""

    @classmethod
    def attach(cls, client: InvokeAIClient, queue_id: str, item_id: int) -> Job:
        item = client._run(get_item_flow(queue_id, item_id))
        job = cls(client, queue_id, item_id, item.batch_id)
        if item.is_terminal:
            job.item = item
        return job

    def __repr__(self) -> str:
        return f"Job(item_id={self.item_id}, batch_id={self.batch_id!r})"

    @property
    def session_id(self) -> str | None:
        return self.item.session_id if self.item is not None else None

    def status(self) -> str:
        """The item's current status (one light request)."""
        summaries = self._client._run(item_summaries_flow(self.queue_id, [self.item_id]))
        return summaries[0].status

    def get(self) -> QueueItem:
        """The item as the server has it now (with its session)."""
        return self._client._run(get_item_flow(self.queue_id, self.item_id))

    def wait(
        self,
        timeout: float | None = None,
        *,
        on_event: EventCallback | None = None,
        cancel_on_timeout: bool = False,
    ) -> QueueItem:
        """Wait until the item finishes; returns it (with `session.results`).

        Raises:
            JobFailedError: the server ran it and it failed (error type, message, traceback).
            JobCanceledError: it was canceled.
            JobTimeoutError: `timeout` seconds passed (the item is canceled too if
                `cancel_on_timeout`).
        """
        if self.item is None or not self.item.is_terminal:
            outcome = _SyncFollower(self._client, self.queue_id, [self.batch_id]).run(
                [self.item_id], timeout, on_event
            )
            if outcome.timed_out:
                if cancel_on_timeout:
                    self.cancel()
                raise _timeout_error(outcome.items, timeout)
            self.item = outcome.items[0]
        _raise_for(self.item)
        return self.item

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Iterate over this item's events (progress, node completions, status) until it ends."""
        yield from _iterate_sync(
            lambda sink: _SyncFollower(self._client, self.queue_id, [self.batch_id]).run(
                [self.item_id], timeout, sink
            )
        )

    def cancel(self) -> QueueItem:
        """Ask the server to cancel the item; returns it as the server reports it."""
        return self._client._run(cancel_item_flow(self.queue_id, self.item_id))


def _iterate_sync(run: Callable[[Callable[[Event], None]], _Outcome]) -> Iterator[Event]:
    """Turn a run with an event sink into an iterator (the run happens on a thread)."""
    box: queue.Queue[tuple[str, Any]] = queue.Queue()
    worker = threading.Thread(
        target=lambda: _capture(box, run), name="invokeai-job-events", daemon=True
    )
    worker.start()
    while True:
        kind, payload = box.get()
        if kind == "event":
            yield payload
        elif kind == "error":
            raise payload
        else:
            return


def _capture(box: queue.Queue[tuple[str, Any]], run: Callable[[Callable[[Event], None]], _Outcome]) -> None:
    try:
        run(lambda e: box.put(("event", e)))
    except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
        box.put(("error", exc))
    else:
        box.put(("done", None))


# --- async ------------------------------------------------------------------------------


class _AsyncFollower:
    def __init__(self, client: AsyncInvokeAIClient, queue_id: str, batch_ids: Sequence[str]) -> None:
        self.client = client
        self.queue_id = queue_id
        self.batch_ids = frozenset(batch_ids)

    async def run(
        self, item_ids: Sequence[int], timeout: float | None, sink: Callable[[Event], Any] | None
    ) -> _Outcome:
        hub = self.client._events if self.client._use_events else None
        listener = hub.listen(self.batch_ids) if hub is not None and await hub.connect() else None
        try:
            return await self.client._run(
                _follow_flow(
                    self.queue_id, item_ids, listener=listener, sink=sink,
                    known=_known_statuses(hub, item_ids), timeout=timeout,
                )
            )
        finally:
            if hub is not None and listener is not None:
                hub.remove(listener)


async def _iterate_async(run: Callable[[Callable[[Event], Any]], Any]) -> AsyncIterator[Event]:
    box: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def worker() -> None:
        try:
            await run(lambda e: box.put_nowait(("event", e)))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            box.put_nowait(("error", exc))
        else:
            box.put_nowait(("done", None))

    task = asyncio.get_running_loop().create_task(worker())
    try:
        while True:
            kind, payload = await box.get()
            if kind == "event":
                yield payload
            elif kind == "error":
                raise payload
            else:
                return
    finally:
        if not task.done():
            task.cancel()


class AsyncJobBatch:
    """The queue items of one submission, for the async client."""

    def __init__(self, client: AsyncInvokeAIClient, queue_id: str, results: Sequence[EnqueueBatchResult]) -> None:
        self._client = client
        self.queue_id = queue_id
        self.results = list(results)
        self.batch_ids = [r.batch_id for r in results]
        self.jobs = [
            AsyncJob(client, queue_id, item_id, r.batch_id) for r in results for item_id in sorted(r.item_ids)
        ]

    @classmethod
    async def submit(cls, client: AsyncInvokeAIClient, queue_id: str, body: Mapping[str, Any]) -> AsyncJobBatch:
        return await cls.submit_many(client, queue_id, [body])

    @classmethod
    async def submit_many(
        cls, client: AsyncInvokeAIClient, queue_id: str, bodies: Sequence[Mapping[str, Any]]
    ) -> AsyncJobBatch:
        if client._use_events:
            await client._events.connect()
        results = []
        for body in bodies:
            result = await client._run(enqueue_flow(queue_id, prepare_batch(body)))
            if result.enqueued < result.requested:
                log.warning("the server enqueued %d of %d requested items", result.enqueued, result.requested)
            results.append(result)
        return cls(client, queue_id, results)

    @classmethod
    async def attach(cls, client: AsyncInvokeAIClient, queue_id: str, batch_id: str) -> AsyncJobBatch:
        ids = await client._run(batch_item_ids_flow(queue_id, batch_id))
        result = EnqueueBatchResult(
            queue_id=queue_id, enqueued=len(ids), requested=len(ids), batch={"batch_id": batch_id}, item_ids=ids
        )
        return cls(client, queue_id, [result])

    @property
    def item_ids(self) -> list[int]:
        return [j.item_id for j in self.jobs]

    def __len__(self) -> int:
        return len(self.jobs)

    def __iter__(self) -> Iterator[AsyncJob]:
        return iter(self.jobs)

    def __getitem__(self, index: int) -> AsyncJob:
        return self.jobs[index]

    async def status(self) -> dict[int, str]:
        summaries = await self._client._run(item_summaries_flow(self.queue_id, self.item_ids))
        return {s.item_id: s.status for s in summaries}

    async def wait(
        self,
        timeout: float | None = None,
        *,
        on_event: Callable[[Event], Any] | None = None,
        cancel_on_timeout: bool = False,
        raise_on_error: bool = True,
    ) -> list[QueueItem]:
        """Wait for every item (see `JobBatch.wait`)."""
        outcome = await _AsyncFollower(self._client, self.queue_id, self.batch_ids).run(
            self.item_ids, timeout, on_event
        )
        if outcome.timed_out:
            if cancel_on_timeout:
                await self.cancel()
            raise _timeout_error(outcome.items, timeout)
        if raise_on_error:
            for item in outcome.items:
                _raise_for(item)
        return outcome.items

    def events(self, timeout: float | None = None) -> AsyncIterator[Event]:
        follower = _AsyncFollower(self._client, self.queue_id, self.batch_ids)
        return _iterate_async(lambda sink: follower.run(self.item_ids, timeout, sink))

    async def cancel(self) -> int:
        return await self._client._run(cancel_batches_flow(self.queue_id, self.batch_ids))


class AsyncJob:
    """One queue item, for the async client (see `Job`)."""

    def __init__(self, client: AsyncInvokeAIClient, queue_id: str, item_id: int, batch_id: str) -> None:
        self._client = client
        self.queue_id = queue_id
        self.item_id = item_id
        self.batch_id = batch_id
        self.item: QueueItem | None = None

    @classmethod
    async def attach(cls, client: AsyncInvokeAIClient, queue_id: str, item_id: int) -> AsyncJob:
        item = await client._run(get_item_flow(queue_id, item_id))
        job = cls(client, queue_id, item_id, item.batch_id)
        if item.is_terminal:
            job.item = item
        return job

    def __repr__(self) -> str:
        return f"AsyncJob(item_id={self.item_id}, batch_id={self.batch_id!r})"

    @property
    def session_id(self) -> str | None:
        return self.item.session_id if self.item is not None else None

    async def status(self) -> str:
        summaries = await self._client._run(item_summaries_flow(self.queue_id, [self.item_id]))
        return summaries[0].status

    async def get(self) -> QueueItem:
        return await self._client._run(get_item_flow(self.queue_id, self.item_id))

    async def wait(
        self,
        timeout: float | None = None,
        *,
        on_event: Callable[[Event], Any] | None = None,
        cancel_on_timeout: bool = False,
    ) -> QueueItem:
        """Wait until the item finishes (see `Job.wait`)."""
        if self.item is None or not self.item.is_terminal:
            outcome = await _AsyncFollower(self._client, self.queue_id, [self.batch_id]).run(
                [self.item_id], timeout, on_event
            )
            if outcome.timed_out:
                if cancel_on_timeout:
                    await self.cancel()
                raise _timeout_error(outcome.items, timeout)
            self.item = outcome.items[0]
        _raise_for(self.item)
        return self.item

    def events(self, timeout: float | None = None) -> AsyncIterator[Event]:
        follower = _AsyncFollower(self._client, self.queue_id, [self.batch_id])
        return _iterate_async(lambda sink: follower.run([self.item_id], timeout, sink))

    async def cancel(self) -> QueueItem:
        return await self._client._run(cancel_item_flow(self.queue_id, self.item_id))
