"""1.1.1's extra names on workflow handles, their inputs and index-drift reports."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from .._exceptions import InvokeAIError, ValidationError

if TYPE_CHECKING:
    from ..workflow.fields import InputField
    from ..workflow.handle import WorkflowInput

__all__ = ["IndexDriftView", "NodeMap", "WorkflowHandleCompat", "WorkflowInputCompat", "WorkflowRepositoryCompat"]


class WorkflowInputCompat:
    """`node_name` and `jsonpath`, as 1.1.1's `IvkWorkflowInput` had them."""

    node_id: str
    node_type: str
    field_name: str
    _node_label: str | None

    @property
    def node_name(self) -> str:
        """The node's label in the editor, else its type."""
        return self._node_label or self.node_type

    @property
    def jsonpath(self) -> str:
        """Where the value sits in the exported JSON."""
        return f"$.nodes[?(@.id='{self.node_id}')].data.inputs.{self.field_name}.value"


class IndexDriftView:
    """1.1.1's `verify_input_index_map` answered a dict; the drift also reads as one."""

    moved: list[tuple[str, int, int]]
    missing: list[tuple[str, int]]
    new: list[tuple[str, int]]
    unchanged: list[tuple[str, int]]

    def __getitem__(self, key: str) -> Any:
        if key not in ("moved", "missing", "new", "unchanged"):
            raise KeyError(key)
        return getattr(self, key)

    def keys(self) -> list[str]:
        return ["moved", "missing", "new", "unchanged"]


class WorkflowHandleCompat:
    """`list_outputs`, `preview`, `validate_inputs`, `set_many` (1.1.1 and before)."""

    list_inputs: Callable[[], list[WorkflowInput]]  # provided by WorkflowHandle
    _check_all: Callable[[], list[str]]

    @property
    def inputs(self) -> list[WorkflowInput]:
        """The Form's inputs (1.1.1's attribute; `list_inputs()`)."""
        return self.list_inputs()

    @property
    def session_id(self) -> str | None:
        """The session of the last job submitted from this thread (None before any)."""
        try:
            job = self._last(None)  # type: ignore[attr-defined]
        except InvokeAIError:
            return None
        session: str | None = job["session_id"]
        return session

    def _convert_to_api_format(self, board_id: str | None = None) -> dict[str, Any]:
        """1.1.1's graph preview (`to_graph()`); `board_id` sets the Form's board inputs first."""
        if board_id is not None:
            for output in self.list_outputs():
                output.field.value = board_id
        graph: dict[str, Any] = self.to_graph()  # type: ignore[attr-defined]
        return graph

    def list_outputs(self) -> list[WorkflowInput]:
        """The Form's board inputs: where the workflow's images go (1.1.1's outputs)."""
        return [i for i in self.list_inputs() if i.field_name == "board"]

    def preview(self) -> list[dict[str, Any]]:
        """One row per input: index, label, type (the field class) and value."""
        return [
            {"index": i.input_index, "label": i.label or i.field_name, "type": type(i.field).__name__,
             "value": i.field.value}
            for i in self.list_inputs()
        ]

    def validate_inputs(self) -> dict[int, list[str]]:
        """Problems that would stop a submission, by input index (empty when it can go)."""
        found: dict[int, list[str]] = {}
        contexts = {f"input {i.input_index} ": i.input_index for i in self.list_inputs()}
        for problem in self._check_all():
            index = next((n for prefix, n in contexts.items() if problem.startswith(prefix)), -1)
            found.setdefault(index, []).append(problem)
        return found

    async def submit_sync_monitor_async(self, **options: Any) -> AsyncIterator[dict[str, Any]]:
        """Submit, then yield the job's events as dicts until it ends (1.1.1's monitor).

        The first dict is ``{"event_type": "submission", "batch_id", "item_ids",
        "session_id", "enqueued"}``; each event after it has ``event_type`` (its name).
        """
        job = await self.submit(**options)  # type: ignore[attr-defined]
        yield {"event_type": "submission", **{key: job[key] for key in ("batch_id", "item_ids", "session_id", "enqueued")}}
        events = job.events()
        if hasattr(events, "__anext__"):
            async for event in events:
                yield {"event_type": event.name, **event.to_dict()}
            return
        done = object()
        while (event := await asyncio.to_thread(next, events, done)) is not done:
            yield {"event_type": event.name, **event.to_dict()}

    def cancel(self) -> bool:
        """Cancel the last job submitted from this thread (1.1.1's handle held one job)."""
        job = self._last(None)  # type: ignore[attr-defined]
        job.cancel()
        return True

    async def cancel_async(self) -> bool:
        """`cancel` as a coroutine."""
        job = self._last(None)  # type: ignore[attr-defined]
        result = job.cancel()
        if inspect.isawaitable(result):
            await result
        return True

    def set_many(self, values: dict[int | str, Any]) -> None:
        """Set several inputs at once: all are checked first, and none is set if one is wrong."""
        inputs = self.list_inputs()
        by_key: dict[int | str, WorkflowInput] = {i.input_index: i for i in inputs}
        by_key.update({i.label: i for i in inputs if i.label})
        problems: list[str] = []
        trial: list[tuple[WorkflowInput, Any]] = []
        for key, value in values.items():
            inp = by_key.get(key)
            if inp is None:
                problems.append(f"no input {key!r}")
                continue
            field: InputField = inp.field.detached()
            try:
                field.value = value
            except ValidationError as exc:
                problems.append(str(exc))
                continue
            trial.append((inp, value))
        if problems:
            raise ValidationError("set_many: nothing was set", problems)
        for inp, value in trial:
            inp.field.value = value



class WorkflowRepositoryCompat:
    """`create_workflow_from_file`, `create_workflow_from_dict`, `validate_workflow_definition` of 1.1.1."""

    def create_workflow_from_file(self, path: str | os.PathLike[str], **_options: Any) -> Any:
        """`create_workflow(WorkflowDefinition.from_file(path))` (1.1.1's validate/auto_fix are accepted)."""
        from ..workflow.definition import WorkflowDefinition

        return self.create_workflow(WorkflowDefinition.from_file(path))  # type: ignore[attr-defined]

    def create_workflow_from_dict(self, data: dict[str, Any], **_options: Any) -> Any:
        from ..workflow.definition import WorkflowDefinition

        return self.create_workflow(WorkflowDefinition.from_dict(data))  # type: ignore[attr-defined]

    def validate_workflow_definition(self, definition: Any) -> list[str]:
        """Problems that stop the workflow from loading (empty: none)."""
        from ..workflow.definition import WorkflowDefinition

        try:
            WorkflowDefinition.from_dict(definition.to_dict() if hasattr(definition, "to_dict") else definition)
        except ValidationError as exc:
            return list(exc.problems)
        return []


LEGACY_CALLBACKS = {
    "on_invocation_started": "invocation_started",
    "on_invocation_progress": "invocation_progress",
    "on_invocation_complete": "invocation_complete",
    "on_invocation_error": "invocation_error",
}
"""1.1.1's `submit()` callbacks and the event each one gets (as a dict)."""


def legacy_event_callback(
    callbacks: dict[str, Callable[[dict[str, Any]], Any] | None],
) -> Callable[[Any], Any] | None:
    """One event callback calling 1.1.1-style per-event callbacks with the event as a dict."""
    by_event = {LEGACY_CALLBACKS[name]: fn for name, fn in callbacks.items() if fn is not None}
    if not by_event:
        return None

    def on_event(event: Any) -> Any:
        fn = by_event.get(event.name)
        if fn is None:
            return None
        data = event.to_dict()
        invocation = data.get("invocation") if isinstance(data.get("invocation"), dict) else {}
        data.setdefault("node_type", invocation.get("type"))  # early 1.x events said it at the top
        if "percentage" in data:
            data.setdefault("progress", data["percentage"])
        return fn(data)

    return on_event


class NodeMap(dict[str, dict[str, Any]]):
    """A workflow's nodes by id, which also reads as 1.1.1's list of nodes.

    ``defn.nodes["id"]``, ``.items()``, ``.values()``, ``"id" in nodes`` as a dict;
    iterating it (``for node in defn.nodes``) and ``nodes[0]`` give the node dicts,
    in the file's order, as 1.1.1's list did.
    """

    def __iter__(self) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        return iter(list(self.values()))

    def __getitem__(self, key: str | int) -> dict[str, Any]:
        if isinstance(key, int):
            return list(self.values())[key]
        return super().__getitem__(key)
