"""Exported InvokeAI workflows: load, address Form inputs, convert, submit, map outputs.

    >>> from invokeai_py_client.workflow import WorkflowDefinition
    >>> defn = WorkflowDefinition.from_dict({"nodes": [], "edges": [], "meta": {"version": "4.0.0"}})
    >>> defn.schema_version
    '4.0.0'
"""

from .builder import NodeRef, WorkflowBuilder
from .definition import WorkflowDefinition
from .fields import (
    BoardField,
    BooleanField,
    CollectionField,
    ColorField,
    EnumField,
    FloatField,
    GenericField,
    ImageField,
    InputField,
    IntegerField,
    ModelField,
    StringField,
)
from .handle import AsyncWorkflowHandle, IndexDrift, WorkflowHandle, WorkflowInput
from .model_sync import ModelChange
from .repo import AsyncWorkflowRepository, WorkflowRepository
from .schema import InputSpec, InvocationCatalog

__all__ = [
    "AsyncWorkflowHandle",
    "AsyncWorkflowRepository",
    "BoardField",
    "BooleanField",
    "CollectionField",
    "ColorField",
    "EnumField",
    "FloatField",
    "GenericField",
    "ImageField",
    "IndexDrift",
    "InputField",
    "InputSpec",
    "IntegerField",
    "InvocationCatalog",
    "ModelChange",
    "ModelField",
    "NodeRef",
    "StringField",
    "WorkflowBuilder",
    "WorkflowDefinition",
    "WorkflowHandle",
    "WorkflowInput",
    "WorkflowRepository",
]
