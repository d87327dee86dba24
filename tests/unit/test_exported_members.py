"""The public names: everything in `__all__` exists, and nothing public is missing from it."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["invokeai_py_client", "invokeai_py_client.workflow", "invokeai_py_client.pipelines"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_exactly_the_public_members(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    public = {
        n for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", "").startswith("invokeai_py_client")
    }
    assert exported == public | ({"__version__"} & exported)
    for member in exported:
        assert hasattr(module, member), member


def test_seed_names_are_importable() -> None:
    from invokeai_py_client import InvokeAIClient
    from invokeai_py_client.workflow import WorkflowDefinition, WorkflowHandle

    for method in ("from_url", "request", "_make_request"):
        assert hasattr(InvokeAIClient, method)
    for method in ("from_file", "from_dict", "from_json"):
        assert hasattr(WorkflowDefinition, method)
    for method in ("list_inputs", "get_input_value", "sync_dnn_model", "submit_sync",
                   "wait_for_completion_sync", "map_outputs_to_images", "submit", "wait_for_completion"):
        assert hasattr(WorkflowHandle, method)
