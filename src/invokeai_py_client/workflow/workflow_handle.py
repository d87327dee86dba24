"""1.1.1's `invokeai_py_client.workflow.workflow_handle`: our handle and its records under that path."""

from typing import TypedDict

from .handle import WorkflowHandle
from .handle import WorkflowInput as IvkWorkflowInput

__all__ = ["IvkWorkflowInput", "IvkWorkflowOutput", "OutputMapping", "WorkflowHandle"]

IvkWorkflowOutput = IvkWorkflowInput
"""1.1.1's name for an output: the board input of a node that saves images."""


class OutputMapping(TypedDict, total=False):
    """One entry of `map_outputs_to_images` (ours also has `role`, `item_id`, `field_values`)."""

    node_id: str
    board_id: str
    image_names: list[str]
    tier: str
    node_type: str
    input_index: int | None
    label: str | None
