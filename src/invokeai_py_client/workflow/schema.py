"""Input types of every invocation, read from the server's OpenAPI schema.

Exported workflows carry no field types; the server's `/openapi.json` does. Each
`<Type>Invocation` component lists its inputs as properties with InvokeAI's extra
keys (`field_kind`, `input`, `orig_required`, `ui_type`, `ui_model_*`, ...). This
module reads them the way the GUI's workflow editor does (its `parseFieldType` and
`buildFieldInputTemplate`), so an input gets the type the GUI shows for it.

    >>> catalog = InvocationCatalog.bundled()
    >>> spec = catalog.input_spec("noise", "seed")
    >>> spec.kind, spec.minimum, spec.maximum
    ('integer', 0, 4294967295)
    >>> catalog.input_spec("noise", "no_such_input") is None
    True

`InvocationCatalog.bundled()` loads the schema of the newest InvokeAI version this
package was tested with (`bundled("5.15.0")` an older one's);
`InvocationCatalog.from_openapi()` reads a live server's schema.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from .._capabilities import SNAPSHOT_VERSIONS, VERSION_KEY, bundled_document, snapshot_for

__all__ = [
    "BUNDLED_SCHEMA_VERSION",
    "InputSpec",
    "InvocationCatalog",
    "input_specs",
    "invocation_components",
    "schemas_of",
]

log = logging.getLogger("invokeai_py_client.workflow")

BUNDLED_SCHEMA_VERSION = SNAPSHOT_VERSIONS[-1]
"""The InvokeAI version whose schema `InvocationCatalog.bundled()` loads by default."""

# Inputs the GUI never shows: node attributes, and the iterate node's index.
_RESERVED_INPUTS = frozenset({"id", "type", "use_cache"})
_RESERVED_TYPES = frozenset({"IsIntermediate"})

_PRIMITIVE_TYPES = {
    "integer": "IntegerField",
    "number": "FloatField",
    "string": "StringField",
    "boolean": "BooleanField",
}

# Field types the GUI edits in place (its "stateful" types) and the kind each one has here.
_STATEFUL_KINDS = {
    "IntegerField": "integer",
    "FloatField": "float",
    "StringField": "string",
    "BooleanField": "boolean",
    "EnumField": "enum",
    "SchedulerField": "enum",
    "ImageField": "image",
    "VideoField": "video",
    "BoardField": "board",
    "ModelIdentifierField": "model",
    "ColorField": "color",
    "SavedWorkflowField": "string",
    "StylePresetField": "object",
    "SystemPromptField": "object",
    "LoRAField": "object",
    "FloatGeneratorField": "object",
    "IntegerGeneratorField": "object",
    "StringGeneratorField": "object",
    "ImageGeneratorField": "object",
    "LoRAMetadataField": "object",
    "ControlNetMetadataField": "object",
    "IPAdapterMetadataField": "object",
    "T2IAdapterMetadataField": "object",
    "MetadataExtraField": "object",
}

# Model inputs of servers before 6.8 carry a `ui_type` naming the model kind instead of
# `ui_model_base`/`ui_model_type`: (types, bases, variants) each one accepted, as the GUI
# of that era filtered them (bases empty: any base). Read from InvokeAI's `UIType` and the
# same nodes' `ui_model_*` in 6.14.
_UI_TYPE_MODELS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "MainModelField": (("main",), ("sd-1", "sd-2"), ()),
    "SDXLMainModelField": (("main",), ("sdxl",), ()),
    "SDXLRefinerModelField": (("main",), ("sdxl-refiner",), ()),
    "SD3MainModelField": (("main",), ("sd-3",), ()),
    "FluxMainModelField": (("main",), ("flux",), ()),
    "CogView4MainModelField": (("main",), ("cogview4",), ()),
    "Imagen3ModelField": (("main",), ("imagen3",), ()),
    "Imagen4ModelField": (("main",), ("imagen4",), ()),
    "ChatGPT4oModelField": (("main",), ("chatgpt-4o",), ()),
    "FluxKontextModelField": (("main",), ("flux-kontext",), ()),
    "ONNXModelField": (("onnx",), (), ()),
    "VAEModelField": (("vae",), (), ()),
    "FluxVAEModelField": (("vae",), ("flux",), ()),
    "LoRAModelField": (("lora",), (), ()),
    "ControlLoRAModelField": (("control_lora",), ("flux",), ()),
    "ControlNetModelField": (("controlnet",), (), ()),
    "IPAdapterModelField": (("ip_adapter",), (), ()),
    "T2IAdapterModelField": (("t2i_adapter",), (), ()),
    "T5EncoderModelField": (("t5_encoder",), (), ()),
    "CLIPEmbedModelField": (("clip_embed",), (), ()),
    "CLIPLEmbedModelField": (("clip_embed",), (), ("large",)),
    "CLIPGEmbedModelField": (("clip_embed",), (), ("gigantic",)),
    "SpandrelImageToImageModelField": (("spandrel_image_to_image",), (), ()),
    "SigLipModelField": (("siglip",), (), ()),
    "FluxReduxModelField": (("flux_redux",), ("flux",), ()),
    "LLaVAModelField": (("llava_onevision",), (), ()),
}

# Schema keys of an input property the catalog reads; the bundled snapshot keeps only these.
PROPERTY_KEYS = frozenset(
    {
        "type", "$ref", "allOf", "anyOf", "items", "enum", "const", "default", "orig_default",
        "orig_required", "field_kind", "input", "ui_type", "ui_hidden", "ui_component", "ui_order",
        "ui_choice_labels", "ui_model_base", "ui_model_type", "ui_model_variant", "ui_model_format",
        "ui_model_provider_id", "title", "description", "minimum", "maximum", "exclusiveMinimum",
        "exclusiveMaximum", "ge", "le", "gt", "lt", "multipleOf", "minLength", "maxLength",
        "minItems", "maxItems",
    }
)


@dataclass(frozen=True)
class InputSpec:
    """One input of one invocation type, as the server's schema declares it.

    `kind` is what the value is: 'integer', 'float', 'string', 'boolean', 'enum',
    'image', 'video', 'board', 'model', 'color', 'collection', 'latents',
    'conditioning', 'object' (any other structure) or 'any'. `type_name` is the GUI's
    name for the type ('IntegerField', 'SchedulerField', 'UNetField', ...), None when
    the GUI cannot read the type either.
    """

    node_type: str
    name: str
    kind: str
    type_name: str | None
    cardinality: str = "single"
    """'single', 'collection', or 'single_or_collection' (one value or a list of them)."""
    item_kind: str | None = None
    """The kind of each item when `kind` is 'collection'."""
    options: tuple[Any, ...] = ()
    """Allowed values of an enum."""
    choice_labels: tuple[tuple[str, str], ...] = ()
    minimum: int | float | None = None
    maximum: int | float | None = None
    exclusive_minimum: int | float | None = None
    exclusive_maximum: int | float | None = None
    multiple_of: int | float | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    has_default: bool = False
    default: Any = field(default=None, hash=False)
    """The value a new node gets (`orig_default`); meaningful only when `has_default`."""
    required: bool = False
    """The invocation needs a value (the schema's `orig_required`), set or connected."""
    nullable: bool = False
    """The schema accepts null for it (an input an edge or nothing may feed)."""
    input: str = "any"
    """'connection' (only an edge can feed it), 'direct' (only a value) or 'any'."""
    stateful: bool = False
    """The GUI edits this input's value in place (else it only takes a connection)."""
    field_kind: str = "input"
    ui_type: str | None = None
    ui_hidden: bool = False
    ui_component: str | None = None
    ui_order: int | None = None
    title: str = ""
    description: str = ""
    model_bases: tuple[str, ...] = ()
    model_types: tuple[str, ...] = ()
    model_variants: tuple[str, ...] = ()
    model_formats: tuple[str, ...] = ()
    model_provider_ids: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        """``node_type.name``."""
        return f"{self.node_type}.{self.name}"


@dataclass(frozen=True)
class _NodeEntry:
    version: str | None
    inputs: Mapping[str, InputSpec]
    outputs: tuple[str, ...] | None


class _Unparseable(Exception):
    """The GUI cannot read this property's type either."""


class _LazyNodes(Mapping[str, _NodeEntry]):
    """Node entries by type, each read from its schema component when first asked for.

    A schema describes some 300 invocation types; a client typically submits a handful,
    and reading them all costs ~100 ms of CPU at every client's start.
    """

    def __init__(self, components: Mapping[str, Mapping[str, Any]], schemas: Mapping[str, Any]) -> None:
        self._components = components
        self._schemas = schemas
        self._read: dict[str, _NodeEntry] = {}

    def __getitem__(self, node_type: str) -> _NodeEntry:
        entry = self._read.get(node_type)
        if entry is None:
            component = self._components[node_type]
            version = component.get("version")
            entry = self._read[node_type] = _NodeEntry(
                version=version if isinstance(version, str) else None,
                inputs=input_specs(node_type, component, self._schemas),
                outputs=_output_names(component, self._schemas),
            )
        return entry

    def __iter__(self) -> Iterator[str]:
        return iter(self._components)

    def __len__(self) -> int:
        return len(self._components)

    def __contains__(self, node_type: object) -> bool:
        return node_type in self._components


@dataclass(frozen=True)
class InvocationCatalog:
    """Every invocation type's inputs (and output names), from one server schema."""

    nodes: Mapping[str, _NodeEntry]
    version: str | None = None
    """The InvokeAI version the schema came from, when known."""

    @classmethod
    def from_openapi(cls, document: Mapping[str, Any], *, version: str | None = None) -> InvocationCatalog:
        """Read the catalog from a server's `/openapi.json` (a dict)."""
        schemas = schemas_of(document)
        components = {node_type: component for _, node_type, component in invocation_components(schemas)}
        found = version if version is not None else document.get(VERSION_KEY)
        return cls(
            nodes=_LazyNodes(dict(sorted(components.items())), schemas),
            version=found if isinstance(found, str) else None,
        )

    @classmethod
    def bundled(cls, version: str | None = None) -> InvocationCatalog:
        """The catalog shipped for InvokeAI `version` (the nearest older tested release),
        by default `BUNDLED_SCHEMA_VERSION`."""
        return _bundled(snapshot_for(version))

    def node_types(self) -> list[str]:
        """Every invocation type, sorted."""
        return list(self.nodes)

    def inputs(self, node_type: str) -> dict[str, InputSpec]:
        """The inputs of `node_type` by name; empty for an unknown type."""
        entry = self.nodes.get(node_type)
        return dict(entry.inputs) if entry is not None else {}

    def input_spec(self, node_type: str, field_name: str) -> InputSpec | None:
        """One input's spec; None when the type or the input is unknown to this schema."""
        entry = self.nodes.get(node_type)
        return entry.inputs.get(field_name) if entry is not None else None

    def output_fields(self, node_type: str) -> tuple[str, ...] | None:
        """The output names of `node_type`; None when unknown."""
        entry = self.nodes.get(node_type)
        return entry.outputs if entry is not None else None

    def node_version(self, node_type: str) -> str | None:
        """The invocation's own version (a workflow node's `data.version`)."""
        entry = self.nodes.get(node_type)
        return entry.version if entry is not None else None


def schemas_of(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The component schemas of an OpenAPI document."""
    schemas: Mapping[str, Any] = document.get("components", {}).get("schemas", {})
    return schemas


def invocation_components(schemas: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(component name, node type, component) of every invocation in the schemas."""
    for key, component in schemas.items():
        if not isinstance(component, Mapping) or component.get("class") != "invocation":
            continue
        node_type = ((component.get("properties") or {}).get("type") or {}).get("default")
        if isinstance(node_type, str):
            yield key, node_type, component


def input_specs(node_type: str, component: Mapping[str, Any], schemas: Mapping[str, Any]) -> dict[str, InputSpec]:
    """The inputs of one invocation component that the GUI would show, by name."""
    specs = {}
    for name, prop in (component.get("properties") or {}).items():
        spec = _input_spec(node_type, name, prop, schemas)
        if spec is not None:
            specs[name] = spec
    return specs


@functools.lru_cache(maxsize=4)
def _bundled(version: str) -> InvocationCatalog:
    return InvocationCatalog.from_openapi(bundled_document(version))


# -- reading one property ---------------------------------------------------------------


def _input_spec(node_type: str, name: str, prop: Any, schemas: Mapping[str, Any]) -> InputSpec | None:
    if not isinstance(prop, Mapping) or "field_kind" not in prop:
        return None
    if name in _RESERVED_INPUTS or (node_type == "iterate" and name == "index"):
        return None
    ui_type = prop.get("ui_type") if isinstance(prop.get("ui_type"), str) else None
    try:
        parsed: tuple[str, str] | None = _parse_type(prop)
    except _Unparseable:
        parsed = None
    legacy_model = _UI_TYPE_MODELS.get(ui_type or "")
    if legacy_model is not None:
        # A model kind in `ui_type` (older servers): the value is a ModelIdentifierField.
        parsed = ("ModelIdentifierField", parsed[1] if parsed is not None else "single")
    elif ui_type:
        parsed = (ui_type, "collection" if ui_type == "CollectionField" else "single")
    if parsed is not None and parsed[0] in _RESERVED_TYPES:
        return None
    type_name, cardinality = parsed if parsed is not None else (None, "single")
    stateful = type_name in _STATEFUL_KINDS
    kind = _kind_of(type_name)
    if kind == "object" and is_enum_component(schemas.get(type_name or "")):
        # A Python Enum is a `$ref` to an enum component; none in 6.14, but its values are known.
        kind, stateful = "enum", True
    item_kind = None
    if cardinality == "collection":
        item_kind = "any" if type_name == "CollectionField" else kind
        kind = "collection"
    options = _enum_options(prop, schemas) if kind == "enum" else ()
    if kind == "enum" and not options:
        kind = "string"  # the GUI drops such an input; a string is the closest thing
    required = prop.get("orig_required") is True
    if "orig_default" in prop:
        has_default, default = True, prop["orig_default"]
    else:
        has_default = not required and "default" in prop
        default = prop.get("default") if has_default else None
    labels = prop.get("ui_choice_labels")
    return InputSpec(
        node_type=node_type,
        name=name,
        kind=kind,
        type_name=type_name,
        cardinality=cardinality,
        item_kind=item_kind,
        options=options,
        choice_labels=tuple((str(k), str(v)) for k, v in labels.items()) if isinstance(labels, Mapping) else (),
        minimum=_number(prop, "minimum", "ge"),
        maximum=_number(prop, "maximum", "le"),
        exclusive_minimum=_number(prop, "exclusiveMinimum", "gt"),
        exclusive_maximum=_number(prop, "exclusiveMaximum", "lt"),
        multiple_of=_number(prop, "multipleOf"),
        min_length=_int(prop.get("minLength")),
        max_length=_int(prop.get("maxLength")),
        min_items=_int(prop.get("minItems")),
        max_items=_int(prop.get("maxItems")),
        has_default=has_default,
        default=default,
        required=required,
        nullable=_nullable(prop),
        input=_input_mode(prop, stateful),
        stateful=stateful,
        field_kind=str(prop.get("field_kind")),
        ui_type=ui_type,
        ui_hidden=prop.get("ui_hidden") is True,
        ui_component=prop.get("ui_component") if isinstance(prop.get("ui_component"), str) else None,
        ui_order=_int(prop.get("ui_order")),
        title=prop["title"] if isinstance(prop.get("title"), str) else _start_case(name),
        description=str(prop.get("description") or ""),
        model_bases=_strings(prop.get("ui_model_base")) or (legacy_model[1] if legacy_model else ()),
        model_types=_strings(prop.get("ui_model_type")) or (legacy_model[0] if legacy_model else ()),
        model_variants=_strings(prop.get("ui_model_variant")) or (legacy_model[2] if legacy_model else ()),
        model_formats=_strings(prop.get("ui_model_format")),
        model_provider_ids=_strings(prop.get("ui_model_provider_id")),
    )


def _parse_type(schema: Mapping[str, Any]) -> tuple[str, str]:
    """(type name, cardinality) the way the GUI's `parseFieldType` reads a schema."""
    if "$ref" in schema:
        return ref_name(schema), "single"
    if schema.get("const"):
        return "EnumField", "single"
    if not schema.get("type"):
        all_of = schema.get("allOf")
        any_of = schema.get("anyOf")
        if all_of:
            if isinstance(all_of[0], Mapping) and "$ref" in all_of[0]:
                return ref_name(all_of[0]), "single"
        elif any_of:
            members = [m for m in any_of if not (isinstance(m, Mapping) and m.get("type") == "null")]
            if len(members) == 1 and isinstance(members[0], Mapping):
                return _parse_type(members[0])
            if len(members) == 2:
                return _parse_single_or_collection(members[0], members[1])
        raise _Unparseable
    if schema.get("enum") is not None:
        return "EnumField", "single"
    type_ = schema["type"]
    if type_ == "array":
        items = schema.get("items")
        if isinstance(items, Mapping) and "$ref" in items:
            return ref_name(items), "collection"
        item_type = items.get("type") if isinstance(items, Mapping) else None
        if isinstance(item_type, str) and item_type in _PRIMITIVE_TYPES:
            return _PRIMITIVE_TYPES[item_type], "collection"
        raise _Unparseable
    if isinstance(type_, str) and type_ in _PRIMITIVE_TYPES:
        return _PRIMITIVE_TYPES[type_], "single"
    raise _Unparseable


def _parse_single_or_collection(a: Any, b: Any) -> tuple[str, str]:
    """`T | list[T]` (in either order) is one value or a list; other unions are unreadable."""
    if not (isinstance(a, Mapping) and isinstance(b, Mapping)):
        raise _Unparseable
    if b.get("type") == "array" and "$ref" not in b:
        a, b = b, a
    if a.get("type") != "array" or "$ref" in a:
        raise _Unparseable
    items = a.get("items")
    if not isinstance(items, Mapping):
        raise _Unparseable
    first: str | None = None
    second: str | None = None
    if "$ref" in items and "$ref" in b:
        first, second = ref_name(items), ref_name(b)
    elif "$ref" not in items and "$ref" not in b and items.get("type") != "array" and b.get("type") != "array":
        first, second = items.get("type"), b.get("type")
    if first and first == second:
        return _PRIMITIVE_TYPES.get(first, first), "single_or_collection"
    raise _Unparseable


def _kind_of(type_name: str | None) -> str:
    if type_name is None:
        return "object"
    if type_name in _STATEFUL_KINDS:
        return _STATEFUL_KINDS[type_name]
    if type_name in ("AnyField", "CollectionItemField"):
        return "any"
    if type_name == "LatentsField":
        return "latents"
    if type_name.endswith("ConditioningField"):
        return "conditioning"
    return "object"


def _enum_options(prop: Mapping[str, Any], schemas: Mapping[str, Any]) -> tuple[Any, ...]:
    """An enum's options: from `enum`/`const`, the one non-null `anyOf` member, or a `$ref`."""
    schema: Any = prop
    any_of = prop.get("anyOf")
    if any_of:
        members = [m for m in any_of if not (isinstance(m, Mapping) and m.get("type") == "null")]
        if len(members) != 1:
            return ()
        schema = members[0]
    if isinstance(schema, Mapping) and "$ref" in schema:
        schema = schemas.get(ref_name(schema), {})
    if not isinstance(schema, Mapping):
        return ()
    if schema.get("const"):
        return (schema["const"],)
    enum = schema.get("enum")
    return tuple(enum) if isinstance(enum, list) else ()


def _output_names(component: Mapping[str, Any], schemas: Mapping[str, Any]) -> tuple[str, ...] | None:
    ref = component.get("output")
    if not isinstance(ref, Mapping) or "$ref" not in ref:
        return None
    output = schemas.get(ref_name(ref))
    if not isinstance(output, Mapping) or output.get("class") != "output":
        return None
    return tuple(name for name in (output.get("properties") or {}) if name != "type")


def is_enum_component(component: Any) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(component, Mapping) and ("enum" in component or "const" in component)


def ref_name(ref: Mapping[str, Any]) -> str:
    return str(ref["$ref"]).rsplit("/", 1)[-1]


def _nullable(prop: Mapping[str, Any]) -> bool:
    any_of = prop.get("anyOf")
    return isinstance(any_of, list) and any(isinstance(m, Mapping) and m.get("type") == "null" for m in any_of)


def _input_mode(prop: Mapping[str, Any], stateful: bool) -> str:
    if not stateful:
        return "connection"  # the GUI has no editor for it: only an edge can feed it
    mode = prop.get("input")
    return mode if mode in ("connection", "direct", "any") else "any"


def _number(prop: Mapping[str, Any], *keys: str) -> int | float | None:
    # `ge`/`le` appear raw where pydantic could not turn them into JSON schema (unions).
    for key in keys:
        value = prop.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _start_case(name: str) -> str:
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)
    return " ".join(w[:1].upper() + w[1:] for w in words)
