"""Output mapping: every node that produced images, from session.results via source_prepared_mapping."""

from __future__ import annotations

from typing import Any

import pytest

from invokeai_py_client.workflow.definition import WorkflowDefinition
from invokeai_py_client.workflow.outputs import image_names_of, map_outputs
from tests.golden import golden_json

# The GUI's auto-add board when sdxl-flux-refine ran, and the board set on two save_image nodes.
AUTO_BOARD = "abf4afa1-5797-48a0-8e4c-f072b51f2151"
USER_BOARD = "a17c2b12-d25a-4e41-9217-d94a543b9e73"


def _load(name: str) -> tuple[WorkflowDefinition, dict[str, Any]]:
    defn = WorkflowDefinition.from_dict(golden_json(f"workflows/{name}.json"))
    return defn, golden_json(f"queue-items/{name}.queue-item.json")


def _summary(outputs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (o["node_id"], o["node_type"], o["board_id"], o["is_intermediate"], o["image_names"])
        for o in outputs
    ]


def test_sdxl_text_to_image() -> None:
    outputs = map_outputs(*_load("sdxl-text-to-image"))
    assert outputs == [
        {
            "node_id": "canvas_output:JbPTiAJ26r",
            "node_type": "l2i",
            "label": None,
            "input_index": None,
            "board_id": "none",  # board left 'auto' while the GUI's auto-add board was 'none'
            "is_intermediate": False,
            "role": "output",
            "image_names": ["fe4089fd-1187-4883-b180-8aaf2fc317ba.png"],
            "tier": "results",
        }
    ]


def test_flux_image_to_image() -> None:
    outputs = map_outputs(*_load("flux-image-to-image"))
    assert _summary(outputs) == [
        (
            "7e5172eb-48c1-44db-a770-8fd83e1435d1",
            "flux_vae_decode",
            "none",
            False,
            ["ea39c155-c6e2-41b2-b9a3-d210b6e37750.png"],
        ),
        # the `image` primitive re-emits its input image; intermediate, but it is an image_output
        (
            "7b056f05-a4fe-40d3-b913-1a4b3897230f",
            "image",
            "none",
            True,
            ["e95bfe35-42f9-4693-968a-65ea655641a5.png"],
        ),
    ]


def test_sdxl_flux_refine_saved_images_first_in_workflow_order_with_the_boards_used() -> None:
    defn, item = _load("sdxl-flux-refine")
    outputs = map_outputs(defn, item, board_input_index={"4414d4b5-82c3-4513-8c3f-86d88c24aadc": 5})
    assert _summary(outputs) == [
        ("4414d4b5-82c3-4513-8c3f-86d88c24aadc", "save_image", "none", False, ["2436c4fd-4207-497d-89d0-86d6d4ef8b5a.png"]),
        ("67e997b2-2d56-43f4-8d2e-886c04e18d9f", "save_image", USER_BOARD, False, ["2d9ed2dc-855e-4f6b-b626-c74ec2467100.png"]),
        ("abc466fe-12eb-48a5-87d8-488c8bda180f", "save_image", USER_BOARD, False, ["d9e77e4f-8859-4ff4-9109-1065a4ff9746.png"]),
        ("7e5172eb-48c1-44db-a770-8fd83e1435d1", "flux_vae_decode", AUTO_BOARD, True, ["4cdccfcb-166d-4474-a638-477fb528feb4.png"]),
        ("cf3922d2-e1bc-40cd-8fcd-2a93708d52c2", "l2i", AUTO_BOARD, True, ["e007a5d1-bdc1-41ae-95a8-bf1ae9a215fc.png"]),
        ("22178496-503a-4087-80f2-7407538363df", "hed_edge_detection", AUTO_BOARD, True, ["f3edf77d-31c4-4934-b7c3-d5155f080da0.png"]),
        ("7489c19d-d8cf-40f8-85bd-17e8dd05ac67", "flux_vae_decode", AUTO_BOARD, True, ["4bfcd4d3-2327-459f-834b-c4748e3c92d1.png"]),
    ]  # fmt: skip
    assert [o["role"] for o in outputs] == ["output"] * 3 + ["intermediate"] * 4
    assert [o["input_index"] for o in outputs] == [5, None, None, None, None, None, None]
    # every image result of the session is accounted for, once
    results = item["session"]["results"]
    produced = sorted(
        r["image"]["image_name"] for r in results.values() if r["type"] == "image_output"
    )
    assert sorted(n for o in outputs for n in o["image_names"]) == produced


def test_iterate_expansion_collections_and_unknown_nodes() -> None:
    defn = WorkflowDefinition.from_dict(_workflow())
    item = {
        "session": {
            "graph": {"nodes": {"save": {"type": "save_image", "board": {"board_id": "b-ran"}, "is_intermediate": False}}},
            "source_prepared_mapping": {
                "extra": ["x1"],
                "save": ["p2", "p1"],
                "collect": ["c1"],
                "faces": ["f1"],
                "math": ["m1"],
            },
            "results": {
                "p1": {"type": "image_output", "image": {"image_name": "one.png"}, "width": 8, "height": 8},
                "p2": {"type": "image_output", "image": {"image_name": "two.png"}, "width": 8, "height": 8},
                "c1": {"type": "image_collection_output", "collection": [{"image_name": "c-a.png"}, {"image_name": "c-b.png"}]},
                "f1": {"type": "face_mask_output", "image": {"image_name": "face.png"}, "mask": {"image_name": "mask.png"}, "width": 8, "height": 8},
                "m1": {"type": "integer_output", "value": 3},
                "x1": {"type": "image_output", "image": {"image_name": "x.png"}},
            },
        }
    }  # fmt: skip
    outputs = map_outputs(defn, item)
    assert _summary(outputs) == [
        ("save", "save_image", "b-ran", False, ["two.png", "one.png"]),  # saved first; prepared order
        ("faces", "face_mask_detection", "b-exported", True, ["face.png", "mask.png"]),
        ("collect", "image_collection", "none", True, ["c-a.png", "c-b.png"]),
        ("extra", None, "none", None, ["x.png"]),  # not in the workflow: last
    ]
    assert outputs[0]["label"] == "Saver"


def test_board_as_ran_wins_over_the_exported_one() -> None:
    defn = WorkflowDefinition.from_dict(_workflow())
    session = {
        "source_prepared_mapping": {"faces": ["f1"]},
        "results": {"f1": {"type": "image_output", "image": {"image_name": "a.png"}}},
    }
    ran_without_board = {"graph": {"nodes": {"faces": {"type": "face_mask_detection"}}}, **session}
    # ran without a board: uncategorized; no graph in the item: the exported value
    assert map_outputs(defn, {"session": ran_without_board})[0]["board_id"] == "none"
    assert map_outputs(defn, {"session": session})[0]["board_id"] == "b-exported"


@pytest.mark.parametrize(
    "item", [{}, {"session": None}, {"session": {"results": {}, "source_prepared_mapping": {}}}]
)
def test_nothing_produced(item: dict[str, Any]) -> None:
    assert map_outputs(WorkflowDefinition.from_dict(_workflow()), item) == []


def test_image_names_of_ignores_non_images() -> None:
    assert image_names_of(None) == []
    assert image_names_of({"type": "string_output", "value": "image_name"}) == []
    assert image_names_of({"type": "x", "images": [{"image_name": "a"}, {"name": "b"}, 3]}) == ["a"]


def _workflow() -> dict[str, Any]:
    def node(node_id: str, node_type: str, label: str = "", board: Any = None) -> dict[str, Any]:
        inputs = (
            {}
            if board is None
            else {"board": {"name": "board", "label": "", "description": "", "value": board}}
        )
        data = {
            "id": node_id,
            "type": node_type,
            "version": "1.0.0",
            "label": label,
            "notes": "",
            "isOpen": True,
            "isIntermediate": True,
            "useCache": True,
            "inputs": inputs,
        }
        return {"id": node_id, "type": "invocation", "position": {"x": 0, "y": 0}, "data": data}

    return {
        "name": "outputs", "author": "", "description": "", "version": "", "contact": "", "tags": "", "notes": "",
        "exposedFields": [],
        "meta": {"category": "user", "version": "3.0.0"},
        "nodes": [
            node("faces", "face_mask_detection", board={"board_id": "b-exported"}),
            node("save", "save_image", "Saver", board={"board_id": "b-exported"}),
            node("collect", "image_collection", board="auto"),
            node("math", "add"),
        ],
        "edges": [],
    }  # fmt: skip
