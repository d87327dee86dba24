"""The bundled stage workflows: generated from their definitions, valid, with the documented Forms."""

from __future__ import annotations

from typing import Any

import pytest

from invokeai_py_client.workflow.builder import SCHEMA_VERSION
from invokeai_py_client.workflow.definition import WorkflowDefinition
from invokeai_py_client.workflow.form import form_inputs, form_problems
from invokeai_py_client.workflow.graph import build_graph
from invokeai_py_client.workflow.model_sync import is_model_identifier
from invokeai_py_client.workflow.schema import InputSpec, InvocationCatalog
from invokeai_py_client.workflows import BUNDLED_WORKFLOWS, bundled_workflow_path
from invokeai_py_client.workflows._definitions import build_all, dumps, main
from invokeai_py_client.workflows.face import face_box, face_detected

# (node id, field name, label) of each Form input, in order.
EXPECTED_FORMS: dict[str, list[tuple[str, str, str]]] = {
    "sdxl_base.json": [
        ("positive_prompt", "value", "Positive prompt"),
        ("negative_prompt", "value", "Negative prompt"),
        ("noise", "seed", "Seed"),
        ("denoise", "steps", "Steps"),
        ("denoise", "cfg_scale", "CFG scale"),
        ("noise", "width", "Width"),
        ("noise", "height", "Height"),
        ("latents_to_image", "board", "Output board"),
        ("model_loader", "model", "Model"),
        ("denoise", "scheduler", "Scheduler"),
    ],
    "sdxl_refiner.json": [
        ("input_image", "image", "Input image"),
        ("positive_prompt", "value", "Prompt"),
        ("negative_prompt", "value", "Negative prompt"),
        ("denoise", "steps", "Refinement steps"),
        ("strength_to_start", "b", "Strength"),
        ("denoise", "cfg_scale", "CFG scale"),
        ("output_image", "board", "Output board"),
        ("model_loader", "model", "Model"),
    ],
    "esrgan_upscale.json": [
        ("upscale", "image", "Input image"),
        ("scale", "value", "Scale"),
        ("upscale", "image_to_image_model", "Upscaling model"),
        ("upscale", "board", "Output board"),
    ],
    "face_restore.json": [
        ("input_image", "image", "Input image"),
        ("strength_to_start", "b", "Enhancement strength"),
        ("model_loader", "model", "Face model"),
        ("output_image", "board", "Output board"),
        ("face_prompt", "value", "Face prompt"),
    ],
    "masked_refine.json": [
        ("input_image", "image", "Input image"),
        ("mask_image", "image", "Mask image"),
        ("positive_prompt", "value", "Prompt"),
        ("denoise", "steps", "Steps"),
        ("strength_to_start", "b", "Strength"),
        ("denoise", "cfg_scale", "CFG scale"),
        ("output_image", "board", "Output board"),
        ("model_loader", "model", "Model"),
    ],
    "sdxl_with_refiner.json": [
        ("positive_prompt", "value", "Positive prompt"),
        ("negative_prompt", "value", "Negative prompt"),
        ("noise", "seed", "Seed"),
        ("base_denoise", "steps", "Base steps"),
        ("refiner_denoise", "steps", "Refiner steps"),
        ("switch_point", "value", "Switch point"),
        ("noise", "width", "Width"),
        ("noise", "height", "Height"),
        ("cfg_scale", "value", "CFG scale"),
        ("latents_to_image", "board", "Output board"),
        ("model_loader", "model", "Base model"),
        ("refiner_model_loader", "model", "Refiner model"),
    ],
}
FINAL_NODES = {
    "sdxl_base.json": "latents_to_image",
    "sdxl_refiner.json": "output_image",
    "esrgan_upscale.json": "upscale",
    "face_restore.json": "output_image",
    "masked_refine.json": "output_image",
    "sdxl_with_refiner.json": "latents_to_image",
}
UNIT_INTERVAL_INPUTS = {
    "sdxl_refiner.json": [4],
    "face_restore.json": [1],
    "masked_refine.json": [4],
    "sdxl_with_refiner.json": [5],
}
CATALOG = InvocationCatalog.bundled()


def _load(filename: str) -> WorkflowDefinition:
    return WorkflowDefinition.from_file(bundled_workflow_path(filename))


def _value_problem(spec: InputSpec, value: Any) -> str | None:
    """Why an exported `value` does not fit the server's schema for `spec`, or None."""
    if spec.kind in ("integer", "float"):
        number_types = int if spec.kind == "integer" else (int, float)
        if isinstance(value, bool) or not isinstance(value, number_types):
            return f"{value!r} is not a {spec.kind}"
        if spec.minimum is not None and value < spec.minimum:
            return f"{value!r} is below {spec.minimum}"
        if spec.maximum is not None and value > spec.maximum:
            return f"{value!r} is above {spec.maximum}"
        return None
    checks: dict[str, bool] = {
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "enum": value in spec.options,
        "image": isinstance(value, dict) and isinstance(value.get("image_name"), str),
        "board": value in ("auto", "none")
        or (isinstance(value, dict) and isinstance(value.get("board_id"), str)),
        "model": is_model_identifier(value)
        and (not spec.model_bases or value["base"] in spec.model_bases)
        and (not spec.model_types or value["type"] in spec.model_types),
    }
    if spec.kind not in checks:
        return f"has a value, but a {spec.kind} input only takes a connection"
    return None if checks[spec.kind] else f"{value!r} is not a valid {spec.kind}"


def test_every_bundled_file_is_defined() -> None:
    assert set(build_all()) == set(BUNDLED_WORKFLOWS) == set(EXPECTED_FORMS)


@pytest.mark.parametrize("filename", BUNDLED_WORKFLOWS)
def test_rebuilding_gives_exactly_the_shipped_file(filename: str) -> None:
    shipped = bundled_workflow_path(filename).read_text(encoding="utf-8")
    assert dumps(build_all()[filename]) == shipped, (
        "run: python -m invokeai_py_client.workflows._definitions --write"
    )
    assert shipped.endswith("}\n")


def test_check_mode_reports_up_to_date_files() -> None:
    assert main(["--check"]) == 0


@pytest.mark.parametrize("filename", BUNDLED_WORKFLOWS)
def test_form_inputs_are_the_documented_ones(filename: str) -> None:
    defn = _load(filename)
    refs = form_inputs(defn)
    assert [(r.node_id, r.field_name, r.label) for r in refs] == EXPECTED_FORMS[filename]
    assert [r.input_index for r in refs] == list(range(len(refs)))
    nodes = defn.nodes
    for ref in refs:  # the label is on the field itself, not borrowed from the node
        assert nodes[ref.node_id]["data"]["inputs"][ref.field_name]["label"] == ref.label
    for index in UNIT_INTERVAL_INPUTS.get(filename, []):
        settings = refs[index].settings or {}
        assert (settings.get("min"), settings.get("max")) == (0, 1)


@pytest.mark.parametrize("filename", BUNDLED_WORKFLOWS)
def test_the_file_is_a_valid_export(filename: str) -> None:
    defn = _load(filename)
    raw = defn.raw()
    assert raw["meta"] == {"category": "user", "version": SCHEMA_VERSION}
    assert form_problems(raw["form"], defn.nodes) == []
    root = raw["form"]["elements"][raw["form"]["rootElementId"]]
    assert root["type"] == "container" and "parentId" not in root
    for node in defn.nodes.values():
        data = node["data"]
        assert data["version"] == CATALOG.node_version(data["type"])
    for edge in defn.edges:
        source_type = defn.nodes[edge["source"]]["data"]["type"]
        target_type = defn.nodes[edge["target"]]["data"]["type"]
        assert edge["sourceHandle"] in (CATALOG.output_fields(source_type) or ())
        assert CATALOG.input_spec(target_type, edge["targetHandle"]) is not None


@pytest.mark.parametrize("filename", BUNDLED_WORKFLOWS)
def test_every_input_value_fits_the_server_schema(filename: str) -> None:
    problems = []
    for node in _load(filename).nodes.values():
        node_type = node["data"]["type"]
        for name, field in node["data"]["inputs"].items():
            spec = CATALOG.input_spec(node_type, name)
            if spec is None:
                problems.append(f"{node['id']}.{name}: unknown to the schema")
            elif "value" in field and (why := _value_problem(spec, field["value"])):
                problems.append(f"{node['id']}.{name}: {why}")
    assert problems == []


@pytest.mark.parametrize("filename", BUNDLED_WORKFLOWS)
def test_only_the_final_image_leaves_the_intermediates(filename: str) -> None:
    defn = _load(filename)
    final = FINAL_NODES[filename]
    graph = build_graph(defn)
    saved = {node_id for node_id, node in graph["nodes"].items() if not node["is_intermediate"]}
    # Primitive nodes only pass values (an `image` node re-outputs its input image).
    primitives = {
        n
        for n, node in graph["nodes"].items()
        if node["type"] in ("image", "string", "integer", "float")
    }
    assert saved - primitives == {final}
    board_ref = next(r for r in form_inputs(defn) if r.label == "Output board")
    assert (board_ref.node_id, board_ref.field_name) == (final, "board")


def test_models_are_the_local_tiny_models() -> None:
    names = set()
    for filename in BUNDLED_WORKFLOWS:
        for node in _load(filename).nodes.values():
            for field in node["data"]["inputs"].values():
                if is_model_identifier(field.get("value")):
                    names.add(field["value"]["name"])
    assert names == {"tiny-sdxl", "tiny-sdxl-refiner", "tiny-esrgan-x4"}


def test_refiner_strength_is_one_minus_denoising_start() -> None:
    defn = _load("sdxl_refiner.json")
    node = defn.nodes["strength_to_start"]["data"]
    assert node["type"] == "float_math"
    assert node["inputs"]["operation"]["value"] == "SUB" and node["inputs"]["a"]["value"] == 1.0
    fed = {(e["target"], e["targetHandle"]): (e["source"], e["sourceHandle"]) for e in defn.edges}
    assert fed[("denoise", "denoising_start")] == ("strength_to_start", "value")


def test_fused_graph_hands_latents_over_at_the_switch_point() -> None:
    defn = _load("sdxl_with_refiner.json")
    fed = {(e["target"], e["targetHandle"]): (e["source"], e["sourceHandle"]) for e in defn.edges}
    assert fed[("base_denoise", "denoising_end")] == ("switch_point", "value")
    assert fed[("refiner_denoise", "denoising_start")] == ("switch_point", "value")
    assert fed[("refiner_denoise", "latents")] == ("base_denoise", "latents")
    assert ("refiner_denoise", "noise") not in fed
    handed_over = [e["target"] for e in defn.edges if e["source"] == "base_denoise"]
    assert handed_over == ["refiner_denoise"]  # the base latents are never decoded


def test_refiner_prompts_go_into_style() -> None:
    for filename in (
        "sdxl_refiner.json",
        "face_restore.json",
        "masked_refine.json",
        "sdxl_with_refiner.json",
    ):
        defn = _load(filename)
        targets = {
            e["targetHandle"]
            for e in defn.edges
            if defn.nodes[e["target"]]["data"]["type"] == "sdxl_refiner_compel_prompt"
            and e["sourceHandle"] == "value"
        }
        assert targets == {"style"}, filename


# -- face_box / face_detected ----------------------------------------------------------------


def _face_item(face: dict[str, Any], source_size: tuple[int, int] = (512, 512)) -> dict[str, Any]:
    return {
        "status": "completed",
        "session": {
            "source_prepared_mapping": {"input_image": ["p1"], "face_off": ["p2"]},
            "results": {
                "p1": {
                    "type": "image_output",
                    "image": {"image_name": "in.png"},
                    "width": source_size[0],
                    "height": source_size[1],
                },
                "p2": {
                    "type": "face_off_output",
                    "image": {"image_name": "crop.png"},
                    "mask": {"image_name": "m.png"},
                    **face,
                },
            },
        },
    }


def test_face_box_reads_the_crop() -> None:
    item = _face_item({"x": 108, "y": 7, "width": 232, "height": 232})
    assert face_box(item) == (108, 7, 232, 232)
    assert face_detected(item)


def test_no_face_is_the_whole_image_at_the_origin() -> None:
    item = _face_item({"x": 0, "y": 0, "width": 96, "height": 80}, source_size=(96, 80))
    assert face_box(item) is None
    assert not face_detected(item)
    # A face crop at the corner is still a face.
    assert face_detected(_face_item({"x": 0, "y": 0, "width": 136, "height": 136}))


def test_face_box_accepts_a_model_and_rejects_other_items() -> None:
    class Item:
        def model_dump(self) -> dict[str, Any]:
            return _face_item({"x": 4, "y": 5, "width": 128, "height": 128})

    assert face_box(Item()) == (4, 5, 128, 128)
    with pytest.raises(ValueError, match="face_off"):
        face_box({"session": {"results": {}, "source_prepared_mapping": {}}})
