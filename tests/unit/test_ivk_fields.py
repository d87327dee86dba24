"""The 1.1.1 field classes (`invokeai_py_client.ivk_fields`): names, isinstance, behaviour.

The name, keyword and method lists below were taken from invokeai-py-client 1.1.1
(its wheel, introspected); the tests do not read anything outside this repository.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pytest

from invokeai_py_client import ivk_fields
from invokeai_py_client.ivk_fields import (
    COLOR_MODES,
    INTERPOLATION_MODES,
    SCHEDULER_NAMES,
    IvkBoardField,
    IvkBooleanField,
    IvkBoundingBoxField,
    IvkCLIPField,
    IvkCogView4ConditioningField,
    IvkCollectionField,
    IvkColorField,
    IvkColorModeField,
    IvkConditioningField,
    IvkDenoiseMaskField,
    IvkEnumField,
    IvkField,
    IvkFloatField,
    IvkFluxConditioningField,
    IvkFluxFillConditioningField,
    IvkFluxKontextConditioningField,
    IvkFluxReduxConditioningField,
    IvkImageField,
    IvkIntegerField,
    IvkInterpolationField,
    IvkLatentsField,
    IvkLiteralField,
    IvkLoRAField,
    IvkMetadataField,
    IvkModelIdentifierField,
    IvkSchedulerField,
    IvkSD3ConditioningField,
    IvkStringField,
    IvkTensorField,
    IvkTransformerField,
    IvkUNetField,
    SchedulerName,
)
from invokeai_py_client.ivk_fields.model_conversion import (
    ModelLike,
    from_ivk_model_field,
    is_model_compatible,
    to_ivk_model_field,
)
from invokeai_py_client.model_manager import BaseModelType, ModelType
from invokeai_py_client.workflow import fields as core
from invokeai_py_client.workflow.schema import InvocationCatalog

CATALOG = InvocationCatalog.bundled()

# -- 1.1.1's names ---------------------------------------------------------------------------

PACKAGE_ALL = [
    "IvkField", "IvkImageFieldMixin", "IvkCollectionFieldMixin", "IvkStringField", "IvkIntegerField",
    "IvkFloatField", "IvkBooleanField", "IvkImageField", "IvkBoardField", "IvkLatentsField",
    "IvkTensorField", "IvkDenoiseMaskField", "IvkMetadataField", "IvkModelIdentifierField",
    "IvkUNetField", "IvkCLIPField", "IvkTransformerField", "IvkLoRAField", "IvkSDXLModelField",
    "IvkFluxModelField", "IvkT5EncoderField", "IvkCLIPEmbedField", "IvkVAEModelField",
    "IvkConditioningField", "IvkFluxConditioningField", "IvkFluxReduxConditioningField",
    "IvkFluxFillConditioningField", "IvkFluxKontextConditioningField", "IvkSD3ConditioningField",
    "IvkCogView4ConditioningField", "IvkColorField", "IvkBoundingBoxField", "IvkCollectionField",
    "IvkEnumField", "IvkSchedulerField", "IvkInterpolationField", "IvkColorModeField",
    "IvkLiteralField", "SchedulerName", "SCHEDULER_NAMES", "INTERPOLATION_MODES", "COLOR_MODES",
]  # fmt: skip

# Every public name of each 1.1.1 module (typing's TYPE_CHECKING flag left out).
MODULE_NAMES = {
    "": [*PACKAGE_ALL, "base", "complex", "conditioning", "enums", "models", "primitives", "resources"],
    "base": ["IvkCollectionFieldMixin", "IvkField", "IvkImageFieldMixin", "PydanticFieldMixin"],
    "complex": [
        "IvkBoundingBoxField", "IvkCollectionField", "IvkCollectionFieldMixin", "IvkColorField",
        "IvkField", "PydanticFieldMixin",
    ],
    "conditioning": [
        "IvkCogView4ConditioningField", "IvkConditioningField", "IvkField", "IvkFluxConditioningField",
        "IvkFluxFillConditioningField", "IvkFluxKontextConditioningField",
        "IvkFluxReduxConditioningField", "IvkSD3ConditioningField", "PydanticFieldMixin",
    ],
    "enums": [
        "COLOR_MODES", "INTERPOLATION_MODES", "IvkColorModeField", "IvkEnumField", "IvkField",
        "IvkInterpolationField", "IvkLiteralField", "IvkSchedulerField", "PydanticFieldMixin",
        "SCHEDULER_NAMES", "SchedulerName",
    ],
    "model_conversion": [
        "IvkModelIdentifierField", "ModelLike", "from_ivk_model_field", "is_model_compatible",
        "to_ivk_model_field",
    ],
    "models": [
        "BaseDnnModelType", "DnnModelType", "IvkCLIPEmbedField", "IvkCLIPField", "IvkField",
        "IvkFluxModelField", "IvkLoRAField", "IvkModelIdentifierField", "IvkSDXLModelField",
        "IvkT5EncoderField", "IvkTransformerField", "IvkUNetField", "IvkVAEModelField",
        "PydanticFieldMixin",
    ],
    "primitives": [
        "IvkBooleanField", "IvkField", "IvkFloatField", "IvkIntegerField", "IvkStringField",
        "PydanticFieldMixin",
    ],
    "resources": [
        "IvkBoardField", "IvkDenoiseMaskField", "IvkField", "IvkImageField", "IvkImageFieldMixin",
        "IvkLatentsField", "IvkMetadataField", "IvkTensorField", "PydanticFieldMixin",
    ],
}  # fmt: skip

# 1.1.1's constructor keywords and public methods, per class.
COMMON = ("from_api_format", "from_json_dict", "to_api_format", "to_json_dict", "validate_field")
ENUM_METHODS = (*COMMON, "add_choice", "get_choices", "remove_choice", "validate_enum_choice")
SIGNATURES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "IvkStringField": (("value", "min_length", "max_length", "pattern"), (*COMMON, "validate_string_constraints")),
    "IvkIntegerField": (("value", "minimum", "maximum", "multiple_of"), (*COMMON, "validate_integer_constraints")),
    "IvkFloatField": (("value", "minimum", "maximum"), (*COMMON, "validate_float_constraints")),
    "IvkBooleanField": (("value",), COMMON),
    "IvkImageField": (("value", "name", "description", "is_uploaded"), (*COMMON, "upload", "download")),
    "IvkBoardField": (("value", "name", "description"), COMMON),
    "IvkLatentsField": (("value", "name", "description", "seed"), COMMON),
    "IvkTensorField": (("value", "name", "description"), COMMON),
    "IvkDenoiseMaskField": (
        ("value", "name", "description", "mask_name", "masked_latents_name", "gradient"), COMMON
    ),
    "IvkMetadataField": (("value", "name", "description"), COMMON),
    "IvkModelIdentifierField": (("key", "hash", "name", "base", "type", "submodel_type"), COMMON),
    "IvkUNetField": (("unet_model", "scheduler", "loras", "seamless_axes", "freeu_config"), COMMON),
    "IvkCLIPField": (("tokenizer", "text_encoder", "skipped_layers", "loras"), COMMON),
    "IvkTransformerField": (("transformer_model", "loras"), COMMON),
    "IvkLoRAField": (("lora_model", "weight"), COMMON),
    "IvkConditioningField": (("value", "name", "description", "mask"), COMMON),
    "IvkFluxConditioningField": (("value", "name", "description", "mask"), COMMON),
    "IvkFluxReduxConditioningField": (("value", "name", "description", "conditioning", "mask"), COMMON),
    "IvkFluxFillConditioningField": (("value", "name", "description", "image", "mask"), COMMON),
    "IvkFluxKontextConditioningField": (("value", "name", "description", "image"), COMMON),
    "IvkSD3ConditioningField": (("value", "name", "description"), COMMON),
    "IvkCogView4ConditioningField": (("value", "name", "description"), COMMON),
    "IvkColorField": (
        ("r", "g", "b", "a"),
        (*COMMON, "set_hex", "set_rgba", "to_hex", "to_rgba", "validate_color_component"),
    ),
    "IvkBoundingBoxField": (
        ("x_min", "x_max", "y_min", "y_max", "score"),
        (*COMMON, "get_area", "get_box", "get_height", "get_width", "set_box"),
    ),
    "IvkCollectionField": (
        ("value", "item_type", "min_length", "max_length"),
        (*COMMON, "append", "clear", "extend", "iter_items", "remove"),
    ),
    "IvkEnumField": (("value", "name", "description", "choices"), ENUM_METHODS),
    "IvkSchedulerField": (("value", "name", "description", "choices"), (*ENUM_METHODS, "normalize_alias")),
    "IvkInterpolationField": (("value", "name", "description", "choices"), ENUM_METHODS),
    "IvkColorModeField": (("value", "name", "description", "choices"), ENUM_METHODS),
    "IvkLiteralField": (("value", "name", "description", "literals"), (*COMMON, "get_literals", "validate_literal_choice")),
}  # fmt: skip

OLD_SCHEDULER_NAMES = [  # 1.1.1's SCHEDULER_NAMES (the server has since added er_sde)
    "ddim", "ddpm", "deis", "deis_k", "lms", "lms_k", "pndm", "heun", "heun_k", "euler", "euler_k",
    "euler_a", "kdpm_2", "kdpm_2_k", "kdpm_2_a", "kdpm_2_a_k", "dpmpp_2s", "dpmpp_2s_k", "dpmpp_2m",
    "dpmpp_2m_k", "dpmpp_2m_sde", "dpmpp_2m_sde_k", "dpmpp_3m", "dpmpp_3m_k", "dpmpp_sde",
    "dpmpp_sde_k", "unipc", "unipc_k", "lcm", "tcd",
]  # fmt: skip


def test_package_all_is_1_1_1s() -> None:
    assert ivk_fields.__all__ == PACKAGE_ALL


@pytest.mark.parametrize("module", sorted(MODULE_NAMES))
def test_every_1_1_1_name_imports_from_the_same_module(module: str) -> None:
    mod = importlib.import_module("invokeai_py_client.ivk_fields" + (f".{module}" if module else ""))
    missing = [name for name in MODULE_NAMES[module] if not hasattr(mod, name)]
    assert missing == []


def test_reexports_and_aliases_are_the_same_objects() -> None:
    def module(name: str) -> Any:
        return importlib.import_module(f"invokeai_py_client.ivk_fields.{name}")

    for name in MODULE_NAMES:
        for attr in MODULE_NAMES[name]:
            obj = getattr(module(name) if name else ivk_fields, attr)
            if attr in PACKAGE_ALL:
                assert obj is getattr(ivk_fields, attr), f"{name}.{attr}"
            if attr in ("IvkField", "PydanticFieldMixin", "IvkImageFieldMixin", "IvkCollectionFieldMixin"):
                assert obj is getattr(module("base"), attr), f"{name}.{attr}"
    models = module("models")
    assert module("model_conversion").IvkModelIdentifierField is IvkModelIdentifierField
    for alias in ("IvkSDXLModelField", "IvkFluxModelField", "IvkT5EncoderField", "IvkCLIPEmbedField", "IvkVAEModelField"):
        assert getattr(models, alias) is IvkModelIdentifierField, alias
    assert models.BaseDnnModelType is BaseModelType and models.DnnModelType is ModelType


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_constructor_keywords_and_methods_of_1_1_1(name: str) -> None:
    cls = getattr(ivk_fields, name)
    keywords, methods = SIGNATURES[name]
    params = inspect.signature(cls).parameters
    assert [k for k in keywords if k not in params] == []
    assert all(params[k].kind is inspect.Parameter.KEYWORD_ONLY for k in keywords)
    assert [m for m in methods if not callable(getattr(cls, m, None))] == []
    field = cls()  # 1.1.1: every field class is default-constructable
    assert isinstance(field, IvkField) and isinstance(field, pydantic.BaseModel)
    assert cls.model_config.get("validate_assignment") is True
    with pytest.raises(TypeError):
        cls(None)  # keyword-only, as in 1.1.1


def test_the_import_layers_hold() -> None:
    """workflow/ never imports ivk_fields; ivk_fields' modules import on their own (no cycle)."""
    code = (
        "import sys, invokeai_py_client.workflow, invokeai_py_client.workflow.workflow_handle\n"
        "assert not [m for m in sys.modules if '.ivk_fields' in m], 'workflow imported ivk_fields'\n"
        "import invokeai_py_client.ivk_fields.model_conversion\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    for module in MODULE_NAMES:
        if module:
            first = f"import invokeai_py_client.ivk_fields.{module}"
            done = subprocess.run([sys.executable, "-c", first], capture_output=True, text=True, check=False)
            assert done.returncode == 0, done.stderr


# -- our workflow fields pass 1.1.1's isinstance checks ------------------------------------------


def core_field(node_type: str, name: str, original: Any = None) -> core.InputField:
    spec = CATALOG.input_spec(node_type, name)
    assert spec is not None, f"{node_type}.{name} missing from the bundled schema"
    return core.make_field(spec, original, context=f"input 0 ({node_type}.{name})")


ALL_IVK = [getattr(ivk_fields, n) for n in PACKAGE_ALL if n.startswith("Ivk") and n.endswith("Field") and n != "IvkField"]

ACCEPTED_BY = [
    (("string", "value", "a prompt"), core.StringField, {IvkStringField}),
    (("integer", "value", 3), core.IntegerField, {IvkIntegerField}),
    (("float", "value", 7.5), core.FloatField, {IvkFloatField}),
    (("boolean", "value", True), core.BooleanField, {IvkBooleanField}),
    (("denoise_latents", "scheduler", "euler"), core.EnumField, {IvkEnumField, IvkSchedulerField}),
    (("infill_rgba", "color", None), core.ColorField, {IvkColorField}),
    (("i2l", "image", None), core.ImageField, {IvkImageField}),
    (("l2i", "board", None), core.BoardField, {IvkBoardField}),
    (("sdxl_model_loader", "model", None), core.ModelField, {IvkModelIdentifierField}),
    (("integer_collection", "collection", [1, 2]), core.CollectionField, {IvkCollectionField}),
    (("denoise_latents", "unet", None), core.GenericField, set()),
]


@pytest.mark.parametrize(("where", "core_class", "accepted"), ACCEPTED_BY, ids=lambda v: getattr(v, "__name__", None))
def test_core_fields_pass_exactly_their_ivk_checks(
    where: tuple[str, str, Any], core_class: type, accepted: set[type]
) -> None:
    fld = core_field(*where)
    assert type(fld) is core_class
    assert isinstance(fld, IvkField)
    assert {cls for cls in ALL_IVK if isinstance(fld, cls)} == accepted
    assert {cls for cls in ALL_IVK if issubclass(core_class, cls)} == accepted


def test_a_1_1_1_style_check_then_assignment_works_on_core_fields() -> None:
    prompt, steps = core_field("string", "value", ""), core_field("denoise_latents", "steps", 30)
    assert isinstance(prompt, (IvkStringField, IvkBoardField)) and isinstance(steps, IvkIntegerField)
    prompt.value = "a lighthouse"
    steps.value = 25
    assert (prompt.to_graph_value(), steps.to_graph_value()) == ("a lighthouse", 25)


def test_ivk_fields_are_not_each_other() -> None:
    assert isinstance(IvkStringField(value="x"), IvkStringField)
    assert not isinstance(IvkStringField(value="x"), IvkIntegerField)
    assert not isinstance(IvkEnumField(), IvkSchedulerField)
    assert isinstance(IvkSchedulerField(), IvkEnumField)
    assert not issubclass(IvkIntegerField, IvkFloatField)


# -- primitives ------------------------------------------------------------------------------


def test_integer_coerces_like_1_1_1() -> None:
    assert IvkIntegerField(value="512").value == 512
    assert IvkIntegerField(value=512.0).value == 512
    fld = IvkIntegerField(value=1)
    with pytest.raises(pydantic.ValidationError):
        fld.value = 5.5
    assert fld.value == 1


def test_float_stores_ints_as_floats_and_refuses_non_finite() -> None:
    fld = IvkFloatField(value=7)
    assert fld.value == 7.0 and isinstance(fld.value, float)
    fld.value = 3
    assert isinstance(fld.value, float)
    with pytest.raises(ValueError, match="finite"):
        fld.value = float("nan")


def test_bounds_are_checked_on_assignment_and_construction() -> None:
    fld = IvkIntegerField(value=512, minimum=64, maximum=1024, multiple_of=8)
    for bad, message in ((32, "less than the minimum 64"), (2048, "greater than the maximum 1024"), (100, "multiple of 8")):
        with pytest.raises(pydantic.ValidationError, match=message):
            fld.value = bad
        assert fld.value == 512  # a refused value leaves the old one
    fld.value = 1024
    assert fld.to_api_format() == {"value": 1024}
    with pytest.raises(ValueError, match="minimum"):
        IvkIntegerField(value=5, minimum=10)  # 1.1.1 let this through
    cfg = IvkFloatField(value=7.5, minimum=1.0, maximum=20.0)
    with pytest.raises(ValueError, match="maximum"):
        cfg.value = 21


def test_validate_field_sees_constraints_changed_later() -> None:
    fld = IvkIntegerField(value=5)
    assert fld.validate_field() is True
    fld.minimum = 10
    with pytest.raises(ValueError, match="minimum"):
        fld.validate_field()


def test_string_and_boolean() -> None:
    fld = IvkStringField(value="ok", min_length=2, max_length=5, pattern=r"^[a-z]+$")
    for bad in ("a", "toolong", "Caps", 5):
        with pytest.raises(pydantic.ValidationError):
            fld.value = bad
    fld.value = SchedulerName.EULER  # a str enum is stored as the plain string
    assert type(fld.value) is str and fld.to_api_format() == {"value": "euler"}
    flag = IvkBooleanField(value="yes")
    assert flag.value is True and flag.to_api_format() == {"value": True}


def test_json_dict_round_trip_keeps_extras() -> None:
    fld = IvkStringField(value="x", max_length=3, label="Prompt")
    data = fld.to_json_dict()
    assert data == {"min_length": None, "max_length": 3, "pattern": None, "value": "x", "label": "Prompt"}
    again = IvkStringField.from_json_dict(data)
    assert isinstance(again, IvkStringField) and again == fld


# -- API shapes ---------------------------------------------------------------------------------

MODEL = {"key": "k1", "hash": "blake3:abc", "name": "tiny-sdxl", "base": "sdxl", "type": "main"}

API_SHAPES: list[tuple[Any, dict[str, Any]]] = [
    (IvkImageField(value="a.png"), {"value": {"image_name": "a.png"}, "type": "image"}),
    (IvkImageField(), {"value": None, "type": "image"}),
    (IvkBoardField(value="b-1"), {"value": {"board_id": "b-1"}, "type": "board"}),
    (IvkLatentsField(value="l-1", seed=3), {"value": {"latents_name": "l-1", "seed": 3}, "type": "latents"}),
    (IvkTensorField(value="t-1"), {"value": {"tensor_name": "t-1"}, "type": "tensor"}),
    (
        IvkDenoiseMaskField(mask_name="m-1", gradient=True),
        {"value": {"mask_name": "m-1", "masked_latents_name": None, "gradient": True}, "type": "denoise_mask"},
    ),
    (IvkMetadataField(value={"a": 1}), {"value": {"a": 1}, "type": "metadata"}),
    (
        IvkConditioningField(value="c-1", mask="t-2"),
        {"value": {"conditioning_name": "c-1", "mask": {"tensor_name": "t-2"}}, "type": "conditioning"},
    ),
    (IvkFluxConditioningField(value="c-1"), {"value": {"conditioning_name": "c-1"}, "type": "flux_conditioning"}),
    (IvkSD3ConditioningField(value="c-1"), {"value": {"conditioning_name": "c-1"}, "type": "sd3_conditioning"}),
    (IvkCogView4ConditioningField(value="c-1"), {"value": {"conditioning_name": "c-1"}, "type": "cogview4_conditioning"}),
    (
        IvkFluxReduxConditioningField(conditioning="t-1"),
        {"value": {"conditioning": {"tensor_name": "t-1"}, "mask": None}, "type": "flux_redux_conditioning"},
    ),
    (
        IvkFluxFillConditioningField(image="i.png", mask="t-1"),
        {"value": {"image": {"image_name": "i.png"}, "mask": {"tensor_name": "t-1"}}, "type": "flux_fill_conditioning"},
    ),
    (
        IvkFluxKontextConditioningField(image="i.png"),
        {"value": {"image": {"image_name": "i.png"}}, "type": "flux_kontext_conditioning"},
    ),
    (IvkModelIdentifierField(**MODEL), {**MODEL, "submodel_type": None}),
    (
        IvkUNetField(unet_model=MODEL, scheduler=MODEL),
        {"unet": MODEL, "scheduler": MODEL, "loras": [], "seamless_axes": []},
    ),
    (
        IvkCLIPField(tokenizer=MODEL, text_encoder=MODEL, skipped_layers=1),
        {"tokenizer": MODEL, "text_encoder": MODEL, "skipped_layers": 1, "loras": []},
    ),
    (IvkTransformerField(transformer_model=MODEL), {"transformer": MODEL, "loras": []}),
    (IvkLoRAField(lora_model=MODEL, weight=0.5), {"lora": MODEL, "weight": 0.5}),
    (IvkColorField(r=1, g=2, b=3), {"r": 1, "g": 2, "b": 3, "a": 255}),
    (
        IvkBoundingBoxField(x_min=1, x_max=5, y_min=2, y_max=6, score=0.5),
        {"x_min": 1, "x_max": 5, "y_min": 2, "y_max": 6, "score": 0.5},
    ),
    (IvkCollectionField(value=[1, 2]), {"value": [1, 2]}),
    (IvkEnumField(value="a", choices=["a", "b"]), {"value": "a", "type": "enum", "choices": ["a", "b"]}),
    (IvkSchedulerField(value="euler"), {"value": "euler", "type": "scheduler", "choices": SCHEDULER_NAMES}),
    (IvkInterpolationField(value="bicubic"), {"value": "bicubic", "type": "interpolation"}),
    (IvkColorModeField(value="RGBA"), {"value": "RGBA", "type": "color_mode"}),
    (IvkLiteralField(value="x", literals=["x"]), {"value": "x", "type": "literal", "literals": ["x"]}),
]


@pytest.mark.parametrize(("field", "api"), API_SHAPES, ids=lambda v: type(v).__name__)
def test_to_api_format_and_back(field: Any, api: dict[str, Any]) -> None:
    assert field.to_api_format() == api
    again = type(field).from_api_format(api)
    assert again.to_api_format() == api
    assert type(field).from_json_dict(field.to_json_dict()) == field


def test_reference_fields_accept_the_api_form_on_assignment() -> None:
    image, board = IvkImageField(), IvkBoardField()
    image.value = {"image_name": "up.png"}
    board.value = {"board_id": "b-2"}
    assert (image.value, board.value) == ("up.png", "b-2")
    assert IvkImageField.from_api_format({"value": {"image_name": "x.png"}}).is_uploaded is True


def test_image_upload_refuses_a_file_that_is_not_there(tmp_path: Path) -> None:
    image = IvkImageField(value=str(tmp_path / "missing.png"))
    with pytest.raises(ValueError, match=r"missing\.png"):
        asyncio.run(image.upload(None))  # type: ignore[arg-type]  # refused before any request


# -- models ----------------------------------------------------------------------------------------


def test_model_identifier_base_and_type() -> None:
    fld = IvkModelIdentifierField()
    assert (fld.base, fld.type) == (BaseModelType.Any, ModelType.Main)
    fld.base = "sdxl"
    fld.type = ModelType.VAE
    assert fld.base is BaseModelType.StableDiffusionXL and fld.base == "sdxl"
    assert fld.base.value == "sdxl" and fld.type.value == "vae"
    fld.base = "some-future-base"  # a newer server's base is kept, not turned into "any"
    assert fld.to_api_format()["base"] == "some-future-base"
    assert type(fld.to_api_format()["type"]) is str
    with pytest.raises(pydantic.ValidationError):
        fld.base = 5  # type: ignore[assignment]


def test_model_identifier_value_is_what_a_model_input_takes() -> None:
    fld = IvkModelIdentifierField(**MODEL)
    assert fld.value == MODEL
    model_input = core_field("sdxl_model_loader", "model")
    model_input.value = fld.value
    assert model_input.to_graph_value() == MODEL


@dataclass
class Record:
    key: str
    hash: str
    name: str
    base: Any
    type: Any


def test_model_conversion() -> None:
    record = Record("k1", "blake3:abc", "tiny-sdxl", BaseModelType.StableDiffusionXL, "main")
    assert isinstance(record, ModelLike)
    fld = to_ivk_model_field(record)
    assert fld.to_api_format() == {**MODEL, "submodel_type": None}
    assert from_ivk_model_field(fld) == MODEL and all(type(v) is str for v in from_ivk_model_field(fld).values())
    assert is_model_compatible(record, "sdxl") and is_model_compatible(record, "sdxl", "main")
    assert not is_model_compatible(record, "sdxl", "vae") and not is_model_compatible(record, "flux")


# -- enums and schedulers ---------------------------------------------------------------------------


def test_name_lists_are_the_servers() -> None:
    assert tuple(SCHEDULER_NAMES) == CATALOG.input_spec("denoise_latents", "scheduler").options  # type: ignore[union-attr]
    assert tuple(INTERPOLATION_MODES) == CATALOG.input_spec("lresize", "mode").options  # type: ignore[union-attr]
    assert tuple(COLOR_MODES) == CATALOG.input_spec("img_conv", "mode").options  # type: ignore[union-attr]
    assert [s.value for s in SchedulerName] == SCHEDULER_NAMES
    assert set(OLD_SCHEDULER_NAMES) <= set(SCHEDULER_NAMES)
    assert SchedulerName.DPMPP_3M_K.value == "dpmpp_3m_k" and str(SchedulerName.EULER_A) == "euler_a"


def test_enum_choices() -> None:
    fld = IvkEnumField(value="a", choices=["a", "b"])
    with pytest.raises(pydantic.ValidationError, match="not one of"):
        fld.value = "c"
    with pytest.raises(ValueError):
        IvkEnumField(value="c", choices=["a"])
    fld.add_choice("c")
    fld.value = "c"
    fld.remove_choice("c")
    assert fld.value is None and fld.get_choices() == ["a", "b"]
    assert IvkEnumField(value="anything").validate_field() is True  # no choices: any string
    lit = IvkLiteralField(value="x", literals=["x", "y"])
    with pytest.raises(pydantic.ValidationError):
        lit.value = "z"
    assert lit.get_literals() == ["x", "y"]


def test_scheduler_field_checks_and_normalizes() -> None:
    fld = IvkSchedulerField(value=SchedulerName.DPMPP_3M_K)
    assert fld.value == "dpmpp_3m_k" and fld.get_choices() == SCHEDULER_NAMES
    fld.value = "Euler Ancestral"
    assert fld.value == "euler_a"
    with pytest.raises(pydantic.ValidationError, match="not one of"):
        fld.value = "warp_drive"
    assert fld.value == "euler_a"
    assert IvkInterpolationField(value="nearest-exact").validate_field() is True
    with pytest.raises(ValueError):
        IvkColorModeField(value="LA")  # 1.1.1 listed it; the server refuses it


# The InvokeAI GUI's scheduler labels (frontend SCHEDULER_OPTIONS).
GUI_LABELS = {
    "ddim": "DDIM", "ddpm": "DDPM", "deis": "DEIS", "deis_k": "DEIS Karras", "dpmpp_2s": "DPM++ 2S",
    "dpmpp_2s_k": "DPM++ 2S Karras", "dpmpp_2m": "DPM++ 2M", "dpmpp_2m_k": "DPM++ 2M Karras",
    "dpmpp_2m_sde": "DPM++ 2M SDE", "dpmpp_2m_sde_k": "DPM++ 2M SDE Karras", "dpmpp_3m": "DPM++ 3M",
    "dpmpp_3m_k": "DPM++ 3M Karras", "dpmpp_sde": "DPM++ SDE", "dpmpp_sde_k": "DPM++ SDE Karras",
    "er_sde": "ER-SDE", "euler": "Euler", "euler_k": "Euler Karras", "euler_a": "Euler Ancestral",
    "heun": "Heun", "heun_k": "Heun Karras", "kdpm_2": "KDPM 2", "kdpm_2_k": "KDPM 2 Karras",
    "kdpm_2_a": "KDPM 2 Ancestral", "kdpm_2_a_k": "KDPM 2 Ancestral Karras", "lcm": "LCM", "lms": "LMS",
    "lms_k": "LMS Karras", "pndm": "PNDM", "tcd": "TCD", "unipc": "UniPC", "unipc_k": "UniPC Karras",
}  # fmt: skip


def test_normalize_alias() -> None:
    assert sorted(GUI_LABELS) == sorted(SCHEDULER_NAMES)
    assert {name: IvkSchedulerField.normalize_alias(label) for name, label in GUI_LABELS.items()} == {
        name: name for name in GUI_LABELS
    }
    assert [IvkSchedulerField.normalize_alias(s) for s in SchedulerName] == SCHEDULER_NAMES
    for alias in ("euler_ancestral", "euler-ancestral", "euler ancestral", "EULER_A", "Euler a"):
        assert IvkSchedulerField.normalize_alias(alias) == "euler_a", alias
    assert IvkSchedulerField.normalize_alias("DPMPP-3M-K") == "dpmpp_3m_k"
    assert IvkSchedulerField.normalize_alias("warp drive") == "warp drive"  # unknown: unchanged


# -- color, bounding box, collection ------------------------------------------------------------------


def test_color() -> None:
    color = IvkColorField()
    color.set_hex("#FF8000")
    assert color.to_rgba() == (255, 128, 0, 255) and color.to_hex() == "#FF8000"
    color.set_hex("10203040")
    assert color.to_hex(include_alpha=True) == "#10203040"
    with pytest.raises(pydantic.ValidationError):
        color.r = 256
    with pytest.raises(pydantic.ValidationError):
        color.set_rgba(1, 2, 300)
    assert color.to_rgba() == (0x10, 0x20, 0x30, 0x40)  # a refused set_rgba changes nothing
    with pytest.raises(ValueError, match="rrggbb"):
        color.set_hex("#12345")
    assert color.value == {"r": 16, "g": 32, "b": 48, "a": 64}


def test_bounding_box() -> None:
    box = IvkBoundingBoxField()
    box.set_box(10, 110, 20, 70, score=0.9)
    assert box.get_box() == (10, 110, 20, 70, 0.9)
    assert (box.get_width(), box.get_height(), box.get_area()) == (100, 50, 5000)
    assert box.validate_field() is True
    box.x_max = 5
    with pytest.raises(ValueError, match="x_max"):
        box.validate_field()


def test_collection() -> None:
    coll = IvkCollectionField[int](value=[1, 2], item_type=int, max_length=4)
    coll.append(3)
    assert (len(coll), coll[2], list(coll.iter_items())) == (3, 3, [1, 2, 3])
    with pytest.raises(TypeError, match="expected int"):
        coll.append("four")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="maximum 4"):
        coll.extend([4, 5])
    assert coll.value == [1, 2, 3]  # a refused extend adds nothing
    coll.remove(2)
    with pytest.raises(ValueError, match="not in the collection"):
        coll.remove(9)
    coll[0] = 7
    assert coll.to_api_format() == {"value": [7, 3]}
    coll.clear()
    assert len(coll) == 0
    least = IvkCollectionField(value=[1], min_length=1)
    with pytest.raises(ValueError, match="minimum 1"):
        least.clear()
    least.value.append("x")
    least.item_type = int
    with pytest.raises(TypeError, match="item 1"):
        least.validate_field()
