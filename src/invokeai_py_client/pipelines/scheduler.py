"""The scheduler: many chains of stages on one server's queue, decided stage by stage.

A chain is one prompt's (or image's) way through the stages. Its first stage is
given by `start(k)`; when a stage finishes, `decide(outcome)` names the next stage
run (or None: the chain is done). The decision can look at the result first (score
the image, look for a face): it may return a flow, which runs before the next stage
is enqueued. The next stage goes to the FRONT of the queue (`prepend`) the moment
the previous one finishes, so chains finish early, while up to `look_ahead` first
stages wait behind it, so the queue never runs dry and one client does not flood a
shared server. Images move between stages by name: nothing is downloaded and
uploaded again between stages.

The schedule is one flow that also yields `Emit(outcome)` for each finished stage;
`stream_sync` / `stream_async` turn it into an iterator / async iterator.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from .._exceptions import InvokeAIError, JobError, JobTimeoutError, ValidationError
from .._flow import AsyncRunner, Flow, SyncRunner, perform
from ..jobs import Job
from ..queue_models import QueueItem
from .stage import DictView, Stage, StageJob, wait_flow

if TYPE_CHECKING:
    from ..client import AsyncInvokeAIClient, InvokeAIClient

__all__ = [
    "Decision",
    "Emit",
    "Next",
    "StageOutcome",
    "collect_flow",
    "run_chains",
    "schedule_flow",
    "stream_async",
    "stream_sync",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Next:
    """The next stage run of a chain: which stage, its Form values, the name its result goes by."""

    stage: Stage[Any]
    values: Mapping[int | str, Any]
    name: str
    destination: str | None = None
    """The batch destination to tag the queue item with (a run's tag: found again by it)."""
    attach: Job[Any] | None = None
    """An existing queue item of this stage run (e.g. after a restart): followed, not submitted."""


@dataclass(frozen=True)
class StageOutcome(DictView):
    """A finished stage of a chain (reads as a dict too: ``outcome["image"]``)."""

    chain: int
    """Which chain (the index of its prompt or image)."""
    name: str
    """The stage run's name (``"base"``, ``"refined"``, ``"pass 2"``...)."""
    image: str
    """The stage's image on the server."""
    item: QueueItem
    """The finished queue item."""
    step: int
    """The stage's place in its chain: 0 for the first."""
    previous: str | None = None
    """The image the stage started from (the previous stage's), if any."""
    history: tuple[str, ...] = field(default=())
    """The names of the chain's earlier stage runs, in order."""

    @property
    def item_id(self) -> int:
        return self.item.item_id


@dataclass(frozen=True)
class Emit:
    """Not a server step: a value a schedule hands to its consumer (`stream_sync`, `stream_async`)."""

    value: Any

    def run_sync(self, runner: SyncRunner) -> None:
        raise InvokeAIError("a schedule's Emit reached a plain runner: run schedules with stream_sync/stream_async")

    async def run_async(self, runner: AsyncRunner) -> None:
        raise InvokeAIError("a schedule's Emit reached a plain runner: run schedules with stream_sync/stream_async")


@dataclass(frozen=True)
class _AnyDone:
    """Wait until at least one of `jobs` is settled (or `timeout`); the settled ones."""

    jobs: Sequence[Job[Any]]
    timeout: float | None

    def run_sync(self, runner: SyncRunner) -> set[Job[Any]]:
        done, _ = concurrent.futures.wait(self.jobs, self.timeout, concurrent.futures.FIRST_COMPLETED)
        return {job for job in self.jobs if job in done}

    async def run_async(self, runner: AsyncRunner) -> set[Job[Any]]:
        by_future = {asyncio.wrap_future(job): job for job in self.jobs}
        done, _ = await asyncio.wait(by_future, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED)
        return {by_future[f] for f in done}


Decision = Next | None | Generator[Any, Any, Next | None]
"""What `start` and `decide` answer: the next stage run, None (the chain ends), or a flow answering either."""


@dataclass
class _Running:
    chain: int
    next: Next
    stage_job: StageJob[Any] | None
    job: Job[Any]
    step: int
    previous: str | None
    history: tuple[str, ...]


def _resolve(decision: Decision) -> Flow[Next | None]:
    if inspect.isgenerator(decision):
        answer: Next | None = yield from decision
        return answer
    return cast(Next | None, decision)


def schedule_flow(
    count: int,
    start: Callable[[int], Decision],
    decide: Callable[[StageOutcome], Decision],
    *,
    look_ahead: int = 2,
    timeout: float | None = 600.0,
    emit: Callable[[StageOutcome], Any] | None = lambda outcome: outcome,
    on_enqueued: Callable[[int, Next, Job[Any]], None] | None = None,
    retry: Callable[[int, Next, JobError], Next | None] | None = None,
) -> Generator[Any, Any, None]:
    """Run `count` chains; yields `Emit(StageOutcome)` for each finished stage (see module doc).

    A chain whose stage fails raises its typed job error (the others' queue items stay queued).
    `start` and `decide` may emit values of their own (``yield Emit(...)`` in a flow);
    `emit` makes what is emitted of each outcome (None: nothing). `on_enqueued(chain,
    next, job)` hears of each stage run's queue item as soon as it exists (to record it).
    `retry(chain, next, error)` may answer a stage run to enqueue instead of a failed or
    canceled one (at the queue's front); None raises the error.
    """
    if look_ahead < 1:
        raise ValidationError(f"look_ahead must be >= 1, got {look_ahead}")
    running: dict[Job[Any], _Running] = {}
    next_chain = 0

    def enqueue(chain: int, nxt: Next, step: int, previous: str | None, history: tuple[str, ...],
                prepend: bool) -> Flow[None]:
        if nxt.attach is not None:
            running[nxt.attach] = _Running(chain, nxt, None, nxt.attach, step, previous, history)
            job = nxt.attach
        else:
            stage_job = yield from nxt.stage._submit_flow(nxt.values, prepend=prepend, destination=nxt.destination)
            running[stage_job.job] = _Running(chain, nxt, stage_job, stage_job.job, step, previous, history)
            job = stage_job.job
        if on_enqueued is not None:
            on_enqueued(chain, nxt, job)

    def top_up() -> Flow[None]:
        nonlocal next_chain
        while next_chain < count and sum(1 for r in running.values() if r.step == 0) < look_ahead:
            chain, next_chain = next_chain, next_chain + 1
            first = yield from _resolve(start(chain))
            if first is not None:
                yield from enqueue(chain, first, 0, None, (), prepend=False)

    yield from top_up()
    while running:
        done: set[Job[Any]] = yield _AnyDone(list(running), timeout)
        if not done:
            raise JobTimeoutError(f"no stage finished within {timeout}s", None)
        for job in sorted((j for j in running if j in done), key=lambda j: j.item_id):
            run = running.pop(job)
            stage = run.next.stage
            try:
                item = yield from wait_flow(job, stage.timeout, stage.on_event)
            except JobError as exc:
                again = retry(run.chain, run.next, exc) if retry is not None else None
                if again is None:
                    raise
                yield from enqueue(run.chain, again, run.step, run.previous, run.history, prepend=True)
                continue
            handle = run.stage_job.handle if run.stage_job is not None else (yield from stage._handle_flow())
            outcome = StageOutcome(
                chain=run.chain, name=run.next.name, image=stage.image_of(handle, item), item=item,
                step=run.step, previous=run.previous, history=run.history,
            )
            follow = yield from _resolve(decide(outcome))
            if follow is not None:  # enqueued before the consumer sees the outcome: the queue never waits on it
                yield from enqueue(run.chain, follow, run.step + 1, outcome.image,
                                   (*run.history, run.next.name), prepend=True)
            if emit is not None:
                yield Emit(emit(outcome))
        yield from top_up()


@overload
def run_chains(
    client: InvokeAIClient, count: int, start: Callable[[int], Decision], decide: Callable[[StageOutcome], Decision],
    *, look_ahead: int = 2, timeout: float | None = 600.0,
) -> Iterator[StageOutcome]: ...
@overload
def run_chains(
    client: AsyncInvokeAIClient, count: int, start: Callable[[int], Decision],
    decide: Callable[[StageOutcome], Decision], *, look_ahead: int = 2, timeout: float | None = 600.0,
) -> AsyncIterator[StageOutcome]: ...
def run_chains(
    client: InvokeAIClient | AsyncInvokeAIClient,
    count: int,
    start: Callable[[int], Decision],
    decide: Callable[[StageOutcome], Decision],
    *,
    look_ahead: int = 2,
    timeout: float | None = 600.0,
) -> Iterator[StageOutcome] | AsyncIterator[StageOutcome]:
    """Run `count` chains of stages with your own decisions; each finished stage as it comes.

    `start(k)` gives chain k's first stage run (a `Next`), `decide(outcome)` the next one
    after each finished stage, or None to end the chain; either may be a flow. An
    iterator on `InvokeAIClient`, an async iterator on `AsyncInvokeAIClient`.

        >>> refine = Stage(client, "sdxl_refiner.json")                                    # doctest: +SKIP
        >>> def decide(o):                                                                 # doctest: +SKIP
        ...     return Next(refine, {"Input image": o.image, "Strength": 0.3}, "refined") if o.step < 2 else None
        >>> for outcome in run_chains(client, 3, start, decide): print(outcome.name, outcome.image)  # doctest: +SKIP
    """
    flow = schedule_flow(count, start, decide, look_ahead=look_ahead, timeout=timeout)
    runner = client._runner
    if isinstance(runner, AsyncRunner):
        return stream_async(runner, flow)
    return stream_sync(runner, flow)


def stream_sync(runner: SyncRunner, flow: Generator[Any, Any, Any]) -> Iterator[Any]:
    """Run a schedule on the sync client: an iterator of what it emits."""
    answer: Any = None
    error: InvokeAIError | None = None
    try:
        while True:
            try:
                step = flow.throw(error) if error is not None else flow.send(answer)
            except StopIteration:
                return
            answer, error = None, None
            if isinstance(step, Emit):
                yield step.value
                continue
            try:
                answer = runner.run(perform(step))
            except InvokeAIError as exc:
                error = exc
    finally:
        flow.close()


async def stream_async(runner: AsyncRunner, flow: Generator[Any, Any, Any]) -> AsyncIterator[Any]:
    """Run a schedule on the async client: an async iterator of what it emits."""
    answer: Any = None
    error: InvokeAIError | None = None
    try:
        while True:
            try:
                step = flow.throw(error) if error is not None else flow.send(answer)
            except StopIteration:
                return
            answer, error = None, None
            if isinstance(step, Emit):
                yield step.value
                continue
            try:
                answer = await runner.run(perform(step))
            except InvokeAIError as exc:
                error = exc
    finally:
        flow.close()


def collect_flow(flow: Generator[Any, Any, Any]) -> Flow[list[Any]]:
    """A schedule as a plain flow: everything it emits, in order, once it is done."""
    emitted: list[Any] = []
    answer: Any = None
    error: BaseException | None = None
    try:
        while True:
            try:
                step = flow.throw(error) if error is not None else flow.send(answer)
            except StopIteration:
                return emitted
            answer, error = None, None
            if isinstance(step, Emit):
                emitted.append(step.value)
                continue
            try:
                answer = yield step
            except InvokeAIError as exc:
                error = exc
    finally:
        flow.close()
