"""Reading the result of the bundled `face_restore.json` workflow.

    >>> from invokeai_py_client.workflows.face import face_detected
    >>> face_detected(item)          # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["FACE_OFF_NODE_ID", "INPUT_IMAGE_NODE_ID", "face_box", "face_detected"]

INPUT_IMAGE_NODE_ID = "input_image"
"""The `image` node holding the input image of the image-to-image workflows."""
FACE_OFF_NODE_ID = "face_off"
"""The `face_off` node of `face_restore.json`."""


def face_box(queue_item: Any) -> tuple[int, int, int, int] | None:
    """The face crop ``(x, y, width, height)`` of a finished `face_restore.json` item, or
    None when `face_off` found no face.

    Without a face, `face_off` passes the image through (crop = the whole input at
    x=y=0, all-white mask) and only logs a warning; this tells the two apart from
    ``session.results`` alone. A face is found when the crop is not the whole input.
    One case is ambiguous by geometry: a face whose square crop covers a square input
    entirely (inputs up to ~128 px plus the face's size); it is reported as no face,
    and only the crop's mask (all white = no face) can tell.

    Accepts a queue item as a dict or as a model with `model_dump()`.
    """
    item = queue_item.model_dump() if hasattr(queue_item, "model_dump") else queue_item
    session = item.get("session") or {}
    results: Mapping[str, Any] = session.get("results") or {}
    mapping: Mapping[str, Sequence[str]] = session.get("source_prepared_mapping") or {}
    face = _single_result(results, mapping, FACE_OFF_NODE_ID)
    source = _single_result(results, mapping, INPUT_IMAGE_NODE_ID)
    x, y, width, height = (int(face[k]) for k in ("x", "y", "width", "height"))
    if (x, y, width, height) == (0, 0, int(source["width"]), int(source["height"])):
        return None
    return x, y, width, height


def face_detected(queue_item: Any) -> bool:
    """Whether `face_restore.json` found a face (else its output is the unchanged input)."""
    return face_box(queue_item) is not None


def _single_result(
    results: Mapping[str, Any], mapping: Mapping[str, Sequence[str]], node_id: str
) -> Mapping[str, Any]:
    prepared = mapping.get(node_id) or ()
    found: list[Mapping[str, Any]] = [
        results[p] for p in prepared if isinstance(results.get(p), Mapping)
    ]
    if len(found) != 1:
        raise ValueError(
            f"the queue item has no result for node {node_id!r}: is it a finished face_restore.json item?"
        )
    return found[0]


