"""1.1.1's `invokeai_py_client.workflow.workflow_repo`: our repository under that path."""

from .definition import WorkflowDefinition
from .handle import WorkflowHandle
from .repo import WorkflowRepository

__all__ = ["WorkflowDefinition", "WorkflowHandle", "WorkflowRepository"]
