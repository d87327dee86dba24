"""Scripts written the way invokeai-py-client 1.1.1's examples and docs write them run on ours.

Each test is such a script: only 1.1.1's import paths, names, keyword arguments and
result shapes (``submission["batch_id"]``, ``result["status"]``, ``m["tier"]``,
``for old, new in synced``, ``except RuntimeError``). Workflows are the bundled ones
and 1.1.1's own exports (from ../shared/reference, skipped with the reason when
absent), at 64x64 with a few steps.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.board.board_handle import BoardHandle
from invokeai_py_client.dnn_model import BaseDnnModelType, DnnModelType
from invokeai_py_client.ivk_fields import (
    IvkBoardField,
    IvkFloatField,
    IvkImageField,
    IvkIntegerField,
    IvkModelIdentifierField,
    IvkSchedulerField,
    IvkStringField,
    SchedulerName,
)
from invokeai_py_client.models import IvkImage
from invokeai_py_client.quick import QuickClient
from invokeai_py_client.workflow import WorkflowDefinition
from invokeai_py_client.workflow.workflow_handle import OutputMapping
from invokeai_py_client.workflows import bundled_workflow_path
from tests.golden import golden_path


def host_port(url: str) -> tuple[str, int]:
    host, _, port = url.split("://", 1)[1].rstrip("/").partition(":")
    return host, int(port or 80)


@pytest.fixture
def client(server_url: str) -> Any:
    host, port = host_port(server_url)
    client = InvokeAIClient(host=host, port=port, timeout=60, use_https=False)  # 1.1.1's constructor
    yield client
    client.close()


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(out, format="PNG")
    return out.getvalue()


def test_sdxl_text_to_image_the_1_1_1_way(client: Any, tmp_path: Path) -> None:
    assert client.health_check() is True
    wf = client.workflow_repo.create_workflow(WorkflowDefinition.from_file(bundled_workflow_path("sdxl_base.json")))
    synced = wf.sync_dnn_model(by_name=True, by_base=True)
    for orig, resolved in synced:  # 1.1.1 answered (old, new) pairs
        assert resolved.name == "tiny-sdxl" and orig.key != resolved.key  # read by attribute, as 1.1.1 scripts do
    rows = [(inp.input_index, inp.label or inp.field_name, inp.node_name) for inp in wf.list_inputs()]
    assert rows[0] == (0, "Positive prompt", "Positive prompt") and len(rows) == 10
    field_pos: IvkStringField = wf.get_input_value(0)
    assert isinstance(field_pos, IvkStringField)
    field_pos.value = "A futuristic city skyline"
    steps: IvkIntegerField = wf.get_input_value(3)
    cfg: IvkFloatField = wf.get_input_value(4)
    assert isinstance(steps, IvkIntegerField) and isinstance(cfg, IvkFloatField)
    steps.value, cfg.value = 3, 7.5
    wf.get_input_value(5).value = 64
    wf.get_input_value(6).value = 64
    sched = wf.get_input_value(9)
    assert isinstance(sched, IvkSchedulerField)
    sched.value = IvkSchedulerField.normalize_alias(SchedulerName.EULER_A.value)
    assert isinstance(wf.get_input_value(7), IvkBoardField)
    field_model: IvkModelIdentifierField = wf.get_input_value(8)
    assert isinstance(field_model, IvkModelIdentifierField)
    assert (field_model.name, field_model.base, field_model.type) == ("tiny-sdxl", "sdxl", "main")
    field_model.key = resolved.key  # 1.1.1 scripts set the parts one by one
    assert field_model.to_api_format()["key"] == resolved.key and field_model.validate_field()
    assert wf.validate_inputs() == {}
    assert [row["index"] for row in wf.preview()] == list(range(10))

    submission = wf.submit_sync()
    assert isinstance(submission["batch_id"], str) and len(submission["item_ids"]) == 1
    assert submission["session_id"] and submission.get("enqueued") == 1
    seen: list[str] = []
    result = wf.wait_for_completion_sync(
        poll_interval=0.5, timeout=180, progress_callback=lambda qi: seen.append(qi.get("status"))
    )
    assert result.get("status") == "completed" and result["status"] == "completed" and "completed" in seen
    mappings: list[OutputMapping] = wf.map_outputs_to_images(result)
    assert [(m["node_type"], m["tier"], m["board_id"]) for m in mappings] == [("l2i", "results", "none")]
    name = mappings[0]["image_names"][0]
    data = client.board_repo.get_board_handle(mappings[0].get("board_id") or "none").download_image(
        name, full_resolution=True
    )
    assert Image.open(io.BytesIO(data)).size == (64, 64)
    # the index-drift check, through files as in 1.1.1
    wf.export_input_index_map(tmp_path / "map.json")
    report = wf.verify_input_index_map(tmp_path / "map.json")
    assert len(report["unchanged"]) == 10 and not report["moved"] and not report["missing"] and not report["new"]


def test_image_to_image_with_an_uploaded_image_and_boards(client: Any) -> None:
    board_name = f"compat-{uuid.uuid4().hex[:8]}"
    board = client.board_repo.create_board(name=board_name, is_private=False)
    try:
        assert isinstance(board, BoardHandle) and board.board_name == board_name
        uploaded = board.upload_image_data(png((200, 30, 30)), filename="start.png")
        assert isinstance(uploaded, IvkImage) and board.list_images()[0] == uploaded.image_name
        assert client.board_repo.get_board_handle_by_name(board_name).board_id == board.board_id
        boards = client.board_repo.list_boards(include_uncategorized=True)
        assert boards[0].is_uncategorized() and board.board_id in {b.board_id for b in boards}

        wf = client.workflow_repo.create_workflow_from_file(bundled_workflow_path("sdxl_refiner.json"))
        wf.sync_dnn_model(by_name=True, by_base=True)
        image_field = wf.get_input_value(0)
        assert isinstance(image_field, IvkImageField)
        image_field.value = uploaded.image_name
        assert image_field.value == uploaded.image_name  # reads back the name
        wf.get_input_value(1).value = "a red square, refined"
        wf.get_input_value(3).value = 2
        wf.get_input_value(4).value = 0.5
        wf.get_input_value(6).value = board.board_id
        wf.submit_sync()
        result = wf.wait_for_completion_sync(timeout=180)
        outputs = wf.map_outputs_to_images(result)
        assert len(outputs) == 1 and outputs[0]["board_id"] == board.board_id  # saved images only, not the input
        refined = outputs[0]["image_names"][0]
        assert refined in board.list_images(limit=10)
        other = client.board_repo.get_uncategorized_handle()
        assert board.move_image_to(refined, "none") and refined in other.list_images(limit=100)
        copy = QuickClient(client).copy_image_to_board(refined, board.board_id)
        assert copy.image_name != refined and copy.image_name in board.list_images(limit=10)
    finally:
        client.board_repo.delete_board(board.board_id, delete_images=True)


def test_models_the_1_1_1_way(client: Any) -> None:
    models = client.dnn_model_repo.list_models()
    sdxl = [m for m in models if m.type == DnnModelType.Main and m.base == BaseDnnModelType.StableDiffusionXL]
    assert [m.name for m in sdxl] == ["tiny-sdxl"]
    model = sdxl[0]
    assert model.type.value == "main" and model.base.value == "sdxl" and model.format.value == "diffusers"
    assert model.get_category() == "Main models" and model.format_file_size().split()[1] in ("B", "KB", "MB", "GB")
    assert model.is_compatible_with_base(BaseDnnModelType.StableDiffusionXL)
    assert not model.is_compatible_with_base(BaseDnnModelType.Flux)
    assert client.dnn_model_repo.get_model_by_key(model.key).name == "tiny-sdxl"
    assert client.dnn_model_repo.get_model_by_key("no-such-key") is None


def test_failures_and_timeouts_reach_1_1_1_except_clauses(client: Any) -> None:
    wf = client.workflow_repo.create_workflow(WorkflowDefinition.from_file(bundled_workflow_path("sdxl_base.json")))
    wf.sync_dnn_model(by_name=True, by_base=True)
    wf.get_input_value(3).value = 2
    wf.get_input_value(5).value = 64
    wf.get_input_value(6).value = 64
    client.queue_repo.pause_processor()
    try:
        wf.submit_sync()
        with pytest.raises(TimeoutError):  # 1.1.1 raised the builtin
            wf.wait_for_completion_sync(timeout=0.5)
        wf.cancel()
        with pytest.raises(RuntimeError) as caught:  # 1.1.1's scripts test for "canceled" in the message
            wf.wait_for_completion_sync(timeout=60)
        assert "canceled" in str(caught.value).lower()
    finally:
        client.queue_repo.resume_processor()


def test_async_submit_with_callbacks_and_the_monitor(client: Any) -> None:
    from invokeai_py_client.workflow import WorkflowRepository

    wf = WorkflowRepository(client).create_workflow_from_file(str(bundled_workflow_path("sdxl_base.json")))
    node_types = {n.get("id"): n.get("data", {}).get("type") for n in wf.definition.nodes}  # a list in 1.1.1
    assert node_types["denoise"] == "denoise_latents" and len(wf.inputs) == 10
    wf.sync_dnn_model(by_name=True, by_base=True)
    wf.get_input_value(3).value = 2
    wf.get_input_value(5).value = 64
    wf.get_input_value(6).value = 64
    started: list[str] = []
    completed: list[str] = []
    hub = client._runner.hub
    known = set(hub._listeners)

    async def resume_once_listened() -> None:
        """Let the paused server run once a new batch has a listener (callbacks or the monitor)."""
        for _ in range(60_000):  # a guard against a hang, not a time limit on the server
            if set(hub._listeners) - known - {"*"}:
                break
            await asyncio.sleep(0.01)
        known.update(hub._listeners)
        await asyncio.to_thread(client.queue_repo.resume_processor)

    async def run() -> tuple[Any, Any, list[dict[str, Any]]]:
        await asyncio.to_thread(client.queue_repo.pause_processor)  # nothing runs before we listen
        submission = await wf.submit(
            board_id="none",  # early 1.x: every board input of the Form
            subscribe_events=True,
            on_invocation_started=lambda e: started.append(e["invocation"]["type"]),
            on_invocation_complete=lambda e: completed.append(e["node_type"]),
        )
        (result, mappings), _ = await asyncio.gather(
            wf.wait_for_completion(timeout=180, map_outputs=True), resume_once_listened()
        )
        assert wf.session_id == result["session_id"] and mappings[0]["image_names"]
        await asyncio.to_thread(client.queue_repo.pause_processor)

        async def monitor() -> list[dict[str, Any]]:
            return [event async for event in wf.submit_sync_monitor_async()]

        monitored, _ = await asyncio.gather(monitor(), resume_once_listened())
        return submission, result, monitored

    try:
        submission, result, monitored = asyncio.run(run())
    finally:
        client.queue_repo.resume_processor()
    assert result["status"] == "completed" and submission["batch_id"] == result["batch_id"]
    assert "l2i" in started and "l2i" in completed
    assert wf.get_input_value(7).value == "none"
    assert monitored[0]["event_type"] == "submission" and monitored[0]["item_ids"]
    kinds = {event["event_type"] for event in monitored[1:]}
    assert {"invocation_started", "invocation_complete", "queue_item_status_changed"} <= kinds
    assert monitored[-1]["event_type"] == "queue_item_status_changed" and monitored[-1]["status"] == "completed"


def test_quick_client_text_to_image(client: Any) -> None:
    image = QuickClient(client).generate_image_sdxl_t2i(
        positive_prompt="a lighthouse", negative_prompt="", width=70, height=64, steps=2,
        model_name="tiny-sdxl", scheduler="euler", board_id=None,
    )
    assert image is not None and (image.width, image.height) == (64, 64)  # 70 rounded down to 64
    assert image.board_id in (None, "none")


def test_a_flux_workflow_loads_sets_and_is_refused_naming_the_missing_model(client: Any) -> None:
    exported = golden_path("workflows/flux-image-to-image.json")
    definition = WorkflowDefinition.from_file(exported)
    wf = client.workflow_repo.create_workflow(definition)
    inputs = wf.list_inputs()
    assert inputs, "the FLUX workflow lists its Form inputs"
    for inp in inputs:
        if isinstance(inp.field, IvkStringField) and inp.field_name == "prompt":
            inp.field.value = "a watercolor"
    uploaded = client.board_repo.get_uncategorized_handle().upload_image_data(png((10, 120, 200)), filename="in.png")
    image_inputs = [i for i in inputs if isinstance(i.field, IvkImageField)]
    if image_inputs:
        image_inputs[0].field.value = uploaded.image_name
    with pytest.raises(ValueError) as caught:  # refused before anything is enqueued
        wf.submit_sync()
    message = str(caught.value)
    flux_models = [
        str(v.get("name")) for node in json.loads(exported.read_text())["nodes"]
        for v in (f.get("value") for f in node["data"].get("inputs", {}).values())
        if isinstance(v, dict) and v.get("base") == "flux"
    ]
    assert flux_models and any(name in message for name in flux_models), message
    client.image_repo.delete_image(uploaded.image_name)


def test_the_raw_socketio_session_of_1_1_1(client: Any) -> None:
    wf = client.workflow_repo.create_workflow(WorkflowDefinition.from_file(bundled_workflow_path("sdxl_base.json")))
    wf.sync_dnn_model(by_name=True, by_base=True)
    for index, value in {3: 2, 5: 64, 6: 64}.items():
        wf.get_input_value(index).value = value

    async def session() -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        async with client.socketio_session() as sio:
            @sio.on("queue_item_status_changed")
            async def on_status(data: dict[str, Any]) -> None:
                seen.append(data)

            await sio.emit("subscribe_queue", {"queue_id": "default"})
            submission = await asyncio.to_thread(wf.submit_sync)
            await asyncio.to_thread(wf.wait_for_completion_sync, submission, 180)
            for _ in range(100):  # the socket's copy of the news may trail the wait's
                if any(e.get("item_id") == submission["item_ids"][0] and e.get("status") == "completed" for e in seen):
                    break
                await asyncio.sleep(0.05)
            await sio.emit("unsubscribe_queue", {"queue_id": "default"})
        assert client._legacy_sio is None  # closed with the session
        return [e for e in seen if e.get("item_id") == submission["item_ids"][0]]

    statuses = [e["status"] for e in asyncio.run(session())]
    assert statuses[-1] == "completed" and "in_progress" in statuses


def test_an_ivk_image_field_uploads_its_file_and_downloads_its_image(client: Any, tmp_path: Path) -> None:
    source = tmp_path / "local.png"
    source.write_bytes(png((1, 2, 3)))
    field = IvkImageField(value=str(source))
    name = asyncio.run(field.upload(client))
    assert field.value == name and name != "local.png"
    saved = asyncio.run(field.download(client, tmp_path / "back.png"))
    assert Image.open(saved).getpixel((0, 0)) == (1, 2, 3)
    client.image_repo.delete_image(name)


def test_the_graph_a_submission_would_send_changes_nothing_on_the_server(client: Any, tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    source.write_bytes(png((4, 5, 6)))
    wf = client.workflow_repo.create_workflow(WorkflowDefinition.from_file(bundled_workflow_path("sdxl_refiner.json")))
    wf.sync_dnn_model(by_name=True, by_base=True)
    board_name = f"preview-{uuid.uuid4().hex[:8]}"
    wf.get_input_value(0).value = source
    wf.get_input_value(6).value = board_name
    intermediates = client.image_repo.count_intermediates()
    graph = wf._convert_to_api_format()  # 1.1.1's name for to_graph()
    assert graph["nodes"]["input_image"]["image"] == {"image_name": "(upload of in.png)"}
    assert graph["nodes"]["output_image"]["board"] == {"board_id": f"(new board {board_name})"}
    assert graph["nodes"]["model_loader"]["model"]["name"] == "tiny-sdxl-refiner"
    assert client.image_repo.count_intermediates() == intermediates
    assert client.board_repo.get_board_handle_by_name(board_name) is None
