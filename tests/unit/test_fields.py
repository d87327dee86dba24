"""Typed input fields: validation on assignment, graph values, sweeps, resolution hooks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from invokeai_py_client._exceptions import ValidationError
from invokeai_py_client.workflow.fields import (
    BoardField,
    BooleanField,
    CollectionField,
    ColorField,
    EnumField,
    FloatField,
    GenericField,
    ImageField,
    InputField,
    IntegerField,
    ModelField,
    StringField,
    make_field,
)
from invokeai_py_client.workflow.schema import InputSpec, InvocationCatalog

CATALOG = InvocationCatalog.bundled()
SDXL_MODEL = {"key": "k1", "hash": "blake3:abc", "name": "tiny-sdxl", "base": "sdxl", "type": "main"}
BOARD_ID = "a17c2b12-d25a-4e41-9217-d94a543b9e73"


def field(node_type: str, name: str, original: Any = None, settings: dict[str, Any] | None = None) -> InputField:
    spec = CATALOG.input_spec(node_type, name)
    assert spec is not None, f"{node_type}.{name} missing from the bundled schema"
    title = spec.title
    return make_field(spec, original, context=f"input 2 {title!r} ({node_type}.{name})", form_settings=settings)


def error_of(fld: InputField, value: Any) -> str:
    with pytest.raises(ValidationError) as info:
        fld.value = value
    return str(info.value)


class FakeResolver:
    """Records what a workflow handle would upload and look up."""

    def __init__(self) -> None:
        self.uploads: list[Any] = []
        self.boards: list[str] = []
        self.models: list[tuple[str, InputSpec | None]] = []

    def upload_image(self, image: Any) -> str:
        self.uploads.append(image)
        return f"uploaded-{len(self.uploads)}.png"

    def resolve_board(self, name: str) -> str:
        self.boards.append(name)
        return f"id-of-{name}"

    def resolve_model(self, value: str, spec: InputSpec | None) -> dict[str, Any]:
        self.models.append((value, spec))
        return {**SDXL_MODEL, "name": value}


# -- numbers -------------------------------------------------------------------------------


def test_integer_messages_name_the_input() -> None:
    seed = field("noise", "seed", 0)
    assert isinstance(seed, IntegerField)
    assert error_of(seed, -1) == "input 2 'Seed' (noise.seed): -1 is less than the minimum 0"
    assert error_of(seed, "x") == "input 2 'Seed' (noise.seed): expected an integer, got 'x' (str)"
    assert error_of(seed, True) == "input 2 'Seed' (noise.seed): expected an integer, got True (bool)"
    assert error_of(seed, 2**32) == "input 2 'Seed' (noise.seed): 4294967296 is greater than the maximum 4294967295"
    assert error_of(seed, 1.5).endswith("expected an integer, got 1.5 (float)")
    assert seed.value == 0 and not seed.is_set  # a failed assignment changes nothing
    seed.value = 42
    assert (seed.value, seed.is_set, seed.to_graph_value()) == (42, True, 42)
    seed.value = 7.0
    assert seed.value == 7 and type(seed.value) is int


def test_integer_multiple_of_and_exclusive_minimum() -> None:
    width = field("noise", "width", 512)
    assert error_of(width, 513).endswith("513 is not a multiple of 8 (nearest: 512)")
    assert error_of(width, 0).endswith("0 is not greater than 0")
    width.value = 1024
    assert width.value == 1024


def test_float_accepts_ints_and_stores_floats() -> None:
    cfg = field("denoise_latents", "cfg_scale", 7.5)
    assert isinstance(cfg, FloatField)
    cfg.value = 7
    assert cfg.value == 7.0 and type(cfg.value) is float
    assert json.dumps(cfg.to_graph_value()) == "7.0"
    cfg.value = [3, 4.5]  # float | list[float]
    assert cfg.value == [3.0, 4.5]
    assert error_of(cfg, "high").endswith("expected a number, got 'high' (str)")
    assert error_of(cfg, float("nan")).endswith("expected a finite number, got nan")
    assert error_of(cfg, True).endswith("expected a number, got True (bool)")


def test_saved_floats_stay_floats_and_saved_ints_become_floats_in_the_graph() -> None:
    assert field("denoise_latents", "cfg_scale", 7.5).to_graph_value() == 7.5
    start = field("denoise_latents", "denoising_start", 0)  # the GUI saves 0.0 as 0
    assert start.value == 0 and start.original == 0
    assert type(start.to_graph_value()) is float


def test_float_exclusive_maximum() -> None:
    rescale = field("denoise_latents", "cfg_rescale_multiplier", 0)
    assert error_of(rescale, 1).endswith("1.0 is not less than 1")
    rescale.value = 0.7
    assert rescale.value == 0.7


def test_form_settings_narrow_number_bounds() -> None:
    settings = {"type": "integer-field-config", "component": "slider", "min": 10, "max": 50}
    steps = field("denoise_latents", "steps", 30, settings)
    assert isinstance(steps, IntegerField)
    assert (steps.minimum, steps.maximum) == (10, 50)
    assert error_of(steps, 60).endswith("60 is greater than the Form's maximum 50")
    assert error_of(steps, 0).endswith("0 is not greater than 0")  # the schema's bound comes first
    steps.value = 10
    start = field("denoise_latents", "denoising_start", 0, {"type": "float-field-config", "max": 0.5})
    assert isinstance(start, FloatField)
    assert (start.minimum, start.maximum) == (0, 0.5)
    assert error_of(start, 0.75).endswith("0.75 is greater than the Form's maximum 0.5")


# -- strings, booleans, enums -------------------------------------------------------------------


def test_enum_options_from_the_schema() -> None:
    scheduler = field("denoise_latents", "scheduler", "euler")
    assert isinstance(scheduler, EnumField)
    message = error_of(scheduler, "abc")
    assert message.startswith("input 2 'Scheduler' (denoise_latents.scheduler): 'abc' is not one of 'ddim', 'ddpm', ")
    assert "'euler'" in message and "'dpmpp_2m'" in message
    assert error_of(scheduler, "eulr").endswith("(did you mean 'euler'?)")
    scheduler.value = "dpmpp_2m"
    assert scheduler.to_graph_value() == "dpmpp_2m"
    assert "lcm" in scheduler.options


def test_integer_enum_is_strict_about_type() -> None:
    seq_len = field("flux_text_encoder", "t5_max_seq_len", 256)
    seq_len.value = 512
    assert error_of(seq_len, "512").endswith("'512' is not one of 256, 512")


def test_string_and_form_dropdown() -> None:
    prompt = field("string", "value", "a cat")
    assert isinstance(prompt, StringField)
    assert error_of(prompt, 3).endswith("expected a string, got 3 (int)")
    prompt.value = "a dog"
    settings = {"type": "string-field-config", "component": "dropdown",
                "options": [{"label": "Cat", "value": "a cat"}, {"label": "Dog", "value": "a dog"}]}
    choice = field("string", "value", "a cat", settings)
    assert isinstance(choice, StringField)
    assert choice.options == ("a cat", "a dog")
    choice.value = "Dog"  # a label picks its value
    assert choice.value == "a dog"
    assert "'a cow' is not one of the Form's options 'a cat', 'a dog'" in error_of(choice, "a cow")


def test_boolean_is_only_true_or_false() -> None:
    use_cpu = field("noise", "use_cpu", True)
    assert isinstance(use_cpu, BooleanField)
    assert error_of(use_cpu, 1).endswith("expected True or False, got 1 (int)")
    use_cpu.value = False
    assert use_cpu.value is False


# -- colors, images, boards, models ------------------------------------------------------------


def test_color_keeps_its_structure() -> None:
    color = field("infill_rgba", "color", {"r": 127, "g": 127, "b": 127, "a": 255})
    assert isinstance(color, ColorField)
    assert color.to_graph_value() == {"r": 127, "g": 127, "b": 127, "a": 255}
    color.value = (255, 0, 0)
    assert color.value == {"r": 255, "g": 0, "b": 0, "a": 255}
    color.value = "#00ff0080"
    assert color.value == {"r": 0, "g": 255, "b": 0, "a": 128}
    color.value = {"r": 1, "g": 2, "b": 3, "a": 4}
    assert color.value == {"r": 1, "g": 2, "b": 3, "a": 4}
    assert error_of(color, (1, 2, 300)).endswith("color component 'b' must be an integer 0-255, got 300")
    assert "expected a color" in error_of(color, "red")


def test_image_names_dicts_and_local_files(tmp_path: Path) -> None:
    image = field("i2l", "image")
    assert isinstance(image, ImageField)
    image.value = "4a5b.png"
    assert image.value == "4a5b.png" and not image.pending_upload  # the name reads back
    image.value = {"image_name": "x.png"}
    assert image.to_graph_value() == {"image_name": "x.png"}
    local = tmp_path / "photo.png"
    local.write_bytes(b"not really a png")
    image.value = str(local)
    assert image.value == local and image.pending_upload and image.needs_resolution
    with pytest.raises(ValidationError, match="must be resolved against the server first"):
        image.to_graph_value()
    resolver = FakeResolver()
    assert image.resolved(resolver) == {"image_name": "uploaded-1.png"}
    assert resolver.uploads == [local]
    assert error_of(image, str(tmp_path / "missing.png")).endswith(f"no such image file: {str(tmp_path / 'missing.png')!r}")
    assert "expected an image name" in error_of(image, 3)


def test_image_from_pil() -> None:
    from PIL import Image as pil
    image = field("i2l", "image")
    picture = pil.new("RGB", (8, 8))
    image.value = picture
    assert image.value is picture and image.pending_upload
    assert image.resolved(FakeResolver()) == {"image_name": "uploaded-1.png"}


def test_board_ids_names_none_and_auto() -> None:
    board = field("l2i", "board", "auto")
    assert isinstance(board, BoardField)
    assert board.value == "auto" and board.validate_complete() == []
    board.value = None
    assert board.value == "none"
    board.value = {"board_id": BOARD_ID}
    assert board.to_graph_value() == {"board_id": BOARD_ID}
    board.value = BOARD_ID
    assert not board.needs_resolution and board.to_graph_value() == {"board_id": BOARD_ID}
    board.value = "refined"
    assert board.needs_resolution
    resolver = FakeResolver()
    assert board.resolved(resolver) == {"board_id": "id-of-refined"}
    assert resolver.boards == ["refined"]
    assert error_of(board, 7).endswith("expected a board id or name, got 7 (int)")


def test_model_identifier_key_or_name() -> None:
    model = field("sdxl_model_loader", "model")
    assert isinstance(model, ModelField)
    assert (model.accepted_model_types, model.accepted_model_bases) == (("main",), ("sdxl",))
    model.value = SDXL_MODEL
    assert model.to_graph_value() == SDXL_MODEL and not model.needs_resolution
    sd1 = {**SDXL_MODEL, "name": "sd15", "base": "sd-1"}
    assert error_of(model, sd1).endswith("model 'sd15' has base sd-1; this input takes base sdxl")
    lora = {**SDXL_MODEL, "name": "detail", "type": "lora"}
    assert error_of(model, lora).endswith("model 'detail' is a lora model; this input takes main")
    assert "missing hash, name, base, type" in error_of(model, {"key": "k1"})
    model.value = "tiny-sdxl"
    assert model.needs_resolution
    resolver = FakeResolver()
    assert model.resolved(resolver)["name"] == "tiny-sdxl"
    assert resolver.models == [("tiny-sdxl", model.spec)]


def test_unknown_model_bases_and_types_are_accepted_where_the_input_takes_any() -> None:
    model = field("model_identifier", "model")
    model.value = {**SDXL_MODEL, "base": "flux9", "type": "hologram"}
    assert model.value["base"] == "flux9"


# -- collections and generic values ----------------------------------------------------------------


def test_collections_validate_their_items(tmp_path: Path) -> None:
    images = field("image_collection", "collection")
    assert isinstance(images, CollectionField)
    images.value = ("a.png", {"image_name": "b.png"})
    assert images.value == [{"image_name": "a.png"}, {"image_name": "b.png"}]
    assert error_of(images, ["a.png", 3]).endswith("item 1: expected an image name, a file path or a PIL image, got 3 (int)")
    assert error_of(images, "a.png").endswith("expected a list, got 'a.png' (str)")
    local = tmp_path / "x.png"
    local.write_bytes(b"x")
    images.value = ["a.png", local]
    assert images.pending_upload
    assert images.resolved(FakeResolver()) == [{"image_name": "a.png"}, {"image_name": "uploaded-1.png"}]

    integers = field("integer_collection", "collection", [1, 2])
    assert integers.to_graph_value() == [1, 2]
    assert error_of(integers, [1, "2"]).endswith("item 1: expected an integer, got '2' (str)")
    floats = field("float_collection", "collection", [1.5, 2])
    assert floats.to_graph_value() == [1.5, 2.0]


def test_generic_values_are_kept_as_they_are() -> None:
    unknown = make_field(None, {"nested": [1, 2.5, None]}, context="input 0 (n.x)")
    assert isinstance(unknown, GenericField)
    assert unknown.to_graph_value() == {"nested": [1, 2.5, None]}
    unknown.value = [{"a": 1}]
    assert unknown.value == [{"a": 1}]
    assert error_of(unknown, object()).startswith("input 0 (n.x): <object object at")
    unet = field("denoise_latents", "unet")
    assert isinstance(unet, GenericField)


# -- sweeps, completeness, state ------------------------------------------------------------------


def test_sweeps_validate_every_value() -> None:
    seed = field("noise", "seed", 0)
    assert seed.sweep_values is None and seed.values == (0,)
    seed.values = [1, 2, 3]
    assert seed.sweep_values == (1, 2, 3) and seed.is_set
    with pytest.raises(ValidationError, match=r"noise.seed\): sweep value 1: -1 is less than the minimum 0"):
        seed.values = [1, -1]
    assert seed.sweep_values == (1, 2, 3)
    with pytest.raises(ValidationError, match="a sweep is a list of values"):
        seed.values = "123"
    with pytest.raises(ValidationError, match="at least one value"):
        seed.values = []
    seed.value = 9  # a single value ends the sweep
    assert seed.sweep_values is None
    seed.values = range(3)
    seed.values = None
    assert seed.sweep_values is None and seed.value == 9


def test_sweep_values_resolve_one_by_one() -> None:
    board = field("save_image", "board", "none")
    board.values = ["first", BOARD_ID, None]
    assert board.sweep_values == ("first", BOARD_ID, "none")
    assert board.resolved_sweep(FakeResolver()) == [{"board_id": "id-of-first"}, {"board_id": BOARD_ID}, "none"]
    cfg = field("denoise_latents", "cfg_scale", 7.5)
    cfg.values = [5, 7.5]
    assert cfg.sweep_values == (5.0, 7.5)
    assert [cfg.graph_value_of(v) for v in cfg.sweep_values] == [5.0, 7.5]


def test_validate_complete() -> None:
    model = field("sdxl_model_loader", "model")
    assert model.validate_complete() == ["input 2 'Model' (sdxl_model_loader.model): a value is required"]
    assert model.validate_complete(connected=True) == []
    model.value = SDXL_MODEL
    assert model.validate_complete() == []
    saved_bad = field("noise", "seed", -1)  # what the old client wrote; the server rejects it
    assert saved_bad.validate_complete() == [
        "input 2 'Seed' (noise.seed): the workflow's saved value is invalid: -1 is less than the minimum 0"
    ]
    saved_bad.value = 5
    assert saved_bad.validate_complete() == []


def test_reset_set_default_and_copy_state() -> None:
    steps = field("denoise_latents", "steps", 30)
    steps.value = 12
    steps.reset()
    assert (steps.value, steps.is_set) == (30, False)
    model = field("sdxl_model_loader", "model", {**SDXL_MODEL, "key": "old"})
    model.set_default(SDXL_MODEL)
    assert model.value == SDXL_MODEL and not model.is_set
    other = field("denoise_latents", "steps", 30)
    steps.values = [4, 8]
    other.copy_state_from(steps)
    assert other.sweep_values == (4, 8) and other.is_set
    assert "sweep=[4, 8]" in repr(other)


def test_make_field_picks_the_class_by_kind() -> None:
    expected = {
        ("noise", "seed"): IntegerField,
        ("denoise_latents", "cfg_scale"): FloatField,
        ("string", "value"): StringField,
        ("noise", "use_cpu"): BooleanField,
        ("denoise_latents", "scheduler"): EnumField,
        ("infill_rgba", "color"): ColorField,
        ("i2l", "image"): ImageField,
        ("l2i", "board"): BoardField,
        ("sdxl_model_loader", "model"): ModelField,
        ("image_collection", "collection"): CollectionField,
        ("denoise_latents", "latents"): GenericField,
    }
    for (node_type, name), cls in expected.items():
        assert type(field(node_type, name)) is cls, f"{node_type}.{name}"


# -- real workflows -------------------------------------------------------------------------------

# What the GUI's editor shows for each input of the six node types in example-nodes.json
# (read off its parseFieldType/buildFieldInputTemplate); None: connection only, no editor.
GUI_EDITORS: dict[str, dict[str, type[InputField] | None]] = {
    "add": {"a": IntegerField, "b": IntegerField},
    "noise": {"seed": IntegerField, "width": IntegerField, "height": IntegerField, "use_cpu": BooleanField},
    "image": {"image": ImageField},
    "flux_controlnet": {
        "image": ImageField, "control_model": ModelField, "control_weight": FloatField,
        "begin_step_percent": FloatField, "end_step_percent": FloatField, "resize_mode": EnumField,
        "instantx_control_mode": IntegerField,
    },
    "denoise_latents": {
        "positive_conditioning": None, "negative_conditioning": None, "noise": None, "steps": IntegerField,
        "cfg_scale": FloatField, "denoising_start": FloatField, "denoising_end": FloatField,
        "scheduler": EnumField, "unet": None, "control": None, "ip_adapter": None, "t2i_adapter": None,
        "cfg_rescale_multiplier": FloatField, "latents": None, "denoise_mask": None,
    },
    "flux_denoise": {
        "latents": None, "denoise_mask": None, "denoising_start": FloatField, "denoising_end": FloatField,
        "add_noise": BooleanField, "transformer": None, "control_lora": None,
        "positive_text_conditioning": None, "negative_text_conditioning": None, "redux_conditioning": None,
        "fill_conditioning": None, "cfg_scale": FloatField, "cfg_scale_start_step": IntegerField,
        "cfg_scale_end_step": IntegerField, "width": IntegerField, "height": IntegerField,
        "num_steps": IntegerField, "guidance": FloatField, "seed": IntegerField, "control": None,
        "controlnet_vae": None, "ip_adapter": None, "kontext_conditioning": None,
    },
}


def _load(reference_dir: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((reference_dir / "workflows" / name).read_text(encoding="utf-8"))
    return data


def test_every_input_of_example_nodes_gets_the_guis_type(reference_dir: Path) -> None:
    workflow = _load(reference_dir, "example-nodes.json")
    seen = set()
    for node in workflow["nodes"]:
        node_type = node["data"]["type"]
        expected = GUI_EDITORS[node_type]
        assert set(node["data"]["inputs"]) == set(expected), node_type
        for name, entry in node["data"]["inputs"].items():
            spec = CATALOG.input_spec(node_type, name)
            assert spec is not None, f"{node_type}.{name}"
            fld = make_field(spec, entry.get("value"), context=f"{node_type}.{name}")
            cls = expected[name]
            if cls is None:
                assert (spec.input, spec.stateful, type(fld)) == ("connection", False, GenericField), name
            else:
                assert type(fld) is cls and spec.stateful, f"{node_type}.{name}"
            assert not any("saved value" in p for p in fld.validate_complete()), f"{node_type}.{name}"
        seen.add(node_type)
    assert seen == set(GUI_EDITORS)


@pytest.mark.parametrize(
    "name", ["sdxl-text-to-image.json", "flux-image-to-image.json", "sdxl-flux-refine.json", "copy-image.json"]
)
def test_saved_values_of_real_exports_are_valid(reference_dir: Path, name: str) -> None:
    workflow = _load(reference_dir, name)
    for node in workflow["nodes"]:
        if node["type"] != "invocation":
            continue
        for field_name, entry in node["data"]["inputs"].items():
            spec = CATALOG.input_spec(node["data"]["type"], field_name)
            assert spec is not None, f"{node['data']['type']}.{field_name}"
            saved = entry.get("value")
            fld = make_field(spec, saved, context=f"{node['id']}.{field_name}")
            assert not any("saved value" in p for p in fld.validate_complete()), fld
            graph_value = fld.to_graph_value()
            assert graph_value == saved, fld  # nothing erased or reshaped
            if isinstance(saved, float):
                assert type(graph_value) is float, fld
