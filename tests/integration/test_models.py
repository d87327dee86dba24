"""Models against the real local server: lookups, an install from a local copy, the cache."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from invokeai_py_client import AsyncInvokeAIClient, BadRequestError, InvokeAIClient, NotFoundError
from invokeai_py_client.model_manager import (
    ModelAlreadyInstalledError,
    ModelInstallError,
    ModelInstallStatus,
    ModelRecord,
    identifier,
)
from invokeai_py_client.server import INVOKEAI_VERSION


def test_list_and_lookups(server_url: str, newer_feature: Any) -> None:
    with InvokeAIClient(server_url, use_events=False) as client:
        repo = client.dnn_model_repo
        everything = repo.list_models()
        names = {m.name for m in everything}
        assert {"tiny-sd1", "tiny-esrgan-x2"} <= names
        sd1 = repo.list_models(base="sd-1")
        assert sd1 and {m.base for m in sd1} == {"sd-1"} and "tiny-sd1" in {m.name for m in sd1}
        both = repo.list_models(base=["sd-1", "any"])
        assert {m.base for m in both} <= {"sd-1", "any"} and {"tiny-sd1", "tiny-esrgan-x2"} <= {m.name for m in both}
        upscalers = repo.list_models(type="spandrel_image_to_image")
        assert {m.type for m in upscalers} == {"spandrel_image_to_image"}
        (esrgan,) = repo.list_models(name="tiny-esrgan-x2")
        assert repo.list_models(name="tiny-esrgan-x2", format="checkpoint") == [esrgan]
        assert repo.list_models(name="tiny-esrgan-x2", format="diffusers") == []

        assert repo.get_model(esrgan.key) == esrgan
        assert esrgan.hash is not None
        with newer_feature("GET", "/api/v2/models/get_by_hash"):
            assert repo.get_model_by_hash(esrgan.hash).key == esrgan.key
        assert repo.get_model_by_attrs("tiny-esrgan-x2", "spandrel_image_to_image", "any").key == esrgan.key
        ident = identifier(esrgan)
        assert ident == {"key": esrgan.key, "hash": esrgan.hash, "name": "tiny-esrgan-x2",
                         "base": "any", "type": "spandrel_image_to_image"}
        with pytest.raises(NotFoundError):
            repo.get_model("no-such-key")
        with pytest.raises(NotFoundError):
            repo.get_model_by_attrs("no-such-model", "main", "sd-1")


def test_install_a_local_copy_then_delete_it(server_url: str, tmp_path: Path) -> None:
    with InvokeAIClient(server_url, use_events=False) as client:
        repo = client.dnn_model_repo
        (original,) = repo.list_models(name="tiny-esrgan-x2")
        assert original.path is not None
        name = f"esrgan-copy-{uuid.uuid4().hex[:8]}"
        copy = tmp_path / f"{name}.safetensors"
        shutil.copyfile(original.path, copy)

        found = {Path(f.path).name: f for f in repo.scan_folder(tmp_path)}
        assert found[copy.name].is_installed is False

        job = repo.install_model(copy)  # inplace by default: the file must stay where it is
        seen: list[ModelInstallStatus] = []
        record: ModelRecord | None = None
        try:
            record = job.wait(timeout=120, on_progress=seen.append)
            assert (record.name, record.base, record.type) == (name, "any", "spandrel_image_to_image")
            assert Path(record.path or "") == copy and copy.exists()
            assert job.status == "completed" and job.progress == 1.0
            assert seen and seen[-1].status == "completed"
            assert seen[-1].total_bytes == copy.stat().st_size == seen[-1].bytes
            assert job.refresh().status == "completed"
            assert repo.get_install_job(job.id).status == "completed"
            assert job.id in {j.id for j in repo.list_install_jobs()}
            assert {Path(f.path).name: f for f in repo.scan_folder(tmp_path)}[copy.name].is_installed

            again = repo.install_model(copy)
            with pytest.raises(ModelAlreadyInstalledError) as info:
                again.wait(timeout=60)
            assert "already installed" in str(info.value)
        finally:
            if record is not None:
                repo.delete_model(record.key)
        with pytest.raises(NotFoundError):
            repo.get_model(record.key if record is not None else "")
        assert copy.exists()  # outside InvokeAI's models folder: unregistered, the file is kept
        repo.prune_install_jobs()


def test_install_failure_carries_the_reason(server_url: str, tmp_path: Path) -> None:
    async def run() -> None:
        async with AsyncInvokeAIClient(server_url, use_events=False) as client:
            repo = client.dnn_model_repo
            # The server refuses private addresses: the job ends in error with its reason.
            job = await repo.install_model("http://127.0.0.1:9/tiny.safetensors")
            with pytest.raises(ModelInstallError) as info:
                await job.wait(timeout=60)
            assert not isinstance(info.value, ModelAlreadyInstalledError)
            assert info.value.job is not None and info.value.job.status == "error"
            assert info.value.reason and "127.0.0.1" in info.value.reason
            assert job.status == "error"
            # A path that does not exist is refused at once (HTTP 409, not "already installed").
            with pytest.raises(ModelInstallError) as refused:
                await repo.install_model(tmp_path / "missing.safetensors")
            assert not isinstance(refused.value, ModelAlreadyInstalledError)
            assert "Unsupported model source" in str(refused.value)
            await repo.prune_install_jobs()
            assert all(not j.is_terminal for j in await repo.list_install_jobs())

    asyncio.run(run())


def test_unidentifiable_file_installs_as_unknown(server_url: str, tmp_path: Path, server_schema: Any) -> None:
    junk = tmp_path / f"not-a-model-{uuid.uuid4().hex[:8]}.safetensors"
    junk.write_bytes(b"this is not a model")
    with InvokeAIClient(server_url, use_events=False) as client:
        repo = client.dnn_model_repo
        model_types = server_schema.document["components"]["schemas"]["ModelType"]["enum"]
        if "unknown" not in model_types:
            # Servers whose schema has no "unknown" model type (6.0, 5.x) refuse such a file.
            with pytest.raises(ModelInstallError) as refused:
                repo.install_model(junk).wait(timeout=60)
            assert refused.value.job is not None and refused.value.job.status == "error"
            assert "header" in str(refused.value)  # the server's reason: not a safetensors header
            return
        record = repo.install_model(junk).wait(timeout=60)
        try:
            # 6.14 registers what it cannot identify with base and type "unknown".
            assert (record.base, record.type, record.description) == ("unknown", "unknown", None)
            assert record.key in {m.key for m in repo.list_models()}
        finally:
            repo.delete_model(record.key)
        assert junk.exists()


def esrgan_body(model: dict[str, object]) -> dict[str, object]:
    """blank_image -> spandrel_image_to_image: loads the upscaler into the model cache."""
    nodes = {
        "blank": {"id": "blank", "type": "blank_image", "width": 16, "height": 16, "use_cache": False},
        "up": {"id": "up", "type": "spandrel_image_to_image", "image_to_image_model": model,
               "tile_size": 0, "use_cache": False, "is_intermediate": True},
    }
    edges = [{"source": {"node_id": "blank", "field": "image"}, "destination": {"node_id": "up", "field": "image"}}]
    return {"batch": {"graph": {"id": "esrgan-cache", "nodes": nodes, "edges": edges}}}


def test_cache_stats_empty_cache_and_convert(server_url: str, expected_version: str) -> None:
    with InvokeAIClient(server_url, use_events=False) as client:
        repo = client.dnn_model_repo
        (esrgan,) = repo.list_models(name="tiny-esrgan-x2")
        client.queue_repo.enqueue_batch(esrgan_body(identifier(esrgan))).wait(timeout=120)
        stats = repo.get_cache_stats()
        assert stats is not None and stats.hits + stats.misses >= 1
        # The RAM budget: 6.14 reports it; 6.0 and 5.x send 0, read as "not reported".
        assert stats.cache_size is None or stats.cache_size > 0
        if expected_version == INVOKEAI_VERSION:
            assert stats.cache_size is not None
        assert any("tiny-esrgan-x2" in name for name in stats.loaded_model_sizes)
        repo.empty_model_cache()
        after = repo.get_cache_stats()
        assert after is not None and after.cleared > stats.cleared
        with pytest.raises(BadRequestError) as info:
            repo.convert_model(esrgan.key)  # only SD1/2/XL main checkpoints convert
        assert "checkpoint" in str(info.value)
