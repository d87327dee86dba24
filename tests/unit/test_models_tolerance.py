"""Model records from newer servers, and install outcomes, through an injected transport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient
from invokeai_py_client.model_manager import (
    ModelAlreadyInstalledError,
    ModelInstallError,
    ModelRecord,
    identifier,
)

Handler = Callable[[httpx.Request], httpx.Response]

FUTURE_MODEL = {
    # A base, type and format this client has never heard of, no description, new fields.
    "key": "k-future",
    "hash": "blake3:abc",
    "name": "hologram-xl",
    "base": "sd-9-holo",
    "type": "hologram_generator",
    "format": "holo-tensors",
    "path": "/models/hologram",
    "source": "/models/hologram",
    "source_type": "path",
    "quantum_bits": 7,
}
KNOWN_MODEL = {
    "key": "k-sd1", "hash": "blake3:def", "name": "tiny-sd1", "base": "sd-1", "type": "main",
    "format": "diffusers", "description": None, "path": "/models/tiny-sd1",
}


def make_client(mode: str, handler: Handler) -> Any:
    transport = httpx.MockTransport(handler)
    if mode == "sync":
        return InvokeAIClient("http://testserver", transport=transport, use_events=False)
    return AsyncInvokeAIClient("http://testserver", transport=transport, use_events=False)


def call(mode: str, make: Callable[[], Any]) -> Any:
    """Run `make()` (a sync call, or an async one awaited on a fresh loop)."""
    if mode == "sync":
        return make()

    async def run() -> Any:
        return await make()

    return asyncio.run(run())


def json_response(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_unknown_base_and_type_do_not_break_listing(mode: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.url.path == "/api/v2/models/"
        return json_response({"models": [KNOWN_MODEL, FUTURE_MODEL]})

    client = make_client(mode, handler)
    models = call(mode, lambda: client.dnn_model_repo.list_models(base=["sd-1", "sd-9-holo"]))
    assert [m.name for m in models] == ["tiny-sd1", "hologram-xl"]
    future = models[1]
    assert isinstance(future, ModelRecord)
    assert (future.base, future.type, future.format) == ("sd-9-holo", "hologram_generator", "holo-tensors")
    assert future.description is None
    assert future["quantum_bits"] == 7
    assert identifier(future) == {
        "key": "k-future", "hash": "blake3:abc", "name": "hologram-xl",
        "base": "sd-9-holo", "type": "hologram_generator",
    }
    assert seen[0].url.params.get_list("base_models") == ["sd-1", "sd-9-holo"]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_unknown_values_in_single_lookups(mode: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/models/get_by_attrs":
            assert dict(request.url.params) == {"name": "hologram-xl", "type": "hologram_generator", "base": "sd-9-holo"}
        return json_response(FUTURE_MODEL)

    client = make_client(mode, handler)
    repo = client.dnn_model_repo
    by_attrs = call(mode, lambda: repo.get_model_by_attrs("hologram-xl", "hologram_generator", "sd-9-holo"))
    by_key = call(mode, lambda: repo.get_model("k-future"))
    by_hash = call(mode, lambda: repo.get_model_by_hash("blake3:abc"))
    assert by_attrs.key == by_key.key == by_hash.key == "k-future"


def install_server(final: dict[str, Any]) -> tuple[Handler, list[httpx.Request]]:
    """A server whose install job runs once, then ends as `final` says."""
    seen: list[httpx.Request] = []
    polls = {"n": 0}
    base = {"id": 4, "source": {"path": "/m/x.safetensors", "type": "local"}, "local_path": "/m/x.safetensors",
            "bytes": 0, "total_bytes": 100}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST" and request.url.path == "/api/v2/models/install":
            return json_response({**base, "status": "waiting"}, 201)
        assert request.url.path == "/api/v2/models/install/4"
        polls["n"] += 1
        if polls["n"] == 1:
            return json_response({**base, "status": "running", "bytes": 50})
        return json_response({**base, **final})

    return handler, seen


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_install_reports_progress_and_passes_inplace(mode: str) -> None:
    handler, seen = install_server({"status": "completed", "bytes": 100, "config_out": FUTURE_MODEL})
    client = make_client(mode, handler)
    job = call(mode, lambda: client.dnn_model_repo.install_model("/m/x.safetensors"))
    progress: list[float] = []
    record = call(mode, lambda: job.wait(timeout=10, on_progress=lambda s: progress.append(s.progress)))
    assert record.name == "hologram-xl"
    assert progress == [0.5, 1.0]
    assert job.status == "completed"
    install = seen[0]
    assert install.url.params["inplace"] == "true"
    assert install.url.params["source"] == "/m/x.safetensors"
    assert json.loads(install.content) == {}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_already_installed_is_its_own_error(mode: str) -> None:
    handler, _ = install_server({
        "status": "error", "error_reason": "DuplicateModelException",
        "error": "A model with path '/m/x.safetensors' is already installed",
    })
    client = make_client(mode, handler)
    job = call(mode, lambda: client.dnn_model_repo.install_model("/m/x.safetensors"))
    with pytest.raises(ModelAlreadyInstalledError) as info:
        call(mode, lambda: job.wait(timeout=10))
    assert "already installed" in str(info.value)
    assert info.value.reason is not None and "already installed" in info.value.reason


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_failed_install_carries_the_server_reason(mode: str) -> None:
    handler, _ = install_server({"status": "error", "error_reason": "InvalidModelConfigException",
                                 "error": "Unable to determine model type"})
    client = make_client(mode, handler)
    job = call(mode, lambda: client.dnn_model_repo.install_model("/m/x.safetensors"))
    with pytest.raises(ModelInstallError) as info:
        call(mode, lambda: job.wait(timeout=10))
    assert not isinstance(info.value, ModelAlreadyInstalledError)
    assert info.value.reason == "Unable to determine model type"
