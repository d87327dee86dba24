"""An exported InvokeAI workflow (the GUI's "Save As"/"Download" JSON), validated and read-only.

    >>> defn = WorkflowDefinition.from_file("sdxl-text-to-image.json")  # doctest: +SKIP
    >>> defn.name, defn.schema_version                                  # doctest: +SKIP
    ('sdxl-text-to-image', '3.0.0')

Schema versions 1.x-4.x are read (the frontend's `migrations.ts`): 1.0.0 lacks
`useCache` (the GUI defaults it to true) and may lack the top-level strings; 1.x and
2.x have no Form; 3.0.0 -> 4.0.0 only bumps the number (4.0.0 adds connector nodes).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._compat.workflow import NodeMap
from .._exceptions import ValidationError
from .form import form_problems
from .graph import edge_fed_inputs

__all__ = ["SUPPORTED_SCHEMA_MAJORS", "WorkflowDefinition"]

SUPPORTED_SCHEMA_MAJORS = (1, 2, 3, 4)
"""Majors of `meta.version` this client reads."""

# Top-level keys the GUI keeps when it builds the workflow it sends (buildWorkflow.ts).
_WORKFLOW_KEYS = (
    "name",
    "author",
    "description",
    "version",
    "contact",
    "tags",
    "notes",
    "exposedFields",
    "meta",
    "form",
)
_STRING_KEYS = ("name", "author", "description", "version", "contact", "tags", "notes")


class WorkflowDefinition:
    """A validated exported workflow. Nothing handed out aliases its private dict.

    Build one with `from_file`, `from_json` or `from_dict`; every problem found is
    reported at once in `ValidationError.problems`.
    """

    __slots__ = ("_doc", "_memo", "_raw", "_source")

    def __init__(self, data: Mapping[str, Any], *, source: str | None = None) -> None:
        """Validate `data` (copied) and wrap it. `source` names it in error messages."""
        self._source = source
        self._memo: dict[str, Any] = {}
        if not isinstance(data, Mapping):
            raise ValidationError(
                f"{self._what()} is not a workflow: expected a JSON object, got {type(data).__name__}"
            )
        self._raw: dict[str, Any] = copy.deepcopy(dict(data))
        self._doc = _normalized(self._raw, _schema_major(self._raw, self._what()))
        problems = _validate(self._doc)
        if problems:
            raise ValidationError(f"{self._what()} is not a valid workflow", problems)

    # -- constructors ------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> WorkflowDefinition:
        """Load an exported workflow JSON file."""
        file = Path(path)
        source = f"workflow file {str(file)!r}"
        try:
            text = file.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{source} is not UTF-8 text (byte {exc.start}): not an exported workflow") from None
        except OSError as exc:
            raise ValidationError(f"{source} cannot be read: {exc.strerror or exc}") from None
        return cls.from_json(text, source=source)

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str | None = None) -> WorkflowDefinition:
        """Parse an exported workflow from its JSON text."""
        where = source or "workflow JSON"
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"{where} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            ) from None
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{where} is not UTF-8 text (byte {exc.start})") from None
        except RecursionError:
            raise ValidationError(f"{where} nests too deeply to be an exported workflow") from None
        return cls(data, source=source)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> WorkflowDefinition:
        """Wrap an already-parsed workflow (the dict is copied, never kept)."""
        return cls(data, source=source)

    # -- reading -----------------------------------------------------------------------

    def raw(self) -> dict[str, Any]:
        """A deep copy of the workflow exactly as it was loaded."""
        return copy.deepcopy(self._raw)

    def server_workflow(self, values: Mapping[tuple[str, str], Any] | None = None) -> dict[str, Any]:
        """The workflow as the GUI sends it to the server: without `id`, known keys only.

        This is the `workflow` of an enqueued batch (embedded in the output images) and
        the body of a workflow-library save. Nodes keep id/type/data/position and edges
        their reactflow keys, as `buildWorkflow.ts` does; missing 1.x strings and the
        category are filled with the GUI's defaults so the server accepts the body.

        `values` (``{(node_id, field_name): value}``, as the graph gets them) are written
        where the editor keeps an input's value (``data.inputs[name].value``), so an image
        reopens in the editor with the values it was made with, as a GUI-made one does.
        """
        # A fresh copy every time (callers may change it), made from JSON text kept once:
        # the C parser copies a workflow several times faster than copy.deepcopy.
        out: dict[str, Any] = json.loads(self._remember("server-workflow-json", self._server_workflow_json))
        if values:
            by_id = {n["id"]: n for n in out["nodes"]}
            for (node_id, name), value in values.items():
                entry = by_id.get(node_id, {}).get("data", {}).get("inputs", {}).get(name)
                if isinstance(entry, dict):
                    entry["value"] = copy.deepcopy(value)
        return out

    def _server_workflow_json(self) -> str:
        out: dict[str, Any] = {key: self._doc[key] for key in _WORKFLOW_KEYS if key in self._doc}
        out["nodes"] = [_pick(n, ("id", "type", "data", "position")) for n in self._doc["nodes"]]
        out["edges"] = [_edge_for_server(e) for e in self._doc["edges"]]
        return json.dumps(out)

    @property
    def source(self) -> str | None:
        """Where the workflow came from (e.g. ``workflow file 'a.json'``), if known."""
        return self._source

    @property
    def id(self) -> str | None:
        """The workflow-library id, when the export carries one."""
        value = self._raw.get("id")
        return value if isinstance(value, str) and value else None

    @property
    def name(self) -> str:
        return str(self._doc.get("name", ""))

    @property
    def description(self) -> str:
        return str(self._doc.get("description", ""))

    @property
    def version(self) -> str:
        """The workflow's own version string (set by its author)."""
        return str(self._doc.get("version", ""))

    @property
    def schema_version(self) -> str:
        """The workflow format version, `meta.version` (e.g. ``'3.0.0'``)."""
        return str(self._raw["meta"]["version"])

    @property
    def nodes(self) -> NodeMap:
        """Every node (invocation, notes, connector) by id, in the file's order (a copy).

        Iterating it gives the nodes themselves, as 1.1.1's list of nodes did.
        """
        return NodeMap((node["id"], copy.deepcopy(node)) for node in self._doc["nodes"])

    @property
    def edges(self) -> list[dict[str, Any]]:
        """Every edge as exported, collapsed ones included (a copy)."""
        return copy.deepcopy(list(self._doc["edges"]))

    @property
    def form(self) -> dict[str, Any] | None:
        """The Form builder's `{elements, rootElementId}`, or None (1.x/2.x, older 3.x)."""
        form = self._form_view()
        return copy.deepcopy(form) if form is not None else None

    def _form_view(self) -> dict[str, Any] | None:
        """`form`, NOT copied: for the package's read-only passes (never mutate it)."""
        form = self._doc.get("form")
        return form if isinstance(form, dict) else None

    @property
    def exposed_fields(self) -> list[tuple[str, str]]:
        """The legacy linear-view fields as ``(node_id, field_name)``, in order."""
        return [(f["nodeId"], f["fieldName"]) for f in self._doc.get("exposedFields", [])]

    def _node_map(self) -> Mapping[str, Mapping[str, Any]]:
        """Every node by id, NOT copied: for the package's read-only passes (never mutate it)."""
        node_map: Mapping[str, Mapping[str, Any]] = self._remember(
            "node_map", lambda: {node["id"]: node for node in self._doc["nodes"]}
        )
        return node_map

    def _edge_list(self) -> Sequence[Mapping[str, Any]]:
        """Every edge, NOT copied: for the package's read-only passes (never mutate it)."""
        edges: Sequence[Mapping[str, Any]] = self._doc["edges"]
        return edges

    def _remember(self, key: str, make: Callable[[], Any]) -> Any:
        """`make()` once per definition (it is immutable): for derived facts such as its edges."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = make()
            return value

    def edge_fed_inputs(self) -> set[tuple[str, str]]:
        """The ``(node_id, field_name)`` inputs an edge feeds in the graph sent to the server."""
        return edge_fed_inputs(self)

    def __repr__(self) -> str:
        return f"WorkflowDefinition(name={self.name!r}, schema_version={self.schema_version!r}, nodes={len(self._doc['nodes'])})"

    def _what(self) -> str:
        return self._source or "the given data"


def _schema_major(raw: Mapping[str, Any], what: str) -> int:
    meta = raw.get("meta")
    version = meta.get("version") if isinstance(meta, Mapping) else None
    if not isinstance(version, str):
        missing = ["meta.version"] + [key for key in ("nodes", "edges") if key not in raw]
        raise ValidationError(f"{what} is not a workflow: it has no {', '.join(missing)}")
    head = version.split(".")[0]
    if not head.isdigit():
        raise ValidationError(f"{what} has an unreadable schema version meta.version={version!r}")
    major = int(head)
    if major not in SUPPORTED_SCHEMA_MAJORS:
        raise ValidationError(
            f"{what} has workflow schema version {version!r}, which this client cannot read "
            f"(it reads 1.x-4.x; a newer InvokeAI may have written it)"
        )
    return major


def _normalized(raw: dict[str, Any], major: int) -> dict[str, Any]:
    """The workflow with the GUI's migration defaults applied (shares no objects with raw)."""
    doc = copy.deepcopy(raw)
    for key in _STRING_KEYS:
        doc.setdefault(key, "")
    doc.setdefault("exposedFields", [])
    if isinstance(doc.get("meta"), dict):
        doc["meta"].setdefault("category", "user")
    if major < 3:
        doc.pop("form", None)  # 1.x/2.x had no Form; the GUI's parse strips the key
    nodes = doc.get("nodes")
    if isinstance(nodes, list):
        for node in nodes:
            data = node.get("data") if isinstance(node, dict) else None
            if isinstance(data, dict) and node.get("type") == "invocation":
                data.setdefault("useCache", True)  # 1.0.0 default, as the GUI migrates
    return doc


def _validate(doc: Mapping[str, Any]) -> list[str]:
    """Every structural problem of a normalized workflow."""
    nodes, edges = doc.get("nodes"), doc.get("edges")
    if not isinstance(nodes, list) or not isinstance(edges, list):
        return [
            f"not a workflow: '{key}' is missing or not a list"
            for key in ("nodes", "edges")
            if not isinstance(doc.get(key), list)
        ]
    problems: list[str] = [
        f"{key} must be text, got {type(doc[key]).__name__}"
        for key in ("name", "author", "description", "version", "contact", "tags", "notes")
        if key in doc and not isinstance(doc[key], str)
    ]
    by_id = _node_problems(nodes, problems)
    _edge_problems(edges, by_id, problems)
    if not isinstance(doc.get("exposedFields"), list) or not all(
        isinstance(f, dict)
        and isinstance(f.get("nodeId"), str)
        and isinstance(f.get("fieldName"), str)
        for f in doc.get("exposedFields", [])
    ):
        problems.append("exposedFields must be a list of {nodeId, fieldName}")
        return problems
    problems.extend(form_problems(doc.get("form"), by_id))
    return problems


def _node_problems(nodes: list[Any], problems: list[str]) -> dict[str, dict[str, Any]]:
    by_id: dict[str, dict[str, Any]] = {}
    for i, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("id"), str) or not node["id"]:
            problems.append(f"nodes[{i}] has no id")
            continue
        node_id = node["id"]
        if node_id in by_id:
            problems.append(f"node {node_id!r} appears more than once")
            continue
        by_id[node_id] = node
        if node.get("type") != "invocation":
            continue
        data = node.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("type"), str) or not data["type"]:
            problems.append(f"node {node_id!r}: invocation without data.type")
        elif not isinstance(data.get("inputs"), dict) or not all(
            isinstance(v, dict) for v in data["inputs"].values()
        ):
            problems.append(
                f"node {node_id!r} ({data['type']}): data.inputs must map names to objects"
            )
    return by_id


def _edge_problems(edges: list[Any], by_id: Mapping[str, Any], problems: list[str]) -> None:
    for i, edge in enumerate(edges):
        if not isinstance(edge, dict):
            problems.append(f"edges[{i}] is not an object")
            continue
        name = f"edge {edge.get('id', i)!r}"
        for end in ("source", "target"):
            node_id = edge.get(end)
            if not isinstance(node_id, str):
                problems.append(f"{name} has no {end}")
            elif node_id not in by_id:
                problems.append(f"{name}: {end} node {node_id!r} does not exist")
        if edge.get("type") == "default":
            for handle in ("sourceHandle", "targetHandle"):
                if not isinstance(edge.get(handle), str) or not edge[handle]:
                    problems.append(f"{name} has no {handle}")
        elif edge.get("type") != "collapsed":
            problems.append(
                f"{name} has unknown type {edge.get('type')!r} (expected 'default' or 'collapsed')"
            )


def _pick(obj: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: copy.deepcopy(obj[k]) for k in keys if k in obj}


def _edge_for_server(edge: Mapping[str, Any]) -> dict[str, Any]:
    if edge.get("type") == "collapsed":
        return _pick(edge, ("id", "type", "source", "target"))
    return _pick(edge, ("id", "type", "source", "target", "sourceHandle", "targetHandle", "hidden"))
