"""1.1.1's extra names on workflow handles, their inputs and index-drift reports."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._exceptions import ValidationError

if TYPE_CHECKING:
    from ..workflow.fields import InputField
    from ..workflow.handle import WorkflowInput

__all__ = ["IndexDriftView", "WorkflowHandleCompat", "WorkflowInputCompat", "WorkflowRepositoryCompat"]


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
