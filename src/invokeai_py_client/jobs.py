"""Jobs: what a submission returns. Each `Job` is a `concurrent.futures.Future`.

Submitting enqueues (never twice: see `enqueue_flow`) and hands the new queue items to
the client's tracker, one per client and queue, which follows every outstanding item
at once (socket events, with polling of light summaries when they go quiet or there
is no socket) and resolves each job's future the moment its item ends. So
`concurrent.futures.as_completed(jobs)` works on many jobs with no thread per job,
`await job` works on the async client, and `job.wait()` is the same wait, typed:

    >>> job = wf.submit_sync()                                        # doctest: +SKIP
    >>> item = job.wait(timeout=120)       # or job.result(), or as_completed([...])  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import time
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack, overload

import httpx

from ._compat.jobs import SubmissionView
from ._exceptions import (
    AmbiguousSubmissionError,
    APIConnectionError,
    InternalServerError,
    InvokeAIError,
    JobCanceledError,
    JobFailedError,
    JobLostError,
    JobTimeoutError,
)
from ._flow import AsyncRunner, Flow, Pause, Runner, SyncRunner, backoff, call
from ._following import (
    OUTAGE_PAUSE_MAX,
    Track,
    batch_item_ids_flow,
    item_path,
    item_summaries_flow,
    items_by_ids_flow,
    queue_path,
)
from ._resource import Resource, operation
from ._transport import segment
from .events import Event, InvocationCompleteEvent, QueueItemStatusChangedEvent
from .queue_models import BatchStatus, EnqueueBatchResult, QueueItem

__all__ = [
    "AsyncJob",
    "AsyncJobBatch",
    "EventCallback",
    "Job",
    "JobBatch",
    "ReportedResults",
    "WaitOptions",
    "enqueue_flow",
    "new_destination_tag",
    "prepare_batch",
]

log = logging.getLogger("invokeai_py_client.jobs")

EventCallback = Callable[[Event], Any]
"""Called with each event of a job (an async client also awaits a coroutine result)."""

DEFAULT_ORIGIN = "invokeai-py-client"


# --- enqueueing (never twice) ---------------------------------------------------------------


def new_destination_tag() -> str:
    """A unique `destination` for one submission, so it can be found again by lookup."""
    return f"invokeai-py:{uuid.uuid4().hex}"


def prepare_batch(body: Mapping[str, Any]) -> dict[str, Any]:
    """Copy an `enqueue_batch` body, filling in a client-chosen batch id and tags.

    The batch id is chosen here, not by the server, so events can be routed to the
    submission before it exists and an ambiguous failure can be resolved by lookup.
    """
    out = dict(body)
    batch = dict(out.get("batch") or {})
    batch.setdefault("batch_id", str(uuid.uuid4()))
    if not batch.get("origin"):
        batch["origin"] = DEFAULT_ORIGIN
    if not batch.get("destination"):
        batch["destination"] = new_destination_tag()
    out["batch"] = batch
    out.setdefault("prepend", False)
    return out


def enqueue_flow(queue_id: str, body: Mapping[str, Any]) -> Flow[EnqueueBatchResult]:
    """POST enqueue_batch once; resolve a lost answer by looking the batch up.

    Never retried blindly. A request that could not even be sent (connection
    refused) is sent once more. If the answer was lost after sending, the lookup
    decides, riding out a server that went down meanwhile (up to `outage_timeout`):
    a server back from a restart without the batch never will have it, so it is sent
    again. If it stays unknown, `AmbiguousSubmissionError` is raised and nothing is
    sent twice.
    """
    prepared = prepare_batch(body)
    batch = prepared["batch"]
    batch_id: str = batch["batch_id"]
    destination: str = batch["destination"]
    for attempt in range(2):
        try:
            result = yield from call(
                EnqueueBatchResult, "POST", f"{queue_path(queue_id)}/enqueue_batch", json=prepared, retry=False
            )
        except (APIConnectionError, InternalServerError) as exc:
            if isinstance(exc.__cause__, httpx.ConnectError):
                # Refused before anything was sent: nothing is queued. Sent once more.
                if attempt == 1:
                    raise
                log.warning("enqueue of batch %s: %s; sending it again", batch_id, exc)
                continue
            log.warning("enqueue of batch %s: %s; looking it up", batch_id, exc)
            found, server_was_down = yield from _look_up_lost_batch(queue_id, batch_id, destination)
            if found:
                log.info("batch %s was enqueued after all (%d items)", batch_id, len(found))
                return EnqueueBatchResult(
                    queue_id=queue_id, enqueued=len(found), requested=len(found), batch=batch,
                    item_ids=sorted(found, reverse=True),
                )
            if isinstance(exc, InternalServerError):
                raise  # the server answered: it refused the batch, nothing is queued
            # The server went down and came back (a restart) without the batch: the
            # process that took it is gone, so it never will appear. Sending it again is safe.
            if server_was_down and attempt == 1:
                raise
            if not server_was_down:
                raise AmbiguousSubmissionError(
                    f"enqueue of batch {batch_id} failed ({exc}) and the batch is not on the "
                    f"queue yet; it may still appear. Look for destination {destination!r} "
                    "before submitting again.",
                    destination=destination,
                ) from exc
        else:
            if "item_ids" not in result.model_fields_set and result.enqueued > 0:
                # 5.x answers without item ids: they are found through the batch.
                ids = yield from batch_item_ids_flow(queue_id, batch_id, destination, expected=result.enqueued)
                result = result.model_copy(update={"item_ids": sorted(ids, reverse=True)})
            return result
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class _OutageTimeout:
    """The client's `outage_timeout` (seconds a wait rides out an unreachable server)."""

    def run_sync(self, runner: SyncRunner) -> float | None:
        return runner.options.outage_timeout

    async def run_async(self, runner: AsyncRunner) -> float | None:
        return runner.options.outage_timeout


def _look_up_lost_batch(queue_id: str, batch_id: str, destination: str) -> Flow[tuple[list[int], bool]]:
    """The item ids a lost enqueue left on the queue, and whether the server was down meanwhile.

    An unreachable server (a restart) is waited out for up to the client's
    `outage_timeout`: its database, read once it is back, says what was queued.
    Unreachable past that, the answer is "none found" (the caller decides).
    """
    limit = yield _OutageTimeout()
    deadline = None if limit is None else time.monotonic() + limit
    pauses = backoff(0.5, OUTAGE_PAUSE_MAX)
    was_down = False
    while True:
        try:
            return (yield from _batch_item_ids(queue_id, batch_id, destination)), was_down
        except APIConnectionError as exc:
            was_down = was_down or isinstance(exc.__cause__, httpx.ConnectError)
            if deadline is not None and time.monotonic() >= deadline:
                log.warning("batch %s: the server did not answer the lookup within %gs (%s)", batch_id, limit, exc)
                return [], False
            pause = next(pauses)
            log.info("batch %s: looking it up failed (%s); again in %.1fs", batch_id, exc, pause)
            yield Pause(pause)


def _batch_item_ids(queue_id: str, batch_id: str, destination: str | None = None) -> Flow[list[int]]:
    """Item ids of a batch, found through its destination; [] when the queue has none.

    An unreachable server raises (the caller decides whether to wait it out)."""
    q = queue_path(queue_id)
    try:
        status = yield from call(BatchStatus, "GET", f"{q}/b/{segment(batch_id, 'batch id')}/status")
        if status.total == 0:
            return []
        return (
            yield from batch_item_ids_flow(
                queue_id, batch_id, destination or status.destination, expected=status.total
            )
        )
    except APIConnectionError:
        raise
    except InvokeAIError:
        if destination is None:
            raise
        return []  # resolving a lost enqueue: "not found" is the answer


# --- waiting -------------------------------------------------------------------------------


class _EventFeed:
    """A listener on the batches of `jobs`, read until they are all settled or time is up.

    `wait_time()` says how long to wait for the next event (None: stop); `take()` keeps
    the events that concern the jobs. The listener is removed on exit, also when a
    consumer stops early, so nothing keeps following.
    """

    def __init__(self, hub: Any, jobs: Sequence[Job[Any]], timeout: float | None, *, replay: bool) -> None:
        self.hub, self.jobs = hub, jobs
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.listener = hub.listen(frozenset(j.batch_id for j in jobs))
        # The status events already seen, taken after listening: none is lost.
        self.replayed = [event for job in jobs for event in list(job._seen)] if replay else []
        self.timed_out = False

    def __enter__(self) -> _EventFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.hub.remove(self.listener)

    def wait_time(self) -> float | None:
        if all(j.done() for j in self.jobs) and self.listener.queue.empty():
            return None
        left = None if self.deadline is None else self.deadline - time.monotonic()
        self.timed_out = left is not None and left <= 0
        return None if self.timed_out else min(0.1, left or 0.1)

    def take(self, event: Event | None) -> list[Event]:
        if event is None or not _concerns(event, self.jobs) or any(event is r for r in self.replayed):
            return []
        return [event]


@dataclass(frozen=True)
class _Settled:
    """Wait until all `jobs` are settled or `timeout` passes; feed `on_event` meanwhile.

    Answers whether all are settled.
    """

    jobs: Sequence[Job[Any]]
    timeout: float | None
    on_event: EventCallback | None

    def run_sync(self, runner: SyncRunner) -> bool:
        if self.on_event is None:
            return not concurrent.futures.wait(self.jobs, self.timeout).not_done
        with _EventFeed(runner.hub, self.jobs, self.timeout, replay=False) as feed:
            while (wait := feed.wait_time()) is not None:
                for event in feed.take(feed.listener.get(wait)):
                    self.on_event(event)
        return not feed.timed_out

    async def run_async(self, runner: AsyncRunner) -> bool:
        if self.on_event is None:
            futures = [asyncio.wrap_future(j) for j in self.jobs]
            for future in futures:
                future.add_done_callback(_retrieved)
            return not (await asyncio.wait(futures, timeout=self.timeout))[1]
        with _EventFeed(runner.hub, self.jobs, self.timeout, replay=False) as feed:
            while (wait := feed.wait_time()) is not None:
                for event in feed.take(await feed.listener.get(wait)):
                    if asyncio.iscoroutine(result := self.on_event(event)):
                        await result
        return not feed.timed_out


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a wrapper's outcome as read: the job keeps it (else asyncio logs "Future
    exception was never retrieved" for every job that failed or ended after a timeout)."""
    if not future.cancelled():
        future.exception()


class WaitOptions(TypedDict, total=False):
    """How a wait goes, beyond its timeout."""

    on_event: EventCallback | None
    """Called with each event meanwhile (an async client also awaits a coroutine result)."""
    cancel_on_timeout: bool
    """Cancel what is not finished when the timeout passes."""


def _all_settled(
    jobs: Sequence[Job[Any]], timeout: float | None, options: WaitOptions, cancel: Callable[[], Flow[Any]]
) -> Flow[None]:
    """Wait until every job is settled; on timeout, raise (after canceling, if asked).

    At the deadline the server is asked once more: items that ended meanwhile (their
    news still on its way) settle their jobs instead of timing out.
    """
    if (yield _Settled(jobs, timeout, options.get("on_event"))):
        return
    pending = [j for j in jobs if not j.done()]
    try:
        summaries = yield from item_summaries_flow(pending[0].queue_id, [j.item_id for j in pending])
    except InvokeAIError:
        summaries = []
    ended = [s.item_id for s in summaries if s.is_terminal]
    if ended:
        by_id = {j.item_id: j for j in pending}
        for item in (yield from items_by_ids_flow(pending[0].queue_id, ended)):
            by_id[item.item_id]._settle(item, None)
    late = [s for s in summaries if not s.is_terminal]
    if not late and len(summaries) == len(pending):
        return
    if options.get("cancel_on_timeout"):
        yield from cancel()
    states = ", ".join(f"{s.item_id}: {s.status}" for s in late[:10]) or "status unknown"
    raise JobTimeoutError(
        f"timed out after {timeout}s waiting for queue items ({states})", late[0] if late else None
    )


def _concerns(event: Event, jobs: Sequence[Job[Any]]) -> bool:
    return event.item_id is None or any(event.item_id == j.item_id for j in jobs)


def _outcome(item: QueueItem) -> InvokeAIError | None:
    if item.status == "failed":
        return JobFailedError(f"queue item {item.item_id} failed: {item.error_type}: {item.error_message}", item)
    if item.status == "canceled":
        return JobCanceledError(f"queue item {item.item_id} was canceled", item)
    return None


# --- jobs ----------------------------------------------------------------------------------


class Job(SubmissionView, concurrent.futures.Future[QueueItem], Resource[Runner]):
    """One queue item, as a Future: resolved with the finished item, or a typed error.

    `result()` / `wait()` answer the item (with `session.results`) or raise
    `JobFailedError` (the server's error type, message and traceback),
    `JobCanceledError`, `JobLostError` (the item was deleted). Works with
    `concurrent.futures.wait/as_completed`; on the async client `await job`.
    """

    def __init__(self, runner: Runner, queue_id: str, item_id: int, batch_id: str) -> None:
        concurrent.futures.Future.__init__(self)
        self._runner = runner
        self.queue_id = queue_id
        self.item_id = item_id
        self.batch_id = batch_id
        self.item: QueueItem | None = None
        """The finished queue item, once it ended."""
        self._seen: list[Event] = []
        """Status events the tracker saw for this item, replayed by `events()`."""

    def __repr__(self) -> str:
        state = self.item.status if self.item is not None else "following"
        return f"Job(item_id={self.item_id}, batch_id={self.batch_id!r}, {state})"

    def __await__(self) -> Generator[Any, None, QueueItem]:
        return asyncio.wrap_future(self).__await__()

    def _settle(self, item: QueueItem | None, error: InvokeAIError | None) -> None:
        if self.done():
            return
        self.item = item if item is not None else self.item
        error = error or (_outcome(item) if item is not None else None)
        try:
            if error is not None:
                self.set_exception(error)
            else:
                assert item is not None
                self.set_result(item)
        except concurrent.futures.InvalidStateError:
            pass  # settled by another path meanwhile

    @property
    def session_id(self) -> str | None:
        return self.item.session_id if self.item is not None else None

    @operation
    def status(self) -> Flow[str]:
        """The item's current status (one light request)."""
        summaries = yield from item_summaries_flow(self.queue_id, [self.item_id])
        if not summaries:
            raise JobLostError(f"queue item {self.item_id} is no longer on queue {self.queue_id!r}", None)
        return summaries[0].status

    @operation
    def fetch(self) -> Flow[QueueItem]:
        """The item as the server has it now (with its session)."""
        return call(QueueItem, "GET", item_path(self.queue_id, self.item_id))

    def _session_id_now(self) -> str | None:
        """The session id, asking the server when the item is not known yet (sync client)."""
        if self.item is None and isinstance(self._runner, SyncRunner):
            item: QueueItem = self._runner.run(call(QueueItem, "GET", item_path(self.queue_id, self.item_id)))
            return item.session_id
        return self.session_id

    @operation
    def wait(self, timeout: float | None = None, **options: Unpack[WaitOptions]) -> Flow[QueueItem]:
        """Wait until the item finishes; returns it (with `session.results`).

        Raises:
            JobFailedError: the server ran it and it failed (error type, message, traceback).
            JobCanceledError: it was canceled.
            JobLostError: it was deleted from the queue before it finished.
            JobTimeoutError: `timeout` seconds passed (the item is canceled too if
                `cancel_on_timeout`).
        """
        return self._wait(timeout, options)

    def _wait(self, timeout: float | None, options: WaitOptions) -> Flow[QueueItem]:
        yield from _all_settled([self], timeout, options, self._cancel)
        return self.result()

    @operation
    def cancel(self) -> Flow[QueueItem]:  # type: ignore[override]
        """Ask the server to cancel the item; returns it as the server reports it.

        (Unlike `Future.cancel`, this cancels the queue item; the job then resolves
        with `JobCanceledError`.)
        """
        return self._cancel()

    def _cancel(self) -> Flow[QueueItem]:
        return call(QueueItem, "PUT", f"{item_path(self.queue_id, self.item_id)}/cancel")

    @overload
    def events(self: Job[SyncRunner], timeout: float | None = None) -> Iterator[Event]: ...
    @overload
    def events(self: Job[AsyncRunner], timeout: float | None = None) -> AsyncIterator[Event]: ...
    def events(self, timeout: float | None = None) -> Iterator[Event] | AsyncIterator[Event]:
        """This item's events (progress, node completions, status) until it ends.

        An iterator on the sync client, an async iterator on the async one. Stopping
        early stops following (nothing is left running).
        """
        return _events(self._runner, [self], timeout)


AsyncJob = Job[AsyncRunner]
"""A job of the async client: the same methods as coroutines; `await job` for the item."""


class JobBatch(Resource[Runner]):
    """The queue items of one submission (a sweep, `runs` > 1, or several batches)."""

    def __init__(self, runner: Runner, queue_id: str, results: Sequence[EnqueueBatchResult]) -> None:
        self._runner = runner
        self.queue_id = queue_id
        self.results = list(results)
        self.batch_ids = [r.batch_id for r in results]
        # The server lists item ids newest first; jobs are kept in enqueue order.
        self.jobs: list[Job[Runner]] = [
            Job(runner, queue_id, item_id, r.batch_id) for r in results for item_id in sorted(r.item_ids)
        ]

    @property
    def item_ids(self) -> list[int]:
        return [j.item_id for j in self.jobs]

    def __len__(self) -> int:
        return len(self.jobs)

    def __iter__(self) -> Iterator[Job[Runner]]:
        return iter(self.jobs)

    def __getitem__(self, index: int) -> Job[Runner]:
        return self.jobs[index]

    def __repr__(self) -> str:
        return f"JobBatch(batch_ids={self.batch_ids}, items={self.item_ids})"

    @operation
    def status(self) -> Flow[dict[int, str]]:
        """Current status of each item (one light request)."""
        summaries = yield from item_summaries_flow(self.queue_id, self.item_ids)
        return {s.item_id: s.status for s in summaries}

    @operation
    def wait(
        self, timeout: float | None = None, *, raise_on_error: bool = True, **options: Unpack[WaitOptions]
    ) -> Flow[list[QueueItem]]:
        """Wait for every item; returns them in full, in enqueue order.

        Raises `JobFailedError`/`JobCanceledError`/`JobLostError` for the first item
        that did not complete (unless `raise_on_error=False`), `JobTimeoutError` on timeout.
        """
        yield from _all_settled(self.jobs, timeout, options, self._cancel)
        items: list[QueueItem] = []
        for job in self.jobs:
            if raise_on_error or job.item is None:
                items.append(job.result())
            else:
                items.append(job.item)
        return items

    @operation
    def cancel(self) -> Flow[int]:
        """Cancel every item not yet finished; returns how many the server canceled."""
        return self._cancel()

    def _cancel(self) -> Flow[int]:
        answer = yield from call(
            dict[str, Any], "PUT", f"{queue_path(self.queue_id)}/cancel_by_batch_ids",
            json={"batch_ids": self.batch_ids},
        )
        return int(answer.get("canceled", 0))

    @overload
    def events(self: JobBatch[SyncRunner], timeout: float | None = None) -> Iterator[Event]: ...
    @overload
    def events(self: JobBatch[AsyncRunner], timeout: float | None = None) -> AsyncIterator[Event]: ...
    def events(self, timeout: float | None = None) -> Iterator[Event] | AsyncIterator[Event]:
        """This submission's events until every item is finished (see `Job.events`)."""
        return _events(self._runner, self.jobs, timeout)


AsyncJobBatch = JobBatch[AsyncRunner]
"""The jobs of one submission of the async client."""


def _events(
    runner: SyncRunner | AsyncRunner, jobs: Sequence[Job[Any]], timeout: float | None
) -> Iterator[Event] | AsyncIterator[Event]:
    if isinstance(runner, AsyncRunner):
        return _events_async(runner, jobs, timeout)
    return _events_sync(runner, jobs, timeout)


def _events_sync(runner: SyncRunner, jobs: Sequence[Job[Any]], timeout: float | None) -> Iterator[Event]:
    with _EventFeed(runner.hub, jobs, timeout, replay=True) as feed:
        yield from feed.replayed
        while (wait := feed.wait_time()) is not None:
            yield from feed.take(feed.listener.get(wait))
    if feed.timed_out:
        raise JobTimeoutError(f"no end of events after {timeout}s", jobs[0].item)


async def _events_async(runner: AsyncRunner, jobs: Sequence[Job[Any]], timeout: float | None) -> AsyncIterator[Event]:
    with _EventFeed(runner.hub, jobs, timeout, replay=True) as feed:
        for event in feed.replayed:
            yield event
        while (wait := feed.wait_time()) is not None:
            for event in feed.take(await feed.listener.get(wait)):
                yield event
    if feed.timed_out:
        raise JobTimeoutError(f"no end of events after {timeout}s", jobs[0].item)


# --- submitting and re-attaching -------------------------------------------------------------


@dataclass(frozen=True)
class _OpenEvents:
    """Start opening the client's socket, without waiting for it (the GPU should not).

    Until it is up, the tracker polls; when it connects, the tracker reads the items
    once, so no ending is missed. (Progress events come from the moment it is up; the
    client opens it when it is made, so it usually is.)
    """

    def run_sync(self, runner: SyncRunner) -> None:
        if runner.use_events:
            runner.hub.connect_soon()

    async def run_async(self, runner: AsyncRunner) -> None:
        if runner.use_events:
            runner.hub.connect_soon()


def submit_flow(runner: Runner, queue_id: str, bodies: Sequence[Mapping[str, Any]]) -> Flow[JobBatch[Runner]]:
    """Enqueue batch bodies as one submission and hand its jobs to the tracker."""
    yield _OpenEvents()
    results = []
    for body in bodies:
        result = yield from enqueue_flow(queue_id, body)
        if result.enqueued < result.requested:
            log.warning(
                "the server enqueued %d of %d requested items (max_queue_size?)", result.enqueued, result.requested
            )
        results.append(result)
    batch = JobBatch(runner, queue_id, results)
    yield Track(queue_id, batch.jobs)
    return batch


def attach_job_flow(runner: Runner, queue_id: str, item_id: int) -> Flow[Job[Runner]]:
    """A job for an existing queue item (e.g. after a restart)."""
    item = yield from call(QueueItem, "GET", item_path(queue_id, item_id))
    job = Job(runner, queue_id, item_id, item.batch_id)
    if item.is_terminal:
        job._settle(item, None)
    else:
        yield _OpenEvents()
        yield Track(queue_id, [job])
    return job


def attach_batch_flow(runner: Runner, queue_id: str, batch_id: str) -> Flow[JobBatch[Runner]]:
    """The jobs of an existing batch (e.g. after a restart)."""
    ids = yield from _batch_item_ids(queue_id, batch_id)
    if not ids:
        raise InvokeAIError(f"queue {queue_id!r} has no batch {batch_id!r}")
    result = EnqueueBatchResult(
        queue_id=queue_id, enqueued=len(ids), requested=len(ids), batch={"batch_id": batch_id}, item_ids=ids
    )
    batch = JobBatch(runner, queue_id, [result])
    yield _OpenEvents()
    yield Track(queue_id, batch.jobs)
    return batch



# --- what the events said an item made ----------------------------------------------------


class ReportedResults:
    """What each node of a destination's items made, as the event socket reports it.

    An item known to have completed only from its status event (its server died
    before the item could be fetched) still has its images on that server: `item_of`
    answers the item as the events told it, so it need not be made again elsewhere.
    Reads `invocation_complete` events from when it is made until `close()`; a client
    without a socket (``use_events=False``) records nothing. Sync clients only.
    """

    def __init__(self, runner: SyncRunner, destination: str) -> None:
        self.destination = destination
        self._hub = runner.hub if runner.use_events else None
        self._listener = (
            self._hub.listen_all(frozenset({"invocation_complete"})) if self._hub is not None else None
        )
        self._sessions: dict[int, dict[str, Any]] = {}

    def __enter__(self) -> ReportedResults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._hub is not None and self._listener is not None:
            self._hub.remove(self._listener)
        self._listener = None
        self._sessions.clear()

    def drain(self) -> None:
        """Keep the node results that came since the last call (others' items are dropped)."""
        while self._listener is not None:
            try:
                event = self._listener.queue.get_nowait()
            except queue.Empty:
                return
            if not isinstance(event, InvocationCompleteEvent) or event.destination != self.destination:
                continue
            prepared, source = (event.invocation or {}).get("id"), event.invocation_source_id
            if event.item_id is None or not isinstance(prepared, str) or not source:
                continue
            session = self._sessions.setdefault(
                event.item_id, {"results": {}, "source_prepared_mapping": {}, "graph": {"nodes": {}}}
            )
            session["results"][prepared] = event.result
            session["source_prepared_mapping"].setdefault(source, []).append(prepared)
            session["graph"]["nodes"][source] = event.invocation

    def forget(self, item_id: int) -> None:
        """Drop what was kept for an item (its job settled)."""
        self._sessions.pop(item_id, None)

    def item_of(self, job: Job[SyncRunner]) -> QueueItem | None:
        """`job`'s item as the events reported it, if its completion was reported; else None.

        Its `session` holds only the nodes' `results`, `source_prepared_mapping` and the
        nodes as they ran (enough for `map_outputs_to_images`); it has no `field_values`.
        """
        self.drain()
        completed = [e for e in job._seen if isinstance(e, QueueItemStatusChangedEvent) and e.status == "completed"]
        session = self._sessions.get(job.item_id)
        if not completed or session is None:
            return None
        reported = completed[-1].model_dump(exclude={"name", "timestamp", "batch_status", "queue_status"})
        return QueueItem.model_validate({**reported, "session": session})
