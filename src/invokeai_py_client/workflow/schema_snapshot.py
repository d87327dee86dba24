"""The bundled schema snapshots: the part of a server's OpenAPI document the client reads.

`scripts/make_schema_snapshot.py` writes one per tested release from a live server's
`/openapi.json`: its routes (what `ServerSchema.has` asks) and its invocation inputs
(what `InvocationCatalog` reads). They stand in when a server's own schema cannot be had.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .._capabilities import VERSION_KEY
from .schema import (
    PROPERTY_KEYS,
    input_specs,
    invocation_components,
    is_enum_component,
    ref_name,
    schemas_of,
)

__all__ = ["snapshot_document"]

_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})


def snapshot_document(document: Mapping[str, Any], *, version: str) -> dict[str, Any]:
    """The part of an OpenAPI document the client reads, as a smaller OpenAPI document.

    `InvocationCatalog.from_openapi` gives the same catalog for both, and
    `ServerSchema.from_openapi` the same routes (each operation kept as an empty object).
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
    paths: dict[str, dict[str, Any]] = {
        path: {method: {} for method in sorted(operations) if method in _HTTP_METHODS}
        for path, operations in sorted((document.get("paths") or {}).items())
        if isinstance(operations, Mapping)
    }
    return {
        "openapi": document.get("openapi"),
        VERSION_KEY: version,
        "paths": paths,
        "components": {"schemas": dict(sorted(kept.items()))},
    }
