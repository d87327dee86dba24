"""The package's local InvokeAI server, checked against the real thing with plain httpx."""

from __future__ import annotations

import hashlib
import io
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from invokeai_py_client.server import TINY_MODEL_NAMES, LocalServer
from invokeai_py_client.server._common import port_is_free
from invokeai_py_client.server.local import is_invokeai_web
from invokeai_py_client.server.provision import builder_script
from tests.graphs import sdxl_txt2img_body

EXPECTED = {
    "tiny-sd1": ("sd-1", "main"),
    "tiny-sdxl": ("sdxl", "main"),
    "tiny-sdxl-refiner": ("sdxl-refiner", "main"),
    "tiny-esrgan-x2": ("any", "spandrel_image_to_image"),
    "tiny-esrgan-x4": ("any", "spandrel_image_to_image"),
}


# -- helpers ------------------------------------------------------------------------
def edge(src: str, src_field: str, dst: str, dst_field: str) -> dict[str, Any]:
    return {"source": {"node_id": src, "field": src_field}, "destination": {"node_id": dst, "field": dst_field}}


def models_by_name(http: httpx.Client) -> dict[str, dict[str, Any]]:
    response = http.get("/api/v2/models/")
    response.raise_for_status()
    return {m["name"]: m for m in response.json()["models"]}


def identifier(model: dict[str, Any]) -> dict[str, Any]:
    return {k: model[k] for k in ("key", "hash", "name", "base", "type")}


def run_graph(http: httpx.Client, nodes: dict[str, dict[str, Any]], edges: list[dict[str, Any]]) -> dict[str, Any]:
    """Enqueue one graph, poll its queue item to the end, return the completed item."""
    for node_id, node in nodes.items():
        node.setdefault("id", node_id)
        node.setdefault("use_cache", False)
    body = {"batch": {"graph": {"id": f"test-{time.monotonic_ns()}", "nodes": nodes, "edges": edges}, "runs": 1}}
    response = http.post("/api/v1/queue/default/enqueue_batch", json=body)
    assert response.status_code in (200, 201), response.text
    (item_id,) = item_ids_of(http, response.json())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        item = http.get(f"/api/v1/queue/default/i/{item_id}").json()
        if item["status"] in ("completed", "failed", "canceled"):
            assert item["status"] == "completed", f"{item.get('error_type')}: {item.get('error_message')}\n{item.get('error_traceback')}"
            return dict(item)
        time.sleep(0.2)
    raise AssertionError(f"queue item {item_id} did not finish in 120 s")


def item_ids_of(http: httpx.Client, answer: dict[str, Any]) -> list[int]:
    """The enqueue answer's item ids; 5.x answers without them: its queue listing has them."""
    if "item_ids" in answer:
        return list(answer["item_ids"])
    listed = http.get("/api/v1/queue/default/list", params={"limit": 100_000}).json()
    return [row["item_id"] for row in listed["items"] if row["batch_id"] == answer["batch"]["batch_id"]]


def output_image(http: httpx.Client, item: dict[str, Any], node_id: str) -> Image.Image:
    """Download the image that node `node_id` produced in a completed queue item."""
    session = item["session"]
    prepared = [pid for pid, src in session["prepared_source_mapping"].items() if src == node_id]
    (result,) = [session["results"][pid] for pid in prepared if pid in session["results"]]
    name = result["image"]["image_name"]
    response = http.get(f"/api/v1/images/i/{name}/full")
    response.raise_for_status()
    assert response.content.startswith(b"\x89PNG")
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def upload(http: httpx.Client, image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    response = http.post(
        "/api/v1/images/upload",
        params={"image_category": "user", "is_intermediate": "true"},
        files={"file": ("input.png", buffer.getvalue(), "image/png")},
    )
    assert response.status_code in (200, 201), response.text
    return str(response.json()["image_name"])


def gradient(width: int, height: int) -> Image.Image:
    image = Image.new("RGB", (width, height))
    image.putdata([(x * 255 // width, y * 255 // height, 128) for y in range(height) for x in range(width)])
    return image


@pytest.fixture(scope="module")
def http(server_url: str) -> Any:
    with httpx.Client(base_url=server_url, timeout=60.0) as client:
        yield client


# -- the server and its models --------------------------------------------------------
def test_server_answers_its_version(http: httpx.Client, expected_version: str) -> None:
    response = http.get("/api/v1/app/version")
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["version"] == expected_version


def test_the_five_tiny_models_are_installed_with_base_and_type(http: httpx.Client) -> None:
    models = models_by_name(http)
    for name, (base, type_) in EXPECTED.items():
        assert name in models, f"{name} not installed: {sorted(models)}"
        assert (models[name]["base"], models[name]["type"]) == (base, type_)
    assert set(TINY_MODEL_NAMES) == set(EXPECTED)


def sdxl_txt2img(model: dict[str, Any], seed: int) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    graph = sdxl_txt2img_body(identifier(model), seed=seed, steps=3)["batch"]["graph"]
    return graph["nodes"], graph["edges"]


def test_sdxl_txt2img_makes_a_64x64_png(http: httpx.Client) -> None:
    model = models_by_name(http)["tiny-sdxl"]
    item = run_graph(http, *sdxl_txt2img(model, seed=7))
    image = output_image(http, item, "l2i")
    assert image.format == "PNG"
    assert image.size == (64, 64)


def test_sd1_txt2img_makes_a_64x64_png(http: httpx.Client) -> None:
    model = models_by_name(http)["tiny-sd1"]
    nodes: dict[str, dict[str, Any]] = {
        "loader": {"type": "main_model_loader", "model": identifier(model)},
        "pos": {"type": "compel", "prompt": "a cat"},
        "neg": {"type": "compel", "prompt": ""},
        "noise": {"type": "noise", "seed": 3, "width": 64, "height": 64},
        "denoise": {"type": "denoise_latents", "steps": 3, "cfg_scale": 5.0, "scheduler": "euler"},
        "l2i": {"type": "l2i", "is_intermediate": False},
    }
    edges = [
        edge("loader", "clip", "pos", "clip"),
        edge("loader", "clip", "neg", "clip"),
        edge("loader", "unet", "denoise", "unet"),
        edge("pos", "conditioning", "denoise", "positive_conditioning"),
        edge("neg", "conditioning", "denoise", "negative_conditioning"),
        edge("noise", "noise", "denoise", "noise"),
        edge("denoise", "latents", "l2i", "latents"),
        edge("loader", "vae", "l2i", "vae"),
    ]
    assert output_image(http, run_graph(http, nodes, edges), "l2i").size == (64, 64)


def sdxl_img2img(model: dict[str, Any], image_name: str) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    nodes, edges = sdxl_txt2img(model, seed=11)
    nodes["i2l"] = {"type": "i2l", "image": {"image_name": image_name}}
    nodes["denoise"]["denoising_start"] = 0.5
    edges += [edge("loader", "vae", "i2l", "vae"), edge("i2l", "latents", "denoise", "latents")]
    return nodes, edges


def test_sdxl_img2img_is_deterministic_with_the_tiny_vae(http: httpx.Client) -> None:
    """i2l -> denoise -> l2i twice gives identical pixels (AutoencoderTiny encodes
    without sampling; an AutoencoderKL would not)."""
    model = models_by_name(http)["tiny-sdxl"]
    name = upload(http, gradient(64, 64))
    first = output_image(http, run_graph(http, *sdxl_img2img(model, name)), "l2i")
    second = output_image(http, run_graph(http, *sdxl_img2img(model, name)), "l2i")
    assert first.size == (64, 64)
    assert first.tobytes() == second.tobytes()


def test_refiner_img2img_runs(http: httpx.Client) -> None:
    models = models_by_name(http)
    name = upload(http, gradient(64, 64))
    nodes: dict[str, dict[str, Any]] = {
        "loader": {"type": "sdxl_refiner_model_loader", "model": identifier(models["tiny-sdxl-refiner"])},
        "pos": {"type": "sdxl_refiner_compel_prompt", "style": "a cat", "aesthetic_score": 6.0, "original_width": 64, "original_height": 64},
        "neg": {"type": "sdxl_refiner_compel_prompt", "style": "", "aesthetic_score": 2.5, "original_width": 64, "original_height": 64},
        "i2l": {"type": "i2l", "image": {"image_name": name}},
        "noise": {"type": "noise", "seed": 5, "width": 64, "height": 64},
        "denoise": {"type": "denoise_latents", "steps": 3, "cfg_scale": 5.0, "scheduler": "euler", "denoising_start": 0.7},
        "l2i": {"type": "l2i", "is_intermediate": False},
    }
    edges = [
        edge("loader", "clip2", "pos", "clip2"),
        edge("loader", "clip2", "neg", "clip2"),
        edge("loader", "unet", "denoise", "unet"),
        edge("loader", "vae", "i2l", "vae"),
        edge("loader", "vae", "l2i", "vae"),
        edge("pos", "conditioning", "denoise", "positive_conditioning"),
        edge("neg", "conditioning", "denoise", "negative_conditioning"),
        edge("noise", "noise", "denoise", "noise"),
        edge("i2l", "latents", "denoise", "latents"),
        edge("denoise", "latents", "l2i", "latents"),
    ]
    assert output_image(http, run_graph(http, nodes, edges), "l2i").size == (64, 64)


@pytest.mark.parametrize(("name", "factor"), [("tiny-esrgan-x2", 2), ("tiny-esrgan-x4", 4)])
def test_spandrel_upscale_multiplies_the_size(http: httpx.Client, name: str, factor: int) -> None:
    model = models_by_name(http)[name]
    image_name = upload(http, gradient(40, 24))
    nodes: dict[str, dict[str, Any]] = {
        "up": {"type": "spandrel_image_to_image", "image": {"image_name": image_name}, "image_to_image_model": identifier(model), "is_intermediate": False},
    }
    image = output_image(http, run_graph(http, nodes, []), "up")
    assert image.size == (40 * factor, 24 * factor)


# -- up / down -------------------------------------------------------------------------
# (down, which stops a server, is tested on the multi-user instance: test_multiuser.py, last)


def test_up_again_is_the_same_process(server_url: str, local_server: LocalServer) -> None:
    server = local_server
    if server.url() != server_url:
        pytest.skip("INVOKEAI_URL points at a server this package did not start")
    state = server.status()
    assert state.running and state.pid is not None and is_invokeai_web(state.pid)
    assert {m["name"] for m in state.models} >= set(EXPECTED)
    again = LocalServer(instance=server.paths.instance)  # the instance remembers its version
    assert again.invokeai_version == server.invokeai_version
    assert again.up() == server_url
    assert server.status().pid == state.pid
    assert not port_is_free(int(server_url.rsplit(":", 1)[1]))


def test_the_web_uis_socket_polling_request_is_answered(server_url: str, local_server: LocalServer) -> None:
    """Browsers open Socket.IO by long-polling with gzip accepted; InvokeAI's gzip responder
    answered that with 500 (so the UI never got events) until we turned compression off."""
    response = httpx.get(
        f"{server_url}/ws/socket.io/",
        params={"EIO": "4", "transport": "polling"},
        headers={"Accept-Encoding": "gzip, deflate, br"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.text.startswith('0{"sid":')  # the engine.io OPEN packet
    local = local_server
    if local.url() == server_url:  # our own server: its log has no trace of the old failure either
        assert "Expected ASGI message" not in local.paths.log_file.read_text(encoding="utf-8", errors="replace")


def test_cli_url_prints_the_running_server(server_url: str, local_server: LocalServer) -> None:
    if local_server.url() != server_url:
        pytest.skip("INVOKEAI_URL points at a server this package did not start")
    cli = Path(__import__("sys").executable).with_name("invokeai-py")
    argv = [str(cli), "server", "--instance", local_server.paths.instance, "url"]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == server_url


# -- tiny models are built deterministically --------------------------------------------
def tree_hashes(directory: Path) -> dict[str, str]:
    return {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_tiny_models_build_byte_identical_in_two_homes(server_url: str, tmp_path: Path) -> None:
    python = LocalServer().paths.python
    if not python.exists():
        pytest.skip("INVOKEAI_URL points at a server this package did not provision (no venv to build with)")
    # The provisioned home was built by another process, earlier: building again must match it.
    subprocess.run([str(python), str(builder_script()), "--out", str(tmp_path / "again")], check=True, capture_output=True)
    again, provisioned = tree_hashes(tmp_path / "again"), tree_hashes(LocalServer().paths.models)
    assert len(again) > 20
    assert {p.split("/")[0] for p in again} == set(EXPECTED)
    assert again == provisioned
