"""Batch and generator nodes -> `batch.data`, as the GUI's workflow editor enqueues them.

Expected generator values marked "mtwist/JS" were computed with node 22 running the
npm package mtwist 1.0.2 (the GUI's seeded RNG) and JavaScript's own parseInt,
parseFloat, String.split and Math.round, i.e. what the GUI computes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient
from invokeai_py_client._exceptions import ValidationError
from invokeai_py_client.workflow._js import MersenneTwister
from invokeai_py_client.workflow.batch_nodes import (
    batch_data_from_nodes,
    batch_node_items,
    generator_items,
    queue_items_per_run,
)
from invokeai_py_client.workflow.builder import NodeRef, WorkflowBuilder
from invokeai_py_client.workflow.definition import WorkflowDefinition
from invokeai_py_client.workflow.graph import build_graph
from tests.golden import REFERENCE, golden_workflow


def _datum(node: str, field: str, items: list[Any]) -> dict[str, Any]:
    return {"node_path": node, "field_name": field, "items": items}


def _builder() -> tuple[WorkflowBuilder, NodeRef, NodeRef]:
    b = WorkflowBuilder("batch test")
    blank = b.add_node("blank_image", "blank", width=64, height=64, is_intermediate=False)
    join = b.add_node("string_join", "join", string_left="x", string_right="y")
    return b, blank, join


def _defn(b: WorkflowBuilder) -> WorkflowDefinition:
    return WorkflowDefinition.from_dict(b.build())


# -- each batch type -----------------------------------------------------------------------


def test_integer_batch_feeds_its_items_to_every_target() -> None:
    b, blank, _ = _builder()
    ints = b.add_node("integer_batch", "ints", integers=[32, 48, 64])
    b.connect(ints, "value", blank, "width")
    b.connect(ints, "value", blank, "height")
    # one node's edges are one zipped group: width and height move together
    assert batch_data_from_nodes(_defn(b)) == [
        [_datum("blank", "width", [32, 48, 64]), _datum("blank", "height", [32, 48, 64])]
    ]


def test_string_and_float_batches() -> None:
    b, _, join = _builder()
    strings = b.add_node("string_batch", "strings", strings=["a cat", "a dog"])
    math_node = b.add_node("float_math", "math")
    floats = b.add_node("float_batch", "floats", floats=[0.5, 1, 2.25])
    b.connect(strings, "value", join, "string_left")
    b.connect(floats, "value", math_node, "a")
    assert batch_data_from_nodes(_defn(b)) == [
        [_datum("join", "string_left", ["a cat", "a dog"])],
        [_datum("math", "a", [0.5, 1, 2.25])],
    ]


def test_image_batch_sends_image_fields_from_its_image_output_only() -> None:
    b = WorkflowBuilder("images")
    blur = b.add_node("img_blur", "blur")
    math_node = b.add_node("float_math", "math")
    images = b.add_node("image_batch", "images", images=[{"image_name": "a.png"}, {"image_name": "b.png"}])
    b.connect(images, "image", blur, "image")
    b.connect(images, "width", math_node, "a")  # not a batch output: the GUI sends nothing for it
    data = batch_data_from_nodes(_defn(b))
    assert data == [[_datum("blur", "image", [{"image_name": "a.png"}, {"image_name": "b.png"}])]]


def test_graph_keeps_the_fed_inputs_exported_value_and_drops_batch_nodes() -> None:
    b, blank, _ = _builder()
    ints = b.add_node("integer_batch", "ints", integers=[32, 48])
    b.connect(ints, "value", blank, "width")
    graph = build_graph(_defn(b))
    assert set(graph["nodes"]) == {"blank", "join"}
    assert graph["nodes"]["blank"]["width"] == 64  # as the GUI sends it; batch.data wins on the server
    assert graph["edges"] == []


def test_workflow_without_batch_nodes_has_no_batch_data() -> None:
    b, _, _ = _builder()
    assert batch_data_from_nodes(_defn(b)) == []
    assert queue_items_per_run([]) == 1


@pytest.mark.parametrize(
    "name", ["sdxl-text-to-image", "flux-image-to-image", "sdxl-flux-refine", "copy-image", "example-nodes"]
)
def test_reference_gui_exports_make_the_data_their_queue_items_show(name: str) -> None:
    """The GUI exports in reference/ have no batch nodes: no data, and their queue items
    (where recorded) carry no field_values."""
    defn = WorkflowDefinition.from_dict(golden_workflow(name))
    assert batch_data_from_nodes(defn) == []
    item_path = REFERENCE / "queue-items" / f"{name}.queue-item.json"
    if item_path.exists():
        assert not json.loads(item_path.read_text(encoding="utf-8")).get("field_values")


# -- groups --------------------------------------------------------------------------------


def test_groups_follow_the_order_of_first_appearance() -> None:
    """[A None, B G1, C None, D G1] -> [A], [C], [B+D]: the GUI groups by batch_group_id in
    insertion order, and each ungrouped node is a group of its own."""
    b, blank, join = _builder()
    math_node = b.add_node("float_math", "math")
    a = b.add_node("integer_batch", "a", integers=[1, 2, 3])
    bb = b.add_node("string_batch", "b", strings=["p", "q"], batch_group_id="Group 1")
    c = b.add_node("float_batch", "c", floats=[0.5, 1.5])
    d = b.add_node("integer_batch", "d", integers=[7, 8], batch_group_id="Group 1")
    b.connect(a, "value", blank, "width")
    b.connect(bb, "value", join, "string_left")
    b.connect(c, "value", math_node, "a")
    b.connect(d, "value", blank, "height")
    data = batch_data_from_nodes(_defn(b))
    assert data == [
        [_datum("blank", "width", [1, 2, 3])],
        [_datum("math", "a", [0.5, 1.5])],
        [_datum("join", "string_left", ["p", "q"]), _datum("blank", "height", [7, 8])],
    ]
    assert queue_items_per_run(data) == 3 * 2 * 2


def test_zipped_nodes_of_different_lengths_are_refused_naming_them() -> None:
    b, blank, join = _builder()
    w = b.add_node("integer_batch", "w", label="Widths", integers=[1, 2, 3], batch_group_id="Group 2")
    s = b.add_node("string_batch", "s", strings=["p", "q"], batch_group_id="Group 2")
    b.connect(w, "value", blank, "width")
    b.connect(s, "value", join, "string_left")
    with pytest.raises(ValidationError) as info:
        batch_data_from_nodes(_defn(b))
    (problem,) = info.value.problems
    assert "'Group 2'" in problem
    assert "integer_batch node 'w' ('Widths'): 3" in problem and "string_batch node 's': 2" in problem


# -- generators ----------------------------------------------------------------------------


def _generated(generator_type: str, batch_type: str, value: dict[str, Any], own: list[Any] | None = None) -> list[Any]:
    """Items of a batch node fed by a generator node holding `value`, read through the workflow."""
    b = WorkflowBuilder("generated")
    gen = b.add_node(generator_type, "gen", generator=value)
    collection = {"integer_batch": "integers", "float_batch": "floats", "string_batch": "strings"}[batch_type]
    batch = b.add_node(batch_type, "batch", **({collection: own} if own is not None else {}))
    b.connect(gen, collection, batch, collection)
    return batch_node_items(_defn(b), "batch")


GENERATED = [
    ("integer_generator", "integer_batch",
     {"type": "integer_generator_arithmetic_sequence", "start": 2, "step": 3, "count": 4}, [2, 5, 8, 11]),
    ("integer_generator", "integer_batch",
     {"type": "integer_generator_arithmetic_sequence", "start": 5, "step": 0, "count": 4}, [5]),
    ("integer_generator", "integer_batch",
     {"type": "integer_generator_arithmetic_sequence", "start": 5, "step": 1, "count": -2}, []),
    # mtwist/JS: Math.round rounds halves up (2.5 -> 3, -2.5 -> -2)
    ("integer_generator", "integer_batch",
     {"type": "integer_generator_linear_distribution", "start": 0, "end": 5, "count": 3}, [0, 3, 5]),
    ("integer_generator", "integer_batch",
     {"type": "integer_generator_linear_distribution", "start": -3, "end": 4, "count": 6}, [-3, -2, 0, 1, 3, 4]),
    ("integer_generator", "integer_batch",
     {"type": "integer_generator_linear_distribution", "start": 0, "end": -5, "count": 3}, [0, -2, -5]),
    ("integer_generator", "integer_batch",
     {"type": "integer_generator_linear_distribution", "start": 9, "end": 20, "count": 1}, [9]),
    # mtwist/JS
    ("integer_generator", "integer_batch",
     {"type": "integer_generator_random_distribution_uniform", "min": -3, "max": 7, "count": 8, "seed": 123},
     [4, 4, 0, 1, -1, 4, 3, 4]),
    ("integer_generator", "integer_batch",
     {"type": "integer_generator_random_distribution_uniform", "count": 3, "seed": -5}, [4, 6, 10]),
    # mtwist/JS: parseInt keeps a leading integer, drops what is not one
    ("integer_generator", "integer_batch",
     {"type": "integer_generator_parse_string", "input": "3\n -4 \n1.9\nx7\n+8\n\n0x10", "splitOn": "\\n"},
     [3, -4, 1, 8, 0]),
    ("integer_generator", "integer_batch", {}, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),  # the GUI's defaults
    ("float_generator", "float_batch",
     {"type": "float_generator_arithmetic_sequence", "start": 0.1, "step": 0.2, "count": 4},
     [0.1, 0.30000000000000004, 0.5, 0.7000000000000001]),
    ("float_generator", "float_batch",
     {"type": "float_generator_linear_distribution", "count": 5}, [0, 0.25, 0.5, 0.75, 1]),
    ("float_generator", "float_batch",
     {"type": "float_generator_linear_distribution", "start": 2.5, "end": 9, "count": 1}, [2.5]),
    # mtwist/JS
    ("float_generator", "float_batch",
     {"type": "float_generator_random_distribution_uniform", "min": -1, "max": 2.5, "count": 5, "seed": 42},
     [0.3108904000837356, 1.7879004447022453, 2.327500090468675, -0.35797824314795434, 1.5619787841569632]),
    # mtwist/JS: parseFloat keeps a leading number ("2e3x" -> 2000, "0x10" -> 0, "1_000" -> 1)
    ("float_generator", "float_batch",
     {"type": "float_generator_parse_string", "input": " 1.5, -.5 ,abc, 2e3x, 7., , 0x10, 1_000"},
     [1.5, -0.5, 2000, 7, 0, 1]),
    ("float_generator", "float_batch",
     {"type": "float_generator_linear_distribution", "count": 5, "values": [0.25, 3]}, [0.25, 3]),
    # mtwist/JS: splitOn is read as a JSON string body ("\\t" -> the two characters \t) ...
    ("string_generator", "string_batch",
     {"type": "string_generator_parse_string", "input": "a cat\\ta dog\\t\\t x ", "splitOn": "\\\\t"},
     ["a cat", "a dog", " x "]),
    # ... or taken as it is when it is not one; strings are not trimmed, empty ones dropped
    ("string_generator", "string_batch",
     {"type": "string_generator_parse_string", "input": 'a"b""c', "splitOn": '"'}, ["a", "b", "c"]),
    ("string_generator", "string_batch",
     {"type": "string_generator_parse_string", "input": "one line", "splitOn": ""}, ["one line"]),
    ("string_generator", "string_batch", {"type": "string_generator_parse_string"}, ["foo", "bar", "baz", "qux"]),
]


@pytest.mark.parametrize(("generator_type", "batch_type", "value", "expected"), GENERATED)
def test_generator_expands_like_the_gui(
    generator_type: str, batch_type: str, value: dict[str, Any], expected: list[Any]
) -> None:
    items = _generated(generator_type, batch_type, value)
    assert items == expected
    assert [type(v) for v in items] == [type(v) for v in expected]  # whole floats go out as JS writes them


def test_generator_replaces_the_batch_nodes_own_values() -> None:
    value = {"type": "integer_generator_arithmetic_sequence", "start": 1, "step": 1, "count": 2}
    assert _generated("integer_generator", "integer_batch", value, own=[7, 8, 9]) == [1, 2]


def test_unseeded_random_generator_makes_count_values_in_range() -> None:
    value = {"type": "integer_generator_random_distribution_uniform", "min": 3, "max": 5, "count": 50}
    items = generator_items("integer_generator", value)
    assert len(items) == 50 and set(items) <= {3, 4, 5}


def test_mersenne_twister_matches_the_reference_outputs() -> None:
    mt = MersenneTwister(5489)  # the reference implementation's default seed
    assert [mt.uint32() for _ in range(3)] == [3499211612, 581869302, 3890346734]


def test_generator_reached_through_a_connector() -> None:
    b, blank, _ = _builder()
    b.add_node("integer_generator", "gen",
               generator={"type": "integer_generator_arithmetic_sequence", "start": 8, "step": 8, "count": 3})
    ints = b.add_node("integer_batch", "ints", integers=[99])  # the generator wins over these
    b.connect(ints, "value", blank, "width")
    wf = b.build()
    wf["nodes"].append({"id": "conn", "type": "connector", "position": {"x": 0, "y": 0}, "data": {}})
    wf["edges"].append({"id": "e1", "type": "default", "source": "gen", "sourceHandle": "integers",
                        "target": "conn", "targetHandle": "in"})
    wf["edges"].append({"id": "e2", "type": "default", "source": "conn", "sourceHandle": "out",
                        "target": "ints", "targetHandle": "integers"})
    assert batch_data_from_nodes(WorkflowDefinition.from_dict(wf)) == [[_datum("blank", "width", [8, 16, 24])]]


@pytest.mark.parametrize(
    ("generator_type", "batch_type", "value", "needle"),
    [
        ("image_generator", "image_batch",
         {"type": "image_generator_images_from_board", "board_id": "b1", "category": "images"},
         "image_generator_images_from_board is not supported yet"),
        ("string_generator", "string_batch",
         {"type": "string_generator_dynamic_prompts_combinatorial", "input": "{a|b}", "maxPrompts": 5},
         "string_generator_dynamic_prompts_combinatorial is not supported yet"),
        ("string_generator", "string_batch",
         {"type": "string_generator_dynamic_prompts_random", "input": "{a|b}", "count": 5, "seed": 1},
         "string_generator_dynamic_prompts_random is not supported yet"),
        ("integer_generator", "integer_batch", {"type": "integer_generator_zigzag"}, "unknown integer_generator type"),
        ("integer_generator", "integer_batch",
         {"type": "integer_generator_arithmetic_sequence", "start": 1.5}, "parameter 'start' is 1.5, not int"),
    ],
)
def test_generators_this_client_cannot_expand_are_refused_naming_the_node(
    generator_type: str, batch_type: str, value: dict[str, Any], needle: str
) -> None:
    b, blank, join = _builder()
    gen = b.add_node(generator_type, "gen", label="My generator", generator=value)
    collection = {"image_batch": "images", "string_batch": "strings", "integer_batch": "integers"}[batch_type]
    batch = b.add_node(batch_type, "batch")
    b.connect(gen, collection, batch, collection)
    if batch_type == "image_batch":
        b.connect(batch, "image", b.add_node("img_blur", "blur"), "image")
    else:
        b.connect(batch, "value", *{"string_batch": (join, "string_left"), "integer_batch": (blank, "width")}[batch_type])
    defn = _defn(b)
    with pytest.raises(ValidationError) as info:
        batch_data_from_nodes(defn)
    (problem,) = info.value.problems
    assert needle in problem and problem.startswith(f"{generator_type} node 'gen' ('My generator'): ")


# -- the GUI's other rules, and what the server would reject -------------------------------


def _refused(b: WorkflowBuilder | dict[str, Any]) -> list[str]:
    defn = WorkflowDefinition.from_dict(b if isinstance(b, dict) else b.build())
    with pytest.raises(ValidationError) as info:
        batch_data_from_nodes(defn)
    return info.value.problems


def test_unconnected_and_empty_batch_nodes_are_refused_naming_them() -> None:
    b, _, join = _builder()
    b.add_node("integer_batch", "lonely", label="Lonely", integers=[1])
    empty = b.add_node("string_batch", "empty", strings=[])
    b.connect(empty, "value", join, "string_left")
    problems = _refused(b)
    assert "integer_batch node 'lonely' ('Lonely') is not connected to anything" in problems
    assert "string_batch node 'empty' has an empty collection" in problems


def test_bad_items_are_refused() -> None:
    b, blank, _ = _builder()
    ints = b.add_node("integer_batch", "ints", integers=[1, "2"])
    b.connect(ints, "value", blank, "width")
    assert any("'2' is not a integer" in p for p in _refused(b))


def test_two_batch_nodes_feeding_one_input_are_refused() -> None:
    b, blank, _ = _builder()
    one = b.add_node("integer_batch", "one", integers=[1, 2])
    two = b.add_node("integer_batch", "two", integers=[3, 4])
    b.connect(one, "value", blank, "width")
    b.connect(two, "value", blank, "width")
    assert any("blank.width is fed by both integer_batch node 'one'" in p for p in _refused(b))


def test_batch_node_feeding_a_connector_is_refused() -> None:
    b, _, _ = _builder()
    ints = b.add_node("integer_batch", "ints", integers=[1, 2])
    wf = b.build()
    wf["nodes"].append({"id": "conn", "type": "connector", "position": {"x": 0, "y": 0}, "data": {}})
    wf["edges"] += [
        {"id": "e1", "type": "default", "source": ints.id, "sourceHandle": "value", "target": "conn",
         "targetHandle": "in"},
        {"id": "e2", "type": "default", "source": "conn", "sourceHandle": "out", "target": "blank",
         "targetHandle": "width"},
    ]
    assert any("feeds connector node 'conn'" in p for p in _refused(wf))


def test_batch_collection_fed_by_the_wrong_generator_is_refused() -> None:
    b, blank, _ = _builder()
    gen = b.add_node("float_generator", "gen", generator={"type": "float_generator_linear_distribution"})
    ints = b.add_node("integer_batch", "ints", integers=[1])
    b.connect(ints, "value", blank, "width")
    wf = b.build()
    wf["edges"].append({"id": "e", "type": "default", "source": gen.id, "sourceHandle": "floats",
                        "target": "ints", "targetHandle": "integers"})
    assert any("fed by float_generator node 'gen', not a integer_generator" in p for p in _refused(wf))


# -- submission ----------------------------------------------------------------------------


class _Queue:
    """A fake server that records enqueue_batch bodies and answers like 6.14 does."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/enqueue_batch"):
            body = json.loads(request.content)
            self.bodies.append(body)
            n = queue_items_per_run(body["batch"]["data"]) * body["batch"]["runs"]
            return httpx.Response(200, json={
                "queue_id": "default", "enqueued": n, "requested": n, "priority": 0,
                "batch": {"batch_id": f"b{len(self.bodies)}", **body["batch"]},
                "item_ids": list(range(1, n + 1)),
            })
        return httpx.Response(404, json={"detail": request.url.path})


def _form_workflow() -> WorkflowDefinition:
    b, blank, join = _builder()
    ints = b.add_node("integer_batch", "ints", integers=[32, 48, 64])
    b.connect(ints, "value", blank, "width")
    b.expose(blank, "width", label="Width")
    b.expose(blank, "height", label="Height")
    b.expose(join, "string_right", label="Right")
    return _defn(b)


@pytest.fixture
def queue() -> _Queue:
    return _Queue()


@pytest.fixture
def client(queue: _Queue) -> Any:
    with InvokeAIClient("http://t", transport=httpx.MockTransport(queue), use_events=False) as c:
        yield c


def test_batch_nodes_come_first_then_the_users_sweeps_in_one_request(client: Any, queue: _Queue) -> None:
    wf = client.workflow_repo.create_workflow(_form_workflow())
    wf.get_input_value("Height").values = [16, 24]
    wf.get_input_value("Right").values = ["r1", "r2"]
    batch = wf.submit_batch_sync(zipped=[["Height", "Right"]])
    assert len(queue.bodies) == 1 and len(batch) == 6
    assert queue.bodies[0]["batch"]["data"] == [
        [_datum("blank", "width", [32, 48, 64])],
        [_datum("blank", "height", [16, 24]), _datum("join", "string_right", ["r1", "r2"])],
    ]


def test_setting_an_input_a_batch_node_feeds_is_refused_before_enqueueing(client: Any, queue: _Queue) -> None:
    wf = client.workflow_repo.create_workflow(_form_workflow())
    wf.get_input_value("Width").values = [1, 2]
    with pytest.raises(ValidationError) as info:
        wf.submit_batch_sync()
    assert "(blank.width): its sweep clashes with the batch node feeding it" in str(info.value)
    wf.get_input_value("Width").value = 100
    with pytest.raises(ValidationError, match=r"blank\.width\): its value clashes"):
        wf.submit_batch_sync()
    assert queue.bodies == []


def test_submit_sync_refuses_a_workflow_whose_batch_nodes_make_several_items(client: Any, queue: _Queue) -> None:
    wf = client.workflow_repo.create_workflow(_form_workflow())
    with pytest.raises(ValidationError, match=r"make 3 queue items; submit it with submit_batch_sync\(\)"):
        wf.submit_sync()
    assert queue.bodies == []


def test_submit_sync_accepts_a_batch_node_of_one_item(client: Any, queue: _Queue) -> None:
    raw = _form_workflow().raw()
    for node in raw["nodes"]:
        if node["id"] == "ints":
            node["data"]["inputs"]["integers"]["value"] = [40]
    wf = client.workflow_repo.create_workflow(WorkflowDefinition.from_dict(raw))
    wf.submit_sync()
    assert queue.bodies[0]["batch"]["data"] == [[_datum("blank", "width", [40])]]


def test_async_submit_refuses_it_too_and_submit_batch_sends_the_data(queue: _Queue) -> None:
    async def run() -> int:
        transport = httpx.MockTransport(queue)
        async with AsyncInvokeAIClient("http://t", transport=transport, use_events=False) as client:
            wf = await client.workflow_repo.create_workflow(_form_workflow())
            with pytest.raises(ValidationError, match=r"submit it with submit_batch\(\)"):
                await wf.submit()
            assert queue.bodies == []
            return len(await wf.submit_batch())

    assert asyncio.run(run()) == 3
    assert queue.bodies[0]["batch"]["data"] == [[_datum("blank", "width", [32, 48, 64])]]
