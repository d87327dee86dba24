"""Exported InvokeAI workflows: load, address Form inputs, convert, submit, map outputs.

    >>> from invokeai_py_client.workflow import WorkflowDefinition
    >>> defn = WorkflowDefinition.from_dict({"nodes": [], "edges": [], "meta": {"version": "4.0.0"}})
    >>> defn.schema_version
    '4.0.0'
"""

from . import fields
from .builder import NodeRef, WorkflowBuilder
from .chain import chain_workflows
from .definition import WorkflowDefinition
from .fields import *  # noqa: F403 - every input field type is public (its __all__)
from .handle import AsyncWorkflowHandle, IndexDrift, WorkflowHandle, WorkflowInput
from .model_sync import ModelChange
from .repo import AsyncWorkflowRepository, WorkflowRepository
from .schema import InputSpec, InvocationCatalog
from .workflow_handle import IvkWorkflowInput, IvkWorkflowOutput, OutputMapping  # 1.1.1's names

__all__ = [
    "AsyncWorkflowHandle",
    "AsyncWorkflowRepository",
    "IndexDrift",
    "InputSpec",
    "InvocationCatalog",
    "IvkWorkflowInput",
    "IvkWorkflowOutput",
    "ModelChange",
    "NodeRef",
    "OutputMapping",
    "WorkflowBuilder",
    "WorkflowDefinition",
    "WorkflowHandle",
    "WorkflowInput",
    "WorkflowRepository",
    "chain_workflows",
]
__all__ += fields.__all__
