"""One run over several InvokeAI servers: placement by speed and load, failover, resume.

    >>> from invokeai_py_client.pipelines.pool import ServerPool
    >>> pool = ServerPool(["http://gpu1:9090", "http://gpu2:9090"])         # doctest: +SKIP
    >>> run = pool.run_batch(fused, [{"Base: Positive prompt": p, "Base: Seed": s}
    ...                              for p, s in prompts], values={"Base: Steps": 30})  # doctest: +SKIP
    >>> [(r.index, r.server) for r in run.results]                           # doctest: +SKIP
    [(0, 'gpu1'), (1, 'gpu2'), ...]

Each row runs as one queue item on one server (a fused chain keeps all its stages,
and so its images, where it runs). A batch is split over the servers in proportion to
their speed, net of the work already on their queues (other clients' too, as their
queue status reports): one `enqueue_batch` per server, every item tagged with the run's
destination. No coordinator: several clients share the servers through what the
servers report. While a run goes on, a server about to run dry takes rows still pending
elsewhere (their items there are canceled first), so a wrong guess of speeds costs
little. `least_loaded()` answers where one more chain (e.g. of a scheduler) should go.

Failover: a server that cannot be reached for `outage_deadline` seconds is marked down
and its unfinished rows are placed again, from the start, on the others; when it comes
back, the run's items still queued there are canceled by destination before it takes
work again, so no row runs twice to completion. `reconcile(destination)` does the same
for a server that came back after the run ended. Running `run_batch` again with the
same destination resumes: rows with a completed item on any server are done, rows with
an item queued are re-attached, only the rest is submitted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import logging
import queue
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .._exceptions import (
    AmbiguousSubmissionError,
    APIConnectionError,
    InternalServerError,
    InvokeAIError,
    JobCanceledError,
    JobError,
    JobLostError,
    JobTimeoutError,
    ValidationError,
)
from .._flow import SyncRunner
from .._transport import redact_url
from ..client import InvokeAIClient
from ..jobs import Job, ReportedResults, new_destination_tag
from ..queue import QueueAndProcessorStatus
from ..queue_models import QueueItem
from ..workflow.definition import WorkflowDefinition
from ..workflow.handle import WorkflowHandle
from .placement import ServerLoad, SpeedMeter, choose_server, item_seconds, plan_moves, split_batch

__all__ = ["AsyncServerPool", "PoolResult", "PoolRun", "PoolServer", "ServerPool"]

log = logging.getLogger("invokeai_py_client.pipelines.pool")

T = TypeVar("T")

Handle = WorkflowHandle[SyncRunner]
"""A workflow handle of one pool member's client."""

MAX_RESTARTS = 3
"""How many times a row canceled by its server's restart is placed again."""

_UNREACHABLE = (APIConnectionError, InternalServerError)
"""What a server that is down (or restarting behind a proxy) answers."""


@dataclass(frozen=True)
class PoolServer:
    """One server of a pool: its URL, a name for it, and its own credentials."""

    url: str
    name: str | None = None
    """How results and logs name it (default: its URL without credentials)."""
    token: str | None = None
    email: str | None = None
    password: str | None = None


@dataclass
class PoolResult:
    """One row's finished queue item, and the server that made its images."""

    index: int
    values: Mapping[str, Any]
    server: str
    item: QueueItem
    """As the server answered it; for an item its server died before answering, as the
    events reported it (`ReportedResults.item_of`: the nodes' results, no `field_values`)."""
    outputs: list[dict[str, Any]]
    """`map_outputs_to_images` of the item: the saved images, by node."""
    attempts: list[tuple[str, int]] = field(default_factory=list)
    """(server, item id) of every queue item the row had, this one last."""

    @property
    def image_names(self) -> list[str]:
        return [name for output in self.outputs for name in output["image_names"]]


@dataclass
class PoolRun:
    """What a run made: a result per finished row, the errors of the others."""

    destination: str
    results: list[PoolResult]
    errors: dict[int, InvokeAIError]
    down: list[str]
    """Servers marked down during the run that have not come back (their queued items
    of the run may still be there: `ServerPool.reconcile` cancels them)."""
    resumed: int = 0
    """Rows found finished or queued on the servers instead of submitted."""

    def work_per_server(self) -> dict[str, int]:
        """How many rows each server finished."""
        return dict(Counter(r.server for r in self.results))


class _Member:
    """One server of the pool: its client, its measured speed, whether it is up."""

    def __init__(self, spec: PoolServer, client: InvokeAIClient) -> None:
        self.spec = spec
        self.name = spec.name or redact_url(spec.url)
        self.client = client
        self.speed = SpeedMeter()
        self.outstanding = 0
        self.unreachable_since: float | None = None
        self.seen_unreachable: float | None = None
        """When a look last found it unreachable (a restart cancels the item it was running)."""
        self.down = False

    def load(self) -> ServerLoad:
        return ServerLoad(self.name, self.outstanding, self.speed.seconds_per_item)


@dataclass
class _Row:
    index: int
    values: Mapping[str, Any]
    member: _Member | None = None
    job: Job[SyncRunner] | None = None
    attempts: list[tuple[str, int]] = field(default_factory=list)
    done: bool = False
    placed_at: float = 0.0
    restarts: int = 0


class ServerPool:
    """Several InvokeAI servers used as one: a sync client per server.

    Args:
        servers: URLs, or `PoolServer`s with names and credentials.
        outage_deadline: seconds a server may be unreachable before its rows move.
        probe_interval: seconds between looks at every server's queue status.
        probe_timeout: seconds a look may take (a hung server counts as unreachable).
        client_options: passed to every `InvokeAIClient` (timeout, use_events, ...).
    """

    def __init__(
        self,
        servers: Sequence[str | PoolServer],
        *,
        outage_deadline: float = 60.0,
        probe_interval: float = 1.0,
        probe_timeout: float = 3.0,
        **client_options: Any,
    ) -> None:
        specs = [s if isinstance(s, PoolServer) else PoolServer(str(s)) for s in servers]
        if not specs:
            raise ValidationError("a server pool needs at least one server")
        self.outage_deadline = outage_deadline
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        self._members: list[_Member] = []
        try:
            for spec in specs:
                client = InvokeAIClient(
                    spec.url, token=spec.token, email=spec.email, password=spec.password, **client_options
                )
                self._members.append(_Member(spec, client))
        except BaseException:
            self.close()
            raise
        names = [m.name for m in self._members]
        if len(set(names)) != len(names):
            self.close()
            raise ValidationError(f"the pool's servers need distinct names, got {names}")
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=min(16, len(self._members)), thread_name_prefix="invokeai-pool"
        )

    def __repr__(self) -> str:
        return f"ServerPool({[m.name for m in self._members]})"

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every server's client."""
        for member in self._members:
            member.client.close()
        if hasattr(self, "_executor"):
            self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self._members]

    def client(self, name: str) -> InvokeAIClient:
        """The client of the server called `name` (e.g. to download a result's images)."""
        return self._member(name).client

    def _member(self, name: str) -> _Member:
        for member in self._members:
            if member.name == name:
                return member
        raise ValidationError(f"the pool has no server {name!r} (servers: {self.names})")

    def _each(self, members: Sequence[T], work: Callable[[T], Any]) -> list[Any]:
        """`work(x)` for each of `members` at once; answers the results or the exceptions raised."""

        def guarded(member: T) -> Any:
            try:
                return work(member)
            except InvokeAIError as exc:
                return exc

        return list(self._executor.map(guarded, members))

    # -- looking at the servers ------------------------------------------------------------

    def _status(self, member: _Member) -> QueueAndProcessorStatus:
        answer = member.client.request(
            "GET", f"/api/v1/queue/{member.client.queue_id}/status", retry=False, timeout=self.probe_timeout
        )
        return QueueAndProcessorStatus.model_validate(answer)

    def probe(self, destination: str | None = None) -> list[ServerLoad]:
        """Look at every server's queue now: marks servers up or down, answers the loads of those up.

        A server down that answers again has the items of `destination` still queued on
        it canceled first (they were placed elsewhere meanwhile).
        """
        now = time.monotonic()
        for member, status in zip(self._members, self._each(self._members, self._status), strict=True):
            if isinstance(status, QueueAndProcessorStatus):
                if member.down:
                    self._rejoin(member, destination)
                member.unreachable_since = None
                member.outstanding = status.queue.pending + status.queue.in_progress
            elif isinstance(status, _UNREACHABLE):
                member.unreachable_since = member.unreachable_since or now
                member.seen_unreachable = now
                if not member.down and now - member.unreachable_since >= self.outage_deadline:
                    log.warning("server %s unreachable for %.0fs: marked down (%s)",
                                member.name, now - member.unreachable_since, status)
                    member.down = True
            else:
                raise status
        return [m.load() for m in self._members if not m.down and m.unreachable_since is None]

    def least_loaded(self, eligible: Iterable[str] | None = None) -> str:
        """The server (of `eligible`, default all up) where one more chain would finish first.

        Looks at every server's queue now (other clients' items count) and weighs it by
        the server's measured time per item.
        """
        return choose_server(self.probe(), eligible)

    def _rejoin(self, member: _Member, destination: str | None) -> None:
        if destination is not None:
            canceled = member.client.queue_repo.cancel_by_destination(destination)
            log.warning("server %s is back: canceled %d queue item(s) of run %s placed elsewhere meanwhile",
                        member.name, canceled, destination)
        else:
            log.warning("server %s is back", member.name)
        member.down = False

    def reconcile(self, destination: str, *, wait: float = 0.0) -> dict[str, int]:
        """Cancel the run's items still queued on servers that were down; answers how many per server.

        With `wait`, keeps looking (every 0.25 s) for up to `wait` seconds until every
        down server answers, canceling on each the moment it does.
        """
        canceled: dict[str, int] = {}
        deadline = time.monotonic() + wait
        while True:
            for member in [m for m in self._members if m.down]:
                try:
                    canceled[member.name] = member.client.queue_repo.cancel_by_destination(destination)
                except _UNREACHABLE:
                    continue
                log.warning("server %s is back: canceled %d queue item(s) of run %s",
                            member.name, canceled[member.name], destination)
                member.down = False
                member.unreachable_since = None
            if not any(m.down for m in self._members) or time.monotonic() >= deadline:
                return canceled
            time.sleep(0.25)

    # -- preparing a workflow on every server ---------------------------------------------

    def prepare(
        self, definition: WorkflowDefinition, values: Mapping[str, Any] | None = None,
        sample: Mapping[str, Any] | None = None, *, by_base: bool = False,
    ) -> dict[str, Handle]:
        """The workflow ready on each server that can run it, with `values` set.

        Models are synced per server (keys differ per install) and the graph is checked
        there (`to_graph`, with the `sample` row's values) without changing anything.
        Servers lacking a model or unreachable get no handle.

        Raises:
            ValidationError: no server can run it; `problems` says why for each server.
        """

        def ready(member: _Member) -> Handle:
            handle = member.client.workflow_repo.create_workflow(definition)
            handle.sync_dnn_model(by_name=True, by_base=by_base)
            for label, value in (values or {}).items():
                handle.get_input_value(label).value = value
            check = handle.clone()
            for label, value in (sample or {}).items():
                check.get_input_value(label).value = value
            check.to_graph()
            return handle

        members = [m for m in self._members if not m.down]
        handles: dict[str, Handle] = {}
        problems: list[str] = []
        for member, answer in zip(members, self._each(members, ready), strict=True):
            if isinstance(answer, WorkflowHandle):
                handles[member.name] = answer
            elif isinstance(answer, (ValidationError, *_UNREACHABLE)):
                reasons = getattr(answer, "problems", None) or [str(answer)]
                problems += [f"{member.name}: {reason}" for reason in reasons]
                log.warning("server %s cannot run %r: %s", member.name, definition.name, "; ".join(reasons))
            else:
                raise answer
        if not handles:
            raise ValidationError(f"no server of the pool can run workflow {definition.name!r}", problems)
        return handles

    # -- running a batch -------------------------------------------------------------------

    def run_batch(
        self,
        definition: WorkflowDefinition,
        rows: Sequence[Mapping[str, Any]],
        *,
        values: Mapping[str, Any] | None = None,
        destination: str | None = None,
        timeout: float | None = None,
        by_base: bool = False,
        on_result: Callable[[PoolResult], Any] | None = None,
        raise_on_error: bool = True,
    ) -> PoolRun:
        """Run `definition` once per row (label -> value) over the pool; answers when all are done.

        Args:
            values: set on every row (e.g. steps, size).
            destination: the run's tag on every server's queue; give a previous run's
                to resume it (default: a new one).
            timeout: seconds for the whole run (`JobTimeoutError`; its items are left queued).
            by_base: let `sync_dnn_model` pick another model of the same base when a
                server lacks the workflow's own.
            on_result: called with each row's result as it finishes (on this thread).
            raise_on_error: raise the first row's error once all rows are settled.

        Raises:
            ValidationError: no server can run the workflow (names the models), before
                anything is enqueued.
        """
        labels = sorted({label for row in rows for label in row})
        if not rows:
            raise ValidationError("run_batch needs at least one row")
        if not labels or any(set(row) != set(labels) for row in rows):
            raise ValidationError(f"every row must set the same inputs (at least one), got {labels}")
        resuming = destination is not None
        destination = destination or new_destination_tag()
        handles = self.prepare(definition, values, rows[0], by_base=by_base)
        self._each([m for m in self._members if m.name in handles and not len(m.speed)], self._seed_speed)
        batch = _Batch([_Row(index, row) for index, row in enumerate(rows)], handles, labels,
                       PoolRun(destination, [], {}, []), on_result)
        for member in self._members:
            if member.name in handles:
                batch.reported[member.name] = member.client.queue_repo.reported_results(destination)
        try:
            if resuming:
                batch.run.resumed = self._resume(batch)
            todo = [r for r in batch.rows if r.job is None and not r.done]
            if todo:
                self._place(batch, todo, self.probe(destination))
            self._follow(batch, timeout)
        finally:
            for reported in batch.reported.values():
                reported.close()
        run = batch.run
        run.results.sort(key=lambda r: r.index)
        run.down = [m.name for m in self._members if m.down]
        if raise_on_error and run.errors:
            raise run.errors[min(run.errors)]
        return run

    def _seed_speed(self, member: _Member) -> None:
        """A first speed for a server this pool has not measured: its queue's recent items."""
        for item in member.client.queue_repo.list_items(limit=16):
            if item.status == "completed":
                member.speed.add(item_seconds(item))

    def _resume(self, batch: _Batch) -> int:
        """Take over the run's items already on the servers; answers how many rows they cover."""
        keys = {_row_key(batch.handles, row.values): row.index for row in batch.rows}
        members = [m for m in self._members if m.name in batch.handles]
        found: dict[int, list[tuple[_Member, QueueItem]]] = {}
        for member, items in zip(members, self._each(
            members, lambda m: m.client.queue_repo.items_by_destination(batch.run.destination)
        ), strict=True):
            if isinstance(items, InvokeAIError):
                raise items
            for item in items:
                index = keys.get(_item_key(item))
                if index is not None:
                    found.setdefault(index, []).append((member, item))
        for index, candidates in found.items():
            row = batch.rows[index]
            row.attempts = [(m.name, item.item_id) for m, item in candidates]
            completed = [(m, item) for m, item in candidates if item.status == "completed"]
            active = [(m, item) for m, item in candidates if not item.is_terminal]
            keep = completed[:1] or active[:1]
            for member, item in active:
                if (member, item) not in keep:
                    member.client.queue_repo.cancel_item(item.item_id)  # a second copy: never run twice
            if completed:
                member, item = completed[0]
                row.member = member
                self._finish(batch, row, member.client.queue_repo.get_item(item.item_id))
            elif active:
                member, item = active[0]
                batch.follow(row, member, member.client.queue_repo.attach_job(item.item_id))
        return len(found)

    def _place(self, batch: _Batch, rows: list[_Row], loads: Sequence[ServerLoad]) -> None:
        """Split `rows` over the servers up and able (one request per server) and submit them."""
        eligible = [load.name for load in loads if load.name in batch.handles and not self._member(load.name).down]
        if not eligible:
            log.warning("no server of the pool is up to run %d row(s); waiting for one", len(rows))
            return
        shares = split_batch(len(rows), loads, eligible)
        chunks: list[tuple[_Member, list[_Row]]] = []
        start = 0
        for name, count in shares.items():
            chunks.append((self._member(name), rows[start : start + count]))
            start += count

        def submit(chunk: tuple[_Member, list[_Row]]) -> None:
            member, part = chunk
            handle = batch.handles[member.name].clone()
            for label in batch.labels:
                handle.get_input_value(label).values = [row.values[label] for row in part]
            jobs = handle.submit_batch_sync(zipped=[tuple(batch.labels)], destination=batch.run.destination)
            for row, job in zip(part, jobs, strict=True):  # items follow the values' order
                row.attempts.append((member.name, job.item_id))
                batch.follow(row, member, job)
            member.outstanding += len(part)

        failed: list[_Row] = []
        for (member, part), answer in zip(chunks, self._each(chunks, submit), strict=True):
            if isinstance(answer, (*_UNREACHABLE, AmbiguousSubmissionError)):
                # Unknown whether it is queued there: treat the server as down (its items of
                # this run are canceled when it answers again) and place the rows elsewhere.
                log.warning("enqueue on %s failed (%s): marked down, %d row(s) placed elsewhere",
                            member.name, answer, len(part))
                member.down, member.unreachable_since = True, member.unreachable_since or time.monotonic()
                failed += part
            elif isinstance(answer, InvokeAIError):
                raise answer
        if failed:
            self._place(batch, failed, loads)
        log.info("placed %d row(s) of %s: %s", len(rows), batch.run.destination, shares)

    def _follow(self, batch: _Batch, timeout: float | None) -> None:
        """Wait for every row, moving rows off servers marked down or onto servers left idle."""
        deadline = None if timeout is None else time.monotonic() + timeout
        next_probe = time.monotonic() + self.probe_interval
        while batch.unfinished:
            wait = max(next_probe - time.monotonic(), 0.0)
            if deadline is not None and (left := deadline - time.monotonic()) <= 0:
                raise JobTimeoutError(
                    f"run {batch.run.destination}: {batch.unfinished} row(s) unfinished after {timeout}s", None
                )
            try:
                row, job = batch.settled.get(timeout=wait if deadline is None else min(wait, left))
            except queue.Empty:
                pass
            else:
                if row.job is job:  # else a job the row no longer waits for (moved elsewhere)
                    self._settled(batch, row)
            for reported in batch.reported.values():
                reported.drain()
            if time.monotonic() < next_probe:
                continue
            next_probe = time.monotonic() + self.probe_interval
            loads = self.probe(batch.run.destination)
            pending = [r for r in batch.rows if not r.done]
            for row in pending:
                if row.job is not None and row.member is not None and row.member.down:
                    job, member = row.job, row.member
                    if job.done() and not isinstance(job.exception(), APIConnectionError):
                        self._settled(batch, row)  # it ended just before: that outcome counts
                        continue
                    row.job = None
                    made = batch.reported[member.name].item_of(job)
                    if made is not None:
                        # Its completion was reported, then the server died before the item
                        # could be fetched: its images are there; making them again would
                        # run the row twice.
                        log.warning("row %d: queue item %d completed on %s before it went down; not made again",
                                    row.index, job.item_id, member.name)
                        self._finish(batch, row, made)
                    else:
                        log.warning("row %d: server %s is down; placing it elsewhere", row.index, member.name)
            pending = [r for r in pending if not r.done]
            unplaced = [r for r in pending if r.job is None]
            if unplaced:
                self._place(batch, unplaced, loads)
            else:
                self._steal(batch, loads)

    def _settled(self, batch: _Batch, row: _Row) -> None:
        assert row.job is not None and row.member is not None
        job, member = row.job, row.member
        row.job = None
        try:
            item = job.result()
        except JobLostError:
            log.warning("row %d: queue item %d vanished from %s; it is placed again", row.index, job.item_id,
                        member.name)
            return
        except JobCanceledError as exc:
            # A server restarted within the outage deadline cancels the item it was running
            # (InvokeAI 6 does so at start-up); nothing tells that from a user's cancel but
            # the outage seen meanwhile. Such a row is placed again (a few times at most).
            restarted = member.seen_unreachable is not None and member.seen_unreachable >= row.placed_at
            if restarted and row.restarts < MAX_RESTARTS:
                row.restarts += 1
                log.warning("row %d: queue item %d canceled by the restart of %s; it is placed again",
                            row.index, job.item_id, member.name)
                return
            self._failed(batch, row, exc)
            return
        except JobError as exc:
            self._failed(batch, row, exc)
            return
        self._finish(batch, row, item)

    @staticmethod
    def _failed(batch: _Batch, row: _Row, error: InvokeAIError) -> None:
        row.done = True
        batch.unfinished -= 1
        batch.run.errors[row.index] = error

    def _finish(self, batch: _Batch, row: _Row, item: QueueItem) -> None:
        member = row.member
        assert member is not None
        row.done = True
        batch.unfinished -= 1
        member.speed.add(item_seconds(item))
        member.outstanding = max(member.outstanding - 1, 0)
        if (reported := batch.reported.get(member.name)) is not None:
            reported.forget(item.item_id)
        result = PoolResult(row.index, row.values, member.name, item,
                            batch.handles[member.name].map_outputs_to_images(item), list(row.attempts))
        batch.run.results.append(result)
        if batch.on_result is not None:
            batch.on_result(result)

    def _steal(self, batch: _Batch, loads: Sequence[ServerLoad]) -> None:
        """Move rows still pending on busy servers to servers about to run dry.

        A server about to run dry has at most its current item left (of anyone's); the
        run's pending rows are split again over all servers (`plan_moves`).
        """
        busy_rows: dict[str, list[_Row]] = {}
        for row in batch.rows:
            if row.job is not None and row.member is not None:
                busy_rows.setdefault(row.member.name, []).append(row)
        idle = [load for load in loads if load.name in batch.handles and load.outstanding <= 1
                and len(busy_rows.get(load.name, ())) <= load.outstanding]
        busy = [load for load in loads if len(busy_rows.get(load.name, ())) > 1 and load not in idle]
        if not idle or not busy:
            return
        counts = self._each([self._member(load.name) for load in busy],
                            lambda m: m.client.queue_repo.counts_by_destination(batch.run.destination))
        pending = {load.name: c.pending for load, c in zip(busy, counts, strict=True) if not isinstance(c, Exception)}
        for source, taker, count in plan_moves(idle, busy, pending):
            # Items run in queue order: the run's last items there have not started.
            mine = sorted((r for r in busy_rows[source] if r.job is not None), key=lambda r: r.job.item_id if r.job else 0)
            moved = mine[len(mine) - count:]
            busy_rows[source] = mine[: len(mine) - count]
            answers = self._each(moved, lambda r: r.job.cancel() if r.job is not None else None)
            freed = []
            for row, answer in zip(moved, answers, strict=True):
                if isinstance(answer, QueueItem) and answer.status == "canceled":  # else it ran meanwhile: it stays
                    row.job = None
                    freed.append(row)
            log.info("moving %d pending row(s) from %s to %s", len(freed), source, taker)
            self._place(batch, freed, [load for load in idle if load.name == taker])


@dataclass
class _Batch:
    """One `run_batch` under way: its rows, the workflow on each server, what has settled."""

    rows: list[_Row]
    handles: Mapping[str, Handle]
    labels: Sequence[str]
    run: PoolRun
    on_result: Callable[[PoolResult], Any] | None
    settled: queue.SimpleQueue[tuple[_Row, Job[SyncRunner]]] = field(default_factory=queue.SimpleQueue)
    reported: dict[str, ReportedResults] = field(default_factory=dict)
    """Per server: what its events said the run's items made (for items it died before answering)."""
    unfinished: int = 0

    def __post_init__(self) -> None:
        self.unfinished = len(self.rows)

    def follow(self, row: _Row, member: _Member, job: Job[SyncRunner]) -> None:
        """Wait for `job` as `row`'s item (on `member`): its end is queued for the run's thread."""
        row.member, row.job, row.placed_at = member, job, time.monotonic()
        job.add_done_callback(lambda done: self.settled.put((row, job)))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _row_key(handles: Mapping[str, Handle], row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A row's values by node field (the same on every server: node ids come from the workflow)."""
    handle = next(iter(handles.values()))
    fields = []
    for label in sorted(row):
        inp = handle.get_input(label)
        fields.append((inp.node_id, inp.field_name, _canonical(row[label])))
    return tuple(sorted(fields))


def _item_key(item: QueueItem) -> tuple[Any, ...]:
    """The values a queue item ran with (its batch data), as `_row_key` spells them."""
    return tuple(sorted(
        (str(v.get("node_path")), str(v.get("field_name")), _canonical(v.get("value")))
        for v in item.field_values or []
    ))


class AsyncServerPool:
    """The async twin of `ServerPool`: the same arguments, its methods as coroutines.

    Each call runs the pool's blocking method on a worker thread (as
    `WorkflowHandle.submit` does on the sync client), so the event loop stays free while
    a run goes on; `on_result` is called on that thread.

        >>> async with AsyncServerPool(["http://gpu1:9090", "http://gpu2:9090"]) as pool:  # doctest: +SKIP
        ...     run = await pool.run_batch(fused, rows)
    """

    def __init__(self, servers: Sequence[str | PoolServer], **options: Any) -> None:
        self.pool = ServerPool(servers, **options)
        """The blocking pool underneath (its clients are sync clients)."""

    def __repr__(self) -> str:
        return f"Async{self.pool!r}"

    async def __aenter__(self) -> AsyncServerPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await asyncio.to_thread(self.pool.close)

    @property
    def names(self) -> list[str]:
        return self.pool.names

    def client(self, name: str) -> InvokeAIClient:
        return self.pool.client(name)

    async def run_batch(
        self, definition: WorkflowDefinition, rows: Sequence[Mapping[str, Any]], **options: Any
    ) -> PoolRun:
        """`ServerPool.run_batch`, awaited."""
        return await asyncio.to_thread(functools.partial(self.pool.run_batch, definition, rows, **options))

    async def prepare(
        self, definition: WorkflowDefinition, values: Mapping[str, Any] | None = None,
        sample: Mapping[str, Any] | None = None, *, by_base: bool = False,
    ) -> dict[str, Handle]:
        return await asyncio.to_thread(self.pool.prepare, definition, values, sample, by_base=by_base)

    async def probe(self, destination: str | None = None) -> list[ServerLoad]:
        return await asyncio.to_thread(self.pool.probe, destination)

    async def least_loaded(self, eligible: Iterable[str] | None = None) -> str:
        return await asyncio.to_thread(self.pool.least_loaded, eligible)

    async def reconcile(self, destination: str, *, wait: float = 0.0) -> dict[str, int]:
        return await asyncio.to_thread(self.pool.reconcile, destination, wait=wait)
