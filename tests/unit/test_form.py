"""Form traversal: depth-first pre-order from rootElementId, node fields only, exposedFields fallback."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from invokeai_py_client.workflow.definition import WorkflowDefinition
from invokeai_py_client.workflow.form import form_inputs
from tests.golden import golden_workflow

# Read off the files by hand: root's children in order, each container's children before
# the root's next child; dividers, text and headings are not inputs.
SDXL_FLUX_REFINE_ORDER = [
    "node-field-I7XLCaNo7D", "node-field-MqbsS7dIAx",  # container-7c03yu1NtQ
    "node-field-ssjyruw4m9", "node-field-OIyXeV2bft",  # container-NUthxkxiim
    "node-field-gmlzWRl6T7", "node-field-jlrDwqjDNb",  # container-jDD5sGca9b (after a divider and a text)
    "node-field-uWqTmY3PJj", "node-field-ZlucrBIzNX", "node-field-9ed3MZWLgb",  # container-RE4CvGerzK
    "node-field-k9AtLGlTsi", "node-field-ngDv5q4ynt",  # container-AfasC3AOQk
    "node-field-GAb4WQowVH", "node-field-0gh0xE5Qkn", "node-field-CVvTZsp1Sx", "node-field-IG2xNRnSKp", "node-field-fZqcTQP30u",
    "node-field-3RjFoVaXyD",  # directly under root
    "node-field-9ySlOWUBq0", "node-field-qKmkGai0k2", "node-field-BIXXQk50uH",  # container-QHHlyRlvkH
    "node-field-MROxeBzVKg", "node-field-spIKyIdmjj",  # directly under root
    "node-field-7TYnJrWsiq", "node-field-sO9J8zkwma", "node-field-dIPvyiAedE",  # container-wV9vXi46A8
]  # fmt: skip

SDXL_TEXT_TO_IMAGE_INPUTS = [
    ("sdxl_model_loader:PwBr7RXRsy", "model", None),
    ("positive_prompt:kjUMdcg0zO", "value", "positive prompt"),
    ("484ecc77-b7a0-4e19-b793-cc313f20fbe6", "value", "negative prompt"),
    ("noise:f4Bv4UWa22", "width", None),
    ("noise:f4Bv4UWa22", "height", None),
    ("denoise_latents:TRC0Y88EWe", "steps", None),
    ("denoise_latents:TRC0Y88EWe", "cfg_scale", None),
    ("denoise_latents:TRC0Y88EWe", "scheduler", None),
    ("canvas_output:JbPTiAJ26r", "board", None),
]


def test_sdxl_text_to_image_inputs() -> None:
    refs = form_inputs(WorkflowDefinition.from_dict(golden_workflow("sdxl-text-to-image")))
    assert [(r.node_id, r.field_name, r.label) for r in refs] == SDXL_TEXT_TO_IMAGE_INPUTS
    assert [r.input_index for r in refs] == list(range(len(refs)))
    assert refs[1].settings == {"type": "string-field-config", "component": "input"}
    assert refs[3].settings == {"type": "integer-field-config", "component": "number-input"}
    assert refs[0].settings is None


def test_nested_containers_are_walked_depth_first() -> None:
    raw = golden_workflow("sdxl-flux-refine")
    refs = form_inputs(WorkflowDefinition.from_dict(raw))
    assert [r.element_id for r in refs] == SDXL_FLUX_REFINE_ORDER
    elements = raw["form"]["elements"]
    for ref in refs:
        ident = elements[ref.element_id]["data"]["fieldIdentifier"]
        assert (ref.node_id, ref.field_name) == (ident["nodeId"], ident["fieldName"])


def test_root_element_id_is_read_not_assumed() -> None:
    raw = golden_workflow("sdxl-flux-refine")
    before = form_inputs(WorkflowDefinition.from_dict(raw))
    elements = raw["form"]["elements"]
    elements["my-root"] = elements.pop("root")
    elements["my-root"]["id"] = raw["form"]["rootElementId"] = "my-root"
    for element in elements.values():
        if element.get("parentId") == "root":
            element["parentId"] = "my-root"
    assert form_inputs(WorkflowDefinition.from_dict(raw)) == before


def test_labels_fall_back_from_field_to_node_to_none() -> None:
    raw = _workflow_with_form()
    refs = form_inputs(WorkflowDefinition.from_dict(raw))
    assert [(r.field_name, r.label) for r in refs] == [
        ("a", "Field A"),
        ("b", "Adder"),
        ("value", None),
    ]


def test_settings_are_carried_and_copied() -> None:
    raw = _workflow_with_form()
    defn = WorkflowDefinition.from_dict(raw)
    first = form_inputs(defn)[0]
    assert first.settings == {
        "type": "integer-field-config",
        "component": "slider",
        "min": 1,
        "max": 9,
        "showShuffle": False,
    }
    first.settings["min"] = 100  # type: ignore[index]
    assert form_inputs(defn)[0].settings["min"] == 1  # type: ignore[index]


@pytest.mark.parametrize("form", ["missing", "empty"])
def test_without_a_form_exposed_fields_give_the_order(form: str) -> None:
    raw = golden_workflow("flux-image-to-image")
    if form == "missing":
        del raw["form"]  # 3.0.0 exports made before the Form builder (5.7) have none
    else:
        raw["form"] = {
            "elements": {
                "r": {"id": "r", "type": "container", "data": {"layout": "column", "children": []}}
            },
            "rootElementId": "r",
        }
    refs = form_inputs(WorkflowDefinition.from_dict(raw))
    assert [(r.node_id, r.field_name) for r in refs] == [
        (f["nodeId"], f["fieldName"]) for f in raw["exposedFields"]
    ]
    assert all(r.element_id is None and r.settings is None for r in refs)
    assert refs[4].label == "Positive Prompt"  # the field's label wins over the node's "... - FLUX"
    assert refs[0].label == "Model (dev variant recommended for Image-to-Image)"


def test_stale_exposed_fields_are_skipped_like_the_gui(caplog: pytest.LogCaptureFixture) -> None:
    raw = golden_workflow("flux-image-to-image")
    del raw["form"]
    raw["exposedFields"].insert(1, {"nodeId": "gone", "fieldName": "x"})
    raw["exposedFields"].insert(
        3, {"nodeId": raw["exposedFields"][0]["nodeId"], "fieldName": "renamed"}
    )
    with caplog.at_level(logging.WARNING, logger="invokeai_py_client.workflow"):
        refs = form_inputs(WorkflowDefinition.from_dict(raw))
    assert len(refs) == len(raw["exposedFields"]) - 2
    assert [r.input_index for r in refs] == list(range(len(refs)))
    assert "gone.x" in caplog.text and "renamed" in caplog.text


def test_empty_form_and_no_exposed_fields_means_no_inputs() -> None:
    raw = _workflow_with_form()
    raw["form"]["elements"] = {
        "root": {"id": "root", "type": "container", "data": {"layout": "column", "children": []}}
    }
    assert form_inputs(WorkflowDefinition.from_dict(raw)) == []


def _workflow_with_form() -> dict[str, Any]:
    def node(node_id: str, node_type: str, label: str, inputs: dict[str, str]) -> dict[str, Any]:
        fields = {
            k: {"name": k, "label": v, "description": "", "value": 1} for k, v in inputs.items()
        }
        data = {
            "id": node_id,
            "type": node_type,
            "version": "1.0.0",
            "label": label,
            "notes": "",
            "isOpen": True,
            "isIntermediate": True,
            "useCache": True,
            "inputs": fields,
        }
        return {"id": node_id, "type": "invocation", "position": {"x": 0, "y": 0}, "data": data}

    def field(
        element_id: str,
        parent: str,
        node_id: str,
        name: str,
        settings: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "fieldIdentifier": {"nodeId": node_id, "fieldName": name},
            "showDescription": True,
        }
        if settings is not None:
            data["settings"] = settings
        return {"id": element_id, "type": "node-field", "parentId": parent, "data": data}

    elements = {
        "root": {
            "id": "root",
            "type": "container",
            "data": {"layout": "column", "children": ["h", "row", "d", "f3"]},
        },
        "h": {"id": "h", "type": "heading", "parentId": "root", "data": {"content": "Title"}},
        "row": {
            "id": "row",
            "type": "container",
            "parentId": "root",
            "data": {"layout": "row", "children": ["f1", "t", "f2"]},
        },
        "f1": field(
            "f1",
            "row",
            "add",
            "a",
            {
                "type": "integer-field-config",
                "component": "slider",
                "min": 1,
                "max": 9,
                "showShuffle": False,
            },
        ),
        "t": {"id": "t", "type": "text", "parentId": "row", "data": {"content": "between"}},
        "f2": field("f2", "row", "add", "b"),
        "d": {"id": "d", "type": "divider", "parentId": "root"},
        "f3": field("f3", "root", "int", "value"),
    }
    return {
        "name": "form test", "author": "", "description": "", "version": "", "contact": "", "tags": "", "notes": "",
        "exposedFields": [],
        "meta": {"category": "user", "version": "3.0.0"},
        "nodes": [node("add", "add", "Adder", {"a": "Field A", "b": ""}), node("int", "integer", "", {"value": " "})],
        "edges": [],
        "form": {"elements": elements, "rootElementId": "root"},
    }  # fmt: skip
