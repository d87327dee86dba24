"""Loading exported workflows: versions, immutability, and errors that name every problem."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from invokeai_py_client._exceptions import ValidationError
from invokeai_py_client.workflow.definition import WorkflowDefinition
from invokeai_py_client.workflow.form import form_inputs
from invokeai_py_client.workflow.graph import build_graph
from tests.golden import golden_path, golden_workflow

NAMES = ("sdxl-text-to-image", "flux-image-to-image", "sdxl-flux-refine")


def _problems(data: Any) -> list[str]:
    with pytest.raises(ValidationError) as info:
        WorkflowDefinition.from_dict(data)
    return info.value.problems


# -- loading -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_reference_workflows_load(name: str) -> None:
    path = golden_path(f"workflows/{name}.json")
    raw = golden_workflow(name)
    defn = WorkflowDefinition.from_file(path)
    assert defn.name == raw["name"] and defn.description == raw["description"]
    assert defn.version == raw["version"]
    assert defn.schema_version == "3.0.0"
    assert defn.id == raw.get("id")
    assert list(defn.nodes.keys()) == [n["id"] for n in raw["nodes"]]
    assert [n["id"] for n in defn.nodes] == list(defn.nodes.keys())  # iterated, the nodes (1.1.1 had a list)
    assert defn.nodes[0]["id"] == raw["nodes"][0]["id"]
    assert defn.edges == raw["edges"]
    assert defn.form == raw["form"]
    assert defn.exposed_fields == [(f["nodeId"], f["fieldName"]) for f in raw["exposedFields"]]
    assert defn.raw() == raw
    assert defn.source == f"workflow file {str(path)!r}"


def test_nothing_handed_out_aliases_the_definition() -> None:
    raw = golden_workflow("sdxl-text-to-image")
    original = copy.deepcopy(raw)
    defn = WorkflowDefinition.from_dict(raw)
    raw["nodes"].clear()  # the caller's dict is copied, not kept
    for mutate in (
        lambda: defn.raw()["nodes"].clear(),
        lambda: next(iter(defn.nodes.values()))["data"]["inputs"].clear(),
        lambda: defn.edges.clear(),
        lambda: defn.form["elements"].clear(),  # type: ignore[index]
        lambda: defn.server_workflow()["nodes"][0]["data"].clear(),
    ):
        mutate()
    assert defn.raw() == original


def test_from_json_accepts_text_and_bytes() -> None:
    text = json.dumps(golden_workflow("flux-image-to-image"))
    assert (
        WorkflowDefinition.from_json(text).nodes
        == WorkflowDefinition.from_json(text.encode()).nodes
    )


def test_version_4_with_connectors_loads() -> None:
    raw = golden_workflow("sdxl-text-to-image")
    raw["meta"]["version"] = "4.0.0"
    raw["nodes"].append(
        {
            "id": "c",
            "type": "connector",
            "position": {"x": 0, "y": 0},
            "data": {"id": "c", "type": "connector", "label": "", "isOpen": True},
        }
    )
    assert WorkflowDefinition.from_dict(raw).schema_version == "4.0.0"


def test_version_2_has_no_form_and_uses_exposed_fields() -> None:
    raw = golden_workflow("flux-image-to-image")
    raw["meta"]["version"] = "2.0.0"  # a 2.0.0 export has no form; a stray one is ignored
    defn = WorkflowDefinition.from_dict(raw)
    assert defn.form is None
    assert [(r.node_id, r.field_name) for r in form_inputs(defn)] == defn.exposed_fields


def test_version_1_is_read_with_the_guis_defaults() -> None:
    raw = golden_workflow("sdxl-text-to-image")
    raw["meta"] = {"version": "1.0.0"}  # 1.0.0 had no category
    del raw["form"], raw["author"], raw["exposedFields"]
    for node in raw["nodes"]:
        node["data"].pop("useCache")  # 1.0.0 nodes may lack it; the GUI defaults it to true
        node["data"]["embedWorkflow"] = False
        node["width"] = 320
    defn = WorkflowDefinition.from_dict(raw)
    assert defn.form is None and defn.exposed_fields == []
    assert all(n["use_cache"] is True for n in build_graph(defn)["nodes"].values())
    sent = defn.server_workflow()
    assert (
        sent["author"] == ""
        and sent["exposedFields"] == []
        and sent["meta"] == {"version": "1.0.0", "category": "user"}
    )
    assert "width" not in sent["nodes"][0]
    assert "author" not in defn.raw()  # raw() stays what was loaded


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["5.0.0", "0.9.0", "10.1.0"])
def test_unknown_schema_major_names_the_file_and_the_version(tmp_path: Path, version: str) -> None:
    raw = golden_workflow("sdxl-text-to-image")
    raw["meta"]["version"] = version
    path = tmp_path / "future.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ValidationError, match=r"future\.json") as info:
        WorkflowDefinition.from_file(path)
    assert repr(version) in str(info.value) and "1.x-4.x" in str(info.value)


def test_not_json_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    lines = json.dumps(golden_workflow("sdxl-text-to-image"), indent=1).splitlines()
    lines[4] += " oops"  # after the 4th member's value, where a comma must come
    path.write_text("\n".join(lines), encoding="utf-8")
    column = len(lines[4]) - len("oops") + 1  # 1-based, at the "o"
    with pytest.raises(
        ValidationError, match=rf"broken\.json' is not JSON: .* at line 5, column {column}$"
    ):
        WorkflowDefinition.from_file(path)
    with pytest.raises(ValidationError, match="line 1, column 9"):
        WorkflowDefinition.from_json('{"a": 1,}')


@pytest.mark.parametrize(
    "data", [{}, {"name": "x"}, {"meta": {"version": "3.0.0"}}, [], "workflow"]
)
def test_not_a_workflow(data: Any) -> None:
    with pytest.raises(ValidationError, match="not a workflow"):
        WorkflowDefinition.from_dict(data)


def test_missing_nodes_and_edges_are_both_named() -> None:
    problems = _problems({"meta": {"version": "3.0.0"}, "nodes": {}})
    assert problems == [
        "not a workflow: 'nodes' is missing or not a list",
        "not a workflow: 'edges' is missing or not a list",
    ]


def test_edges_to_missing_nodes() -> None:
    raw = golden_workflow("sdxl-text-to-image")
    raw["edges"][0]["source"] = "ghost-a"
    raw["edges"][1]["target"] = "ghost-b"
    problems = _problems(raw)
    assert problems == [
        f"edge {raw['edges'][0]['id']!r}: source node 'ghost-a' does not exist",
        f"edge {raw['edges'][1]['id']!r}: target node 'ghost-b' does not exist",
    ]


FormBreaker = Callable[[dict[str, Any]], str]


def _first(elements: dict[str, Any], kind: str) -> str:
    return next(k for k, e in elements.items() if e["type"] == kind and k != "root")


def _root_has_parent(raw: dict[str, Any]) -> str:
    form = raw["form"]
    form["elements"]["root"]["parentId"] = "somewhere"
    return "form root element 'root' has parentId 'somewhere' (the root has none)"


def _root_missing(raw: dict[str, Any]) -> str:
    form = raw["form"]
    form["rootElementId"] = "nope"
    return "form.rootElementId 'nope' names no element"


def _root_not_container(raw: dict[str, Any]) -> str:
    form = raw["form"]
    form["elements"]["root"]["type"] = "heading"
    form["elements"]["root"]["data"] = {"content": "x"}
    return "form root element 'root' is a 'heading', not a container"


def _child_missing(raw: dict[str, Any]) -> str:
    form = raw["form"]
    form["elements"]["root"]["data"]["children"].append("ghost")
    return "form container 'root' lists child 'ghost', which does not exist"


def _no_parent_id(raw: dict[str, Any]) -> str:
    form = raw["form"]
    child = form["elements"]["root"]["data"]["children"][0]
    del form["elements"][child]["parentId"]
    return f"form element {child!r} has no parentId"


def _parent_missing(raw: dict[str, Any]) -> str:
    form = raw["form"]
    child = form["elements"]["root"]["data"]["children"][0]
    form["elements"][child]["parentId"] = "ghost"
    return f"form element {child!r} has parentId 'ghost', which names no element"


def _parent_not_container(raw: dict[str, Any]) -> str:
    form = raw["form"]
    field = _first(form["elements"], "node-field")
    text = _first(form["elements"], "text")
    form["elements"][field]["parentId"] = text
    return f"form element {field!r} has parentId {text!r}, which is a 'text', not a container"


def _parent_does_not_list(raw: dict[str, Any]) -> str:
    form = raw["form"]
    elements = form["elements"]
    field = next(
        k for k, e in elements.items() if e["type"] == "node-field" and e["parentId"] != "root"
    )
    elements[field]["parentId"] = "root"  # root is a container but does not list it
    return f"form element {field!r} has parentId 'root', whose children do not list it"


def _unreachable(raw: dict[str, Any]) -> str:
    form = raw["form"]
    form["elements"]["stray"] = {"id": "stray", "type": "divider", "parentId": "root"}
    return "form elements not reachable from root 'root': 'stray'"


def _listed_twice(raw: dict[str, Any]) -> str:
    form = raw["form"]
    root_children = form["elements"]["root"]["data"]["children"]
    root_children.append(root_children[0])
    return f"form element {root_children[0]!r} is listed more than once (by 'root')"


def _node_missing(raw: dict[str, Any]) -> str:
    form = raw["form"]
    field = _first(form["elements"], "node-field")
    form["elements"][field]["data"]["fieldIdentifier"]["nodeId"] = "ghost"
    return f"form element {field!r} refers to node 'ghost', which does not exist"


def _input_missing(raw: dict[str, Any]) -> str:
    form = raw["form"]
    field = _first(form["elements"], "node-field")
    ident = form["elements"][field]["data"]["fieldIdentifier"]
    ident["fieldName"] = "nope"
    node = next(n for n in raw["nodes"] if n["id"] == ident["nodeId"])
    return f"form element {field!r} refers to input 'nope' of node {node['id']!r} ({node['data']['type']}), which has no such input"


@pytest.mark.parametrize(
    "breaker",
    [
        _root_has_parent,
        _root_missing,
        _root_not_container,
        _child_missing,
        _no_parent_id,
        _parent_missing,
        _parent_not_container,
        _parent_does_not_list,
        _unreachable,
        _listed_twice,
        _node_missing,
        _input_missing,
    ],
)
def test_form_must_be_a_tree_over_existing_inputs(breaker: FormBreaker) -> None:
    raw = golden_workflow("sdxl-flux-refine")  # its Form nests containers, headings aside
    expected = breaker(raw)
    assert expected in _problems(raw)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    raw = golden_workflow("sdxl-text-to-image")
    messages = [_child_missing(raw), _node_missing(raw), _unreachable(raw)]
    raw["edges"][0]["target"] = "ghost-node"
    path = tmp_path / "many.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        WorkflowDefinition.from_file(path)
    problems = info.value.problems
    assert len(problems) == 4
    assert all(m in problems for m in messages)
    assert str(path) in str(info.value) and all(p in str(info.value) for p in problems)


def test_malformed_pieces() -> None:
    raw = golden_workflow("sdxl-text-to-image")
    raw["nodes"].append(copy.deepcopy(raw["nodes"][0]))
    raw["nodes"][1]["data"].pop("type")
    raw["edges"][2]["type"] = "fancy"
    raw["form"]["elements"]["root"]["data"]["children"] = "x"
    problems = _problems(raw)
    assert f"node {raw['nodes'][0]['id']!r} appears more than once" in problems
    assert f"node {raw['nodes'][1]['id']!r}: invocation without data.type" in problems
    assert (
        f"edge {raw['edges'][2]['id']!r} has unknown type 'fancy' (expected 'default' or 'collapsed')"
        in problems
    )
    assert "form container 'root' has no data.children list" in problems
