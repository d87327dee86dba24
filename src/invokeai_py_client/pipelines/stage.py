"""A stage: one workflow, its Form inputs by label, its image output and its board.

Pipelines are built from stages. A stage loads its workflow the first time it is
used (once per stage, also when several threads or tasks use it at once), and every
run works on a private copy of the loaded handle, so one stage serves many runs at
the same time. Like every resource, a stage is written once: on `InvokeAIClient` its
methods block, on `AsyncInvokeAIClient` they are coroutines.

    >>> refine = Stage(client, "sdxl_refiner.json", board="refined")        # doctest: +SKIP
    >>> image, item = refine.run({"Input image": name, "Strength": 0.3})    # doctest: +SKIP
    >>> image, item = await Stage(aclient, "sdxl_refiner.json").run({...})  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .._exceptions import InvokeAIError, ValidationError
from .._flow import Exclusive, Flow, Runner
from .._resource import Resource, operation
from ..images import upload_flow
from ..jobs import EventCallback, Job
from ..queue_models import QueueItem
from ..workflow.definition import WorkflowDefinition
from ..workflow.handle import WorkflowHandle
from ..workflow.repo import WorkflowRepository
from ..workflows import BUNDLED_WORKFLOWS, bundled_workflow_path

if TYPE_CHECKING:
    from ..client import _Client

__all__ = ["MAX_SEED", "Stage", "StageJob", "StageResult", "pick_seed"]

log = logging.getLogger("invokeai_py_client.pipelines")

MAX_SEED = 4294967295


def pick_seed(seed: int | None) -> int:
    """A valid seed: the one given, or a random one when None or negative (logged)."""
    if seed is not None and 0 <= seed <= MAX_SEED:
        return seed
    if seed is not None and seed > MAX_SEED:
        raise ValidationError(f"seed {seed} is above the maximum {MAX_SEED}")
    chosen = random.randint(0, MAX_SEED)
    log.info("seed %s -> random seed %d", seed, chosen)
    return chosen


class StageResult(NamedTuple):
    """A finished stage run: its image (name on the server) and its finished queue item.

    A tuple, as the seed's stage methods answer: ``image, item = refiner.generate_base(...)``.
    """

    image: str
    item: QueueItem


class DictView(Mapping[str, Any]):
    """A dataclass that also reads as a dict of its fields (``result["refined"]``)."""

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def _keys(self) -> list[str]:
        return [f.name for f in fields(self)]  # type: ignore[arg-type]  # subclasses are dataclasses


class StageJob(Resource[Runner]):
    """A submitted stage run: the handle copy it was submitted from, and its job."""

    def __init__(self, stage: Stage[Runner], handle: WorkflowHandle[Runner], job: Job[Runner]) -> None:
        self._runner = stage._runner
        self.stage: Stage[Runner] = stage
        self.handle: WorkflowHandle[Runner] = handle
        self.job: Job[Runner] = job

    def __repr__(self) -> str:
        return f"StageJob({self.stage.name!r}, item_id={self.job.item_id})"

    @operation
    def wait(self) -> Flow[StageResult]:
        """Wait for the run (the stage's timeout); its image and queue item, or a typed job error."""
        return self.stage._wait_flow(self)


class Stage(Resource[Runner]):
    """One workflow used as a pipeline stage.

    Args:
        workflow: a bundled workflow's file name (``"sdxl_refiner.json"``), the path of
            an exported workflow, or a `WorkflowDefinition`.
        board: board name (created when missing) for the stage's image, set on the
            input labelled `board_input` when the Form has one.
        output: the label or node id of the node whose image is the stage's result;
            by default the first saved (non-intermediate) image.
        values: Form values set once, when the workflow is loaded (models, say).
        sync_models: point the workflow's models at installed ones when it is loaded.
    """

    def __init__(
        self,
        client: _Client[Runner],
        workflow: str | os.PathLike[str] | WorkflowDefinition,
        *,
        name: str | None = None,
        board: str | None = None,
        board_input: str = "Output board",
        output: str | None = None,
        values: Mapping[int | str, Any] | None = None,
        sync_models: bool = True,
        timeout: float | None = 600.0,
        on_event: EventCallback | None = None,
    ) -> None:
        self._runner = client._runner
        self.client: _Client[Runner] = client
        self.workflow = workflow
        self.name = name or (workflow.name if isinstance(workflow, WorkflowDefinition) else Path(workflow).stem)
        self.board = board
        self.board_input = board_input
        self.output = output
        self.values = {k: v for k, v in (values or {}).items() if v is not None}
        self.sync_models = sync_models
        self.timeout = timeout
        self.on_event = on_event
        self._handle: WorkflowHandle[Runner] | None = None

    def __repr__(self) -> str:
        return f"Stage({self.name!r}, {'loaded' if self._handle is not None else 'not loaded'})"

    @property
    def loaded(self) -> bool:
        """Whether the workflow was loaded (it is, the first time the stage is used)."""
        return self._handle is not None

    def definition(self) -> WorkflowDefinition:
        """The stage's workflow, read from its file (bundled name or path) if need be."""
        if isinstance(self.workflow, WorkflowDefinition):
            return self.workflow
        if isinstance(self.workflow, str) and self.workflow in BUNDLED_WORKFLOWS and not Path(self.workflow).exists():
            return WorkflowDefinition.from_file(bundled_workflow_path(self.workflow))
        return WorkflowDefinition.from_file(self.workflow)

    # -- flows (the operations below run them; pipelines compose them) ----------------------

    def _handle_flow(self) -> Flow[WorkflowHandle[Runner]]:
        if self._handle is None:
            yield Exclusive(f"pipeline-stage-{id(self)}", self._load_once())
        assert self._handle is not None
        return self._handle

    def _load_once(self) -> Flow[None]:
        if self._handle is not None:
            return  # another thread or task loaded it meanwhile
        handle: WorkflowHandle[Runner] = yield from flow_of(WorkflowRepository.create_workflow)(
            self.client.workflow_repo, self.definition()
        )
        if self.sync_models:
            yield from flow_of(WorkflowHandle.sync_dnn_model)(handle, True, True)
        for key, value in self.values.items():
            handle.set_input_value(key, value)
        if self.board is not None and not self._has_input(handle, self.board_input):
            log.warning("stage %r: workflow %r has no input %r; its images go to the board the workflow names",
                        self.name, handle.name, self.board_input)
        log.info("stage %r: loaded workflow %r", self.name, handle.name)
        self._handle = handle

    def _submit_flow(
        self, values: Mapping[int | str, Any], *, prepend: bool = False, destination: str | None = None
    ) -> Flow[StageJob[Runner]]:
        handle = yield from self._handle_flow()
        wf = handle.clone()
        if self.board is not None and self.board_input not in values and self._has_input(wf, self.board_input):
            wf.set_input_value(self.board_input, self.board)
        for key, value in values.items():
            wf.set_input_value(key, value)
        job: Job[Runner] = yield from flow_of(WorkflowHandle.submit_sync)(
            wf, prepend=prepend, destination=destination
        )
        return StageJob(self, wf, job)

    def _wait_flow(self, stage_job: StageJob[Runner]) -> Flow[StageResult]:
        item: QueueItem = yield from wait_flow(stage_job.job, self.timeout, self.on_event)
        return StageResult(self.image_of(stage_job.handle, item), item)

    def _run_flow(self, values: Mapping[int | str, Any]) -> Flow[StageResult]:
        stage_job = yield from self._submit_flow(values)
        return (yield from self._wait_flow(stage_job))

    @staticmethod
    def _has_input(handle: WorkflowHandle[Any], key: str) -> bool:
        return any(i.label == key or i.path == key for i in handle.list_inputs())

    def image_of(self, handle: WorkflowHandle[Any], item: QueueItem) -> str:
        """The stage's image in a finished item: the `output` node's, else the first saved one."""
        outputs = handle.map_outputs_to_images(item)
        if self.output is not None:
            outputs = [o for o in outputs if self.output in (o["node_id"], o.get("label"))]
        for out in outputs:
            if out["image_names"]:
                return str(out["image_names"][-1])
        which = f"output {self.output!r}" if self.output else "saved image"
        raise InvokeAIError(f"queue item {item.item_id} of stage {self.name!r} produced no {which}")

    # -- operations ---------------------------------------------------------------------

    @operation
    def load(self) -> Flow[WorkflowHandle[Runner]]:
        """Load the workflow now (otherwise it is loaded on first use); its handle."""
        return self._handle_flow()

    @operation
    def submit(
        self, values: Mapping[int | str, Any], *, prepend: bool = False, destination: str | None = None
    ) -> Flow[StageJob[Runner]]:
        """Enqueue one run with these Form values (by label, index or ``node.field``); no waiting."""
        return self._submit_flow(values, prepend=prepend, destination=destination)

    @operation
    def run(self, values: Mapping[int | str, Any]) -> Flow[StageResult]:
        """Enqueue one run and wait for it: its image and queue item."""
        return self._run_flow(values)


def flow_of(op: Any) -> Callable[..., Flow[Any]]:
    """The flow behind an `operation` (``flow_of(Job.wait)(job, 10)``), to compose it into another flow."""
    flow: Callable[..., Flow[Any]] = op.flow
    return flow


def wait_flow(job: Job[Any], timeout: float | None, on_event: EventCallback | None) -> Flow[QueueItem]:
    """`Job.wait` as a flow."""
    item: QueueItem = yield from flow_of(Job.wait)(job, timeout, on_event=on_event)
    return item


def image_name_flow(client: _Client[Any], image: str | os.PathLike[str] | Any) -> Flow[str]:
    """An image name on the server: names pass through; local files and PIL images are uploaded."""
    if isinstance(image, str) and not Path(image).is_file():
        return image
    source = Path(image) if isinstance(image, (str, os.PathLike)) else image
    dto = yield from upload_flow(source, is_intermediate=True)
    return dto.image_name

