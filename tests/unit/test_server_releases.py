"""The local server at several InvokeAI releases: recipes, config per version, tokenizers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from invokeai_py_client.server import LocalServer, ProvisionError, ServerPaths, tiny_models
from invokeai_py_client.server.provision import constraints_path, requirements_to_resolve
from invokeai_py_client.server.releases import (
    RELEASES,
    config_schema_version,
    invokeai_yaml,
    knows_http_compression_level,
    release,
    version_key,
)

# `importlib.metadata.requires("invokeai")` of a real InvokeAI 6.0.2 install (abridged).
INVOKEAI_602_REQUIRES = [
    "accelerate",
    'bitsandbytes; sys_platform != "darwin"',
    "compel==2.1.1",
    "diffusers[torch]==0.33.0",
    "numpy<2.0.0",
    "torch~=2.7.0",
    "torchsde",
    "torchvision",
    "transformers",
    "uvicorn[standard]",
    "semver~=3.0.1",
    'xformers>=0.0.28.post1; sys_platform != "darwin" and extra == "xformers"',
    'onnxruntime; extra == "onnx"',
    'pytest>6.0.0; extra == "test"',
]


def test_versions_sort_like_the_releases() -> None:
    ordered = ["5.0.0", "5.15.0", "6.0.0a1", "6.0.0rc5", "6.0.0", "6.0.2", "6.13.0", "6.14.0-rc2", "6.14.0", "6.14.2"]
    assert sorted(reversed(ordered), key=version_key) == ordered
    assert version_key("v6.0.2") == version_key("6.0.2")
    assert version_key("nonsense") < version_key("0.0.1")


@pytest.mark.parametrize(
    ("version", "schema", "compression"),
    [("5.15.0", "4.0.2", False), ("6.0.2", "4.0.2", False), ("6.12.0", "4.0.2", False),
     ("6.13.0", "4.0.3", False), ("6.14.0rc2", "4.0.3", False), ("6.14.2", "4.0.3", True)],
)
def test_config_carries_only_what_the_version_knows(version: str, schema: str, compression: bool) -> None:
    assert config_schema_version(version) == schema
    assert knows_http_compression_level(version) is compression
    lines = invokeai_yaml(9412, version=version).splitlines()
    assert f"schema_version: {schema}" in lines
    assert ("http_compression_level: 0" in lines) is compression
    for expected in ("host: 127.0.0.1", "port: 9412", "device: cpu", "precision: float32", "patchmatch: false"):
        assert expected in lines
    assert not any(line.startswith("multiuser") for line in lines)


def test_multiuser_is_refused_for_a_version_without_it() -> None:
    assert "multiuser: true" in invokeai_yaml(1, version="6.14.2", multiuser=True).splitlines()
    with pytest.raises(ProvisionError, match=r"6\.0\.2 has no multi-user mode"):
        invokeai_yaml(1, version="6.0.2", multiuser=True)


def test_every_release_ships_constraints_without_torch_or_invokeai() -> None:
    assert {"6.14.2", "6.0.2", "5.15.0"} <= set(RELEASES)
    for version, recipe in RELEASES.items():
        path = recipe.constraints_path()
        assert path == constraints_path(version)
        pins = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        names = {ln.split("==")[0].lower() for ln in pins}
        assert all("==" in ln and " @ " not in ln and "file:" not in ln for ln in pins), version
        assert not names & {"torch", "torchvision", "invokeai"}, version
        assert {"diffusers", "transformers", "fastapi", "starlette", "pydantic"} <= names, version


@pytest.mark.parametrize(
    ("version", "pins"),
    [("6.0.2", {"transformers": "4.53.3", "diffusers": "0.33.0", "compel": "2.1.1", "starlette": "0.46.2"}),
     ("5.15.0", {"transformers": "4.53.3", "fastapi": "0.115.14", "huggingface-hub": "0.33.5"})],
)
def test_old_releases_install_without_deps_under_their_era_pins(version: str, pins: dict[str, str]) -> None:
    recipe = release(version)
    assert recipe.no_deps
    text = recipe.constraints_path().read_text()
    for name, pinned in pins.items():
        assert f"\n{name}=={pinned}\n" in text
    assert not release("6.14.2").no_deps


def test_an_unknown_release_names_the_ones_we_can_install(tmp_path: Path) -> None:
    with pytest.raises(ProvisionError, match=r"no install recipe for InvokeAI 5\.3\.0.*6\.14\.2, 6\.0\.2, 5\.15\.0"):
        release("5.3.0")
    with pytest.raises(ProvisionError):
        LocalServer(tmp_path, instance="x", invokeai_version="5.3.0")


def test_requirements_to_resolve_drop_torch_and_extras() -> None:
    kept = requirements_to_resolve(INVOKEAI_602_REQUIRES)
    assert kept == [
        "accelerate",
        'bitsandbytes; sys_platform != "darwin"',
        "compel==2.1.1",
        "diffusers[torch]==0.33.0",
        "numpy<2.0.0",
        "torchsde",
        "transformers",
        "uvicorn[standard]",
        "semver~=3.0.1",
    ]


def test_each_version_has_its_own_venv_and_an_instance_remembers_its_version(tmp_path: Path) -> None:
    assert ServerPaths(tmp_path, "v600", "6.0.2").venv == tmp_path / "venv-6.0.2"
    assert ServerPaths(tmp_path, "v600", "6.0.2").models == ServerPaths(tmp_path).models
    assert LocalServer(tmp_path, instance="v600").invokeai_version == "6.14.2"
    paths = ServerPaths(tmp_path, "v600")
    paths.instance_dir.mkdir(parents=True)
    paths.version_file.write_text("6.0.2\n")
    assert LocalServer(tmp_path, instance="v600").invokeai_version == "6.0.2"
    assert LocalServer(tmp_path, instance="v600", invokeai_version="5.15.0").paths.venv == tmp_path / "venv-5.15.0"
    assert LocalServer(tmp_path).invokeai_version == "6.14.2"


def _fast_only_build(model: Path) -> None:
    """What transformers 5 leaves for a tiny SDXL: tokenizer.json only (stand-in content)."""
    for folder in ("tokenizer", "tokenizer_2"):
        (model / folder).mkdir(parents=True)
        (model / folder / "tokenizer.json").write_text("{}")
        (model / folder / "tokenizer_config.json").write_text('{"tokenizer_class": "CLIPTokenizer"}')
    (model / "unet").mkdir()
    (model / "unet" / "config.json").write_text("{}")


def test_slow_tokenizer_files_are_added_beside_the_fast_one(tmp_path: Path) -> None:
    _fast_only_build(tmp_path)
    written = tiny_models.add_slow_tokenizer_files(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "tokenizer/merges.txt", "tokenizer/vocab.json", "tokenizer_2/merges.txt", "tokenizer_2/vocab.json",
    ]
    vocab = json.loads((tmp_path / "tokenizer_2" / "vocab.json").read_text())
    assert vocab == tiny_models.clip_vocab()
    assert (tmp_path / "tokenizer" / "merges.txt").read_text().startswith("#version: 0.2\n")
    assert (tmp_path / "tokenizer" / "tokenizer.json").read_text() == "{}"
    assert tiny_models.add_slow_tokenizer_files(tmp_path) == []


def _manifest(model: Path, recipe: int) -> None:
    manifest = {"name": model.name, "recipe": recipe, "vae": "tiny", "files": tiny_models.file_hashes(model)}
    (model / tiny_models.MANIFEST).write_text(json.dumps(manifest))


def test_an_intact_recipe_1_build_is_upgraded_in_place(tmp_path: Path) -> None:
    model = tmp_path / "tiny-sdxl"
    _fast_only_build(model)
    _manifest(model, 1)
    assert not tiny_models.is_intact(model, "tiny")
    assert tiny_models.upgrade_in_place(model, "tiny")
    assert tiny_models.is_intact(model, "tiny")
    assert (model / "tokenizer_2" / "vocab.json").exists()
    assert not tiny_models.upgrade_in_place(model, "tiny")  # already current


def test_a_damaged_recipe_1_build_is_left_for_a_rebuild(tmp_path: Path) -> None:
    model = tmp_path / "tiny-sdxl"
    _fast_only_build(model)
    _manifest(model, 1)
    (model / "unet" / "config.json").write_text('{"changed": true}')
    assert not tiny_models.upgrade_in_place(model, "tiny")
    assert not (model / "tokenizer" / "vocab.json").exists()
    assert not tiny_models.upgrade_in_place(tmp_path / "absent", "tiny")
