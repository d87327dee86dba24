"""invokeai-py-client 1.1.1's public names import from ours at the same paths, and the calls
its documentation and examples make bind to our signatures.

The lists are facts about 1.1.1 (its packages' ``__all__`` and the imports and calls
in its docs' code blocks and examples), written down here; docs/migrating-from-1.1.md
says where ours behaves differently on purpose.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

PUBLIC_NAMES: dict[str, list[str]] = {
    "invokeai_py_client": [
        "BaseModelEnum", "Board", "BoardHandle", "BoardRepository", "ImageCategory",
        "InvokeAIClient", "IvkDnnModel", "IvkImage", "IvkJob", "JobStatus", "SessionEvent",
        "WorkflowDefinition", "WorkflowHandle", "WorkflowRepository", "__version__",
    ],
    "invokeai_py_client.board": [
        "Board", "BoardHandle", "BoardRepository",
    ],
    "invokeai_py_client.board.board_handle": [
        "BoardHandle",
    ],
    "invokeai_py_client.client": [
        "InvokeAIClient",
    ],
    "invokeai_py_client.dnn_model": [
        "APIRequestError", "BaseDnnModelType", "DnnModel", "DnnModelFormat", "DnnModelRepository",
        "DnnModelType", "FoundModel", "HFLoginStatus", "InstallJobStatus", "InvokeAIClientError",
        "ModelInstJobHandle", "ModelInstJobInfo", "ModelInstallConfig", "ModelInstallJobFailed",
        "ModelInstallStartError", "ModelInstallTimeout", "ModelManagerError", "ModelManagerStats",
    ],
    "invokeai_py_client.ivk_fields": [
        "COLOR_MODES", "INTERPOLATION_MODES", "IvkBoardField", "IvkBooleanField",
        "IvkBoundingBoxField", "IvkCLIPEmbedField", "IvkCLIPField", "IvkCogView4ConditioningField",
        "IvkCollectionField", "IvkCollectionFieldMixin", "IvkColorField", "IvkColorModeField",
        "IvkConditioningField", "IvkDenoiseMaskField", "IvkEnumField", "IvkField", "IvkFloatField",
        "IvkFluxConditioningField", "IvkFluxFillConditioningField",
        "IvkFluxKontextConditioningField", "IvkFluxModelField", "IvkFluxReduxConditioningField",
        "IvkImageField", "IvkImageFieldMixin", "IvkIntegerField", "IvkInterpolationField",
        "IvkLatentsField", "IvkLiteralField", "IvkLoRAField", "IvkMetadataField",
        "IvkModelIdentifierField", "IvkSD3ConditioningField", "IvkSDXLModelField",
        "IvkSchedulerField", "IvkStringField", "IvkT5EncoderField", "IvkTensorField",
        "IvkTransformerField", "IvkUNetField", "IvkVAEModelField", "SCHEDULER_NAMES",
        "SchedulerName",
    ],
    "invokeai_py_client.ivk_fields.base": [
        "PydanticFieldMixin",
    ],
    "invokeai_py_client.ivk_fields.enums": [
        "IvkSchedulerField",
    ],
    "invokeai_py_client.ivk_fields.models": [
        "IvkModelIdentifierField",
    ],
    "invokeai_py_client.models": [
        "IvkImage",
    ],
    "invokeai_py_client.queue": [
        "JobHandle", "QueueHandle", "QueueRepository",
    ],
    "invokeai_py_client.quick": [
        "QuickClient",
    ],
    "invokeai_py_client.quick.quick_client": [
        "QuickClient",
    ],
    "invokeai_py_client.workflow": [
        "IvkWorkflowInput", "IvkWorkflowOutput", "OutputMapping", "WorkflowDefinition",
        "WorkflowHandle", "WorkflowRepository",
    ],
    "invokeai_py_client.workflow.workflow_handle": [
        "OutputMapping",
    ],
}

IMPORTS = [(module, name) for module, names in PUBLIC_NAMES.items() for name in names]


@pytest.mark.parametrize(("module", "name"), IMPORTS, ids=[f"{m}.{n}" for m, n in IMPORTS])
def test_every_public_name_of_1_1_1_imports_from_the_same_path(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is not None


def test_the_version_succeeds_1_1_1() -> None:
    from invokeai_py_client import __version__

    major = int(__version__.split(".")[0])
    assert major >= 2, __version__


# (where the callable lives, its name, positional arguments, keyword arguments), one per call
# shape seen in 1.1.1's docs and examples. A method's `self` is bound by the test.
CALLS: list[tuple[str, str, int, tuple[str, ...]]] = [
    ("invokeai_py_client:InvokeAIClient", "from_url", 1, ()),
    ("invokeai_py_client:InvokeAIClient", "from_url", 1, ("api_key", "timeout")),
    ("invokeai_py_client:InvokeAIClient", "from_url", 1, ("verify_ssl",)),
    ("invokeai_py_client:InvokeAIClient", "__init__", 0, ("host", "port")),
    ("invokeai_py_client:InvokeAIClient", "__init__", 0, ("host", "port", "timeout", "use_https")),
    ("invokeai_py_client:InvokeAIClient", "__init__", 0, ("base_url",)),
    ("invokeai_py_client:InvokeAIClient", "__init__", 0, ("host", "port", "api_key", "base_path", "verify_ssl")),
    ("invokeai_py_client:InvokeAIClient", "health_check", 0, ()),
    ("invokeai_py_client:InvokeAIClient", "socketio_session", 0, ()),
    ("invokeai_py_client:InvokeAIClient", "connect_socketio", 0, ()),
    ("invokeai_py_client:InvokeAIClient", "disconnect_socketio", 0, ()),
    ("invokeai_py_client:InvokeAIClient", "_make_request", 2, ()),
    ("invokeai_py_client:InvokeAIClient", "_make_request", 2, ("json",)),
    ("invokeai_py_client.workflow:WorkflowDefinition", "from_file", 1, ()),
    ("invokeai_py_client.workflow:WorkflowDefinition", "from_dict", 1, ()),
    ("invokeai_py_client.workflow:WorkflowRepository", "create_workflow", 1, ()),
    ("invokeai_py_client.workflow:WorkflowRepository", "create_workflow_from_file", 1, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "get_input_value", 1, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "set_input_value", 2, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "get_input", 1, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "list_inputs", 0, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "list_outputs", 0, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "sync_dnn_model", 0, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "sync_dnn_model", 0, ("by_name", "by_base")),
    ("invokeai_py_client.workflow:WorkflowHandle", "submit_sync", 0, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "wait_for_completion_sync", 0, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "wait_for_completion_sync", 1, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "wait_for_completion_sync", 0, ("timeout",)),
    ("invokeai_py_client.workflow:WorkflowHandle", "wait_for_completion_sync", 0,
     ("poll_interval", "progress_callback", "timeout")),
    ("invokeai_py_client.workflow:WorkflowHandle", "wait_for_completion_sync", 0, ("progress_callback", "timeout")),
    ("invokeai_py_client.workflow:WorkflowHandle", "wait_for_completion_sync", 0, ("poll_interval", "timeout")),
    ("invokeai_py_client.workflow:WorkflowHandle", "wait_for_completion_sync", 0,
     ("poll_interval", "timeout", "progress_callback", "queue_id")),
    ("invokeai_py_client.workflow:WorkflowHandle", "map_outputs_to_images", 1, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "submit", 0, (
        "subscribe_events", "on_invocation_started", "on_invocation_progress", "on_invocation_complete",
        "on_invocation_error", "queue_id")),
    ("invokeai_py_client.workflow:WorkflowHandle", "wait_for_completion", 0, ("timeout",)),
    ("invokeai_py_client.workflow:WorkflowHandle", "wait_for_completion", 0, ("timeout", "queue_id")),
    ("invokeai_py_client.workflow:WorkflowHandle", "submit_sync_monitor_async", 0, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "validate_inputs", 0, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "preview", 0, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "export_input_index_map", 1, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "verify_input_index_map", 1, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "cancel", 0, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "cancel_async", 0, ()),
    ("invokeai_py_client.workflow:WorkflowHandle", "set_many", 1, ()),
    ("invokeai_py_client.board:BoardRepository", "get_board_handle", 1, ()),
    ("invokeai_py_client.board:BoardRepository", "list_boards", 0, ()),
    ("invokeai_py_client.board:BoardRepository", "list_boards", 0, ("include_uncategorized",)),
    ("invokeai_py_client.board:BoardRepository", "list_boards", 0, ("all", "include_uncategorized")),
    ("invokeai_py_client.board:BoardRepository", "create_board", 1, ()),
    ("invokeai_py_client.board:BoardRepository", "create_board", 0, ("name",)),
    ("invokeai_py_client.board:BoardRepository", "create_board", 0, ("name", "is_private")),
    ("invokeai_py_client.board:BoardRepository", "get_uncategorized_handle", 0, ()),
    ("invokeai_py_client.board:BoardRepository", "get_uncategorized_board", 0, ()),
    ("invokeai_py_client.board:BoardRepository", "delete_board", 1, ()),
    ("invokeai_py_client.board:BoardRepository", "delete_board", 1, ("delete_images",)),
    ("invokeai_py_client.board:BoardRepository", "get_board_handle_by_name", 1, ()),
    ("invokeai_py_client.board:BoardRepository", "get_board_by_id", 1, ()),
    ("invokeai_py_client.board:BoardRepository", "update_board", 0, ("board_id", "name")),
    ("invokeai_py_client.board:BoardHandle", "download_image", 1, ("full_resolution",)),
    ("invokeai_py_client.board:BoardHandle", "upload_image", 1, ()),
    ("invokeai_py_client.board:BoardHandle", "upload_image_data", 1, ()),
    ("invokeai_py_client.board:BoardHandle", "upload_image_data", 0, ("image_data", "filename")),
    ("invokeai_py_client.board:BoardHandle", "list_images", 0, ()),
    ("invokeai_py_client.board:BoardHandle", "list_images", 0, ("limit", "starred_first")),
    ("invokeai_py_client.board:BoardHandle", "delete_image", 1, ()),
    ("invokeai_py_client.board:BoardHandle", "star_image", 1, ()),
    ("invokeai_py_client.board:BoardHandle", "move_image_to", 2, ()),
    ("invokeai_py_client.board:BoardHandle", "refresh", 0, ()),
    ("invokeai_py_client.dnn_model:DnnModelRepository", "list_models", 0, ()),
    ("invokeai_py_client.dnn_model:DnnModelRepository", "get_model_by_key", 1, ()),
    ("invokeai_py_client.dnn_model:DnnModelRepository", "install_model", 0, ("source", "inplace")),
    ("invokeai_py_client.dnn_model:DnnModelRepository", "install_huggingface", 0, ("repo_id", "access_token")),
    ("invokeai_py_client.dnn_model:DnnModelRepository", "delete_model", 1, ()),
    ("invokeai_py_client.dnn_model:DnnModelRepository", "delete_all_models", 0, ()),
    ("invokeai_py_client.dnn_model:ModelInstJobHandle", "wait_until", 0, ("timeout", "poll_interval")),
    ("invokeai_py_client.dnn_model:ModelInstJobHandle", "refresh", 0, ()),
    ("invokeai_py_client.dnn_model:DnnModel", "format_file_size", 0, ()),
    ("invokeai_py_client.dnn_model:DnnModel", "get_category", 0, ()),
    ("invokeai_py_client.dnn_model:DnnModel", "is_compatible_with_base", 1, ()),
    ("invokeai_py_client.ivk_fields:IvkSchedulerField", "normalize_alias", 1, ()),
    ("invokeai_py_client.ivk_fields:IvkStringField", "__init__", 0, ("value",)),
    ("invokeai_py_client.ivk_fields:IvkIntegerField", "__init__", 0, ("value", "minimum", "maximum")),
    ("invokeai_py_client.quick:QuickClient", "__init__", 1, ()),
    ("invokeai_py_client.quick:QuickClient", "copy_image_to_board", 2, ()),
    ("invokeai_py_client.quick:QuickClient", "generate_image_sdxl_t2i", 0, (
        "positive_prompt", "negative_prompt", "width", "height", "steps", "model_name", "scheduler", "board_id")),
]


def _callable(where: str, name: str) -> tuple[Any, bool]:
    module, _, cls_name = where.partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    attr = inspect.getattr_static(cls, name)
    if hasattr(attr, "flow"):  # an @operation: the flow function carries the signature
        return attr.flow, True
    if isinstance(attr, classmethod | staticmethod):
        return getattr(cls, name), False
    if name == "__init__" and not inspect.isfunction(attr):  # a pydantic model: its fields are keywords
        return cls, False
    return getattr(cls, name), True


@pytest.mark.parametrize(("where", "name", "positional", "keywords"), CALLS,
                         ids=[f"{w.split(':')[1]}.{n}({p},{'/'.join(k)})" for w, n, p, k in CALLS])
def test_each_call_shape_of_1_1_1_binds(where: str, name: str, positional: int, keywords: tuple[str, ...]) -> None:
    fn, method = _callable(where, name)
    signature = inspect.signature(fn)
    args = ([object()] if method else []) + [object()] * positional
    signature.bind(*args, **dict.fromkeys(keywords, object()))
