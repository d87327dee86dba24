"""The invocation catalog: input types read from InvokeAI's OpenAPI schema as the GUI reads them."""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from invokeai_py_client._capabilities import SNAPSHOT_VERSIONS, ServerSchema, bundled_document
from invokeai_py_client.workflow.schema import BUNDLED_SCHEMA_VERSION, InvocationCatalog
from invokeai_py_client.workflow.schema_snapshot import snapshot_document

SNAPSHOT = f"invokeai-{BUNDLED_SCHEMA_VERSION}-openapi.json.gz"


@pytest.fixture(scope="module")
def catalog() -> InvocationCatalog:
    return InvocationCatalog.bundled()


@pytest.fixture(scope="module")
def full_document(request: pytest.FixtureRequest) -> dict[str, Any]:
    reference: Path = request.getfixturevalue("reference_dir")
    path = reference / f"invokeai-{BUNDLED_SCHEMA_VERSION}-openapi.json"
    if not path.is_file():
        pytest.skip(f"{path} is not present: cannot compare the snapshot with the full schema")
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


# -- the shipped snapshot ---------------------------------------------------------------


def test_snapshot_catalog_equals_full_schema_catalog(full_document: dict[str, Any], catalog: InvocationCatalog) -> None:
    full = InvocationCatalog.from_openapi(full_document, version=BUNDLED_SCHEMA_VERSION)
    assert catalog == full
    assert catalog.version == BUNDLED_SCHEMA_VERSION
    # Order matters too: a node's inputs are listed (and exported) in schema order.
    for node_type in full.node_types():
        assert list(catalog.inputs(node_type)) == list(full.inputs(node_type))
        assert catalog.output_fields(node_type) == full.output_fields(node_type)


def test_snapshot_file_is_what_the_script_makes_now(full_document: dict[str, Any]) -> None:
    shipped = resources.files("invokeai_py_client").joinpath("data", SNAPSHOT).read_bytes()
    expected = json.loads(json.dumps(snapshot_document(full_document, version=BUNDLED_SCHEMA_VERSION)))
    assert json.loads(gzip.decompress(shipped)) == expected, "run scripts/make_schema_snapshot.py"
    assert len(shipped) < 100_000


def test_snapshot_routes_equal_the_full_schema_routes(full_document: dict[str, Any]) -> None:
    full = ServerSchema.from_openapi(full_document)
    assert ServerSchema.from_openapi(bundled_document(BUNDLED_SCHEMA_VERSION)).routes == full.routes
    assert full.has("POST", "/api/v1/queue/{queue_id}/item_summaries_by_ids")


@pytest.mark.parametrize("version", SNAPSHOT_VERSIONS)
def test_every_shipped_snapshot_is_small_and_a_fixed_point(version: str) -> None:
    document = bundled_document(version)
    assert document["x-invokeai-version"] == version
    assert json.loads(json.dumps(snapshot_document(document, version=version))) == document
    catalog = InvocationCatalog.bundled(version)
    assert catalog.version == version and len(catalog.node_types()) > 150
    assert len(json.dumps(document)) < 600_000


def test_the_releases_before_the_bulk_queue_routes_lack_them() -> None:
    assert SNAPSHOT_VERSIONS == ("5.15.0", "6.0.2", "6.14.2")
    routes = {v: ServerSchema.from_openapi(bundled_document(v), version=v) for v in SNAPSHOT_VERSIONS}
    for old in ("5.15.0", "6.0.2"):
        assert not routes[old].has("POST", "/api/v1/queue/{queue_id}/items_by_ids")
        assert routes[old].has("GET", "/api/v1/queue/{queue_id}/list")
    assert routes["6.0.2"].has("GET", "/api/v1/queue/{queue_id}/list_all")
    assert not routes["5.15.0"].has("GET", "/api/v1/queue/{queue_id}/list_all")
    assert not routes["5.15.0"].has("GET", "/api/v1/images/names")


# -- model inputs of older schemas (ui_type instead of ui_model_*) ---------------------------------


@pytest.mark.parametrize("version", ["5.15.0", "6.0.2"])
@pytest.mark.parametrize(
    ("node_type", "field", "types", "bases"),
    [
        ("sdxl_model_loader", "model", ("main",), ("sdxl",)),
        ("sdxl_refiner_model_loader", "model", ("main",), ("sdxl-refiner",)),
        ("main_model_loader", "model", ("main",), ("sd-1", "sd-2")),
        ("spandrel_image_to_image", "image_to_image_model", ("spandrel_image_to_image",), ()),
        ("vae_loader", "vae_model", ("vae",), ()),
    ],
)
def test_model_kinds_come_from_the_older_ui_type(
    version: str, node_type: str, field: str, types: tuple[str, ...], bases: tuple[str, ...]
) -> None:
    spec = InvocationCatalog.bundled(version).input_spec(node_type, field)
    assert spec is not None and spec.ui_type is not None and spec.ui_type.endswith("ModelField")
    assert (spec.kind, spec.type_name, spec.stateful) == ("model", "ModelIdentifierField", True)
    assert (spec.model_types, spec.model_bases) == (types, bases)


def test_a_snapshot_stands_in_for_the_nearest_older_release() -> None:
    from invokeai_py_client._capabilities import snapshot_for

    assert snapshot_for("5.15.0") == "5.15.0"
    assert snapshot_for("5.16.1") == "5.15.0"
    assert snapshot_for("6.5.0") == "6.0.2"
    assert snapshot_for("7.0.0") == "6.14.2"
    assert snapshot_for("5.0.0") == "5.15.0"
    assert snapshot_for(None) == "6.14.2"


def test_catalog_knows_every_invocation(full_document: dict[str, Any], catalog: InvocationCatalog) -> None:
    schemas = full_document["components"]["schemas"]
    types = {s["properties"]["type"]["default"] for s in schemas.values() if s.get("class") == "invocation"}
    assert set(catalog.node_types()) == types
    assert len(types) > 300


# -- reading inputs as the GUI does ---------------------------------------------------------


def test_integer_with_bounds(catalog: InvocationCatalog) -> None:
    seed = catalog.input_spec("noise", "seed")
    assert seed is not None
    assert (seed.kind, seed.type_name, seed.minimum, seed.maximum) == ("integer", "IntegerField", 0, 4294967295)
    assert (seed.has_default, seed.default, seed.required, seed.input) == (True, 0, False, "any")
    assert (seed.title, seed.description) == ("Seed", "Seed for random number generation")
    width = catalog.input_spec("noise", "width")
    assert width is not None
    assert (width.multiple_of, width.exclusive_minimum, width.minimum) == (8, 0, None)


def test_scheduler_is_an_enum_with_the_schemas_options(catalog: InvocationCatalog) -> None:
    spec = catalog.input_spec("denoise_latents", "scheduler")
    assert spec is not None
    assert (spec.kind, spec.type_name, spec.ui_type) == ("enum", "SchedulerField", "SchedulerField")
    assert {"euler", "dpmpp_2m", "dpmpp_3m_k", "tcd"} <= set(spec.options)
    assert spec.default == "euler"


def test_float_single_or_collection_and_exclusive_maximum(catalog: InvocationCatalog) -> None:
    cfg = catalog.input_spec("denoise_latents", "cfg_scale")
    assert cfg is not None
    assert (cfg.kind, cfg.cardinality, cfg.default) == ("float", "single_or_collection", 7.5)
    rescale = catalog.input_spec("denoise_latents", "cfg_rescale_multiplier")
    assert rescale is not None
    assert (rescale.kind, rescale.minimum, rescale.exclusive_maximum) == ("float", 0, 1)


def test_raw_ge_le_on_a_union_become_bounds(catalog: InvocationCatalog) -> None:
    # pydantic leaves `ge`/`le` raw when the type is `float | list[float]`
    spec = catalog.input_spec("controlnet", "control_weight")
    assert spec is not None
    assert (spec.kind, spec.minimum, spec.maximum) == ("float", -1, 2)


def test_image_board_model_color(catalog: InvocationCatalog) -> None:
    image = catalog.input_spec("i2l", "image")
    assert image is not None
    assert (image.kind, image.required, image.nullable, image.has_default) == ("image", True, True, False)

    for node_type in ("l2i", "save_image"):
        board = catalog.input_spec(node_type, "board")
        assert board is not None
        assert (board.kind, board.input, board.field_kind, board.required) == ("board", "direct", "internal", False)

    model = catalog.input_spec("sdxl_model_loader", "model")
    assert model is not None
    assert (model.kind, model.required, model.title) == ("model", True, "Model")  # title from the name
    assert (model.model_bases, model.model_types) == (("sdxl",), ("main",))
    clip_l = catalog.input_spec("sd3_model_loader", "clip_l_model")
    assert clip_l is not None
    assert (clip_l.model_types, clip_l.model_variants) == (("clip_embed",), ("large",))

    color = catalog.input_spec("infill_rgba", "color")
    assert color is not None
    assert color.kind == "color"
    assert color.default == {"r": 127, "g": 127, "b": 127, "a": 255}


def test_collections(catalog: InvocationCatalog) -> None:
    for node_type, item in [("image_collection", "image"), ("integer_collection", "integer"),
                            ("float_collection", "float"), ("string_collection", "string")]:
        spec = catalog.input_spec(node_type, "collection")
        assert spec is not None
        assert (spec.kind, spec.item_kind, spec.cardinality) == ("collection", item, "collection"), node_type
    images = catalog.input_spec("image_batch", "images")
    assert images is not None
    assert (images.kind, images.item_kind) == ("collection", "image")
    # ui_type CollectionField: any items, connection only (the GUI has no editor for it)
    collect = catalog.input_spec("collect", "collection")
    assert collect is not None
    assert (collect.kind, collect.item_kind, collect.input) == ("collection", "any", "connection")


def test_enum_inside_an_optional_union(catalog: InvocationCatalog) -> None:
    spec = catalog.input_spec("flux_text_encoder", "t5_max_seq_len")
    assert spec is not None
    assert (spec.kind, spec.options, spec.nullable, spec.required) == ("enum", (256, 512), True, True)


def test_connection_types_and_any(catalog: InvocationCatalog) -> None:
    expected = {
        ("denoise_latents", "unet"): ("object", "UNetField"),
        ("denoise_latents", "noise"): ("latents", "LatentsField"),
        ("denoise_latents", "positive_conditioning"): ("conditioning", "ConditioningField"),
        ("if", "true_input"): ("any", "AnyField"),
    }
    for (node_type, name), (kind, type_name) in expected.items():
        spec = catalog.input_spec(node_type, name)
        assert spec is not None
        assert (spec.kind, spec.type_name, spec.input, spec.stateful) == (kind, type_name, "connection", False)


def test_node_attributes_are_not_inputs(catalog: InvocationCatalog) -> None:
    for name in ("id", "type", "use_cache", "is_intermediate"):
        assert catalog.input_spec("noise", name) is None
    assert catalog.input_spec("iterate", "index") is None
    assert "collection" in catalog.inputs("iterate")


def test_unknown_types_and_fields_are_none(catalog: InvocationCatalog) -> None:
    assert catalog.input_spec("no_such_node", "x") is None
    assert catalog.input_spec("noise", "no_such_input") is None
    assert catalog.inputs("no_such_node") == {}
    assert catalog.output_fields("no_such_node") is None
    assert catalog.node_version("no_such_node") is None
    assert catalog.output_fields("noise") == ("noise", "width", "height")
    assert catalog.node_version("noise") == "1.1.0"


def test_a_type_the_gui_cannot_read_is_a_plain_object(catalog: InvocationCatalog) -> None:
    spec = catalog.input_spec("call_saved_workflow", "workflow_inputs")
    assert spec is not None
    assert (spec.kind, spec.type_name, spec.ui_hidden) == ("object", None, True)


# -- tolerance: schemas of other versions -------------------------------------------------------


def _document(properties: dict[str, Any], **components: Any) -> dict[str, Any]:
    node = {
        "class": "invocation",
        "version": "9.9.9",
        "output": {"$ref": "#/components/schemas/FutureOutput"},
        "properties": {"type": {"const": "future", "default": "future", "field_kind": "node_attribute"}, **properties},
    }
    schemas = {
        "FutureInvocation": node,
        "FutureOutput": {"class": "output", "properties": {"type": {}, "result": {}}},
        "NotAnInvocation": {"type": "object"},
        "Broken": 42,
        **components,
    }
    return {"openapi": "3.1.0", "components": {"schemas": schemas}}


def test_new_types_unions_and_enum_refs_do_not_crash() -> None:
    base = {"field_kind": "input", "input": "any", "orig_required": False}
    document = _document(
        {
            "brand_new": {**base, "anyOf": [{"$ref": "#/components/schemas/HologramField"}, {"type": "null"}]},
            "three_way": {**base, "anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "number"}]},
            "mode": {**base, "$ref": "#/components/schemas/FutureMode", "default": "fast"},
            "wrapped": {**base, "allOf": [{"$ref": "#/components/schemas/ImageField"}]},
            "no_field_kind": {"type": "integer"},
            "weird_type": {**base, "type": ["string", "integer"]},
            "strings": {**base, "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        },
        FutureMode={"enum": ["fast", "faster"], "type": "string"},
    )
    catalog = InvocationCatalog.from_openapi(document)
    assert catalog.node_types() == ["future"]
    kinds = {name: (s.kind, s.type_name) for name, s in catalog.inputs("future").items()}
    assert kinds == {
        "brand_new": ("object", "HologramField"),
        "three_way": ("object", None),
        "mode": ("enum", "FutureMode"),
        "wrapped": ("image", "ImageField"),
        "weird_type": ("object", None),
        "strings": ("string", "StringField"),
    }
    mode = catalog.input_spec("future", "mode")
    assert mode is not None
    assert mode.options == ("fast", "faster")
    assert catalog.output_fields("future") == ("result",)
    assert catalog.version is None


def test_snapshot_of_a_small_document_keeps_enum_refs() -> None:
    base = {"field_kind": "input", "input": "any", "orig_required": False}
    document = _document(
        {"mode": {**base, "$ref": "#/components/schemas/FutureMode", "x-extra": "dropped"}},
        FutureMode={"enum": ["fast", "faster"], "type": "string", "description": "dropped"},
    )
    snapshot = snapshot_document(document, version="9.9")
    assert InvocationCatalog.from_openapi(snapshot) == InvocationCatalog.from_openapi(document, version="9.9")
    schemas = snapshot["components"]["schemas"]
    assert schemas["FutureMode"] == {"enum": ["fast", "faster"], "type": "string"}
    assert "x-extra" not in schemas["FutureInvocation"]["properties"]["mode"]
