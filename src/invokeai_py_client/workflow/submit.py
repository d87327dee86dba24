"""From a snapshot of a handle's inputs to `enqueue_batch` bodies.

The snapshot holds detached copies of the input fields, so a submission cannot be
changed by later assignments. One flow (shared by the sync and async handles)
fetches what the fields need from the server (uploads, the board list, the model
list) and then lets each field produce its graph value through a resolver backed
by those answers. Sweeps become `batch.data` (zipped groups inside, a cartesian
product outside); kinds the server cannot sweep (models, booleans, boards) split
the submission into several batches.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from .._exceptions import ValidationError
from .._flow import Flow, Once
from ..boards import Board, find_board, list_boards_flow, resolve_board_flow
from ..images import upload_flow
from ..model_manager import ModelRecord, identifier, list_models_flow
from .batch_nodes import batch_data_from_nodes, check_inputs_against_batch_nodes
from .definition import WorkflowDefinition
from .fields import InputField, is_local_image
from .graph import build_batch, build_graph
from .model_sync import is_model_identifier
from .schema import InputSpec

__all__ = ["Snapshot", "SubmitOptions", "load_uploads", "prepare_flow"]

log = logging.getLogger("invokeai_py_client.workflow")

Key = tuple[str, str]
_UNSWEEPABLE = frozenset({"model", "boolean", "board"})


@dataclass
class Snapshot:
    """One submission: detached input fields, fixed model overrides, zip groups, runs."""

    fields: dict[Key, InputField]
    """Every Form input that was set (a detached copy, value or sweep)."""
    overrides: dict[Key, Any]
    """Values set outside the Form (e.g. by model sync), already graph JSON."""
    zip_groups: list[list[Key]]
    runs: int = 1

    def kind(self, key: Key) -> str | None:
        spec = self.fields[key].spec
        return spec.kind if spec is not None else None


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
    """Read every local image (path or PIL image) of the snapshot, keyed by `id()` of the value.

    Kept out of the flow so async handles can run it on a worker thread.
    """
    return {
        id(v): _image_bytes(v)
        for fld in snapshot.fields.values()
        for v in fld.unresolved_values()
        if is_local_image(v)
    }


class _Prefetched:
    """A `fields.Resolver` answering from what the flow fetched beforehand."""

    def __init__(self) -> None:
        self.uploaded: dict[int, str] = {}
        self.boards: list[Board] = []
        self.models: list[ModelRecord] = []
        self.pending: set[str] = set()
        """Stand-ins for uploads and boards a dry run did not make (image names, board ids)."""

    def upload_image(self, image: Any) -> str:
        return self.uploaded[id(image)]

    def resolve_board(self, name: str) -> str:
        found = find_board(self.boards, name)
        if found is None:
            names = ", ".join(sorted(b.board_name for b in self.boards))
            raise ValidationError(f"no board {name!r}; boards: {names or 'none'}")
        return found.board_id

    def resolve_model(self, value: str, spec: InputSpec | None) -> dict[str, Any]:
        types = spec.model_types if spec is not None else ()
        bases = spec.model_bases if spec is not None else ()
        fitting = [m for m in self.models if (not types or m.type in types) and (not bases or m.base in bases)]
        for rule in ("key", "name"):
            hits = [m for m in fitting if m.get(rule) == value]
            if len(hits) == 1:
                return identifier(hits[0])
            if len(hits) > 1:
                listed = ", ".join(f"{m.name} ({m.base}, key {m.key})" for m in hits)
                raise ValidationError(f"model {value!r} is ambiguous: {listed}")
        wanted = f"type {'/'.join(types) or 'any'}" + (f", base {'/'.join(bases)}" if bases else "")
        listed = ", ".join(f"{m.name} ({m.base})" for m in fitting) or "none installed"
        raise ValidationError(f"no installed model {value!r} of {wanted}; candidates: {listed}")


def _upload_once(filename: str, data: bytes, context: str) -> Flow[str]:
    """Upload bytes once per content and client (later submissions reuse the image)."""

    def upload() -> Flow[str]:
        dto = yield from upload_flow(data, is_intermediate=True, image_category="user", filename=filename)
        log.info("uploaded %s for %s as %s", filename, context, dto.image_name)
        return dto.image_name

    name: str = yield Once(f"upload:{hashlib.sha256(data).hexdigest()}", upload)
    return name


def _prefetch_flow(
    snapshot: Snapshot, uploads: Mapping[int, tuple[str, bytes]], create_boards: bool, *, dry: bool
) -> Flow[_Prefetched]:
    """Upload local images, find boards (creating missing ones), list models: what values need.

    A `dry` run changes nothing on the server: stand-ins take the place of the images
    it would upload and the boards it would create (`pending`).
    """
    pre = _Prefetched()
    board_names: list[tuple[str, str]] = []
    need_models = False
    for key, fld in snapshot.fields.items():
        kind = snapshot.kind(key)
        for value in fld.unresolved_values():
            if is_local_image(value):
                filename, data = uploads[id(value)]
                if dry:
                    pre.uploaded[id(value)] = stand_in = f"(upload of {filename})"
                    pre.pending.add(stand_in)
                else:
                    pre.uploaded[id(value)] = yield from _upload_once(filename, data, fld.context)
            elif kind == "board" and isinstance(value, str):
                board_names.append((value, fld.context))
            elif kind == "model":
                need_models = True
    if board_names:
        pre.boards = yield from list_boards_flow(include_archived=True)
        for name, where in board_names:
            if find_board(pre.boards, name) is None:
                if not create_boards:
                    names = ", ".join(sorted(b.board_name for b in pre.boards))
                    raise ValidationError(f"{where}: no board {name!r}; boards: {names or 'none'}")
                if dry:
                    stand_in = f"(new board {name})"
                    pre.boards.append(Board(board_id=stand_in, board_name=name))
                    pre.pending.add(stand_in)
                else:
                    pre.boards.append((yield from resolve_board_flow(name, create=True)))
    if need_models:
        pre.models = yield from list_models_flow()
    return pre


class SubmitOptions(TypedDict, total=False):
    """Where a submission goes on the queue and how it is tagged."""

    prepend: bool
    """Put it at the front of the queue."""
    origin: str | None
    """The batch's `origin` (default ``invokeai-py-client``)."""
    destination: str | None
    """The batch's `destination` (default: a unique tag, so a lost answer can be looked up)."""


def prepare_flow(
    definition: WorkflowDefinition,
    snapshot: Snapshot,
    uploads: Mapping[int, tuple[str, bytes]],
    create_boards: bool,
    options: SubmitOptions,
) -> Flow[list[dict[str, Any]]]:
    """Resolve every value, expand sweeps and build the enqueue bodies.

    Everything is checked before anything changes on the server: a dry run first
    (stand-ins for uploads and new boards), then, only if it passes, the uploads and
    board creations and the real bodies.
    """
    bodies, pending = yield from dry_bodies_flow(definition, snapshot, uploads, create_boards, options)
    if pending:
        node_data = batch_data_from_nodes(definition)
        pre = yield from _prefetch_flow(snapshot, uploads, create_boards, dry=False)
        bodies, server_sweeps = _bodies(definition, snapshot, node_data, pre, options)
        yield from _check_references_flow(definition, bodies, server_sweeps)
    return bodies


def dry_bodies_flow(
    definition: WorkflowDefinition,
    snapshot: Snapshot,
    uploads: Mapping[int, tuple[str, bytes]],
    create_boards: bool,
    options: SubmitOptions,
) -> Flow[tuple[list[dict[str, Any]], set[str]]]:
    """The enqueue bodies, checked against the server, changing nothing there.

    Images to upload and boards to create appear as stand-ins (``"(upload of a.png)"``,
    ``"(new board name)"``), returned as the second value.
    """
    node_data = batch_data_from_nodes(definition)
    check_inputs_against_batch_nodes(node_data, snapshot.fields)
    pre = yield from _prefetch_flow(snapshot, uploads, create_boards, dry=True)
    bodies, server_sweeps = _bodies(definition, snapshot, node_data, pre, options)
    yield from _check_references_flow(definition, bodies, server_sweeps, ignore=pre.pending)
    return bodies, pre.pending


def _bodies(
    definition: WorkflowDefinition, snapshot: Snapshot, node_data: list[Any], pre: _Prefetched,
    options: SubmitOptions,
) -> tuple[list[dict[str, Any]], dict[Key, list[Any]]]:
    """The enqueue bodies for resolved values (pure), and the sweeps the server expands."""
    fixed: dict[Key, Any] = dict(snapshot.overrides)
    server_sweeps: dict[Key, list[Any]] = {}
    split_sweeps: dict[Key, list[Any]] = {}
    problems = []
    for key, fld in snapshot.fields.items():
        try:
            swept = fld.resolved_sweep(pre)
            if swept is None:
                fixed[key] = fld.resolved(pre)
            elif snapshot.kind(key) in _UNSWEEPABLE:
                split_sweeps[key] = swept
            else:
                server_sweeps[key] = swept
        except ValidationError as exc:
            problems.append(str(exc) if str(exc).startswith(fld.context) else f"{fld.context}: {exc}")
    if problems:
        raise ValidationError(f"workflow {definition.name!r} cannot be submitted", problems)
    bad_zip = [g for g in snapshot.zip_groups if not all(k in server_sweeps for k in g)]
    if bad_zip:
        raise ValidationError(f"zip groups {bad_zip} contain inputs the server cannot sweep (models, booleans, boards)")
    data = node_data + _batch_data(server_sweeps, snapshot.zip_groups)
    split_keys = list(split_sweeps)
    bodies = []
    # The server stores one workflow per batch: a server-side sweep embeds its first value.
    first_of_sweeps = {k: items[0] for k, items in server_sweeps.items() if items}
    for combo in itertools.product(*(split_sweeps[k] for k in split_keys)):
        values = {**fixed, **dict(zip(split_keys, combo, strict=True))}
        bodies.append(
            build_batch(
                definition, build_graph(definition, values), origin=options.get("origin"),
                destination=options.get("destination"), runs=snapshot.runs, data=data or None,
                prepend=options.get("prepend", False), values={**first_of_sweeps, **values},
            )
        )
    return bodies, server_sweeps


def _check_references_flow(
    definition: WorkflowDefinition, bodies: Sequence[Mapping[str, Any]], sweeps: Mapping[Key, list[Any]],
    ignore: Set[str] = frozenset(),
) -> Flow[None]:
    """Refuse boards and models the server does not have, before anything is enqueued.

    The server would run such a graph anyway: an unknown board id sends the image to
    Uncategorized without a word, an unknown model key fails the item. The lists are
    kept per client and fetched again when something is not in them.
    """
    boards: dict[str, str] = {}
    models: dict[str, str] = {}
    described: dict[str, str] = {}
    graphs = [body["batch"]["graph"] for body in bodies]
    for graph in graphs:
        for node_id, node in graph["nodes"].items():
            for name, value in node.items():
                values = [value, *sweeps.get((node_id, name), [])]
                for one in values:
                    if name == "board" and isinstance(one, Mapping) and isinstance(one.get("board_id"), str):
                        if one["board_id"] not in ignore:
                            boards.setdefault(one["board_id"], f"{node_id}.{name}")
                    elif is_model_identifier(one):
                        models.setdefault(str(one["key"]), f"{node_id}.{name}")
                        described.setdefault(str(one["key"]), f"{one.get('name')!r} ({one.get('base')} {one.get('type')})")
    problems: list[str] = []
    if boards:
        known = yield from _known("board-ids", lambda: _ids(list_boards_flow(include_archived=True), "board_id"), boards)
        problems += [f"{where}: no board with id {board_id!r}" for board_id, where in boards.items() if board_id not in known]
    if models:
        known = yield from _known("model-keys", lambda: _ids(list_models_flow(), "key"), models)
        problems += [
            f"{where}: no installed model with key {key!r}: model {described[key]} is not on this server "
            "(call sync_dnn_model() to use this server's models)"
            for key, where in models.items() if key not in known
        ]
    if problems:
        raise ValidationError(f"workflow {definition.name!r} names what the server does not have", problems)


def _ids(listing: Flow[Sequence[Any]], attribute: str) -> Flow[frozenset[str]]:
    return frozenset(getattr(record, attribute) for record in (yield from listing))


def _known(key: str, make: Callable[[], Flow[frozenset[str]]], wanted: Mapping[str, str]) -> Flow[frozenset[str]]:
    known: frozenset[str] = yield Once(key, make)
    if not set(wanted) <= known:
        known = yield Once(key, make, refresh=True)  # made or installed since the list was taken
    return known


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
