"""The workflow's Form: its inputs in depth-first order, and the rules that make it a tree.

The input index users address (`input_index`) is the position of a node-field
element in a depth-first pre-order walk from `form.rootElementId`. Headings, text
and dividers are not inputs. A workflow without a Form (or with an empty one) uses
its legacy `exposedFields` in their order, as the GUI does when it loads one.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .definition import WorkflowDefinition

__all__ = ["FormInputRef", "form_inputs", "form_problems", "input_label"]

log = logging.getLogger("invokeai_py_client.workflow")

_ELEMENT_TYPES = ("container", "node-field", "heading", "text", "divider")


@dataclass(frozen=True)
class FormInputRef:
    """Where one Form input lives: its index, node, field, element and Form settings."""

    input_index: int
    node_id: str
    field_name: str
    element_id: str | None
    """The node-field element's id; None when the input comes from `exposedFields`."""
    settings: Mapping[str, Any] | None
    """The element's `data.settings` (component, min, max, options...) when it has some."""
    label: str | None
    """The field's label, else the node's label, else None (the schema title is the caller's)."""


def form_inputs(defn: WorkflowDefinition) -> list[FormInputRef]:
    """The workflow's inputs in Form order (depth-first pre-order), or `exposedFields` order."""
    nodes = defn._node_map()  # read only: no copy of the workflow per handle
    form = defn._form_view()
    refs: list[FormInputRef] = []
    if form is not None and not _is_empty(form):
        elements = form["elements"]
        for element_id in _preorder(elements, form["rootElementId"]):
            element = elements[element_id]
            if element.get("type") != "node-field":
                continue
            ident = element["data"]["fieldIdentifier"]
            settings = element["data"].get("settings")
            refs.append(
                FormInputRef(
                    input_index=len(refs),
                    node_id=ident["nodeId"],
                    field_name=ident["fieldName"],
                    element_id=element_id,
                    settings=copy.deepcopy(settings) if isinstance(settings, dict) else None,
                    label=input_label(nodes[ident["nodeId"]], ident["fieldName"]),
                )
            )
        return refs
    for node_id, field_name in defn.exposed_fields:
        node = nodes.get(node_id)
        if (
            node is None
            or node.get("type") != "invocation"
            or field_name not in node["data"]["inputs"]
        ):
            # The GUI drops such a field silently when it builds the Form from exposedFields.
            log.warning(
                "workflow %r: exposed field %s.%s does not exist; skipped",
                defn.name,
                node_id,
                field_name,
            )
            continue
        refs.append(
            FormInputRef(
                input_index=len(refs),
                node_id=node_id,
                field_name=field_name,
                element_id=None,
                settings=None,
                label=input_label(node, field_name),
            )
        )
    return refs


def input_label(node: Mapping[str, Any], field_name: str) -> str | None:
    """The label the GUI shows for an input: the field's label, else the node's, else None."""
    data = node.get("data", {})
    field = data.get("inputs", {}).get(field_name, {})
    for label in (field.get("label"), data.get("label")):
        if isinstance(label, str) and label.strip():
            return label
    return None


def form_problems(form: Any, nodes: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every reason `form` is not a valid Form tree over `nodes` (empty list when it is).

    The rules are the frontend's `validateFormStructure`: the root is a container
    without parentId; every other element's parentId names a container that lists
    it; every child listed exists; everything is reachable from the root; nothing
    extra. Node-field elements must name an existing input of an invocation node.
    """
    if form is None:
        return []
    if not isinstance(form, dict) or not isinstance(form.get("elements"), dict):
        return ["form must be an object with 'elements' and 'rootElementId'"]
    elements: dict[str, Any] = form["elements"]
    root_id = form.get("rootElementId")
    problems = _element_shape_problems(elements)
    if problems:
        return problems
    if not isinstance(root_id, str) or root_id not in elements:
        problems.append(f"form.rootElementId {root_id!r} names no element")
    else:
        problems.extend(_tree_problems(elements, root_id))
    problems.extend(_node_field_problems(elements, nodes))
    return problems


def _element_shape_problems(elements: Mapping[str, Any]) -> list[str]:
    problems = []
    for key, element in elements.items():
        if not isinstance(element, dict):
            problems.append(f"form element {key!r} is not an object")
            continue
        if element.get("id") != key:
            problems.append(
                f"form element {key!r} has id {element.get('id')!r} (must equal its key)"
            )
        kind = element.get("type")
        data = element.get("data")
        if kind not in _ELEMENT_TYPES:
            problems.append(f"form element {key!r} has unknown type {kind!r}")
        elif kind == "container" and not (
            isinstance(data, dict)
            and isinstance(data.get("children"), list)
            and all(isinstance(c, str) for c in data["children"])
        ):
            problems.append(f"form container {key!r} has no data.children list")
        elif kind == "node-field" and not (
            isinstance(data, dict)
            and isinstance(data.get("fieldIdentifier"), dict)
            and isinstance(data["fieldIdentifier"].get("nodeId"), str)
            and isinstance(data["fieldIdentifier"].get("fieldName"), str)
        ):
            problems.append(
                f"form element {key!r} has no data.fieldIdentifier {{nodeId, fieldName}}"
            )
    return problems


def _tree_problems(elements: Mapping[str, Any], root_id: str) -> list[str]:
    problems = []
    root = elements[root_id]
    if root.get("type") != "container":
        problems.append(f"form root element {root_id!r} is a {root.get('type')!r}, not a container")
    if root.get("parentId") is not None:
        problems.append(
            f"form root element {root_id!r} has parentId {root['parentId']!r} (the root has none)"
        )
    listed_by: dict[str, str] = {root_id: ""}
    stack = [root_id]
    while stack:
        container_id = stack.pop()
        container = elements[container_id]
        if container.get("type") != "container":
            continue
        for child_id in container["data"]["children"]:
            if child_id not in elements:
                problems.append(
                    f"form container {container_id!r} lists child {child_id!r}, which does not exist"
                )
                continue
            if child_id in listed_by:
                problems.append(
                    f"form element {child_id!r} is listed more than once (by {container_id!r})"
                )
                continue
            listed_by[child_id] = container_id
            problems.extend(_parent_problems(elements, child_id))
            stack.append(child_id)
    unreachable = [key for key in elements if key not in listed_by]
    if unreachable:
        problems.append(
            f"form elements not reachable from root {root_id!r}: {', '.join(map(repr, unreachable))}"
        )
    return problems


def _parent_problems(elements: Mapping[str, Any], element_id: str) -> list[str]:
    parent_id = elements[element_id].get("parentId")
    if parent_id is None:
        return [f"form element {element_id!r} has no parentId"]
    parent = elements.get(parent_id)
    if parent is None:
        return [f"form element {element_id!r} has parentId {parent_id!r}, which names no element"]
    if parent.get("type") != "container":
        return [
            f"form element {element_id!r} has parentId {parent_id!r}, which is a {parent.get('type')!r}, not a container"
        ]
    if element_id not in parent["data"]["children"]:
        return [
            f"form element {element_id!r} has parentId {parent_id!r}, whose children do not list it"
        ]
    return []


def _node_field_problems(
    elements: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    problems = []
    for key, element in elements.items():
        if element.get("type") != "node-field":
            continue
        ident = element["data"]["fieldIdentifier"]
        node_id, field_name = ident["nodeId"], ident["fieldName"]
        node = nodes.get(node_id)
        if node is None:
            problems.append(
                f"form element {key!r} refers to node {node_id!r}, which does not exist"
            )
        elif node.get("type") != "invocation" or not isinstance(
            node.get("data", {}).get("inputs"), dict
        ):
            problems.append(
                f"form element {key!r} refers to node {node_id!r}, which is not an invocation"
            )
        elif field_name not in node["data"]["inputs"]:
            problems.append(
                f"form element {key!r} refers to input {field_name!r} of node {node_id!r} "
                f"({node['data'].get('type')}), which has no such input"
            )
    return problems


def _is_empty(form: Mapping[str, Any]) -> bool:
    """The GUI's `getIsFormEmpty`: only a root container without children."""
    elements = form["elements"]
    root = elements.get(form["rootElementId"])
    if root is None or root.get("type") != "container":
        return True
    return len(elements) == 1 and not root["data"]["children"]


def _preorder(elements: Mapping[str, Any], root_id: str) -> Iterator[str]:
    """Element ids depth-first, parents before children, children in their listed order."""
    stack = [root_id]
    while stack:
        element_id = stack.pop()
        yield element_id
        element = elements[element_id]
        if element.get("type") == "container":
            stack.extend(reversed(element["data"]["children"]))
