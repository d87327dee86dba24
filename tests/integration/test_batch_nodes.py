"""Workflows with batch and generator nodes on the real server: one request, the GUI's items."""

from __future__ import annotations

import pytest

from invokeai_py_client import InvokeAIClient, ValidationError
from invokeai_py_client.workflow import WorkflowDefinition
from invokeai_py_client.workflow.builder import WorkflowBuilder


def batch_workflow() -> WorkflowDefinition:
    """blank_image and string_join fed by three batch nodes (no model, milliseconds per item).

    widths (ungrouped) x (heights from a generator, zipped with strings in Group 1).
    """
    b = WorkflowBuilder("test batch nodes")
    blank = b.add_node("blank_image", "blank", width=64, height=64, is_intermediate=False, use_cache=False)
    join = b.add_node("string_join", "join", string_left="x", string_right="!", use_cache=False)
    widths = b.add_node("integer_batch", "widths", label="Widths", integers=[32, 48, 64])
    heights_gen = b.add_node("integer_generator", "heights_gen", generator={
        "type": "integer_generator_arithmetic_sequence", "start": 16, "step": 16, "count": 2})
    heights = b.add_node("integer_batch", "heights", batch_group_id="Group 1")
    words = b.add_node("string_batch", "words", strings=["left", "right"], batch_group_id="Group 1")
    b.connect(widths, "value", blank, "width")
    b.connect(heights_gen, "integers", heights, "integers")
    b.connect(heights, "value", blank, "height")
    b.connect(words, "value", join, "string_left")
    b.expose(join, "string_right", label="Suffix")
    return WorkflowDefinition.from_dict(b.build())


def test_batch_nodes_make_the_guis_queue_items_in_one_request(server_url: str) -> None:
    with InvokeAIClient.from_url(server_url) as client:
        wf = client.workflow_repo.create_workflow(batch_workflow())
        with pytest.raises(ValidationError, match=r"make 6 queue items; submit it with submit_batch_sync\(\)"):
            wf.submit_sync()
        batch = wf.submit_batch_sync()
        assert len(batch.results) == 1, "batch nodes must go out as one enqueue_batch request"
        assert batch.results[0].requested == 6 and batch.results[0].enqueued == 6
        items = batch.wait(timeout=120)
        assert len(items) == 6 and {item.status for item in items} == {"completed"}
        seen = set()
        for item in items:
            values = {(fv["node_path"], fv["field_name"]): fv["value"] for fv in item.to_dict()["field_values"]}
            width, height, word = values[("blank", "width")], values[("blank", "height")], values[("join", "string_left")]
            seen.add((width, height, word))
            results = item.to_dict()["session"]["results"]
            image = next(r for r in results.values() if r["type"] == "image_output")
            assert (image["width"], image["height"]) == (width, height), "the server used the batch values"
            joined = next(r for r in results.values() if r["type"] == "string_output")
            assert joined["value"] == f"{word}!"
        assert seen == {(w, h, s) for w in (32, 48, 64) for h, s in ((16, "left"), (32, "right"))}


def test_user_sweep_multiplies_the_batch_nodes_items(server_url: str) -> None:
    with InvokeAIClient.from_url(server_url) as client:
        wf = client.workflow_repo.create_workflow(batch_workflow())
        wf.get_input_value("Suffix").values = ["?", "!"]
        batch = wf.submit_batch_sync()
        assert len(batch.results) == 1 and batch.results[0].requested == 12
        items = batch.wait(timeout=120)
        suffixes = {
            fv["value"] for item in items for fv in item.to_dict()["field_values"] if fv["field_name"] == "string_right"
        }
        assert suffixes == {"?", "!"} and len(items) == 12
