"""Chains compiled into one workflow (pure: no server)."""

from __future__ import annotations

import pytest

from invokeai_py_client import ValidationError
from invokeai_py_client.workflow.chain import chain_workflows, stage_input, stage_output
from invokeai_py_client.workflow.definition import WorkflowDefinition
from invokeai_py_client.workflow.form import form_inputs
from invokeai_py_client.workflow.graph import build_graph
from invokeai_py_client.workflows import bundled_workflow_path


def load(filename: str) -> WorkflowDefinition:
    return WorkflowDefinition.from_file(bundled_workflow_path(filename))


def test_each_stage_feeds_the_next_and_its_fed_input_leaves_the_form() -> None:
    base, refiner, upscaler = load("sdxl_base.json"), load("sdxl_refiner.json"), load("esrgan_upscale.json")
    fused = chain_workflows([base, refiner, upscaler], names=("Base", "Refine", "Upscale"))

    labels = [r.label for r in form_inputs(fused)]
    expected = (
        [f"Base: {r.label}" for r in form_inputs(base)]
        + [f"Refine: {r.label}" for r in form_inputs(refiner) if r.label != "Input image"]
        + [f"Upscale: {r.label}" for r in form_inputs(upscaler) if r.label != "Input image"]
    )
    assert labels == expected

    graph = build_graph(fused)
    links = {(e["source"]["node_id"], e["destination"]["node_id"], e["destination"]["field"]) for e in graph["edges"]}
    assert ("base-latents_to_image", "refine-input_image", "image") in links
    assert ("refine-output_image", "upscale-upscale", "image") in links
    assert len(graph["nodes"]) == len(base.nodes) + len(refiner.nodes) + len(upscaler.nodes)
    saved = sorted(n for n, node in graph["nodes"].items() if node.get("is_intermediate") is False)
    assert saved == ["upscale-upscale"]


def test_kept_stages_are_saved_each() -> None:
    fused = chain_workflows([load("sdxl_base.json"), load("sdxl_refiner.json")], names=("a", "b"), keep_stages=True)
    saved = sorted(n for n, node in build_graph(fused)["nodes"].items() if node.get("is_intermediate") is False)
    assert saved == ["a-latents_to_image", "b-output_image"]


def test_stage_roles_are_found_or_named_as_missing() -> None:
    assert stage_output(load("sdxl_refiner.json")) == "output_image"
    assert (stage_input(load("esrgan_upscale.json")).node_id, stage_input(load("esrgan_upscale.json")).field_name) == (
        "upscale", "image",
    )
    with pytest.raises(ValidationError, match="no image input"):
        stage_input(load("sdxl_base.json"))  # a first stage only: nothing can feed it
    with pytest.raises(ValidationError, match="cannot follow another stage"):
        chain_workflows([load("sdxl_base.json"), load("sdxl_base.json")], names=("x", "y"))
    with pytest.raises(ValidationError, match="one distinct name per stage"):
        chain_workflows([load("sdxl_base.json"), load("sdxl_refiner.json")], names=("same", "same"))
