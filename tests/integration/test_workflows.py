"""Workflows end to end on the real server: GUI exports, typed inputs, sweeps, outputs."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient, ValidationError
from invokeai_py_client.workflow import WorkflowDefinition
from invokeai_py_client.workflow.builder import WorkflowBuilder
from tests.graphs import unique


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        return img.size


def txt2img_workflow() -> WorkflowDefinition:
    """A small SDXL txt2img workflow with seed, steps and size in its Form."""
    b = WorkflowBuilder("test txt2img")
    loader = b.add_node("sdxl_model_loader", "loader", model={
        "key": "x", "hash": "x", "name": "tiny-sdxl", "base": "sdxl", "type": "main"})
    pos = b.add_node("sdxl_compel_prompt", "pos", prompt="a red fox", style="a red fox")
    neg = b.add_node("sdxl_compel_prompt", "neg", prompt="", style="")
    noise = b.add_node("noise", "noise", seed=1, width=64, height=64)
    den = b.add_node("denoise_latents", "denoise", steps=2, cfg_scale=5.0, scheduler="euler")
    l2i = b.add_node("l2i", "l2i", label="Decode", is_intermediate=False, use_cache=False)
    for clip in ("clip", "clip2"):
        b.connect(loader, clip, pos, clip)
        b.connect(loader, clip, neg, clip)
    b.connect(loader, "unet", den, "unet")
    b.connect(pos, "conditioning", den, "positive_conditioning")
    b.connect(neg, "conditioning", den, "negative_conditioning")
    b.connect(noise, "noise", den, "noise")
    b.connect(den, "latents", l2i, "latents")
    b.connect(loader, "vae", l2i, "vae")
    b.expose(pos, "prompt", label="Prompt")
    b.expose(noise, "seed", label="Seed")
    b.expose(den, "steps", label="Steps")
    b.expose(noise, "width", label="Width")
    b.expose(noise, "height", label="Height")
    b.expose(l2i, "board", label="Board")
    return WorkflowDefinition.from_dict(b.build())


def test_gui_export_runs_on_tiny_sdxl_and_maps_to_l2i(server_url: str, reference_dir: Path) -> None:
    defn = WorkflowDefinition.from_file(reference_dir / "workflows" / "sdxl-text-to-image.json")
    with InvokeAIClient.from_url(server_url) as client:
        wf = client.workflow_repo.create_workflow(defn)
        changes = wf.sync_dnn_model(by_name=True, by_base=True)
        assert [c.new["name"] for c in changes] == ["tiny-sdxl"]
        wf.get_input_value("Width").value = 64
        wf.get_input_value("Height").value = 64
        wf.get_input_value("Steps").value = 2
        job = wf.submit_sync()
        item = wf.wait_for_completion_sync(job, timeout=180)
        assert item["status"] == "completed" and item.get("status") == "completed"
        outputs = wf.map_outputs_to_images(item)
        final = [o for o in outputs if o["is_intermediate"] is False]
        assert [o["node_type"] for o in final] == ["l2i"]
        (name,) = final[0]["image_names"]
        assert png_size(client.image_repo.download_image(name)) == (64, 64)
        # The exported JSON was never touched by any of this.
        assert defn.raw() == WorkflowDefinition.from_file(reference_dir / "workflows" / "sdxl-text-to-image.json").raw()
        # The workflow is embedded in the output, so it reopens in the GUI.
        embedded = client.workflow_repo.from_image(name)
        assert embedded.name == defn.name


def test_invalid_values_fail_before_anything_is_enqueued(server_url: str) -> None:
    with InvokeAIClient.from_url(server_url) as client:
        wf = client.workflow_repo.create_workflow(txt2img_workflow())
        with pytest.raises(ValidationError, match=r"input 1 'Seed' \(noise.seed\): -1 is less than the minimum 0"):
            wf.get_input_value("Seed").value = -1
        with pytest.raises(ValidationError, match="multiple of 8"):
            wf.get_input_value("Width").value = 65
        wf.get_input_value(0).value = "ok"
        wf.get_input_value("loader.model" if False else "Prompt").value = "still ok"
        before = client.queue_repo.get_status()
        wf.set_input_value("Seed", 5)
        # An unknown model name is reported with candidates of the right type and base.
        wf2 = client.workflow_repo.create_workflow(txt2img_workflow())
        wf2._model_overrides[("loader", "model")] = {"key": "nope", "hash": "nope", "name": "nope", "base": "sdxl", "type": "main"}
        with pytest.raises(ValidationError) as info:
            wf2.sync_dnn_model(by_name=True, by_base=False)
        assert "tiny-sdxl" in str(info.value) and "tiny-sd1" not in str(info.value)
        after = client.queue_repo.get_status()
        assert after.queue.total == before.queue.total


def test_sweep_of_seed_by_steps_is_one_request_with_labelled_images(server_url: str) -> None:
    with InvokeAIClient.from_url(server_url) as client:
        wf = client.workflow_repo.create_workflow(txt2img_workflow())
        wf.sync_dnn_model(by_name=True)
        wf.get_input_value("Seed").values = [1, 2, 3]
        wf.get_input_value("Steps").values = [2, 3]
        wf.get_input_value("Board").value = unique("invokeai-py-test-sweep")
        batch = wf.submit_batch_sync()
        assert len(batch.results) == 1, "a sweep of ints must be one enqueue_batch request"
        assert batch.results[0].requested == 6 and batch.results[0].enqueued == 6
        items = batch.wait(timeout=600)
        outputs = wf.map_outputs_to_images(items)
        finals = [o for o in outputs if o["node_id"] == "l2i"]
        combos = {(o["field_values"]["noise.seed"], o["field_values"]["denoise.steps"]) for o in finals}
        assert combos == {(s, n) for s in (1, 2, 3) for n in (2, 3)}
        board_ids = {o["board_id"] for o in finals}
        board = client.board_repo.get_board_handle(unique("invokeai-py-test-sweep"))
        assert board_ids == {board.board_id}
        names = [n for o in finals for n in o["image_names"]]
        assert len(set(names)) == 6
        assert set(names) <= set(board.list_image_names(limit=100))
        client.board_repo.delete_board(board.board_id, delete_images=True)


def test_same_handle_shared_by_threads_waits_on_own_jobs(server_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with InvokeAIClient.from_url(server_url) as client:
        wf = client.workflow_repo.create_workflow(txt2img_workflow())
        wf.sync_dnn_model(by_name=True)
        lock = __import__("threading").Lock()

        def run(seed: int) -> tuple[int, Any]:
            with lock:  # setting values is the caller's critical section; submit snapshots them
                wf.get_input_value("Seed").value = seed
                wf.submit_sync()
            item = wf.wait_for_completion_sync(timeout=300)
            return seed, item

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(run, [11, 12, 13, 14]))
        for seed, item in results:
            graph_seed = item.session["graph"]["nodes"]["noise"]["seed"]
            assert graph_seed == seed


def test_async_handle_submits_and_maps(server_url: str) -> None:
    async def main() -> list[dict[str, Any]]:
        async with AsyncInvokeAIClient.from_url(server_url) as client:
            wf = await client.workflow_repo.create_workflow(txt2img_workflow())
            await wf.sync_dnn_model(by_name=True)
            wf.get_input_value("Seed").value = 99
            job = await wf.submit()
            item = await wf.wait_for_completion(job, timeout=180)
            return wf.map_outputs_to_images(item)

    outputs = asyncio.run(main())
    assert [o["node_id"] for o in outputs if o["is_intermediate"] is False] == ["l2i"]


def blur_workflow() -> WorkflowDefinition:
    b = WorkflowBuilder("test blur")
    src = b.add_node("image", "source")
    blur = b.add_node("img_blur", "blur", radius=2.0, is_intermediate=False, use_cache=False)
    b.connect(src, "image", blur, "image")
    b.expose(src, "image", label="Image")
    b.expose(blur, "board", label="Board")
    return WorkflowDefinition.from_dict(b.build())


def test_local_path_and_pil_images_are_uploaded_once(server_url: str, tmp_path: Path) -> None:
    picture = Image.new("RGB", (40, 24), (200, 10, 10))
    path = tmp_path / "red.png"
    picture.save(path)
    with InvokeAIClient.from_url(server_url) as client:
        wf = client.workflow_repo.create_workflow(blur_workflow())
        wf.get_input_value("Image").value = str(path)
        first = wf.submit_sync().wait(timeout=60)
        wf.get_input_value("Image").value = path  # same bytes: no second upload
        second = wf.submit_sync().wait(timeout=60)
        uploaded = {i.session["graph"]["nodes"]["source"]["image"]["image_name"] for i in (first, second)}
        assert len(uploaded) == 1 and sum(k.startswith("upload:") for k in client._runner.memo) == 1
        wf.get_input_value("Image").value = Image.new("RGB", (16, 8), (0, 0, 255))
        third = wf.submit_sync().wait(timeout=60)
        (out,) = [o for o in wf.map_outputs_to_images(third) if o["node_id"] == "blur"]
        assert png_size(client.image_repo.download_image(out["image_names"][0])) == (16, 8)
        assert sum(k.startswith("upload:") for k in client._runner.memo) == 2


def test_board_name_is_resolved_and_unknown_one_refused_when_creation_is_off(server_url: str) -> None:
    with InvokeAIClient.from_url(server_url) as client:
        board = client.board_repo.create_board(unique("invokeai-py-test-named-board"))
        try:
            wf = client.workflow_repo.create_workflow(blur_workflow())
            wf.get_input_value("Image").value = Image.new("RGB", (8, 8))
            wf.get_input_value("Board").value = unique("invokeai-py-test-named-board")
            item = wf.submit_sync().wait(timeout=60)
            (out,) = [o for o in wf.map_outputs_to_images(item) if o["node_id"] == "blur"]
            assert out["board_id"] == board.board_id
            wf.create_missing_boards = False
            wf.get_input_value("Board").value = unique("invokeai-py-test-no-such-board")
            with pytest.raises(ValidationError, match=f"no board '{unique('invokeai-py-test-no-such-board')}'"):
                wf.submit_sync()
        finally:
            client.board_repo.delete_board(board.board_id, delete_images=True)


def test_submit_sync_refuses_a_sweep_before_enqueueing(server_url: str) -> None:
    with InvokeAIClient.from_url(server_url) as client:
        wf = client.workflow_repo.create_workflow(txt2img_workflow())
        wf.get_input_value("Seed").values = [1, 2]
        before = client.queue_repo.get_status().queue.total
        with pytest.raises(ValidationError, match=r"inputs 1 'Seed' hold several values.*submit_batch_sync\(\)"):
            wf.submit_sync()
        assert client.queue_repo.get_status().queue.total == before


def test_types_come_from_the_live_server_schema(server_url: str, expected_version: str) -> None:
    from invokeai_py_client.workflow import InvocationCatalog

    with InvokeAIClient.from_url(server_url) as client:
        live = client.invocation_catalog()
        bundled = InvocationCatalog.bundled(expected_version)  # the snapshot of this release
        assert live is not bundled
        assert live.version == bundled.version == expected_version
        assert live.node_types() == bundled.node_types()
        assert live.input_spec("noise", "seed") == bundled.input_spec("noise", "seed")
        wf = client.workflow_repo.create_workflow(txt2img_workflow())
        assert wf._catalog is live


def test_concurrent_submissions_create_a_missing_board_once(server_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    name = unique("invokeai-py-test-race")
    with InvokeAIClient.from_url(server_url) as client:
        handle = client.workflow_repo.create_workflow(blur_workflow())

        def submit(i: int) -> str:
            wf = handle.clone()
            wf.get_input_value("Image").value = Image.new("RGB", (8, 8), (i, 0, 0))
            wf.get_input_value("Board").value = name
            item = wf.submit_sync().wait(timeout=120)
            (out,) = [o for o in wf.map_outputs_to_images(item) if o["node_id"] == "blur"]
            return str(out["board_id"])

        with ThreadPoolExecutor(max_workers=6) as pool:
            board_ids = set(pool.map(submit, range(6)))
        named = [b for b in client.board_repo.list_boards() if b.board_name == name]
        assert len(named) == 1 and board_ids == {named[0].board_id}
        client.board_repo.delete_board(named[0].board_id, delete_images=True)


# --- what the server does not have is refused before anything is enqueued --------------


def test_an_unsynced_model_and_an_unknown_board_are_refused_before_enqueue(server_url: str) -> None:
    from invokeai_py_client.workflows import bundled_workflow_path

    with InvokeAIClient.from_url(server_url, use_events=False) as client:
        before = client.queue_repo.list_item_ids()
        wf = client.workflow_repo.create_workflow(WorkflowDefinition.from_file(bundled_workflow_path("sdxl_base.json")))
        wf.get_input_value("Width").value = 64
        wf.get_input_value("Height").value = 64
        with pytest.raises(ValidationError) as info:
            wf.submit_sync()  # the file's model key was made on another machine
        assert any("model_loader.model: no installed model with key" in p for p in info.value.problems)

        wf.sync_dnn_model(by_name=True, by_base=True)
        wf.get_input_value("Output board").value = {"board_id": "00000000-0000-4000-8000-000000000000"}
        with pytest.raises(ValidationError) as info:
            wf.submit_sync()  # the server would put the image in Uncategorized without a word
        assert info.value.problems == [
            "latents_to_image.board: no board with id '00000000-0000-4000-8000-000000000000'"
        ]
        assert client.queue_repo.list_item_ids() == before


def test_a_refused_submission_creates_no_board_and_uploads_nothing(server_url: str, tmp_path: Path) -> None:
    from invokeai_py_client.workflows import bundled_workflow_path

    source = tmp_path / "start.png"
    Image.new("RGB", (64, 64), (9, 8, 7)).save(source)
    board_name = unique("never-made")
    with InvokeAIClient.from_url(server_url, use_events=False) as client:
        intermediates = client.image_repo.count_intermediates()
        wf = client.workflow_repo.create_workflow(WorkflowDefinition.from_file(bundled_workflow_path("sdxl_refiner.json")))
        wf.get_input_value("Input image").value = source  # would be uploaded
        wf.get_input_value("Output board").value = board_name  # would be created
        with pytest.raises(ValidationError) as info:
            wf.submit_sync()  # the exported model key is unknown here: refused after a dry run
        assert any("no installed model with key" in p for p in info.value.problems)
        assert all(b.board_name != board_name for b in client.board_repo.list_boards())
        assert client.image_repo.count_intermediates() == intermediates
        wf.sync_dnn_model(by_name=True, by_base=True)
        synced = wf.get_input_value("Model").value["key"]
        wf.reset_inputs()  # forgets the values set, keeps the models synced to this server
        assert wf.get_input_value("Model").value["key"] == synced
        assert wf.get_input_value("Output board").value != board_name
        wf.get_input_value("Input image").value = source
        wf.get_input_value("Output board").value = board_name
        for label, value in {"Prompt": "x", "Refinement steps": 2, "Strength": 0.5}.items():
            wf.get_input_value(label).value = value
        item = wf.submit_sync().wait(timeout=180)  # now it goes: the board is made, the file uploaded
        board = client.board_repo.get_board_handle(board_name)
        assert wf.map_outputs_to_images(item)[0]["board_id"] == board.board_id
        client.board_repo.delete_board(board.board_id, delete_images=True)
