"""Which workflow node produced which images, read from a finished queue item.

The server records every node's output in ``session.results[prepared_id]`` and maps
each workflow node id to its prepared ids in ``session.source_prepared_mapping``
(several when an iterate node fans out). Any output field holding an ``ImageField``
(``{image_name}``) or a list of them counts: ``image_output.image``,
``image_collection_output.collection``, ``face_mask_output.mask``, ...

Results do not say which board an image went to. The board is the one the node was
given in the graph that ran (``session.graph``, where the GUI's ``'auto'`` already
became a real board id); only when the item has no graph, the workflow's board value.
``"none"`` (the server's id for it) means uncategorized.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .definition import WorkflowDefinition

__all__ = ["image_names_of", "map_outputs"]


def map_outputs(
    defn: WorkflowDefinition,
    queue_item: Mapping[str, Any],
    *,
    board_input_index: Mapping[str, int] | None = None,
) -> list[dict[str, Any]]:
    """One dict per node that produced images: the workflow's real outputs first.

    Order: saved (non-intermediate) images, then intermediate ones, then input images
    passed through an `image` node; each group in workflow node order (nodes of the
    session that are not in the workflow after those). So ``[0]`` is the workflow's
    result, not its input image.

    Each dict has ``node_id``, ``node_type``, ``label`` (the node's label or None),
    ``input_index`` (from `board_input_index`, else None), ``board_id``,
    ``is_intermediate`` (as the node ran), ``role`` (``"output"``, ``"intermediate"``
    or ``"input"``), ``image_names`` (in prepared order, then output-field order) and
    ``tier`` (``"results"``: where the names were found, as 1.1.1 reported it).
    """
    session = queue_item.get("session") or {}
    results: Mapping[str, Any] = session.get("results") or {}
    mapping: Mapping[str, list[str]] = session.get("source_prepared_mapping") or {}
    ran_nodes: Mapping[str, Any] = (session.get("graph") or {}).get("nodes") or {}
    nodes = defn._node_map()  # read only
    board_input_index = board_input_index or {}
    order = list(nodes.keys()) + [node_id for node_id in mapping if node_id not in nodes]
    out: list[dict[str, Any]] = []
    for node_id in order:
        names = [
            name
            for prepared_id in mapping.get(node_id, [])
            for name in image_names_of(results.get(prepared_id))
        ]
        if not names:
            continue
        node_data = nodes.get(node_id, {}).get("data", {})
        ran = ran_nodes.get(node_id) or {}
        label = node_data.get("label")
        node_type = node_data.get("type") or ran.get("type")
        is_intermediate = ran.get("is_intermediate", node_data.get("isIntermediate"))
        role = "input" if node_type == "image" else "intermediate" if is_intermediate is not False else "output"
        out.append(
            {
                "node_id": node_id,
                "node_type": node_type,
                "label": label if isinstance(label, str) and label else None,
                "input_index": board_input_index.get(node_id),
                "board_id": _board_id(ran.get("board") if ran else _exported_board(node_data)),
                "is_intermediate": is_intermediate,
                "role": role,
                "image_names": names,
                "tier": "results",
            }
        )
    return sorted(out, key=lambda entry: _ROLE_ORDER[entry["role"]])


_ROLE_ORDER = {"output": 0, "intermediate": 1, "input": 2}


def image_names_of(result: Any) -> list[str]:
    """The image names in one invocation result, in output-field order."""
    if not isinstance(result, Mapping):
        return []
    names: list[str] = []
    for key, value in result.items():
        if key == "type":
            continue
        items: Iterable[Any] = value if isinstance(value, list) else [value]
        names.extend(
            item["image_name"]
            for item in items
            if isinstance(item, Mapping) and isinstance(item.get("image_name"), str)
        )
    return names


def _exported_board(node_data: Mapping[str, Any]) -> Any:
    return node_data.get("inputs", {}).get("board", {}).get("value")


def _board_id(value: Any) -> str:
    if isinstance(value, Mapping):
        board_id = value.get("board_id")
        if isinstance(board_id, str) and board_id:
            return board_id
    return "none"
