"""Chains of workflows compiled into ONE workflow: each stage's image feeds the next.

    >>> from invokeai_py_client.workflows import bundled_workflow_path
    >>> stages = [WorkflowDefinition.from_file(bundled_workflow_path(f))
    ...           for f in ("sdxl_base.json", "sdxl_refiner.json", "esrgan_upscale.json")]
    >>> fused = chain_workflows(stages, names=("Base", "Refine", "Upscale"))
    >>> [i.label for i in form_inputs(fused)][:3]
    ['Base: Positive prompt', 'Base: Negative prompt', 'Base: Seed']

A stage's output is its one non-intermediate image node; the next stage's input is the
first image input of its Form. The composite runs as ONE queue item per prompt (no
round trip through the client between stages), N prompts as one `enqueue_batch` with
`batch.data`, and it is what the images embed: reopened in the editor, it is the graph
that ran. Node ids and Form element ids are prefixed with the stage's name, Form labels
with its title; earlier stages' images are intermediate unless `keep_stages`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .._exceptions import ValidationError
from .definition import WorkflowDefinition
from .form import FormInputRef, form_inputs

__all__ = ["chain_workflows", "stage_input", "stage_output"]

_STAGE_GAP = 2400.0
"""How far apart (editor x units) the stages are laid out."""


def stage_output(definition: WorkflowDefinition) -> str:
    """The id of the stage's output node: its one non-intermediate image node."""
    outputs = [
        node_id for node_id, node in definition.nodes.items()
        if node.get("type") == "invocation" and node["data"].get("isIntermediate") is False
    ]
    if len(outputs) != 1:
        raise ValidationError(
            f"workflow {definition.name!r} cannot be a chain stage: it needs exactly one non-intermediate "
            f"(saved) image node, it has {len(outputs)} ({', '.join(outputs) or 'none'})"
        )
    return outputs[0]


def stage_input(definition: WorkflowDefinition) -> FormInputRef:
    """The stage's image input: the first image field of its Form."""
    for ref in form_inputs(definition):
        value = definition.nodes[ref.node_id]["data"]["inputs"].get(ref.field_name, {}).get("value")
        if ref.field_name == "image" or (isinstance(value, Mapping) and "image_name" in value):
            return ref
    raise ValidationError(
        f"workflow {definition.name!r} cannot follow another stage: its Form has no image input"
    )


def chain_workflows(
    stages: Sequence[WorkflowDefinition],
    *,
    names: Sequence[str] | None = None,
    keep_stages: bool = False,
    name: str | None = None,
) -> WorkflowDefinition:
    """One workflow running `stages` in order, each stage's output image wired into the next.

    Args:
        names: the stages' titles (Form labels become ``"<title>: <label>"``); by
            default ``Stage 1``, ``Stage 2``, ...
        keep_stages: save every stage's image (each on its own Output board); by
            default only the last stage's image is saved, the others are intermediate.
    """
    if len(stages) < 1:
        raise ValidationError("a chain needs at least one stage")
    titles = list(names) if names is not None else [f"Stage {k + 1}" for k in range(len(stages))]
    if len(titles) != len(stages) or len(set(titles)) != len(titles):
        raise ValidationError(f"give one distinct name per stage, got {titles!r} for {len(stages)} stages")
    prefixes = [_slug(title) for title in titles]

    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    elements: dict[str, Any] = {}
    root_children: list[str] = []
    previous_output: str | None = None
    for k, (stage, title, prefix) in enumerate(zip(stages, titles, prefixes, strict=True)):
        doc = stage.raw()
        output = stage_output(stage)
        fed = stage_input(stage) if previous_output is not None else None

        def pid(node_id: str, prefix: str = prefix) -> str:
            return f"{prefix}-{node_id}"

        for node in doc["nodes"]:
            node = copy.deepcopy(node)
            node["id"] = pid(node["id"])
            if node.get("type") == "invocation":
                data = node["data"]
                data["id"] = node["id"]
                for field in data.get("inputs", {}).values():
                    if isinstance(field, dict) and field.get("label"):
                        field["label"] = f"{title}: {field['label']}"
                if node["id"] == pid(output) and k < len(stages) - 1:
                    data["isIntermediate"] = not keep_stages
            position = node.get("position") or {"x": 0.0, "y": 0.0}
            node["position"] = {"x": float(position.get("x", 0.0)) + k * _STAGE_GAP, "y": float(position.get("y", 0.0))}
            nodes.append(node)
        for edge in doc["edges"]:
            edge = copy.deepcopy(edge)
            edge["source"], edge["target"] = pid(edge["source"]), pid(edge["target"])
            edge["id"] = f"{prefix}-{edge['id']}"
            edges.append(edge)
        if fed is not None and previous_output is not None:
            target = pid(fed.node_id)
            for node in nodes:
                if node["id"] == target:
                    node["data"]["inputs"][fed.field_name].pop("value", None)
            edges.append({
                "id": f"chain-{previous_output}-{target}",
                "type": "default",
                "source": previous_output,
                "sourceHandle": "image",
                "target": target,
                "targetHandle": fed.field_name,
            })
        form_elements: Mapping[str, Any] = (doc.get("form") or {}).get("elements", {})
        fed_identifier = {"nodeId": fed.node_id, "fieldName": fed.field_name} if fed is not None else None
        dropped = {  # fed by the previous stage: not an input any more
            element_id for element_id, element in form_elements.items()
            if fed_identifier is not None and (element.get("data") or {}).get("fieldIdentifier") == fed_identifier
        }
        for element_id, element in form_elements.items():
            if element_id == "root" or element_id in dropped:
                continue
            element = copy.deepcopy(element)
            element["id"] = f"{prefix}-{element_id}"
            parent = element.get("parentId")
            if parent and parent != "root":
                element["parentId"] = f"{prefix}-{parent}"
            identifier = (element.get("data") or {}).get("fieldIdentifier")
            if identifier is not None:
                element["data"]["fieldIdentifier"] = {"nodeId": pid(identifier["nodeId"]),
                                                      "fieldName": identifier["fieldName"]}
            children = (element.get("data") or {}).get("children")
            if isinstance(children, list):
                element["data"]["children"] = [f"{prefix}-{c}" for c in children if c not in dropped]
            elements[element["id"]] = element
        root_children += [
            f"{prefix}-{c}" for c in (form_elements.get("root", {}).get("data") or {}).get("children", [])
            if c not in dropped
        ]
        previous_output = pid(output)

    first = stages[0].raw()
    composite = {
        "name": name or " -> ".join(s.name or t for s, t in zip(stages, titles, strict=True)),
        "author": "invokeai-py-client",
        "description": "A chain: " + " -> ".join(titles) + " (each stage's image feeds the next).",
        "version": "1.0.0",
        "contact": "",
        "tags": "chain",
        "notes": "",
        "exposedFields": [],
        "meta": copy.deepcopy(first.get("meta") or {"version": "3.0.0", "category": "user"}),
        "nodes": nodes,
        "edges": edges,
        "form": {
            "elements": {"root": {"id": "root", "type": "container",
                                  "data": {"layout": "column", "children": root_children}}, **elements},
            "rootElementId": "root",
        },
    }
    return WorkflowDefinition.from_dict(composite, source=f"chain of {', '.join(titles)}")


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")
    if not slug:
        raise ValidationError(f"stage name {title!r} has no letters or digits to name its nodes by")
    return slug
