"""Workflow -> graph and enqueue body: golden against what the GUI sent, plus the GUI's rules."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from invokeai_py_client._exceptions import ValidationError
from invokeai_py_client.workflow.definition import WorkflowDefinition
from invokeai_py_client.workflow.graph import build_batch, build_graph, edge_fed_inputs
from tests.golden import golden_json

NO_VALUE = object()

# The GUI's auto-add board when each reference item was enqueued: GUI state, not part of the
# workflow ('auto'/empty board inputs become this board; None = the GUI had it set to 'none').
AUTO_ADD_BOARD = {
    "sdxl-text-to-image": None,
    "flux-image-to-image": None,
    "sdxl-flux-refine": "abf4afa1-5797-48a0-8e4c-f072b51f2151",
}


def _server_defaults() -> dict[str, dict[str, Any]]:
    """Each invocation type's input defaults, from the 6.14.2 server's /openapi.json."""
    schemas = golden_json("invokeai-6.14.2-openapi.json")["components"]["schemas"]
    out: dict[str, dict[str, Any]] = {}
    for schema in schemas.values():
        props = schema.get("properties", {})
        node_type = props.get("type", {}).get("default")
        if (
            isinstance(node_type, str)
            and props.get("type", {}).get("field_kind") == "node_attribute"
        ):
            out[node_type] = {k: v["default"] for k, v in props.items() if "default" in v}
    return out


# -- golden ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(AUTO_ADD_BOARD))
def test_graph_equals_what_the_gui_enqueued(name: str) -> None:
    defn = WorkflowDefinition.from_dict(golden_json(f"workflows/{name}.json"))
    sent = golden_json(f"queue-items/{name}.queue-item.json")["session"]["graph"]
    defaults = _server_defaults()

    graph = build_graph(defn, {}, auto_board_id=AUTO_ADD_BOARD[name])

    # The id is a fresh UUID per build, as in the GUI (uuidv4()).
    assert uuid.UUID(graph["id"]) and graph["id"] != sent["id"]
    assert graph["edges"] == sent["edges"]  # same edges in the same order
    assert set(graph["nodes"]) == set(sent["nodes"])
    for node_id, expected in sent["nodes"].items():
        ours = graph["nodes"][node_id]
        assert {k: expected[k] for k in ours} == ours, node_id
        # session.graph is the server's dump of the graph it parsed: inputs the GUI left out
        # (edge-fed ones, unset ones) appear there with the invocation's schema default.
        for key in expected.keys() - ours.keys():
            assert expected[key] == defaults[expected["type"]][key], (node_id, key)


@pytest.mark.parametrize("name", sorted(AUTO_ADD_BOARD))
def test_untouched_inputs_keep_their_exported_values(name: str) -> None:
    raw = golden_json(f"workflows/{name}.json")
    defn = WorkflowDefinition.from_dict(raw)
    graph = build_graph(defn, {})
    fed = edge_fed_inputs(defn)
    for node in raw["nodes"]:
        if node["type"] != "invocation":
            continue
        for field, entry in node["data"]["inputs"].items():
            if (node["id"], field) in fed or field == "board" or "value" not in entry:
                assert field not in graph["nodes"][node["id"]] or field == "board"
            else:
                assert graph["nodes"][node["id"]][field] == entry["value"]


@pytest.mark.parametrize("name", sorted(AUTO_ADD_BOARD))
def test_edge_fed_inputs_are_the_destinations_the_gui_sent(name: str) -> None:
    defn = WorkflowDefinition.from_dict(golden_json(f"workflows/{name}.json"))
    sent = golden_json(f"queue-items/{name}.queue-item.json")["session"]["graph"]
    expected = {(e["destination"]["node_id"], e["destination"]["field"]) for e in sent["edges"]}
    assert edge_fed_inputs(defn) == expected == defn.edge_fed_inputs()


@pytest.mark.parametrize("name", sorted(AUTO_ADD_BOARD))
def test_batch_workflow_is_what_the_server_stored(name: str) -> None:
    raw = golden_json(f"workflows/{name}.json")
    item = golden_json(f"queue-items/{name}.queue-item.json")
    defn = WorkflowDefinition.from_dict(raw)
    graph = build_graph(defn, {})

    body = build_batch(defn, graph, origin="workflows", destination="gallery")

    assert body["prepend"] is False
    batch = body["batch"]
    assert batch["graph"] == graph and batch["graph"] is not graph
    assert (batch["runs"], batch["origin"], batch["destination"], batch["data"]) == (
        1,
        "workflows",
        "gallery",
        [],
    )
    assert "id" not in batch["workflow"]
    # The server keeps the workflow as its WorkflowWithoutID model (extra keys such as
    # `is_published` ignored), which is exactly what the GUI sent minus unknown keys.
    assert batch["workflow"] == item["workflow"]
    assert (item["origin"], item["destination"]) == ("workflows", "gallery")


def _edited(value: Any) -> Any:
    """A different value of the same kind, as a user would type into the editor."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 3
    if isinstance(value, str):
        return value + " (edited)"
    return None


@pytest.mark.parametrize("name", sorted(AUTO_ADD_BOARD))
def test_embedded_workflow_carries_the_values_that_ran_as_the_gui_embeds_them(name: str) -> None:
    raw = golden_json(f"workflows/{name}.json")
    item = golden_json(f"queue-items/{name}.queue-item.json")
    defn = WorkflowDefinition.from_dict(raw)
    # The GUI embeds the editor's document: edited values sit in data.inputs[name].value.
    gui = copy.deepcopy(item["workflow"])
    values: dict[tuple[str, str], Any] = {}
    for node in gui["nodes"]:
        if node["type"] != "invocation":
            continue
        for field_name, entry in node["data"]["inputs"].items():
            new = _edited(entry.get("value"))
            if new is not None and (node["id"], field_name) not in defn.edge_fed_inputs():
                entry["value"] = new
                values[(node["id"], field_name)] = new
    assert len(values) >= 5

    batch = build_batch(defn, build_graph(defn, values), origin=None, destination=None, values=values)["batch"]

    assert batch["workflow"] == gui
    graph_nodes = batch["graph"]["nodes"]
    for (node_id, field_name), value in values.items():
        if node_id in graph_nodes:
            assert graph_nodes[node_id][field_name] == value


def test_batch_carries_runs_data_and_prepend() -> None:
    defn = WorkflowDefinition.from_dict(_workflow([_node("a", "integer", {"value": 1})], []))
    data = [[{"node_path": "a", "field_name": "value", "items": [1, 2, 3]}]]
    body = build_batch(
        defn, build_graph(defn), origin=None, destination="x", runs=2, data=data, prepend=True
    )
    assert body["prepend"] is True
    assert (
        body["batch"]["runs"] == 2
        and body["batch"]["data"] == data
        and body["batch"]["origin"] is None
    )
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValidationError, match="runs"):
            build_batch(defn, build_graph(defn), origin=None, destination=None, runs=bad)  # type: ignore[arg-type]


# -- overrides ---------------------------------------------------------------------------


def test_overrides_replace_only_their_inputs() -> None:
    raw = _workflow(
        [
            _node("p", "string", {"value": "old"}),
            _node("n", "noise", {"seed": 1, "width": 64, "height": 64}),
        ],
        [],
    )
    defn = WorkflowDefinition.from_dict(raw)
    before = build_graph(defn)
    after = build_graph(defn, {("p", "value"): "new", ("n", "seed"): 7})
    assert after["nodes"]["p"]["value"] == "new" and after["nodes"]["n"]["seed"] == 7
    after["nodes"]["p"]["value"], after["nodes"]["n"]["seed"] = "old", 1
    assert after["nodes"] == before["nodes"]
    assert defn.raw() == raw  # nothing leaked back into the definition


def test_override_value_is_copied() -> None:
    defn = WorkflowDefinition.from_dict(
        _workflow([_node("c", "integer_collection", {"collection": [1]})], [])
    )
    value = [1, 2]
    graph = build_graph(defn, {("c", "collection"): value})
    value.append(3)
    assert graph["nodes"]["c"]["collection"] == [1, 2]


def test_bad_overrides_are_all_reported() -> None:
    nodes = [_node("a", "integer", {"value": 1}), _node("b", "integer_batch", {"integers": [1]})]
    defn = WorkflowDefinition.from_dict(_workflow(nodes, []))
    with pytest.raises(ValidationError) as info:
        build_graph(defn, {("ghost", "value"): 1, ("a", "nope"): 1, ("b", "integers"): [2]})
    assert len(info.value.problems) == 3
    text = "\n".join(info.value.problems)
    assert (
        "no node 'ghost'" in text and "no input 'nope'" in text and "not part of the graph" in text
    )


def test_override_of_an_edge_fed_input_is_dropped_like_the_gui_does() -> None:
    nodes = [_node("a", "integer", {"value": 3}), _node("b", "add", {"a": 0, "b": 1})]
    defn = WorkflowDefinition.from_dict(_workflow(nodes, [_edge("a", "value", "b", "a")]))
    graph = build_graph(defn, {("b", "a"): 99})
    assert "a" not in graph["nodes"]["b"] and graph["nodes"]["b"]["b"] == 1


# -- the GUI's rules, one by one ---------------------------------------------------------


def test_node_shape_and_reserved_keys() -> None:
    node = _node(
        "l2i", "l2i", {"tiled": False, "latents": NO_VALUE}, use_cache=False, is_intermediate=False
    )
    node["data"]["label"] = "ignored"
    node["position"] = {"x": 5, "y": 6}
    graph = build_graph(WorkflowDefinition.from_dict(_workflow([node], [])))
    assert graph["nodes"] == {
        "l2i": {
            "type": "l2i",
            "id": "l2i",
            "tiled": False,
            "use_cache": False,
            "is_intermediate": False,
        }
    }
    assert list(graph["nodes"]["l2i"]) == ["type", "id", "tiled", "use_cache", "is_intermediate"]


@pytest.mark.parametrize(
    ("value", "auto", "expected"),
    [
        ("none", None, NO_VALUE),
        ("none", "b-auto", NO_VALUE),
        ("auto", None, NO_VALUE),
        ("auto", "b-auto", {"board_id": "b-auto"}),
        ("", "b-auto", {"board_id": "b-auto"}),
        (None, "b-auto", {"board_id": "b-auto"}),
        (NO_VALUE, "b-auto", {"board_id": "b-auto"}),
        ("auto", "none", NO_VALUE),
        ({"board_id": "b1"}, "b-auto", {"board_id": "b1"}),
    ],
)
def test_board_values(value: Any, auto: str | None, expected: Any) -> None:
    defn = WorkflowDefinition.from_dict(_workflow([_node("s", "save_image", {"board": value})], []))
    node = build_graph(defn, auto_board_id=auto)["nodes"]["s"]
    assert node.get("board", NO_VALUE) == expected
    if value is NO_VALUE:
        return
    # an override goes through the same translation
    overridden = build_graph(defn, {("s", "board"): value}, auto_board_id=auto)["nodes"]["s"]
    assert overridden.get("board", NO_VALUE) == expected


def test_only_executable_invocations_become_nodes() -> None:
    nodes = [
        _node("batch", "string_batch", {"strings": ["a", "b"]}),
        _node("gen", "integer_generator", {"generator": {"type": "x"}}),
        _node("join", "string_join", {"string_left": "exported", "string_right": "r"}),
        {
            "id": "note",
            "type": "notes",
            "position": {"x": 0, "y": 0},
            "data": {"id": "note", "type": "notes", "label": "", "notes": "hi", "isOpen": True},
        },
    ]
    edges = [
        _edge("batch", "value", "join", "string_left"),
        _edge("gen", "integers", "join", "string_right"),
    ]
    graph = build_graph(WorkflowDefinition.from_dict(_workflow(nodes, edges)))
    assert list(graph["nodes"]) == ["join"]
    assert graph["edges"] == []
    # the GUI only omits inputs fed by edges it sends: batch values arrive as batch.data
    assert graph["nodes"]["join"]["string_left"] == "exported"


def test_collapsed_edges_are_dropped() -> None:
    nodes = [_node("a", "integer", {"value": 1}), _node("b", "add", {"a": 0, "b": 0})]
    edges = [
        _edge("a", "value", "b", "a"),
        {"id": "c1", "type": "collapsed", "source": "a", "target": "b"},
    ]
    graph = build_graph(WorkflowDefinition.from_dict(_workflow(nodes, edges)))
    assert graph["edges"] == [_graph_edge("a", "value", "b", "a")]


def test_connectors_resolve_through_chains_and_duplicates_go() -> None:
    nodes = [
        _node("src", "integer", {"value": 4}),
        _connector("c1"),
        _connector("c2"),
        _connector("dangling"),
        _node("dst", "add", {"a": 0, "b": 0}),
        _node("dst2", "add", {"a": 0, "b": 0}),
    ]
    edges = [
        _edge("src", "value", "c1", "in"),
        _edge("c1", "out", "c2", "in"),
        _edge("c2", "out", "dst", "a"),
        _edge("src", "value", "dst", "a", edge_id="direct-duplicate"),
        _edge("c1", "out", "dst2", "b"),
        _edge("dangling", "out", "dst2", "a"),
    ]
    defn = WorkflowDefinition.from_dict(_workflow(nodes, edges, version="4.0.0"))
    graph = build_graph(defn)
    assert list(graph["nodes"]) == ["src", "dst", "dst2"]
    assert graph["edges"] == [
        _graph_edge("src", "value", "dst", "a"),
        _graph_edge("src", "value", "dst2", "b"),
    ]
    # a connector with no input feeds nothing, so dst2.a keeps its value
    assert graph["nodes"]["dst"] == {
        "type": "add",
        "id": "dst",
        "b": 0,
        "use_cache": True,
        "is_intermediate": True,
    }
    assert graph["nodes"]["dst2"]["a"] == 0 and "b" not in graph["nodes"]["dst2"]
    assert edge_fed_inputs(defn) == {("dst", "a"), ("dst2", "b")}


def test_connector_cycle_resolves_to_nothing() -> None:
    nodes = [_connector("c1"), _connector("c2"), _node("dst", "add", {"a": 0, "b": 0})]
    edges = [
        _edge("c1", "out", "c2", "in"),
        _edge("c2", "out", "c1", "in"),
        _edge("c2", "out", "dst", "a"),
    ]
    graph = build_graph(WorkflowDefinition.from_dict(_workflow(nodes, edges, version="4.0.0")))
    assert graph["edges"] == [] and graph["nodes"]["dst"]["a"] == 0


def test_call_saved_workflow_inputs_fold_into_workflow_inputs() -> None:
    call = _node(
        "call",
        "call_saved_workflow",
        {
            "workflow_id": "wf-1",
            "workflow_inputs": {"stale": True},
            "saved_workflow_input::n1::prompt": "a cat",
            "saved_workflow_input::n2::seed": 5,
            "saved_workflow_input::n3::steps": NO_VALUE,
        },
    )
    nodes = [_node("seed", "integer", {"value": 9}), call]
    edges = [_edge("seed", "value", "call", "saved_workflow_input::n2::seed")]
    defn = WorkflowDefinition.from_dict(_workflow(nodes, edges))
    node = build_graph(defn, {("call", "saved_workflow_input::n1::prompt"): "a dog"})["nodes"][
        "call"
    ]
    assert node == {
        "type": "call_saved_workflow",
        "id": "call",
        "workflow_id": "wf-1",
        "workflow_inputs": {"saved_workflow_input::n1::prompt": "a dog"},
        "use_cache": True,
        "is_intermediate": True,
    }
    with pytest.raises(ValidationError):
        build_graph(defn, {("call", "workflow_inputs"): {}})


def test_call_saved_workflow_without_inputs_sends_an_empty_dict() -> None:
    defn = WorkflowDefinition.from_dict(
        _workflow([_node("call", "call_saved_workflow", {"workflow_id": "w"})], [])
    )
    assert build_graph(defn)["nodes"]["call"]["workflow_inputs"] == {}


def test_each_build_has_a_new_id() -> None:
    defn = WorkflowDefinition.from_dict(_workflow([_node("a", "integer", {"value": 1})], []))
    assert build_graph(defn)["id"] != build_graph(defn)["id"]


def test_server_workflow_keeps_only_what_the_gui_sends() -> None:
    node = _node("a", "integer", {"value": 1})
    node["width"], node["height"], node["selected"] = 320, 200, True
    raw = _workflow([node, _node("b", "add", {"a": 0, "b": 0})], [_edge("a", "value", "b", "a")])
    raw["edges"][0]["animated"] = True
    raw["id"], raw["is_published"] = "wf-id", False
    out = WorkflowDefinition.from_dict(raw).server_workflow()
    assert "id" not in out and "is_published" not in out
    assert set(out["nodes"][0]) == {"id", "type", "data", "position"}
    assert set(out["edges"][0]) == {
        "id",
        "type",
        "source",
        "target",
        "sourceHandle",
        "targetHandle",
    }
    out["nodes"][0]["data"]["inputs"]["value"]["value"] = 2
    assert WorkflowDefinition.from_dict(raw).nodes["a"]["data"]["inputs"]["value"]["value"] == 1


# -- helpers -----------------------------------------------------------------------------


def _node(
    node_id: str,
    node_type: str,
    inputs: dict[str, Any],
    *,
    use_cache: bool = True,
    is_intermediate: bool = True,
) -> dict[str, Any]:
    fields = {}
    for name, value in inputs.items():
        fields[name] = {"name": name, "label": "", "description": ""}
        if value is not NO_VALUE:
            fields[name]["value"] = copy.deepcopy(value)
    return {
        "id": node_id,
        "type": "invocation",
        "position": {"x": 0, "y": 0},
        "data": {
            "id": node_id,
            "type": node_type,
            "version": "1.0.0",
            "label": "",
            "notes": "",
            "isOpen": True,
            "isIntermediate": is_intermediate,
            "useCache": use_cache,
            "nodePack": "invokeai",
            "inputs": fields,
        },
    }


def _connector(node_id: str) -> dict[str, Any]:
    data = {"id": node_id, "type": "connector", "label": "", "isOpen": True}
    return {"id": node_id, "type": "connector", "position": {"x": 0, "y": 0}, "data": data}


def _edge(
    source: str, source_handle: str, target: str, target_handle: str, *, edge_id: str | None = None
) -> dict[str, Any]:
    return {
        "id": edge_id or f"{source}-{source_handle}-{target}-{target_handle}",
        "type": "default",
        "source": source,
        "sourceHandle": source_handle,
        "target": target,
        "targetHandle": target_handle,
    }


def _graph_edge(source: str, source_field: str, target: str, target_field: str) -> dict[str, Any]:
    return {
        "source": {"node_id": source, "field": source_field},
        "destination": {"node_id": target, "field": target_field},
    }


def _workflow(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]], *, version: str = "3.0.0"
) -> dict[str, Any]:
    return {
        "name": "t",
        "author": "",
        "description": "",
        "version": "1.0",
        "contact": "",
        "tags": "",
        "notes": "",
        "exposedFields": [],
        "meta": {"category": "user", "version": version},
        "nodes": nodes,
        "edges": edges,
        "form": {
            "elements": {
                "root": {
                    "id": "root",
                    "type": "container",
                    "data": {"layout": "column", "children": []},
                }
            },
            "rootElementId": "root",
        },
    }


def _scramble(value: Any) -> None:
    """Change every dict and list inside `value`, in place."""
    if isinstance(value, dict):
        for item in list(value.values()):
            _scramble(item)
        value["scrambled"] = True
    elif isinstance(value, list):
        for item in value:
            _scramble(item)
        value.append("scrambled")


@pytest.mark.parametrize("name", ["sdxl-text-to-image", "flux-image-to-image"])
def test_a_body_shares_nothing_with_its_workflow(name: str) -> None:
    defn = WorkflowDefinition.from_dict(golden_json(f"workflows/{name}.json"))
    first = build_batch(defn, build_graph(defn), origin=None, destination=None, runs=1)
    expected = copy.deepcopy(first)
    _scramble(first)  # a caller (or the server's answer) may change what it was given
    again = build_batch(defn, build_graph(defn), origin=None, destination=None, runs=1)
    again["batch"]["graph"]["id"] = expected["batch"]["graph"]["id"]
    assert again == expected
