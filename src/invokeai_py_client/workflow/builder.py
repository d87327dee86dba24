"""Write InvokeAI workflows in Python: nodes, edges and a Form, exported as GUI JSON.

The result is an exported workflow (schema 4.0.0) that InvokeAI's workflow editor
opens, and that `WorkflowDefinition` loads like any export. Every node input is
checked against the server's schema as it is set, so a typo fails here, not on the
server.

    >>> from invokeai_py_client.workflow.builder import WorkflowBuilder
    >>> b = WorkflowBuilder("Blur")
    >>> img = b.add_node("image", "source", label="Input image")
    >>> blur = b.add_node("img_blur", "blur", radius=4.0, is_intermediate=False)
    >>> b.connect(img, "image", blur, "image")
    >>> b.expose(img, "image", label="Image")
    >>> b.expose(blur, "radius", label="Radius")
    >>> wf = b.build()
    >>> [el["type"] for el in wf["form"]["elements"].values()]
    ['container', 'node-field', 'node-field']
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._exceptions import ValidationError
from .schema import InvocationCatalog

__all__ = ["NodeRef", "WorkflowBuilder"]

SCHEMA_VERSION = "4.0.0"
_NODE_ATTRIBUTES = frozenset({"id", "type", "is_intermediate", "use_cache"})
_COLUMN_WIDTH = 420.0
# The GUI's default Form settings per field type (frontend `types/workflow.ts`).
_GUI_FIELD_SETTINGS: dict[str, dict[str, Any]] = {
    "IntegerField": {"type": "integer-field-config", "showShuffle": False, "component": "number-input"},
    "FloatField": {"type": "float-field-config", "showShuffle": False, "component": "number-input"},
    "StringField": {"type": "string-field-config", "component": "input"},
}


@dataclass(frozen=True)
class NodeRef:
    """A node added to a builder (pass it to `connect` and `expose`)."""

    id: str
    type: str


@dataclass
class _Node:
    ref: NodeRef
    label: str
    values: dict[str, Any]
    is_intermediate: bool
    use_cache: bool
    position: tuple[float, float]
    notes: str = ""


@dataclass
class _FormField:
    node_id: str
    field_name: str
    label: str | None
    description: str | None
    settings: dict[str, Any] | None


@dataclass
class WorkflowBuilder:
    """Builds an exported workflow; see the module docstring for an example."""

    name: str
    description: str = ""
    author: str = "invokeai-py-client"
    version: str = "1.0.0"
    tags: str = ""
    notes: str = ""
    catalog: InvocationCatalog = field(default_factory=InvocationCatalog.bundled)
    _nodes: dict[str, _Node] = field(default_factory=dict, init=False)
    _edges: list[tuple[str, str, str, str]] = field(default_factory=list, init=False)
    _form: list[_FormField] = field(default_factory=list, init=False)

    def add_node(
        self,
        node_type: str,
        node_id: str,
        *,
        label: str = "",
        is_intermediate: bool | None = None,
        use_cache: bool = True,
        position: tuple[float, float] | None = None,
        **values: Any,
    ) -> NodeRef:
        """Add an invocation node with some input values; returns its reference.

        Image-producing nodes default to intermediate, as in the GUI, unless
        `is_intermediate=False` (the workflow's final images).
        """
        if node_id in self._nodes:
            raise ValidationError(f"node id {node_id!r} is used twice")
        specs = self.catalog.inputs(node_type)
        if not specs and node_type not in self.catalog.node_types():
            raise ValidationError(f"unknown node type {node_type!r}")
        problems = [
            f"{node_type} has no input {name!r} (inputs: {', '.join(sorted(self._input_names(node_type)))})"
            for name in values
            if name not in self._input_names(node_type)
        ]
        if problems:
            raise ValidationError(f"node {node_id!r}: bad inputs", problems)
        if position is None:
            position = (len(self._nodes) * _COLUMN_WIDTH, 0.0)
        ref = NodeRef(node_id, node_type)
        self._nodes[node_id] = _Node(
            ref=ref,
            label=label,
            values=copy.deepcopy(values),
            is_intermediate=True if is_intermediate is None else is_intermediate,
            use_cache=use_cache,
            position=position,
        )
        return ref

    def set_values(self, node: NodeRef, **values: Any) -> None:
        """Set more input values on a node."""
        known = self._input_names(node.type)
        bad = [name for name in values if name not in known]
        if bad:
            raise ValidationError(f"node {node.id!r} ({node.type}) has no inputs {bad}")
        self._nodes[node.id].values.update(copy.deepcopy(values))

    def connect(self, source: NodeRef, source_field: str, target: NodeRef, target_field: str) -> None:
        """Feed `target.target_field` from `source.source_field`."""
        outputs = self.catalog.output_fields(source.type)
        if outputs is not None and source_field not in outputs:
            raise ValidationError(
                f"{source.type} ({source.id}) has no output {source_field!r} (outputs: {', '.join(sorted(outputs))})"
            )
        if target_field not in self._input_names(target.type):
            raise ValidationError(f"{target.type} ({target.id}) has no input {target_field!r}")
        spec = self.catalog.input_spec(target.type, target_field)
        if spec is not None and spec.input == "direct":
            raise ValidationError(f"{target.type}.{target_field} cannot be connected (direct input only)")
        self._edges.append((source.id, source_field, target.id, target_field))

    def expose(
        self,
        node: NodeRef,
        field_name: str,
        *,
        label: str | None = None,
        description: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> int:
        """Put an input in the Form (after the ones already there); returns its input index."""
        if field_name not in self._input_names(node.type):
            raise ValidationError(f"{node.type} ({node.id}) has no input {field_name!r}")
        if any(f.node_id == node.id and f.field_name == field_name for f in self._form):
            raise ValidationError(f"{node.id}.{field_name} is already in the form")
        self._form.append(
            _FormField(node.id, field_name, label, description, dict(settings) if settings else None)
        )
        return len(self._form) - 1

    def build(self) -> dict[str, Any]:
        """The exported workflow JSON (a new dict each time)."""
        connected = {(t, tf) for _, _, t, tf in self._edges}
        labels = {(f.node_id, f.field_name): f for f in self._form}
        problems = []
        nodes = []
        for node in self._nodes.values():
            inputs: dict[str, Any] = {}
            for name, spec in self.catalog.inputs(node.ref.type).items():
                if name in _NODE_ATTRIBUTES:
                    continue
                form_field = labels.get((node.ref.id, name))
                entry: dict[str, Any] = {
                    "name": name,
                    "label": (form_field.label if form_field and form_field.label else ""),
                    "description": (form_field.description if form_field and form_field.description else ""),
                }
                if name in node.values:
                    entry["value"] = node.values[name]
                elif spec.has_default and spec.default is not None:
                    entry["value"] = copy.deepcopy(spec.default)
                elif (
                    spec.required
                    and (node.ref.id, name) not in connected
                    and form_field is None  # an exposed input is filled in by the user
                    and spec.input != "direct"
                ):
                    problems.append(f"{node.ref.id}.{name} ({node.ref.type}) is required: set it or connect it")
                inputs[name] = entry
            nodes.append(
                {
                    "id": node.ref.id,
                    "type": "invocation",
                    "data": {
                        "id": node.ref.id,
                        "version": self.catalog.node_version(node.ref.type),
                        "nodePack": "invokeai",
                        "label": node.label,
                        "notes": node.notes,
                        "type": node.ref.type,
                        "inputs": inputs,
                        "isOpen": True,
                        "isIntermediate": node.is_intermediate,
                        "useCache": node.use_cache,
                    },
                    "position": {"x": node.position[0], "y": node.position[1]},
                }
            )
        if problems:
            raise ValidationError(f"workflow {self.name!r} is incomplete", problems)
        edges = [
            {
                "id": f"reactflow__edge-{s}{sf}-{t}{tf}",
                "type": "default",
                "source": s,
                "target": t,
                "sourceHandle": sf,
                "targetHandle": tf,
            }
            for s, sf, t, tf in self._edges
        ]
        return {
            "name": self.name,
            "author": self.author,
            "description": self.description,
            "version": self.version,
            "contact": "",
            "tags": self.tags,
            "notes": self.notes,
            "exposedFields": [],
            "meta": {"category": "user", "version": SCHEMA_VERSION},
            "nodes": nodes,
            "edges": edges,
            "form": self._build_form(),
        }

    def _build_form(self) -> dict[str, Any]:
        root_id = "root"
        elements: dict[str, Any] = {}
        children = []
        for i, f in enumerate(self._form):
            element_id = f"node-field-{i:02d}-{f.node_id}-{f.field_name}"
            children.append(element_id)
            data: dict[str, Any] = {
                "fieldIdentifier": {"nodeId": f.node_id, "fieldName": f.field_name},
                "showDescription": bool(f.description),
            }
            settings = self._form_settings(f)
            if settings:
                data["settings"] = settings
            elements[element_id] = {"id": element_id, "parentId": root_id, "type": "node-field", "data": data}
        root = {"id": root_id, "type": "container", "data": {"layout": "column", "children": children}}
        return {"elements": {root_id: root, **elements}, "rootElementId": root_id}

    def _form_settings(self, f: _FormField) -> dict[str, Any] | None:
        """The element's settings as the GUI stores them: its defaults for single
        integer/float/string fields (`buildNodeFieldElement`), overlaid with the given ones."""
        spec = self.catalog.input_spec(self._nodes[f.node_id].ref.type, f.field_name)
        type_name = spec.type_name if spec is not None and spec.cardinality == "single" else None
        defaults = _GUI_FIELD_SETTINGS.get(type_name or "")
        if defaults is None:
            if f.settings:
                raise ValidationError(
                    f"{f.node_id}.{f.field_name}: the GUI keeps Form settings only for single "
                    f"integer, float and string fields, not "
                    f"{spec.type_name if spec else 'an unknown'} ({spec.cardinality if spec else 'field'})"
                )
            return None
        return {**defaults, **(f.settings or {})}

    def _input_names(self, node_type: str) -> set[str]:
        return {name for name in self.catalog.inputs(node_type) if name not in _NODE_ATTRIBUTES}
