"""A workflow ready to run: typed Form inputs, validation, model sync, submit, outputs.

    >>> wf = client.workflow_repo.create_workflow(WorkflowDefinition.from_file("sdxl_base.json"))  # doctest: +SKIP
    >>> wf.get_input_value(0).value = "a lighthouse at dusk"                                     # doctest: +SKIP
    >>> item = wf.submit_sync().wait(timeout=120)                                                # doctest: +SKIP
    >>> wf.map_outputs_to_images(item)                                                           # doctest: +SKIP

A handle may be shared between threads for submitting: the values are copied when
a submission is made, and every submission returns its own `Job`. Setting values
from several threads at once is a race like any shared object; give each thread
its own handle (`clone()`) for that.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any, Literal, TypeVar, Unpack, overload

from .._compat.workflow import (
    IndexDriftView,
    WorkflowHandleCompat,
    WorkflowInputCompat,
    legacy_event_callback,
)
from .._exceptions import InputNotFoundError, InvokeAIError, ValidationError
from .._flow import AsyncRunner, Flow, Runner, SyncRunner
from .._resource import Resource, operation
from ..events import Event, QueueItemStatusChangedEvent
from ..jobs import Job, JobBatch, WaitOptions, submit_flow
from ..model_manager import list_models_flow
from ..queue_models import QueueItem
from .batch_nodes import batch_fed_inputs, require_one_item
from .definition import WorkflowDefinition
from .fields import InputField, make_field
from .form import form_inputs
from .model_sync import ModelChange, ModelReference, is_model_identifier, plan_model_sync
from .outputs import map_outputs
from .schema import InvocationCatalog
from .submit import Snapshot, SubmitOptions, dry_bodies_flow, load_uploads, prepare_flow

__all__ = ["AsyncWorkflowHandle", "IndexDrift", "WorkflowHandle", "WorkflowInput"]

log = logging.getLogger("invokeai_py_client.workflow")


@dataclass(frozen=True)
class WorkflowInput(WorkflowInputCompat):
    """One input in the workflow's Form, in depth-first order."""

    input_index: int
    label: str | None
    field_name: str
    node_id: str
    node_type: str
    field: InputField
    required: bool
    description: str | None
    _node_label: str | None = dc_field(default=None, repr=False)

    @property
    def path(self) -> str:
        """``node_id.field_name``: another way to address the input."""
        return f"{self.node_id}.{self.field_name}"

    @property
    def value(self) -> Any:
        return self.field.value


@dataclass(frozen=True)
class IndexDrift(IndexDriftView):
    """How a re-exported workflow's Form moved inputs compared to a saved index map."""

    moved: list[tuple[str, int, int]]
    missing: list[tuple[str, int]]
    new: list[tuple[str, int]]
    unchanged: list[tuple[str, int]] = dc_field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.moved or self.missing or self.new)

    def __str__(self) -> str:
        if self.ok:
            return "input indices unchanged"
        parts = [f"moved {p}: {a} -> {b}" for p, a, b in self.moved]
        parts += [f"missing {p} (was {i})" for p, i in self.missing]
        parts += [f"new {p} at {i}" for p, i in self.new]
        return "; ".join(parts)


T = TypeVar("T")


class WorkflowHandle(WorkflowHandleCompat, Resource[Runner]):
    """A workflow ready to run on one client: its Form inputs, submission, outputs.

    On `InvokeAIClient` the `*_sync` methods block, and `submit`/`wait_for_completion`
    are coroutines running them on a worker thread; on `AsyncInvokeAIClient` every
    server call is a coroutine.
    """

    def __init__(
        self, runner: Runner, queue_id: str, definition: WorkflowDefinition, catalog: InvocationCatalog
    ) -> None:
        self._runner = runner
        self._queue_id = queue_id
        self._definition = definition
        self._catalog = catalog
        self._inputs = self._make_inputs()
        self._model_overrides: dict[tuple[str, str], dict[str, Any]] = {}
        self._last_job: contextvars.ContextVar[Job[Runner] | None] = contextvars.ContextVar(
            f"last_job_{id(self)}", default=None
        )
        self._callbacks: dict[int, Callable[[Event], Any]] = {}
        self.create_missing_boards = True
        """Board names that don't exist are created at submit (else an error)."""

    # -- inputs --------------------------------------------------------------------------

    def _make_inputs(self) -> list[WorkflowInput]:
        nodes = self._definition._node_map()  # read only: values are copied into the fields
        out = []
        for ref in form_inputs(self._definition):
            node = nodes[ref.node_id]
            node_type = node["data"]["type"]
            spec = self._catalog.input_spec(node_type, ref.field_name)
            label = ref.label or (spec.title if spec is not None else None)
            context = f"input {ref.input_index} {label!r} ({ref.node_id}.{ref.field_name})"
            original = node["data"]["inputs"].get(ref.field_name, {}).get("value")
            fld = make_field(spec, copy.deepcopy(original), context=context, form_settings=ref.settings)
            out.append(
                WorkflowInput(
                    input_index=ref.input_index,
                    label=label,
                    field_name=ref.field_name,
                    node_id=ref.node_id,
                    node_type=node_type,
                    field=fld,
                    required=bool(spec.required) if spec is not None else False,
                    description=(spec.description if spec is not None else None),
                    _node_label=node["data"].get("label") or None,
                )
            )
        return out

    @property
    def definition(self) -> WorkflowDefinition:
        return self._definition

    @property
    def name(self) -> str:
        return self._definition.name

    def list_inputs(self) -> list[WorkflowInput]:
        """The Form's inputs in depth-first pre-order (their index is the stable handle)."""
        return list(self._inputs)

    def get_input(self, key: int | str) -> WorkflowInput:
        """An input by index, by label, or by ``"node_id.field_name"``."""
        if isinstance(key, bool):
            raise ValidationError(f"input key {key!r}: give an int index or a str label or path")
        if isinstance(key, int):
            if not 0 <= key < len(self._inputs):
                known = ", ".join(f"{i.input_index} {i.label!r}" for i in self._inputs)
                raise InputNotFoundError(
                    f"workflow {self.name!r} has {len(self._inputs)} form inputs (0..{len(self._inputs) - 1}); "
                    f"no input {key}; inputs: {known}"
                )
            return self._inputs[key]
        by_path = [i for i in self._inputs if i.path == key]
        if by_path:
            return by_path[0]
        by_label = [i for i in self._inputs if i.label == key]
        if len(by_label) == 1:
            return by_label[0]
        if len(by_label) > 1:
            names = ", ".join(f"{i.input_index} ({i.path})" for i in by_label)
            raise InputNotFoundError(f"label {key!r} is ambiguous in workflow {self.name!r}: inputs {names}")
        known = ", ".join(f"{i.input_index} {i.label!r}" for i in self._inputs)
        raise InputNotFoundError(f"workflow {self.name!r} has no input {key!r}; inputs: {known}")

    def get_input_value(self, key: int | str) -> InputField:
        """The field object of an input; set its `.value` (validated on assignment)."""
        return self.get_input(key).field

    def set_input_value(self, key: int | str, value: Any) -> None:
        """Shorthand for ``get_input_value(key).value = value``.

        A field object (ours, or a 1.1.1 ``Ivk*Field``) gives its value.
        """
        if isinstance(value, InputField) or type(value).__module__.startswith(_IVK_FIELDS):
            value = value.value
        self.get_input(key).field.value = value

    def reset_inputs(self) -> None:
        """Forget every value set on this handle (back to the exported values).

        Models pointed at this server's by `sync_dnn_model` stay synced.
        """
        for inp in self._inputs:
            inp.field.reset()
            synced = self._model_overrides.get((inp.node_id, inp.field_name))
            if synced is not None:
                inp.field.set_default(copy.deepcopy(synced))

    def export_input_index_map(self, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """A JSON-able map of ``node_id.field_name`` -> index/label, to detect drift later.

        With `path`, it is also written there as JSON.
        """
        index_map = {
            "workflow": self.name,
            "inputs": [{"path": i.path, "index": i.input_index, "label": i.label} for i in self._inputs],
        }
        if path is not None:
            Path(path).write_text(json.dumps(index_map, indent=2) + "\n", encoding="utf-8")
        return index_map

    def verify_input_index_map(self, saved: Mapping[str, Any] | str | os.PathLike[str]) -> IndexDrift:
        """Compare the current Form with a saved index map (or the JSON file it was written to)."""
        if not isinstance(saved, Mapping):
            where = os.fspath(saved)
            try:
                saved = json.loads(Path(where).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValidationError(f"index map {where!r} cannot be read: {exc}") from exc
            if not isinstance(saved, Mapping):
                raise ValidationError("an index map is a JSON object with 'inputs'")
        try:
            old = {e["path"]: int(e["index"]) for e in saved.get("inputs", [])}
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"not an index map (each input needs 'path' and 'index'): {exc!r}") from exc
        new = {i.path: i.input_index for i in self._inputs}
        return IndexDrift(
            moved=[(p, old[p], new[p]) for p in old if p in new and old[p] != new[p]],
            missing=[(p, old[p]) for p in old if p not in new],
            new=[(p, new[p]) for p in new if p not in old],
            unchanged=[(p, new[p]) for p in old if p in new and old[p] == new[p]],
        )

    # -- models ------------------------------------------------------------------------

    def model_references(self) -> list[ModelReference]:
        """Every model identifier the workflow's nodes hold (exported or set)."""
        refs = []
        form_by_path = {i.path: i for i in self._inputs}
        for node_id, node in self._definition._node_map().items():
            if node.get("type") != "invocation":
                continue
            node_type = node["data"]["type"]
            for field_name, entry in node["data"].get("inputs", {}).items():
                inp = form_by_path.get(f"{node_id}.{field_name}")
                if inp is not None and inp.field.is_set:
                    continue  # never override what the user chose
                value = self._model_overrides.get((node_id, field_name), entry.get("value"))
                if not is_model_identifier(value):
                    continue
                spec = self._catalog.input_spec(node_type, field_name)
                refs.append(
                    ModelReference(
                        node_id,
                        field_name,
                        value,
                        accepted_types=tuple(spec.model_types) if spec is not None else (),
                        accepted_bases=tuple(spec.model_bases) if spec is not None else (),
                        label=inp.label if inp is not None else None,
                    )
                )
        return refs

    def _apply_model_changes(self, changes: Sequence[ModelChange]) -> None:
        form_by_path = {i.path: i for i in self._inputs}
        for change in changes:
            self._model_overrides[(change.node_id, change.field_name)] = change.new
            inp = form_by_path.get(f"{change.node_id}.{change.field_name}")
            if inp is not None:
                inp.field.set_default(change.new)
            log.info("model sync: %s", change)

    # -- submission ----------------------------------------------------------------------

    def _check_all(self) -> list[str]:
        """Every problem that would stop a submission (empty: it can go)."""
        edge_fed = self._definition.edge_fed_inputs() | batch_fed_inputs(self._definition)
        return [
            problem for inp in self._inputs
            for problem in inp.field.validate_complete(connected=(inp.node_id, inp.field_name) in edge_fed)
        ]

    def _snapshot(self, runs: int, zip_groups: Sequence[Sequence[int | str]]) -> Snapshot:
        """Check every input and copy the set ones, so later assignments can't change this submission."""
        if runs < 1:
            raise ValidationError(f"runs must be >= 1, got {runs}")
        problems: list[str] = []
        edge_fed = self._definition.edge_fed_inputs() | batch_fed_inputs(self._definition)
        fields: dict[tuple[str, str], InputField] = {}
        for inp in self._inputs:
            key = (inp.node_id, inp.field_name)
            problems.extend(inp.field.validate_complete(connected=key in edge_fed))
            if inp.field.is_set:
                fields[key] = inp.field.detached()
                if key in edge_fed:
                    log.warning("input %s (%s) is fed by an edge; the edge wins and the value set is ignored",
                                inp.input_index, inp.path)
        groups = []
        for group in zip_groups:
            keys = [(self.get_input(k).node_id, self.get_input(k).field_name) for k in group]
            missing = [f"{a}.{b}" for a, b in keys if (a, b) not in fields or fields[(a, b)].sweep_values is None]
            if missing:
                problems.append(f"zip group {list(group)}: inputs {missing} have no sweep values")
            groups.append(keys)
        if problems:
            raise ValidationError(f"workflow {self.name!r} cannot be submitted", problems)
        overrides = {k: copy.deepcopy(v) for k, v in self._model_overrides.items() if k not in fields}
        return Snapshot(fields=fields, overrides=overrides, zip_groups=groups, runs=runs)

    def _require_single_run(self, instead: str) -> None:
        """Refuse, before anything is sent, a single submission that would make several items."""
        require_one_item(self._definition, instead=instead)
        swept = [f"{i.input_index} {i.label!r}" for i in self._inputs if i.field.sweep_values is not None
                 and len(i.field.sweep_values) > 1]
        if swept:
            raise ValidationError(
                f"inputs {', '.join(swept)} hold several values (a sweep); submit it with {instead}"
            )

    def map_outputs_to_images(
        self, result: Any, *, roles: Sequence[str] = ("output",)
    ) -> list[dict[str, Any]]:
        """Which nodes saved which images: node_id, node_type, label, input_index,
        board_id ("none": uncategorized), image_names, role, tier (and field_values for
        sweeps), in workflow order.

        Only saved images by default; ``roles=("output", "intermediate", "input")`` adds
        intermediate images and the input images the workflow passed through.
        """
        items = _as_items(result)
        board_index = {
            i.node_id: i.input_index for i in self._inputs if i.field_name == "board"
        }
        out: list[dict[str, Any]] = []
        for item in items:
            for entry in map_outputs(self._definition, item, board_input_index=board_index):
                if entry["role"] not in roles:
                    continue
                entry["item_id"] = item.get("item_id")
                entry["field_values"] = _field_values(item)
                out.append(entry)
        return out


    # -- running -------------------------------------------------------------------------

    def clone(self) -> WorkflowHandle[Runner]:
        """A new handle for the same workflow, with the same values set."""
        other = WorkflowHandle(self._runner, self._queue_id, self._definition, self._catalog)
        other._model_overrides = copy.deepcopy(self._model_overrides)
        other.create_missing_boards = self.create_missing_boards
        for mine, theirs in zip(self._inputs, other._inputs, strict=True):
            theirs.field.copy_state_from(mine.field)
        return other

    @operation
    def to_graph(self) -> Flow[dict[str, Any]]:
        """The graph a submission would enqueue now, checked against the server; nothing
        changes there (an image to upload shows as ``"(upload of a.png)"``, a board to
        make as ``"(new board name)"``). A sweep's first graph."""
        snapshot = self._snapshot(1, ())
        bodies, _ = yield from dry_bodies_flow(
            self._definition, snapshot, load_uploads(snapshot), self.create_missing_boards, {}
        )
        graph: dict[str, Any] = bodies[0]["batch"]["graph"]
        return graph

    @operation
    def sync_dnn_model(self, by_name: bool = True, by_base: bool = False) -> Flow[list[ModelChange]]:
        """Point every model reference at an installed model (all-or-nothing).

        Matches by hash, then key, then (by_name) name, then (by_base) another model
        of the same base and type. Inputs you set are never changed.
        """
        return self._sync_models_flow(by_name, by_base)

    def _sync_models_flow(self, by_name: bool, by_base: bool) -> Flow[list[ModelChange]]:
        installed = yield from list_models_flow()
        changes = plan_model_sync(
            self.model_references(), [m.to_dict() for m in installed], by_name=by_name, by_base=by_base
        )
        self._apply_model_changes(changes)
        return changes

    def synced_definition(self) -> WorkflowDefinition:
        """The workflow with its model references as synced to this server (see `sync_dnn_model`).

        Saved in the server's library, it opens in the editor without "Unable to find
        model" (model keys are random per install: the file's keys exist nowhere else).
        """
        return WorkflowDefinition.from_dict(
            self._definition.server_workflow(self._model_overrides), source=self._definition.source
        )

    def _submit_flow(
        self, snapshot: Snapshot, uploads: Mapping[int, tuple[str, bytes]], options: SubmitOptions
    ) -> Flow[JobBatch[Runner]]:
        bodies = yield from prepare_flow(self._definition, snapshot, uploads, self.create_missing_boards, options)
        batch = yield from submit_flow(self._runner, self._queue_id, bodies)
        if len(batch):
            self._last_job.set(batch[-1])
        return batch

    @operation
    def submit_batch_sync(
        self, *, runs: int = 1, zipped: Sequence[Sequence[int | str]] = (), **options: Unpack[SubmitOptions]
    ) -> Flow[JobBatch[Runner]]:
        """Enqueue `runs` runs and every sweep (``field.values = [...]``) as few batches as possible."""
        snapshot = self._snapshot(runs, zipped)
        return self._submit_flow(snapshot, load_uploads(snapshot), options)

    @operation
    def submit_sync(self, **options: Unpack[SubmitOptions]) -> Flow[Job[Runner]]:
        """Validate, upload/resolve, and enqueue ONE run; returns its `Job`."""
        self._require_single_run("submit_batch_sync()")
        snapshot = self._snapshot(1, ())
        return _only((yield from self._submit_flow(snapshot, load_uploads(snapshot), options)))

    def _last(self, submission: Job[Runner] | None) -> Job[Runner]:
        job = submission if submission is not None else self._last_job.get()
        if job is None:
            raise InvokeAIError("nothing was submitted from this thread or task; submit first")
        return job

    def wait_for_completion_sync(
        self,
        submission: Job[Runner] | None = None,
        timeout: float | None = None,
        progress_callback: Callable[[dict[str, Any]], Any] | None = None,
        queue_id: str | None = None,
        poll_interval: float | None = None,
        **options: Unpack[WaitOptions],
    ) -> QueueItem:
        """Wait for `submission` (default: the last one of this thread); returns the finished item.

        `progress_callback` gets the item's state (``item_id``, ``status``, ...) at each
        status change. 1.1.1's `poll_interval` is accepted and unused: jobs are followed
        by events (polling light summaries when the socket is down).

        Raises:
            JobFailedError: it failed (also a `RuntimeError`, as in 1.1.1).
            JobCanceledError: it was canceled (a `RuntimeError`; the message says "canceled").
            JobTimeoutError: `timeout` passed (also a `TimeoutError`).
        """
        if isinstance(submission, int | float) and not isinstance(submission, bool):
            submission = None  # 1.1.1's first parameter was poll_interval
        job = self._last(submission)
        if not isinstance(self._runner, SyncRunner):
            raise InvokeAIError("wait_for_completion_sync() is for the sync client; await wait_for_completion()")
        _check_queue(job, queue_id)
        waiting = _with_progress(options, progress_callback, self._callbacks.pop(job.item_id, None))
        return self._runner.run(job._wait(timeout, waiting))

    async def _run(self, make: Any) -> Any:
        """Run a flow made by `make()`: awaited on the async client, on a worker thread on the sync one."""
        if isinstance(self._runner, AsyncRunner):
            return await self._runner.run(make())
        runner = self._runner
        return await asyncio.to_thread(lambda: runner.run(make()))

    async def submit(
        self,
        *,
        on_invocation_started: Callable[[dict[str, Any]], Any] | None = None,
        on_invocation_progress: Callable[[dict[str, Any]], Any] | None = None,
        on_invocation_complete: Callable[[dict[str, Any]], Any] | None = None,
        on_invocation_error: Callable[[dict[str, Any]], Any] | None = None,
        subscribe_events: bool = True,
        queue_id: str | None = None,
        board_id: str | None = None,
        **options: Unpack[SubmitOptions],
    ) -> Job[Runner]:
        """Validate, upload/resolve, and enqueue ONE run (a coroutine on either client).

        The ``on_invocation_*`` callbacks (1.1.1's) get those events of this job, as
        dicts, while you `wait_for_completion` for it; `subscribe_events` is accepted
        (jobs are always followed) and `queue_id` must be this handle's queue.
        `board_id` (early 1.x) sets every board input of the Form first.
        """
        if board_id is not None:
            for output in self.list_outputs():
                output.field.value = board_id
        if queue_id is not None and queue_id != self._queue_id:
            raise ValidationError(f"this handle submits to queue {self._queue_id!r}, not {queue_id!r}")
        self._require_single_run("submit_batch()")
        job = _only(await self._submit_async(1, (), options))
        callback = legacy_event_callback({
            "on_invocation_started": on_invocation_started, "on_invocation_progress": on_invocation_progress,
            "on_invocation_complete": on_invocation_complete, "on_invocation_error": on_invocation_error,
        })
        if callback is not None:
            self._callbacks[job.item_id] = callback
        return job

    async def submit_batch(
        self, *, runs: int = 1, zipped: Sequence[Sequence[int | str]] = (), **options: Unpack[SubmitOptions]
    ) -> JobBatch[Runner]:
        """`submit_batch_sync` as a coroutine (on either client)."""
        return await self._submit_async(runs, zipped, options)

    async def _submit_async(
        self, runs: int, zipped: Sequence[Sequence[int | str]], options: SubmitOptions
    ) -> JobBatch[Runner]:
        snapshot = self._snapshot(runs, zipped)
        uploads = await asyncio.to_thread(load_uploads, snapshot)  # file reads stay off the loop
        batch: JobBatch[Runner] = await self._run(lambda: self._submit_flow(snapshot, uploads, options))
        if len(batch):
            self._last_job.set(batch[-1])  # in the caller's context, not the worker thread's
        return batch

    @overload
    async def wait_for_completion(
        self, submission: Job[Runner] | None = ..., timeout: float | None = ...,
        progress_callback: Callable[[dict[str, Any]], Any] | None = ..., queue_id: str | None = ...,
        map_outputs: Literal[False] = ..., **options: Unpack[WaitOptions],
    ) -> QueueItem: ...
    @overload
    async def wait_for_completion(
        self, submission: Job[Runner] | None = ..., timeout: float | None = ...,
        progress_callback: Callable[[dict[str, Any]], Any] | None = ..., queue_id: str | None = ...,
        *, map_outputs: Literal[True], **options: Unpack[WaitOptions],
    ) -> tuple[QueueItem, list[dict[str, Any]]]: ...
    async def wait_for_completion(
        self,
        submission: Job[Runner] | None = None,
        timeout: float | None = None,
        progress_callback: Callable[[dict[str, Any]], Any] | None = None,
        queue_id: str | None = None,
        map_outputs: bool = False,
        **options: Unpack[WaitOptions],
    ) -> QueueItem | tuple[QueueItem, list[dict[str, Any]]]:
        """Wait for `submission` (default: the last one of this task or thread); returns the item
        (and its `map_outputs_to_images`, with `map_outputs=True`, as early 1.x did)."""
        job = self._last(submission)
        _check_queue(job, queue_id)
        waiting = _with_progress(options, progress_callback, self._callbacks.pop(job.item_id, None))
        item: QueueItem = await self._run(lambda: job._wait(timeout, waiting))
        return (item, self.map_outputs_to_images(item)) if map_outputs else item


AsyncWorkflowHandle = WorkflowHandle[AsyncRunner]
"""A workflow handle of the async client."""


_IVK_FIELDS = __name__.rsplit(".", 2)[0] + ".ivk_fields"


def _check_queue(job: Job[Any], queue_id: str | None) -> None:
    if queue_id is not None and queue_id != job.queue_id:
        raise ValidationError(f"{job!r} is on queue {job.queue_id!r}, not {queue_id!r}")


def _with_progress(
    options: WaitOptions,
    progress: Callable[[dict[str, Any]], Any] | None,
    submitted: Callable[[Event], Any] | None = None,
) -> WaitOptions:
    """Wait options whose event callback also reports status changes to `progress` and
    events to the callbacks given at submit."""
    if progress is None and submitted is None:
        return options
    inner = options.get("on_event")

    def on_event(event: Event) -> Any:
        if progress is not None and isinstance(event, QueueItemStatusChangedEvent):
            progress(event.to_dict())
        if submitted is not None:
            submitted(event)
        return inner(event) if inner is not None else None

    return {**options, "on_event": on_event}


def _as_items(result: Any) -> list[Mapping[str, Any]]:
    if isinstance(result, QueueItem):
        return [result.to_dict()]
    if isinstance(result, Job):
        if result.item is None:
            raise InvokeAIError(f"{result!r} has not finished; wait for it first")
        return [result.item.to_dict()]
    if isinstance(result, Mapping):
        return [result]
    if isinstance(result, Sequence) and not isinstance(result, (str, bytes)):
        return [x for r in result for x in _as_items(r)]
    raise TypeError(f"cannot map outputs of {type(result).__name__}; pass a queue item")


def _field_values(item: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{fv['node_path']}.{fv['field_name']}": fv["value"] for fv in item.get("field_values") or []}


def _only(batch: JobBatch[Runner]) -> Job[Runner]:
    if len(batch) != 1:
        raise InvokeAIError(f"expected one queue item, the server made {len(batch)}")
    return batch[0]
