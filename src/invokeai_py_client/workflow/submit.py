"""From a snapshot of a handle's values to `enqueue_batch` bodies.

Resolution (uploads, board names, model names) happens in one flow so the sync and
async handles share it. Sweeps become `batch.data` (zipped groups inside, a
cartesian product outside); kinds the server cannot sweep (models, booleans,
boards) split the submission into several batches.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._exceptions import ValidationError
from .._flow import Call, Flow
from .definition import WorkflowDefinition
from .fields import InputField
from .graph import build_batch, build_graph
from .model_sync import identifier_of, is_model_identifier
from .schema import InvocationCatalog

__all__ = ["Snapshot", "load_uploads", "models_flow", "prepare_flow"]

log = logging.getLogger("invokeai_py_client.workflow")

Key = tuple[str, str]
_UNSWEEPABLE = frozenset({"model", "boolean", "board"})


@dataclass
class Snapshot:
    """The values of one submission, copied from a handle at submit time."""

    values: dict[Key, Any]
    sweeps: dict[Key, list[Any]]
    zip_groups: list[list[Key]]
    fields: dict[Key, InputField]
    runs: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def kind(self, key: Key) -> str | None:
        fld = self.fields.get(key)
        spec = getattr(fld, "spec", None)
        return getattr(spec, "kind", None)


def _is_local_image(value: Any) -> bool:
    if isinstance(value, Path):
        return True
    return type(value).__module__.startswith("PIL.")


def _image_bytes(value: Any) -> tuple[str, bytes]:
    if isinstance(value, Path):
        try:
            return value.name, value.read_bytes()
        except OSError as exc:
            raise ValidationError(f"cannot read image file {str(value)!r}: {exc}") from exc
    buf = io.BytesIO()
    value.save(buf, format="PNG")
    return "image.png", buf.getvalue()


def load_uploads(snapshot: Snapshot) -> dict[int, tuple[str, bytes]]:
    """Read every local image (path or PIL image) the snapshot needs to upload.

    Keyed by `id()` of the value object; runs outside the event loop for async handles.
    """
    out: dict[int, tuple[str, bytes]] = {}
    for value in itertools.chain(snapshot.values.values(), *snapshot.sweeps.values()):
        if _is_local_image(value):
            out[id(value)] = _image_bytes(value)
    return out


def models_flow() -> Flow[list[dict[str, Any]]]:
    """All installed model records."""
    answer = yield Call("GET", "/api/v2/models/")
    return list(answer.get("models", []))


def _boards_flow() -> Flow[list[dict[str, Any]]]:
    answer = yield Call("GET", "/api/v1/boards/", params={"all": True, "include_archived": True})
    return list(answer or [])


class _Resolver:
    """Turns user values into graph values, talking to the server through Calls."""

    def __init__(self, uploads: Mapping[int, tuple[str, bytes]], create_boards: bool) -> None:
        self.uploads = uploads
        self.create_boards = create_boards
        self._boards: list[dict[str, Any]] | None = None
        self._models: list[dict[str, Any]] | None = None
        self._uploaded: dict[str, str] = {}

    def image(self, value: Any, where: str) -> Flow[Any]:
        if value is None:
            return None
        if isinstance(value, str):
            return {"image_name": value}
        if isinstance(value, Mapping) and "image_name" in value:
            return dict(value)
        if id(value) in self.uploads:
            filename, data = self.uploads[id(value)]
            digest = hashlib.sha256(data).hexdigest()
            if digest not in self._uploaded:
                answer = yield Call(
                    "POST",
                    "/api/v1/images/upload",
                    params={"image_category": "user", "is_intermediate": True},
                    files={"file": (filename, data, "image/png")},
                    retry=False,
                )
                self._uploaded[digest] = answer["image_name"]
                log.info("uploaded %s for %s as %s", filename, where, answer["image_name"])
            return {"image_name": self._uploaded[digest]}
        raise ValidationError(f"{where}: cannot use {type(value).__name__} as an image")

    def board(self, value: Any, where: str) -> Flow[Any]:
        # 'none' (uncategorized) and 'auto' keep the export's spelling: the graph
        # conversion treats them exactly as the GUI does.
        if value is None or value in ("none", "auto", ""):
            return "none" if value is None else value
        if isinstance(value, Mapping):
            return dict(value)
        if not isinstance(value, str):
            raise ValidationError(f"{where}: a board is a board id or name, got {type(value).__name__}")
        if self._boards is None:
            self._boards = yield from _boards_flow()
        if any(b["board_id"] == value for b in self._boards):
            return {"board_id": value}
        named = [b for b in self._boards if b["board_name"] == value]
        if len(named) == 1:
            return {"board_id": named[0]["board_id"]}
        if len(named) > 1:
            ids = ", ".join(b["board_id"] for b in named)
            raise ValidationError(f"{where}: several boards are named {value!r} ({ids}); use a board id")
        if not self.create_boards:
            names = ", ".join(sorted(b["board_name"] for b in self._boards))
            raise ValidationError(f"{where}: no board {value!r}; boards: {names or 'none'}")
        answer = yield Call("POST", "/api/v1/boards/", params={"board_name": value}, retry=False)
        self._boards.append(answer)
        log.info("created board %r (%s) for %s", value, answer["board_id"], where)
        return {"board_id": answer["board_id"]}

    def model(self, value: Any, fld: InputField | None, where: str) -> Flow[Any]:
        if value is None or is_model_identifier(value):
            return value
        if not isinstance(value, str):
            raise ValidationError(f"{where}: a model is an identifier dict, a key or a name")
        if self._models is None:
            self._models = yield from models_flow()
        spec = getattr(fld, "spec", None)
        types = tuple(getattr(spec, "model_types", ()) or ())
        bases = tuple(getattr(spec, "model_bases", ()) or ())
        fitting = [
            m for m in self._models
            if (not types or m.get("type") in types) and (not bases or m.get("base") in bases)
        ]
        for rule in ("key", "name"):
            hits = [m for m in fitting if m.get(rule) == value]
            if len(hits) == 1:
                return identifier_of(hits[0])
            if len(hits) > 1:
                listed = ", ".join(f"{m['name']} ({m['base']}, key {m['key']})" for m in hits)
                raise ValidationError(f"{where}: model {value!r} is ambiguous: {listed}")
        wanted = f"type {'/'.join(types) or 'any'}" + (f", base {'/'.join(bases)}" if bases else "")
        listed = ", ".join(f"{m['name']} ({m['base']})" for m in fitting) or "none installed"
        raise ValidationError(f"{where}: no installed model {value!r} of {wanted}; candidates: {listed}")

    def resolve(self, key: Key, value: Any, snapshot: Snapshot) -> Flow[Any]:
        fld = snapshot.fields.get(key)
        kind = snapshot.kind(key)
        where = getattr(fld, "context", f"{key[0]}.{key[1]}")
        if kind == "image":
            return (yield from self.image(value, where))
        if kind == "board":
            return (yield from self.board(value, where))
        if kind == "model":
            return (yield from self.model(value, fld, where))
        if kind == "collection" and isinstance(value, list) and any(_is_local_image(v) for v in value):
            images = []
            for v in value:
                images.append((yield from self.image(v, where)))
            return images
        if fld is not None:
            return fld.graph_value_of(value)
        return value


def prepare_flow(
    definition: WorkflowDefinition,
    snapshot: Snapshot,
    uploads: Mapping[int, tuple[str, bytes]],
    catalog: InvocationCatalog,
    *,
    create_boards: bool,
    prepend: bool,
    origin: str | None,
    destination: str | None,
) -> Flow[list[dict[str, Any]]]:
    """Resolve every value, expand sweeps and build the enqueue bodies."""
    resolver = _Resolver(uploads, create_boards)
    fixed: dict[Key, Any] = {}
    for key, value in snapshot.values.items():
        fixed[key] = yield from resolver.resolve(key, value, snapshot)
    server_sweeps: dict[Key, list[Any]] = {}
    split_sweeps: dict[Key, list[Any]] = {}
    for key, items in snapshot.sweeps.items():
        resolved = []
        for v in items:
            resolved.append((yield from resolver.resolve(key, v, snapshot)))
        target = split_sweeps if snapshot.kind(key) in _UNSWEEPABLE else server_sweeps
        target[key] = resolved
    zipped = [g for g in snapshot.zip_groups if all(k in server_sweeps for k in g)]
    bad_zip = [g for g in snapshot.zip_groups if g not in zipped]
    if bad_zip:
        raise ValidationError(f"zip groups {bad_zip} contain inputs the server cannot sweep (models, booleans, boards)")
    data = _batch_data(server_sweeps, zipped)
    split_keys = list(split_sweeps)
    combos = list(itertools.product(*(split_sweeps[k] for k in split_keys))) or [()]
    bodies = []
    for combo in combos:
        overrides = {**fixed, **dict(zip(split_keys, combo, strict=True))}
        graph = build_graph(definition, overrides)
        body = build_batch(
            definition, graph, origin=origin, destination=destination,
            runs=snapshot.runs, data=data or None, prepend=prepend,
        )
        bodies.append(body)
    return bodies


def _batch_data(sweeps: Mapping[Key, list[Any]], zip_groups: Sequence[Sequence[Key]]) -> list[list[dict[str, Any]]]:
    grouped: set[Key] = {k for g in zip_groups for k in g}
    data: list[list[dict[str, Any]]] = []
    for group in zip_groups:
        lengths = {len(sweeps[k]) for k in group}
        if len(lengths) > 1:
            detail = ", ".join(f"{k[0]}.{k[1]}: {len(sweeps[k])}" for k in group)
            raise ValidationError(f"zipped sweeps must have equal lengths ({detail})")
        data.append([{"node_path": k[0], "field_name": k[1], "items": sweeps[k]} for k in group])
    for key, items in sweeps.items():
        if key not in grouped:
            data.append([{"node_path": key[0], "field_name": key[1], "items": items}])
    return data
