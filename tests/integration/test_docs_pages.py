"""The documentation's pages run, block by block, against the local server (see tests/docs_pages.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from invokeai_py_client import ImageDTO, InvokeAIClient, NotFoundError, QueueItem, ValidationError
from invokeai_py_client.workflow import WorkflowDefinition, WorkflowHandle
from invokeai_py_client.workflow.graph import build_graph
from tests.docs_pages import DOCS, blocks, run_page


def test_the_multi_stage_refine_page_has_the_seeds_nine_blocks() -> None:
    assert len(blocks("multi-stage-refine.md")) == 9


def test_multi_stage_refine_page(server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ns, printed = run_page("multi-stage-refine.md", server_url, tmp_path, monkeypatch, args=["a castle", "--upscale"])
    lines = printed.splitlines()
    # inspect input indices: the base workflow's Form, depth-first
    assert lines[0].startswith("[00] Positive prompt :: StringField")
    assert lines[2] == "[02] Seed :: IntegerField" and lines[7] == "[07] Output board :: BoardField"
    assert "Final status: completed" in lines
    with InvokeAIClient(server_url) as client:
        def on_board(name: Any, board: str) -> bool:
            assert isinstance(name, str), name
            return name in client.board_repo.get_board_handle(board).list_image_names()

        results: dict[str, Any] = ns["results"]  # type: ignore[assignment]
        assert on_board(results["base"], "base_stage") and on_board(results["refined"], "refined_stage")
        assert on_board(results["upscaled"], "upscaled_stage")
        assert client.image_repo.get_image(results["upscaled"]).width == 128  # 64x64 upscaled 2x
        # progressive: three passes chained, each a new image; adaptive ran to its end
        stages: list[str] = ns["refined_stages"]  # type: ignore[assignment]
        assert len(set(stages)) == 3 and ns["base_image"] not in stages
        assert "Pass 5: Quality" in printed or "Quality threshold met" in printed
        portrait: dict[str, Any] = ns["portrait_results"]  # type: ignore[assignment]
        assert on_board(portrait["face_enhanced"], "face_enhanced")
        final = ns["final_enhanced"]
        assert isinstance(final, str) and client.image_repo.get_image(final).image_name == final  # uploaded, refined
        # parallel: three bases, three refined in threads, three async variations, all distinct
        refined_batch: list[str] = ns["refined_batch"]  # type: ignore[assignment]
        variations: list[str] = ns["variations"]  # type: ignore[assignment]
        assert len(set(refined_batch)) == 3 and len(set(variations)) == 3
        assert all(on_board(name, "refined_stage") for name in refined_batch + variations)
        # each thread's refine used its own prompt: the embedded workflows differ by prompt
        def prompts(name: str) -> set[str]:
            graph = client.image_repo.get_workflow(name).graph or {}
            return {v for node in graph["nodes"].values() for v in node.values()
                    if isinstance(v, str) and v.startswith("Fantasy landscape, ")}

        assert sorted(p for name in variations for p in prompts(name)) == [
            "Fantasy landscape, morning light", "Fantasy landscape, night time", "Fantasy landscape, sunset"]
    # streaming: base then refined per prompt; the application saved its three stages
    assert printed.count("\nbase: ") == 3 and printed.count("\nrefined: ") == 3
    for stage in ("base", "refined", "upscaled"):
        assert (tmp_path / "refined_outputs" / f"{stage}.png").stat().st_size > 0


def test_sdxl_text_to_image_page(server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ns, printed = run_page("sdxl-text-to-image.md", server_url, tmp_path, monkeypatch,
                           args=["a lighthouse at dusk", "a red barn", "--seed", "7", "--steps", "3"])
    lines = printed.splitlines()
    # input indices at a glance: the bundled workflow's Form, depth-first
    assert lines[0] == "[00] Positive prompt :: StringField" and lines[9] == "[09] Scheduler :: EnumField"
    assert lines.count("Final status: completed") == 2  # quick start, troubleshooting
    with InvokeAIClient(server_url) as client:
        board = client.board_repo.get_board_handle("sdxl_outputs")
        on_board = set(board.list_image_names())
        # quick start + download: the output node's image, on the named board, saved twice
        mappings: list[dict[str, Any]] = ns["mappings"]  # type: ignore[assignment]
        assert [m["node_id"] for m in mappings] == ["latents_to_image"] and mappings[0]["board_id"] == board.board_id
        first = mappings[0]["image_names"][0]
        assert first in on_board and client.image_repo.get_image(first).width == 64
        saved = (tmp_path / "outputs" / first).read_bytes()
        assert saved == client.image_repo.download_image(first)
        assert (tmp_path / "outputs" / f"streamed-{first}").read_bytes() == saved
        # progress: the job's events end with its status (progress events that came before
        # `events()` was called are not replayed, and a 64x64 run may be over by then)
        assert "  status: completed" in lines and "  callback status: completed" in lines
        progress = [line for line in lines if re.fullmatch(r"  \w+: \d+%", line)]
        assert all(line.startswith("  denoise_latents: ") for line in progress)
        # sweep: 2 prompts x 2 seeds, each combination once; zipped: 2 items
        combos = [line for line in lines if line.startswith("{'positive_prompt.value': ")]
        assert len(combos) == 4 and len({c.split("} ")[0] for c in combos}) == 4
        assert "zipped: 2 queue items" in lines
        # troubleshooting: both wrong values refused with their input named; no drift
        assert "input 2 'Seed' (noise.seed): -1 is less than the minimum 0" in lines
        assert any(line.startswith("input 9 'Scheduler'") and "did you mean 'euler_a'?" in line for line in lines)
        assert "input indices unchanged" in lines

        def prompts(name: str) -> set[str]:
            graph = client.image_repo.get_workflow(name).graph or {}
            return {node.get("value") for node in graph["nodes"].values() if node["type"] == "string"}

        def steps(name: str) -> int:
            graph = client.image_repo.get_workflow(name).graph or {}
            return int(graph["nodes"]["denoise"]["steps"])

        # the generator: one image, then three prompts in one request, each image its prompt's
        images: list[str] = ns["images"]  # type: ignore[assignment]
        assert len(images) == 1 and images[0] in on_board
        batch_results: dict[str, list[str]] = ns["batch_results"]  # type: ignore[assignment]
        assert len(batch_results) == 3
        for prompt, names in batch_results.items():
            assert len(names) == 1 and names[0] in on_board and prompt in prompts(names[0])
        styled: dict[str, list[str]] = ns["styled_images"]  # type: ignore[assignment]
        assert len({names[0] for names in styled.values()}) == 2
        assert any(p.endswith("watercolor on rough paper, soft washes") for p in prompts(styled["watercolor"][0]))
        # the application: one file per prompt, made with the steps given on its command line
        files = sorted((tmp_path / "sdxl_outputs").iterdir())
        assert [f.name[:3] for f in files] == ["00-", "01-"]
        for f in files:
            name = f.name[3:]
            assert f.read_bytes() == client.image_repo.download_image(name) and steps(name) == 3


FLUX_MODELS = {
    "FLUX model": "FLUX.1 schnell (quantized)",
    "T5 encoder": "t5_bnb_int8_quantized_encoder",
    "CLIP embed": "clip-vit-large-patch14",
    "VAE": "FLUX.1-schnell_ae",
}


def test_flux_image_to_image_page(server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ns, printed = run_page("flux-image-to-image.md", server_url, tmp_path, monkeypatch)
    lines = printed.splitlines()
    assert lines[0].startswith("No FLUX main model installed")  # the test server has none
    # the builder's workflow: an export with the real FLUX nodes, its Form listed in order
    defn = WorkflowDefinition.from_file(tmp_path / "data" / "workflows" / "flux_img2img.json")
    graph = build_graph(defn)
    assert sorted(n["type"] for n in graph["nodes"].values()) == sorted(
        ["image", "flux_model_loader", "flux_text_encoder", "flux_vae_encode", "flux_denoise", "flux_vae_decode"]
    )
    assert len(graph["edges"]) == 12
    assert lines[lines.index("[00] Source image :: ImageField") + 10] == "[10] VAE :: ModelField"
    with InvokeAIClient(server_url) as client:
        uploaded = ns["uploaded"]
        assert isinstance(uploaded, ImageDTO) and uploaded.width == 64
        assert uploaded.image_name in client.board_repo.get_board_handle("flux_inputs").list_image_names()
        # refused before enqueueing: no image reached the output board
        assert client.board_repo.get_board_handle("flux_outputs", create=True).list_image_names() == []
    # the quick start's values are set, checked on assignment
    wf: WorkflowHandle[Any] = ns["wf"]  # type: ignore[assignment]
    assert wf.get_input_value(0).value in (uploaded.image_name, {"image_name": uploaded.image_name})
    assert wf.get_input_value(2).value == 0.3 and wf.get_input_value(7).value == FLUX_MODELS["FLUX model"]
    assert "input 2 'Denoising start' (denoise.denoising_start): 1.5 is greater than the maximum 1" in lines
    assert f"Missing models: {list(FLUX_MODELS.values())}" in lines
    # quick start, transform, variations: each refused, naming every missing model
    raised: list[BaseException] = ns["_raised_all"]  # type: ignore[assignment]
    assert len(raised) == 3
    shown = re.findall(r"```text\n(.*?)\n```", (DOCS / "flux-image-to-image.md").read_text(), re.S)
    assert shown == [f"ValidationError: {raised[0]}"]  # the page shows the error as raised
    for exc in raised:
        assert isinstance(exc, ValidationError) and len(exc.problems) == 4, exc
        for problem, (label, name) in zip(exc.problems, FLUX_MODELS.items(), strict=True):
            assert f"'{label}'" in problem and f"no installed model '{name}'" in problem, problem


def test_raw_api_page(
    server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server_schema: Any
) -> None:
    if not server_schema.has("GET", "/api/v1/queue/{queue_id}/item_ids"):
        # The page calls 6.14's raw routes; an older server (the matrix) answers the first
        # one it lacks with a 404, which the client raises as NotFoundError.
        with pytest.raises(NotFoundError, match="item_ids"):
            run_page("raw-api.md", server_url, tmp_path, monkeypatch)
        return
    ns, printed = run_page("raw-api.md", server_url, tmp_path, monkeypatch)
    lines = printed.splitlines()
    with InvokeAIClient(server_url) as client:
        version = client.server_version()
        assert lines.count(f"Server version: {version}") == 2  # through the client, through httpx
        assert "tiny-sdxl: sdxl main" in lines and "Via _make_request: 200 default" in lines
        assert any(line.startswith("Queue: ") for line in lines)
        # the graph built by hand ran, and its image is real
        item: dict[str, Any] = ns["item"]  # type: ignore[assignment]
        assert item["status"] == "completed" and item["item_id"] == ns["item_id"]
        raw_images: list[str] = ns["raw_images"]  # type: ignore[assignment]
        assert len(raw_images) == 1 and client.image_repo.get_image(raw_images[0]).width == 64
        assert [i["item_id"] for i in ns["mine"]] == [ns["item_id"]]  # type: ignore[attr-defined]
        # the same body through the client: two runs, both completed
        typed_items: list[QueueItem] = ns["typed_items"]  # type: ignore[assignment]
        assert len(typed_items) == 2 and all(i.status == "completed" for i in typed_items)
        assert "Attached: completed" in lines
        canceled: dict[str, Any] = ns["canceled"]  # type: ignore[assignment]
        assert canceled["status"] in ("canceled", "completed")
        assert client.queue_repo.get_item(canceled["item_id"]).status == canceled["status"]
        # images and boards: uploaded, downloaded, put on a board, deleted with it
        with Image.open(tmp_path / "downloaded.png") as downloaded:
            assert downloaded.size == (64, 64)
        with pytest.raises(NotFoundError):
            client.image_repo.get_image(ns["image_name"])  # type: ignore[arg-type]
        with pytest.raises(NotFoundError):
            client.board_repo.get_board(ns["board_id"])  # type: ignore[arg-type]
        assert f"Board images: [{ns['image_name']!r}]" in lines
    assert "By attributes: True" in lines
    # Socket.IO: the item's status changes arrived, ending completed
    statuses: list[str] = ns["statuses"]  # type: ignore[assignment]
    assert statuses[-1] == "completed" and "in_progress" in statuses
    assert "404: 404 Not Found" in lines
    assert any(line.startswith("422: body.batch.graph.nodes.x - ") for line in lines)
    assert f"Tuned: {version}" in lines and f"Authenticated call: {version}" in lines
