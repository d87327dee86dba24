"""1.1.1's `invokeai_py_client.workflow.workflow_model`: our `WorkflowDefinition` under that path."""

from .definition import WorkflowDefinition

__all__ = ["WorkflowDefinition"]
