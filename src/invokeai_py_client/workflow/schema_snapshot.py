"""The bundled schema snapshot: the part of a server's OpenAPI document the catalog reads.

`scripts/make_schema_snapshot.py` writes it from a live server's `/openapi.json`;
`InvocationCatalog.bundled()` reads it when the live schema cannot be had.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .schema import (
    PROPERTY_KEYS,
    VERSION_KEY,
    input_specs,
    invocation_components,
    is_enum_component,
    ref_name,
    schemas_of,
)

__all__ = ["snapshot_document"]


def snapshot_document(document: Mapping[str, Any], *, version: str) -> dict[str, Any]:
    """The part of an OpenAPI document the catalog reads, as a smaller OpenAPI document.

    `InvocationCatalog.from_openapi` gives the same catalog for both.
    """
    schemas = schemas_of(document)
    kept: dict[str, Any] = {}
    wanted_refs: set[str] = set()
    for key, node_type, component in invocation_components(schemas):
        small: dict[str, Any] = {"type": {"default": node_type}}
        for name in input_specs(node_type, component, schemas):
            prop = component["properties"][name]
            small[name] = {k: v for k, v in prop.items() if k in PROPERTY_KEYS}
            wanted_refs.update(re.findall(r'"\$ref": "[^"]*/([^"/]+)"', json.dumps(prop)))
        kept[key] = {
            "class": "invocation",
            "version": component.get("version"),
            "output": component.get("output"),
            "properties": small,
        }
        output = schemas.get(ref_name(component["output"])) if "output" in component else None
        if isinstance(output, Mapping) and output.get("class") == "output":
            kept[ref_name(component["output"])] = {
                "class": "output", "properties": {n: {} for n in output.get("properties") or {}},
            }
    for name in sorted(wanted_refs):
        target = schemas.get(name)
        if is_enum_component(target):
            kept[name] = {k: target[k] for k in ("enum", "const", "type") if k in target}
    return {
        "openapi": document.get("openapi"),
        VERSION_KEY: version,
        "components": {"schemas": dict(sorted(kept.items()))},
    }
