"""Model sync rules: hash, key, name, base; never across types; all-or-nothing."""

from __future__ import annotations

import pytest

from invokeai_py_client import ValidationError
from invokeai_py_client.workflow.model_sync import ModelReference, plan_model_sync

INSTALLED = [
    {"key": "k-sdxl", "hash": "blake3:aaa", "name": "tiny-sdxl", "base": "sdxl", "type": "main"},
    {"key": "k-ref", "hash": "blake3:bbb", "name": "tiny-sdxl-refiner", "base": "sdxl-refiner", "type": "main"},
    {"key": "k-vae", "hash": "blake3:ccc", "name": "sdxl-vae", "base": "sdxl", "type": "vae"},
    {"key": "k-lora", "hash": "blake3:ddd", "name": "detail-lora", "base": "sdxl", "type": "lora"},
    {"key": "k-sd1", "hash": "blake3:eee", "name": "tiny-sd1", "base": "sd-1", "type": "main"},
]


def ref(name: str, base: str, mtype: str, key: str = "gone", hash_: str = "blake3:zzz") -> ModelReference:
    return ModelReference("loader", "model", {"key": key, "hash": hash_, "name": name, "base": base, "type": mtype})


def test_hash_wins_over_everything() -> None:
    (change,) = plan_model_sync([ref("renamed", "sdxl", "main", hash_="blake3:aaa")], INSTALLED)
    assert change.rule == "hash" and change.new["key"] == "k-sdxl"


def test_identical_reference_needs_no_change() -> None:
    assert plan_model_sync([ref("tiny-sdxl", "sdxl", "main", key="k-sdxl", hash_="blake3:aaa")], INSTALLED) == []


def test_key_then_name() -> None:
    (by_key,) = plan_model_sync([ref("x", "sdxl", "main", key="k-sdxl")], INSTALLED)
    assert by_key.rule == "key"
    (by_name,) = plan_model_sync([ref("tiny-sdxl", "sdxl", "main")], INSTALLED)
    assert by_name.rule == "name" and by_name.new["hash"] == "blake3:aaa"


def test_by_name_can_be_disabled() -> None:
    with pytest.raises(ValidationError):
        plan_model_sync([ref("tiny-sdxl", "sdxl", "main")], INSTALLED, by_name=False)


def test_by_base_picks_same_base_and_type_only() -> None:
    (change,) = plan_model_sync([ref("juggernaut", "sdxl", "main")], INSTALLED, by_base=True)
    assert change.rule == "base" and change.new["name"] == "tiny-sdxl"
    # A VAE reference is never replaced by a LoRA or a main model of the same base.
    (vae,) = plan_model_sync([ref("other-vae", "sdxl", "vae")], INSTALLED, by_base=True)
    assert vae.new["type"] == "vae"


def test_never_crosses_types_even_with_a_matching_name() -> None:
    with pytest.raises(ValidationError) as info:
        plan_model_sync([ref("detail-lora", "sdxl", "main")], INSTALLED, by_base=False)
    assert "tiny-sdxl" in str(info.value)  # candidates of the right type are listed


def test_failure_lists_every_unresolved_reference() -> None:
    refs = [ref("nope-1", "flux", "main"), ref("nope-2", "flux", "vae"), ref("tiny-sd1", "sd-1", "main")]
    with pytest.raises(ValidationError) as info:
        plan_model_sync(refs, INSTALLED, by_base=True)
    assert len(info.value.problems) == 2
    assert "nope-1" in info.value.problems[0] and "nope-2" in info.value.problems[1]


def test_submodel_type_is_kept() -> None:
    value = {"key": "x", "hash": "h", "name": "tiny-sdxl", "base": "sdxl", "type": "main", "submodel_type": "vae"}
    (change,) = plan_model_sync([ModelReference("n", "vae", value)], INSTALLED)
    assert change.new["submodel_type"] == "vae"


def test_fields_accepted_bases_limit_matches_and_candidates() -> None:
    value = {"key": "gone", "hash": "h", "name": "tiny-sd1", "base": "sd-1", "type": "main"}
    sdxl_loader = ModelReference("loader", "model", value, accepted_types=("main",), accepted_bases=("sdxl",))
    with pytest.raises(ValidationError) as info:
        plan_model_sync([sdxl_loader], INSTALLED, by_base=False)
    assert "tiny-sdxl (sdxl/main" in str(info.value) and "tiny-sd1 (" not in str(info.value)
