"""Workflow -> graph and enqueue body, exactly as the GUI builds them.

Facts from the frontend (`buildNodesGraph.ts`, `useEnqueueWorkflows.ts`,
`buildWorkflow.ts`, `connectorTopology.ts`):

- Only invocation nodes go into the graph, minus batch and generator nodes (their
  values reach the server as `batch.data`). Notes and connector nodes are UI-only.
- A graph node is ``{type, id, <input>: value, ..., use_cache, is_intermediate}``;
  an input without a value in the export is left out (the server's default applies).
- Board inputs: ``'none'`` is left out (uncategorized). ``'auto'``/empty means the
  GUI's auto-add board, which only the GUI knows: it is left out unless
  `auto_board_id` is given.
- Edges: only `default` edges between kept nodes; a connector source is followed
  back (connectors chain) to the invocation output feeding it; duplicates are
  dropped, first one kept. Every input an edge feeds is removed from its node.
- `call_saved_workflow`: its ``saved_workflow_input::*`` inputs are folded into
  the `workflow_inputs` dict (always present, maybe empty).
- The graph id is a fresh UUID for every build, as in the GUI.

Unlike the GUI this module has no node templates, so it cannot drop inputs the
server no longer knows; a board input is recognised by its name ``board``, which
is what every BoardField input of InvokeAI 6.14 is called.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from .._exceptions import ValidationError

if TYPE_CHECKING:
    from .definition import WorkflowDefinition

__all__ = [
    "BATCH_NODE_TYPES",
    "CALL_SAVED_WORKFLOW_INPUT_PREFIX",
    "GENERATOR_NODE_TYPES",
    "GraphEdge",
    "build_batch",
    "build_graph",
    "edge_fed_inputs",
    "edge_source",
    "graph_edges",
    "is_graph_node",
]

BATCH_NODE_TYPES = frozenset({"image_batch", "string_batch", "integer_batch", "float_batch"})
"""Node types the GUI turns into `batch.data` instead of graph nodes."""
GENERATOR_NODE_TYPES = frozenset(
    {"image_generator", "string_generator", "integer_generator", "float_generator"}
)
"""Node types the GUI resolves on the client and never sends."""
CALL_SAVED_WORKFLOW_INPUT_PREFIX = "saved_workflow_input::"

_CONNECTOR_IN = "in"
_MISSING: Any = object()


class GraphEdge(NamedTuple):
    """One edge of the server graph: ``source.field -> destination.field``."""

    source: str
    source_field: str
    destination: str
    destination_field: str

    def to_json(self) -> dict[str, Any]:
        return {
            "source": {"node_id": self.source, "field": self.source_field},
            "destination": {"node_id": self.destination, "field": self.destination_field},
        }


def is_graph_node(node: Mapping[str, Any]) -> bool:
    """Whether a workflow node becomes a graph node (an invocation, not batch/generator)."""
    if node.get("type") != "invocation":
        return False
    node_type = node.get("data", {}).get("type")
    return node_type not in BATCH_NODE_TYPES and node_type not in GENERATOR_NODE_TYPES


def graph_edges(defn: WorkflowDefinition) -> list[GraphEdge]:
    """The edges the GUI sends: default edges between graph nodes, connectors resolved, deduplicated."""
    return list(defn._remember("graph_edges", lambda: _graph_edges(defn)))


def _graph_edges(defn: WorkflowDefinition) -> list[GraphEdge]:
    nodes = defn._node_map()
    edges = defn._edge_list()
    out: list[GraphEdge] = []
    seen: set[GraphEdge] = set()
    for edge in edges:
        if edge.get("type") != "default":
            continue  # collapsed edges only draw a line between collapsed nodes
        target = nodes.get(edge["target"])
        if target is None or not is_graph_node(target):
            continue
        resolved = edge_source(edge, nodes, edges)  # through connectors
        if resolved is None or not is_graph_node(resolved[0]):
            continue
        source_id, source_field = resolved[0]["id"], resolved[1]
        candidate = GraphEdge(source_id, source_field, edge["target"], edge["targetHandle"])
        if candidate not in seen:
            seen.add(candidate)
            out.append(candidate)
    return out


def edge_fed_inputs(defn: WorkflowDefinition) -> set[tuple[str, str]]:
    """The ``(node_id, field_name)`` inputs an edge feeds: values set on them are not sent."""
    fed: frozenset[tuple[str, str]] = defn._remember(
        "edge_fed", lambda: frozenset((e.destination, e.destination_field) for e in graph_edges(defn))
    )
    return set(fed)


def build_graph(
    defn: WorkflowDefinition,
    overrides: Mapping[tuple[str, str], Any] | None = None,
    *,
    auto_board_id: str | None = None,
) -> dict[str, Any]:
    """The graph the GUI would enqueue for `defn`, with `overrides` replacing input values.

    Args:
        overrides: ``{(node_id, field_name): value}``; every other input keeps its
            exported value. Board values are translated like exported ones.
        auto_board_id: the board ``'auto'`` board inputs go to (the GUI's auto-add
            board); None leaves them out, so images land uncategorized.

    Raises:
        ValidationError: an override names a node that is not in the graph or an
            input the node does not have.
    """
    overrides = overrides or {}
    nodes = defn._node_map()  # read only: the graph gets copies of the values it takes
    _check_overrides(overrides, nodes)
    graph_nodes = {
        node_id: _graph_node(node, overrides, auto_board_id)
        for node_id, node in nodes.items()
        if is_graph_node(node)
    }
    edges = graph_edges(defn)
    for edge in edges:
        target = graph_nodes[edge.destination]
        workflow_inputs = target.get("workflow_inputs")
        if (
            target["type"] == "call_saved_workflow"
            and edge.destination_field.startswith(CALL_SAVED_WORKFLOW_INPUT_PREFIX)
            and isinstance(workflow_inputs, dict)
        ):
            workflow_inputs.pop(edge.destination_field, None)
        else:
            target.pop(edge.destination_field, None)
    return {"id": str(uuid.uuid4()), "nodes": graph_nodes, "edges": [e.to_json() for e in edges]}


def build_batch(
    defn: WorkflowDefinition,
    graph: Mapping[str, Any],
    *,
    origin: str | None,
    destination: str | None,
    runs: int = 1,
    data: Sequence[Sequence[Mapping[str, Any]]] | None = None,
    prepend: bool = False,
    values: Mapping[tuple[str, str], Any] | None = None,
) -> dict[str, Any]:
    """The `enqueue_batch` body: the graph plus the workflow to embed in the output images.

    `data` is `Batch.data` (a list of zipped lists of ``{node_path, field_name,
    items}``); like the GUI an absent one is sent as ``[]``. `values` are the inputs
    that ran, written into the embedded workflow (see `server_workflow`).
    """
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ValidationError(f"runs must be an integer >= 1, got {runs!r}")
    return {
        "prepend": prepend,
        "batch": {
            "graph": dict(graph),  # made fresh by build_graph: nothing to copy
            "workflow": defn.server_workflow(values),
            "runs": runs,
            "origin": origin,
            "destination": destination,
            "data": copy.deepcopy([list(group) for group in data]) if data else [],
        },
    }


def _graph_node(
    node: Mapping[str, Any], overrides: Mapping[tuple[str, str], Any], auto_board_id: str | None
) -> dict[str, Any]:
    data = node["data"]
    node_type = data["type"]
    out: dict[str, Any] = {"type": node_type, "id": node["id"]}
    saved_workflow = node_type == "call_saved_workflow"
    for name, entry in data["inputs"].items():
        if saved_workflow and name == "workflow_inputs":
            continue  # rebuilt from the saved_workflow_input::* inputs below
        value = overrides.get((node["id"], name), entry.get("value", _MISSING))
        if _is_board_input(name, value):
            value = _board_value(value, auto_board_id)
        if value is _MISSING:
            continue
        if saved_workflow and name.startswith(CALL_SAVED_WORKFLOW_INPUT_PREFIX):
            out.setdefault("workflow_inputs", {})[name] = copy.deepcopy(value)
        else:
            out[name] = copy.deepcopy(value)
    if saved_workflow:
        out.setdefault("workflow_inputs", {})
    for key, graph_key in (("useCache", "use_cache"), ("isIntermediate", "is_intermediate")):
        if key in data:
            out[graph_key] = data[key]
    return out


def _is_board_input(name: str, value: Any) -> bool:
    if name != "board":
        return False
    return (
        value is _MISSING
        or value in (None, "", "auto", "none")
        or (isinstance(value, Mapping) and "board_id" in value)
    )


def _board_value(value: Any, auto_board_id: str | None) -> Any:
    if value is _MISSING or value in (None, "", "auto"):
        if auto_board_id and auto_board_id != "none":
            return {"board_id": auto_board_id}
        return _MISSING
    if value == "none":
        return _MISSING
    return value


def edge_source(
    edge: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]], edges: Sequence[Mapping[str, Any]]
) -> tuple[Mapping[str, Any], str] | None:
    """The invocation node and output at the source end of `edge`, following connectors back.

    None when the chain ends in nothing, loops, or reaches a node that is not an invocation.
    """
    seen: set[str] = set()
    current: Mapping[str, Any] | None = edge
    while current is not None:
        source = nodes.get(current["source"])
        if source is None or source["id"] in seen:
            return None
        if source.get("type") == "invocation":
            return source, current["sourceHandle"]
        if source.get("type") != "connector":
            return None
        seen.add(source["id"])
        current = next(
            (
                e for e in edges
                if e.get("type") == "default" and e.get("target") == source["id"]
                and e.get("targetHandle") == _CONNECTOR_IN and isinstance(e.get("sourceHandle"), str)
            ),
            None,
        )
    return None


def _check_overrides(
    overrides: Mapping[tuple[str, str], Any], nodes: Mapping[str, Mapping[str, Any]]
) -> None:
    problems = []
    for key in overrides:
        node_id, field_name = key
        node = nodes.get(node_id)
        if node is None:
            problems.append(f"{node_id}.{field_name}: no node {node_id!r}")
        elif not is_graph_node(node):
            kind = node.get("data", {}).get("type") or node.get("type")
            problems.append(
                f"{node_id}.{field_name}: node {node_id!r} ({kind}) is not part of the graph"
            )
        elif field_name not in node["data"]["inputs"] or (
            node["data"]["type"] == "call_saved_workflow" and field_name == "workflow_inputs"
        ):
            problems.append(
                f"{node_id}.{field_name}: node {node_id!r} ({node['data']['type']}) has no input {field_name!r}"
            )
    if problems:
        raise ValidationError("cannot set these inputs", problems)
