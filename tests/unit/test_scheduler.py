"""The pipeline scheduler's decisions, prepend and look-ahead, without a server.

A fake queue stands in for the server: stages enqueue into it (at the front with
`prepend`), and each time the schedule waits, the queue's front item finishes.
"""

from __future__ import annotations

from collections.abc import Generator
from types import SimpleNamespace
from typing import Any

import pytest

from invokeai_py_client import JobCanceledError, JobError
from invokeai_py_client._flow import Pause
from invokeai_py_client.jobs import Job
from invokeai_py_client.pipelines import Next, StageOutcome
from invokeai_py_client.pipelines.scheduler import _AnyDone, schedule_flow, stream_sync
from invokeai_py_client.pipelines.stage import Stage, StageJob
from invokeai_py_client.queue_models import QueueItem


class FakeServer:
    """A queue processed one item at a time, front first, when the schedule waits."""

    def __init__(self, failing: tuple[str, ...] = ()) -> None:
        self.queue: list[tuple[Job[Any], str]] = []
        self.ran: list[str] = []
        self.waits_on_empty_queue = 0
        self.max_first_stages_queued = 0
        self.failing = list(failing)  # each label fails as often as it is listed
        self.next_id = 1

    def enqueue(self, job: Job[Any], label: str, prepend: bool) -> None:
        self.queue.insert(0, (job, label)) if prepend else self.queue.append((job, label))
        firsts = sum(1 for _, name in self.queue if name.endswith(":base"))
        self.max_first_stages_queued = max(self.max_first_stages_queued, firsts)

    def run(self, flow: Generator[Any, Any, Any]) -> Any:  # the runner's one method the schedule uses
        step = next(flow)
        if isinstance(step, _AnyDone):
            if not self.queue:
                self.waits_on_empty_queue += 1
            job, label = self.queue.pop(0)
            self.ran.append(label)
            status = "canceled" if label in self.failing else "completed"
            if label in self.failing:
                self.failing.remove(label)
            job._settle(QueueItem(item_id=job.item_id, status=status, batch_id=job.batch_id), None)
            answer: Any = {job}
        else:
            answer = step.run_sync(self)  # type: ignore[arg-type]
        try:
            flow.send(answer)
        except StopIteration as done:
            return done.value
        raise AssertionError("a step flow answered more than one step")


class FakeStage(Stage[Any]):
    def __init__(self, server: FakeServer, name: str) -> None:
        super().__init__(SimpleNamespace(_runner=server), f"{name}.json", name=name)  # type: ignore[arg-type]
        self.server = server

    def _submit_flow(
        self, values: Any, *, prepend: bool = False, destination: str | None = None
    ) -> Generator[Any, Any, StageJob[Any]]:
        yield from ()
        job: Job[Any] = Job(self.server, "default", self.server.next_id, "batch")  # type: ignore[arg-type]
        self.server.next_id += 1
        self.server.enqueue(job, f"{values['chain']}:{values.get('name', self.name)}", prepend)
        return StageJob(self, None, job)  # type: ignore[arg-type]

    def image_of(self, handle: Any, item: QueueItem) -> str:
        return f"image-{item.item_id}"


def run(server: FakeServer, count: int, order: list[str], look_ahead: int,
        passes: list[int] | None = None) -> list[StageOutcome]:
    stages = {name: FakeStage(server, name) for name in set(order)}

    def start(k: int) -> Next:
        return Next(stages[order[0]], {"chain": k}, order[0])

    def decide(o: StageOutcome) -> Next | None:
        wanted = passes[o.chain] if passes is not None else len(order) - 1
        if o.step >= wanted:
            return None
        name = order[min(o.step + 1, len(order) - 1)]
        return Next(stages[name], {"chain": o.chain, "image": o.image}, name)

    return list(stream_sync(server, schedule_flow(count, start, decide, look_ahead=look_ahead)))  # type: ignore[arg-type]


def test_each_chain_takes_the_stages_its_decisions_name() -> None:
    server = FakeServer()
    outcomes = run(server, 3, ["base", "refine"], look_ahead=1, passes=[2, 0, 1])
    by_chain = {k: [o.name for o in outcomes if o.chain == k] for k in range(3)}
    assert by_chain == {0: ["base", "refine", "refine"], 1: ["base"], 2: ["base", "refine"]}
    for o in outcomes:  # each stage starts from its chain's previous image
        if o.step:
            before = next(p for p in outcomes if p.chain == o.chain and p.step == o.step - 1)
            assert o.previous == before.image and o.history[-1] == before.name


@pytest.mark.parametrize("look_ahead", [1, 2, 3])
def test_follow_ups_go_first_and_the_queue_never_runs_dry(look_ahead: int) -> None:
    server = FakeServer()
    run(server, 4, ["base", "refine", "upscale"], look_ahead=look_ahead)
    assert len(server.ran) == 12 and server.waits_on_empty_queue == 0
    assert server.max_first_stages_queued <= look_ahead
    # a chain's next stage runs right after it (prepend): chain 0 ends before chain 1 refines
    assert server.ran[:3] == ["0:base", "0:refine", "0:upscale"]
    if look_ahead == 1:
        assert server.ran == [f"{k}:{s}" for k in range(4) for s in ("base", "refine", "upscale")]


def test_a_decision_may_be_a_flow_and_a_failed_stage_raises() -> None:
    server = FakeServer(failing=("1:refine",))
    stage = FakeStage(server, "stage")

    def decide(o: StageOutcome) -> Generator[Any, Any, Next | None]:
        yield Pause(0)  # e.g. download and score the image first
        return Next(stage, {"chain": o.chain, "name": "refine"}, "refine") if o.step == 0 else None

    flow = schedule_flow(2, lambda k: Next(stage, {"chain": k, "name": "base"}, "base"), decide, look_ahead=2)
    seen = []
    with pytest.raises(JobCanceledError):
        for outcome in stream_sync(server, flow):  # type: ignore[arg-type]
            seen.append((outcome.chain, outcome.name))
    assert (0, "refine") in seen and (1, "refine") not in seen


def test_retry_enqueues_a_canceled_stage_run_again_at_the_front() -> None:
    server = FakeServer(failing=("0:refine",))
    stage = FakeStage(server, "stage")
    errors: list[JobError] = []

    def retry(chain: int, nxt: Next, error: JobError) -> Next | None:
        errors.append(error)
        return nxt

    def decide(o: StageOutcome) -> Next | None:
        return Next(stage, {"chain": o.chain, "name": "refine"}, "refine") if o.step == 0 else None

    flow = schedule_flow(2, lambda k: Next(stage, {"chain": k, "name": "base"}, "base"), decide,
                         look_ahead=2, retry=retry)
    outcomes = list(stream_sync(server, flow))  # type: ignore[arg-type]
    assert [type(e) for e in errors] == [JobCanceledError]
    assert server.ran == ["0:base", "0:refine", "0:refine", "1:base", "1:refine"]  # again, first in line
    assert sorted((o.chain, o.name, o.step) for o in outcomes) == [
        (0, "base", 0), (0, "refine", 1), (1, "base", 0), (1, "refine", 1),
    ]
