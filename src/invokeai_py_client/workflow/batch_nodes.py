"""Batch and generator nodes -> `batch.data`, the way the GUI's workflow editor enqueues them.

Facts from the frontend (InvokeAI 6.14, `invokeai/frontend/web/src/`):

- `features/queue/hooks/useEnqueueWorkflows.ts`: batch nodes are grouped by their
  `batch_group_id` in order of first appearance. A ``'None'`` node is a group of its
  own; nodes sharing another id are zipped into one group. Every edge from a batch
  node's output (``image`` for `image_batch`, ``value`` for the others) becomes a
  BatchDatum ``{node_path: target node, field_name: target input, items}``; all
  edges of one node sit in the same zipped group.
- `features/nodes/util/node/resolveBatchValue.ts`: a batch node's items are its own
  collection (``images``/``strings``/``integers``/``floats``), unless an edge feeds
  that collection: then they come from the generator node at the other end (through
  connectors), and the node's own value is ignored.
- `features/nodes/types/field.ts`: how each generator expands (the `*Values`
  functions); seeded random generators use the npm package `mtwist` (MT19937,
  `init_genrand` seeding, ``uint32 / 2**32``); without a seed, `Math.random`.
- `features/queue/store/readiness.ts`: a batch node without any edge, an empty
  collection, or zipped nodes of different lengths block the Invoke button.

Generators that ask the server (image_generator's images-from-board, string_generator's
dynamic prompts) are not supported yet. Where the GUI would send something the server
rejects (a batch node feeding a connector, two batch nodes feeding one input), this
module raises instead. Numbers are sent as JavaScript writes them: a whole float is
an integer on the wire, as the GUI's ``JSON.stringify`` sends it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from .._exceptions import ValidationError
from . import _js as js
from .graph import edge_source, is_graph_node

if TYPE_CHECKING:
    from .definition import WorkflowDefinition
    from .fields import InputField

__all__ = [
    "batch_data_from_nodes",
    "batch_fed_inputs",
    "batch_node_items",
    "check_inputs_against_batch_nodes",
    "generator_items",
    "queue_items_per_run",
    "require_one_item",
]

Key = tuple[str, str]
BatchData = list[list[dict[str, Any]]]


class _BatchKind(NamedTuple):
    collection: str
    """The batch node's own collection input (a generator edge may feed it)."""
    output: str
    """The output whose edges become BatchDatums."""
    generator: str
    item_type: str


_BATCH_KINDS = {
    "image_batch": _BatchKind("images", "image", "image_generator", "image"),
    "string_batch": _BatchKind("strings", "value", "string_generator", "string"),
    "integer_batch": _BatchKind("integers", "value", "integer_generator", "integer"),
    "float_batch": _BatchKind("floats", "value", "float_generator", "float"),
}
_UNGROUPED = "None"
# Each generator variant's parameters with the GUI's defaults (its zod schemas).
_GENERATOR_DEFAULTS: dict[str, dict[str, Any]] = {
    "float_generator_arithmetic_sequence": {"start": 0, "step": 0.1, "count": 10},
    "float_generator_linear_distribution": {"start": 0, "end": 1, "count": 10},
    "float_generator_random_distribution_uniform": {"min": 0, "max": 1, "count": 10, "seed": None},
    "float_generator_parse_string": {
        "input": "0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1", "splitOn": ","},
    "integer_generator_arithmetic_sequence": {"start": 0, "step": 1, "count": 10},
    "integer_generator_linear_distribution": {"start": 0, "end": 10, "count": 10},
    "integer_generator_random_distribution_uniform": {"min": 0, "max": 10, "count": 10, "seed": None},
    "integer_generator_parse_string": {"input": "1,2,3,4,5,6,7,8,9,10", "splitOn": ","},
    "string_generator_parse_string": {"input": "foo,bar,baz,qux", "splitOn": ","},
}
_GENERATOR_VARIANTS = {
    "float_generator": [k for k in _GENERATOR_DEFAULTS if k.startswith("float_")],
    "integer_generator": [k for k in _GENERATOR_DEFAULTS if k.startswith("integer_")],
    "string_generator": [
        "string_generator_parse_string",
        "string_generator_dynamic_prompts_combinatorial",
        "string_generator_dynamic_prompts_random",
    ],
    "image_generator": ["image_generator_images_from_board"],
}
_NEEDS_SERVER = {
    "string_generator_dynamic_prompts_combinatorial": "dynamic prompts are expanded by the server",
    "string_generator_dynamic_prompts_random": "dynamic prompts are expanded by the server",
    "image_generator_images_from_board": "the board's images are listed by the server",
}


def batch_data_from_nodes(defn: WorkflowDefinition) -> BatchData:
    """The `batch.data` the GUI sends for the workflow's batch and generator nodes ([] if none).

    Raises:
        ValidationError: every problem the GUI would refuse to enqueue (an unconnected or
            empty batch node, zipped nodes of different lengths, a generator this client
            cannot expand), plus what the server would reject.
    """
    data: BatchData = defn._remember("batch_data", lambda: _batch_data_from_nodes(defn))
    return copy.deepcopy(data)


def _batch_data_from_nodes(defn: WorkflowDefinition) -> BatchData:
    nodes = defn.nodes
    edges = defn.edges
    batch_nodes = [n for n in nodes.values() if _batch_type(n) is not None]
    if not batch_nodes:
        return []
    problems: list[str] = []
    groups: dict[str, list[tuple[dict[str, Any], list[Any]]]] = {}
    for node in batch_nodes:
        group_id = node["data"]["inputs"].get("batch_group_id", {}).get("value", _UNGROUPED)
        if not any(e.get("source") == node["id"] for e in edges):
            problems.append(f"{_describe(node)} is not connected to anything")
        try:
            items = _items(node, nodes, edges)
        except ValidationError as exc:
            problems.extend(exc.problems)
            items = []
        else:
            if not items:
                problems.append(f"{_describe(node)} has an empty collection")
        groups.setdefault(str(group_id), []).append((node, items))

    data: BatchData = []
    targets: dict[Key, str] = {}
    for group_id, members in groups.items():
        lengths = {len(items) for _, items in members}
        if group_id != _UNGROUPED and len(lengths) > 1:
            detail = ", ".join(f"{_describe(n)}: {len(items)}" for n, items in members)
            problems.append(f"batch group {group_id!r} zips collections of different lengths ({detail})")
        zipped: list[dict[str, Any]] = []
        for member, items in members:
            datums = _datums(member, items, nodes, edges, targets, problems)
            if group_id == _UNGROUPED:
                if datums:
                    data.append(datums)
            else:
                zipped.extend(datums)
        if zipped:
            data.append(zipped)
    if problems:
        raise ValidationError(f"workflow {defn.name!r}: its batch nodes cannot be enqueued", problems)
    return data


def batch_node_items(defn: WorkflowDefinition, node_id: str) -> list[Any]:
    """One batch node's items: its generator's values if one feeds it, else its own collection."""
    nodes = defn.nodes
    if node_id not in nodes or _batch_type(nodes[node_id]) is None:
        raise ValidationError(f"workflow {defn.name!r} has no batch node {node_id!r}")
    return _items(nodes[node_id], nodes, defn.edges)


def generator_items(generator_type: str, value: Any, *, where: str = "generator") -> list[Any]:
    """The values a generator node's ``generator`` input expands to, as the GUI computes them.

    >>> generator_items("integer_generator",
    ...     {"type": "integer_generator_arithmetic_sequence", "start": 2, "step": 3, "count": 4})
    [2, 5, 8, 11]
    >>> generator_items("string_generator",
    ...     {"type": "string_generator_parse_string", "input": "a cat|a dog", "splitOn": "|"})
    ['a cat', 'a dog']
    """
    variants = _GENERATOR_VARIANTS.get(generator_type)
    if variants is None:
        raise ValidationError(f"{where}: unknown generator node type {generator_type!r}")
    if not isinstance(value, Mapping):
        raise ValidationError(f"{where}: its generator value is {value!r}, not an object")
    variant = value.get("type", variants[0])  # the GUI's schema defaults to the first variant
    if variant not in variants:
        raise ValidationError(
            f"{where}: unknown {generator_type} type {variant!r} (known: {', '.join(variants)})"
        )
    if variant in _NEEDS_SERVER:
        raise ValidationError(
            f"{where}: {variant} is not supported yet ({_NEEDS_SERVER[variant]}); "
            "put the values in the batch node instead"
        )
    if generator_type == "float_generator" and value.get("values") is not None:
        values = _checked_list(value["values"], "number", where)
        if not all(_is_a(v, float) for v in values):
            raise ValidationError(f"{where}: its precomputed values {values!r} are not all numbers")
        return [js.number(v) for v in values]
    params = {**_GENERATOR_DEFAULTS[variant], **{k: value[k] for k in _GENERATOR_DEFAULTS[variant] if k in value}}
    number = float if variant.startswith("float_") else int
    for name, param in params.items():
        expected = str if name in ("input", "splitOn") else int if name in ("count", "seed") else number
        if param is None and name == "seed":
            continue
        if not _is_a(param, expected):
            raise ValidationError(f"{where}: {variant} parameter {name!r} is {param!r}, not {expected.__name__}")
    if variant.startswith("float_"):
        return [js.number(v) for v in _float_values(variant, params, where)]
    if variant.startswith("integer_"):
        return _integer_values(variant, params)
    return [s for s in js.split(params["input"], params["splitOn"]) if s]


def queue_items_per_run(data: Sequence[Sequence[Mapping[str, Any]]]) -> int:
    """How many queue items `batch.data` makes per run (zipped groups times each other)."""
    return math.prod(len(group[0]["items"]) for group in data if group)


def check_inputs_against_batch_nodes(node_data: BatchData, fields: Mapping[Key, InputField]) -> None:
    """Refuse a value or sweep set on an input a batch node feeds.

    The batch node's items would replace a value on the server, and the server takes one
    BatchDatum per input, so a sweep there could not be sent at all.
    """
    fed = {(d["node_path"], d["field_name"]) for group in node_data for d in group}
    clashes = [
        f"{fld.context}: its {'sweep' if fld.sweep_values is not None else 'value'} "
        "clashes with the batch node feeding it; unset it or remove the batch node's edge"
        for key, fld in fields.items()
        if key in fed
    ]
    if clashes:
        raise ValidationError("inputs fed by a batch node cannot be set", clashes)


def batch_fed_inputs(defn: WorkflowDefinition) -> set[tuple[str, str]]:
    """The ``(node_id, field_name)`` inputs that batch nodes feed (their own value is unused)."""
    data: BatchData = defn._remember("batch_data", lambda: _batch_data_from_nodes(defn))
    return {(d["node_path"], d["field_name"]) for group in data for d in group}


def require_one_item(defn: WorkflowDefinition, *, instead: str) -> None:
    """Refuse, before anything is enqueued, a single submission of a workflow whose batch
    nodes make several queue items."""
    per_run = queue_items_per_run(batch_data_from_nodes(defn))
    if per_run > 1:
        raise ValidationError(
            f"workflow {defn.name!r} has batch nodes that make {per_run} queue items; "
            f"submit it with {instead}"
        )


# -- pieces -------------------------------------------------------------------------------


def _batch_type(node: Mapping[str, Any] | None) -> str | None:
    if node is None or node.get("type") != "invocation":
        return None
    node_type = node.get("data", {}).get("type")
    return node_type if node_type in _BATCH_KINDS else None


def _items(
    node: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]], edges: Sequence[Mapping[str, Any]]
) -> list[Any]:
    kind = _BATCH_KINDS[node["data"]["type"]]
    feed = next(
        (e for e in edges if e.get("target") == node["id"] and e.get("targetHandle") == kind.collection),
        None,
    )
    if feed is None:
        own = node["data"]["inputs"].get(kind.collection, {}).get("value")
        return _checked_items(own if own is not None else [], kind.item_type, node)
    resolved = edge_source(feed, nodes, edges)
    generator = resolved[0] if resolved is not None else None
    if generator is None or generator["data"]["type"] != kind.generator:
        found = _describe(generator) if generator is not None else "nothing (a dangling connector)"
        raise ValidationError(
            f"{_describe(node)}: its {kind.collection!r} input is fed by {found}, not a {kind.generator}"
        )
    value = generator["data"]["inputs"].get("generator", {}).get("value")
    return generator_items(kind.generator, value, where=_describe(generator))


def _describe(node: Mapping[str, Any]) -> str:
    data = node.get("data", {})
    label = data.get("label")
    return f"{data.get('type', node.get('type'))} node {node['id']!r}" + (f" ({label!r})" if label else "")


def _datums(
    node: Mapping[str, Any],
    items: list[Any],
    nodes: Mapping[str, Mapping[str, Any]],
    edges: Sequence[Mapping[str, Any]],
    targets: dict[Key, str],
    problems: list[str],
) -> list[dict[str, Any]]:
    output = _BATCH_KINDS[node["data"]["type"]].output
    out = []
    for edge in edges:
        if edge.get("source") != node["id"] or edge.get("sourceHandle") != output:
            continue
        target = nodes.get(edge["target"])
        field_name = edge.get("targetHandle")
        if target is None or not isinstance(field_name, str):
            continue
        key = (target["id"], field_name)
        if not is_graph_node(target):
            problems.append(
                f"{_describe(node)} feeds {_describe(target)}; connect it to the input directly "
                "(the GUI would send the connector's id, which the server rejects)"
            )
        elif key in targets:
            problems.append(f"{key[0]}.{key[1]} is fed by both {targets[key]} and {_describe(node)}")
        else:
            targets[key] = _describe(node)
            out.append({"node_path": key[0], "field_name": key[1], "items": list(items)})
    return out


def _is_a(value: Any, expected: type) -> bool:
    if isinstance(value, bool):
        return False
    if expected is float:
        return isinstance(value, (int, float))
    return isinstance(value, expected)


def _checked_list(value: Any, item_type: str, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValidationError(f"{where}: expected a list of {item_type}s, got {value!r}")
    return value


def _checked_items(value: Any, item_type: str, node: Mapping[str, Any]) -> list[Any]:
    where = _describe(node)
    items = _checked_list(value, item_type, where)
    expected: dict[str, type] = {"string": str, "integer": int, "float": float}
    if item_type == "image":
        bad = [v for v in items if not (isinstance(v, Mapping) and isinstance(v.get("image_name"), str))]
        if bad:
            raise ValidationError(f"{where}: images must be {{'image_name': ...}} objects, got {bad[0]!r}")
        return [{"image_name": v["image_name"]} for v in items]
    bad = [v for v in items if not _is_a(v, expected[item_type])]
    if bad:
        raise ValidationError(f"{where}: {bad[0]!r} is not a {item_type}")
    return list(items)


def _float_values(variant: str, p: Mapping[str, Any], where: str) -> list[float]:
    count = max(p.get("count", 0), 0)  # Array.from({length: n}) is empty for n <= 0
    if variant == "float_generator_arithmetic_sequence":
        if p["step"] == 0:
            return [p["start"]]
        return [p["start"] + i * p["step"] for i in range(count)]
    if variant == "float_generator_linear_distribution":
        if p["count"] == 1:
            return [p["start"]]
        return [p["start"] + (p["end"] - p["start"]) * (i / (count - 1)) for i in range(count)]
    if variant == "float_generator_random_distribution_uniform":
        rng = js.random_source(p["seed"])
        return [rng() * (p["max"] - p["min"]) + p["min"] for _ in range(count)]
    values = []
    for text in js.split(p["input"], p["splitOn"]):
        number = js.parse_float(text)
        if number is None:
            continue  # parseFloat gives NaN: dropped
        if not math.isfinite(number):
            raise ValidationError(f"{where}: {text!r} parses to {number}, which cannot be sent")
        values.append(number)
    return values


def _integer_values(variant: str, p: Mapping[str, Any]) -> list[int]:
    count = max(p.get("count", 0), 0)  # Array.from({length: n}) is empty for n <= 0
    if variant == "integer_generator_arithmetic_sequence":
        if p["step"] == 0:
            return [p["start"]]
        return [p["start"] + i * p["step"] for i in range(count)]
    if variant == "integer_generator_linear_distribution":
        if p["count"] == 1:
            return [p["start"]]
        return [p["start"] + js.math_round((p["end"] - p["start"]) * (i / (count - 1))) for i in range(count)]
    if variant == "integer_generator_random_distribution_uniform":
        rng = js.random_source(p["seed"])
        return [math.floor(rng() * (p["max"] - p["min"] + 1)) + p["min"] for _ in range(count)]
    values = []
    for text in js.split(p["input"], p["splitOn"]):
        integer = js.parse_int(text)
        if integer is not None:  # parseInt gives NaN: dropped
            values.append(integer)
    return values
