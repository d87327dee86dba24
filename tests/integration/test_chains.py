"""Chains compiled into one workflow, run on the real server."""

from __future__ import annotations

import io

from PIL import Image

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.workflow.chain import chain_workflows
from invokeai_py_client.workflow.definition import WorkflowDefinition
from invokeai_py_client.workflows import bundled_workflow_path
from tests.graphs import unique

STAGES = ("sdxl_base.json", "sdxl_refiner.json", "esrgan_upscale.json")


def fused(keep_stages: bool) -> WorkflowDefinition:
    return chain_workflows(
        [WorkflowDefinition.from_file(bundled_workflow_path(f)) for f in STAGES],
        names=("Base", "Refine", "Upscale"), keep_stages=keep_stages,
    )


def test_three_prompts_through_base_refine_upscale_are_one_request_of_three_items(server_url: str) -> None:
    prompts = ["a lighthouse", "a castle", "a forest"]
    with InvokeAIClient.from_url(server_url) as client:
        board = client.board_repo.create_board(unique("chain"))
        try:
            wf = client.workflow_repo.create_workflow(fused(keep_stages=True))
            wf.sync_dnn_model(by_name=True, by_base=True)
            for label, value in {
                "Base: Width": 64, "Base: Height": 64, "Base: Steps": 2, "Refine: Refinement steps": 2,
                "Refine: Strength": 0.5, "Upscale: Scale": 2, "Base: Output board": board.board_id,
                "Refine: Output board": board.board_id, "Upscale: Output board": board.board_id,
            }.items():
                wf.get_input_value(label).value = value
            wf.get_input_value("Base: Positive prompt").values = prompts
            wf.get_input_value("Refine: Prompt").values = prompts
            wf.get_input_value("Base: Seed").values = [1, 2, 3]
            batch = wf.submit_batch_sync(zipped=[("Base: Positive prompt", "Refine: Prompt", "Base: Seed")])
            assert len(batch.results) == 1 and len(batch) == 3  # one enqueue_batch, one item per prompt

            for item in batch.wait(timeout=600):
                saved = {
                    o["node_id"]: o["image_names"][0]
                    for o in wf.map_outputs_to_images(item) if not o["is_intermediate"]
                }
                assert set(saved) == {"base-latents_to_image", "refine-output_image", "upscale-upscale"}
                sizes = {
                    node: Image.open(io.BytesIO(client.image_repo.download_image(name))).size
                    for node, name in saved.items()
                }
                assert sizes == {
                    "base-latents_to_image": (64, 64), "refine-output_image": (64, 64), "upscale-upscale": (128, 128),
                }
        finally:
            client.board_repo.delete_board(board.board_id, delete_images=True)


def test_without_keep_only_the_last_stage_is_saved(server_url: str) -> None:
    with InvokeAIClient.from_url(server_url) as client:
        wf = client.workflow_repo.create_workflow(fused(keep_stages=False))
        wf.sync_dnn_model(by_name=True, by_base=True)
        for label, value in {"Base: Width": 64, "Base: Height": 64, "Base: Steps": 2,
                             "Refine: Refinement steps": 2, "Upscale: Scale": 2}.items():
            wf.get_input_value(label).value = value
        item = wf.submit_sync().wait(timeout=300)
        saved = [o for o in wf.map_outputs_to_images(item) if not o["is_intermediate"]]
        assert [o["node_id"] for o in saved] == ["upscale-upscale"]
        (name,) = saved[0]["image_names"]
        embedded = client.workflow_repo.from_image(name)
        assert embedded.name == wf.name and len(embedded.nodes) == len(wf.definition.nodes)
        client.image_repo.delete_image(name)


def test_what_the_events_report_an_item_made_is_what_the_fetched_item_says(server_url: str) -> None:
    """`ReportedResults` answers a completed item from its events alone (a pool uses it when
    the server dies before the item can be fetched): the same images, by node, as the item."""
    with InvokeAIClient.from_url(server_url) as client:
        wf = client.workflow_repo.create_workflow(fused(keep_stages=True))
        wf.sync_dnn_model(by_name=True, by_base=True)
        for label, value in {"Base: Width": 64, "Base: Height": 64, "Base: Steps": 2,
                             "Refine: Refinement steps": 2, "Refine: Strength": 0.5, "Upscale: Scale": 2}.items():
            wf.get_input_value(label).value = value
        destination = unique("reported")
        with client.queue_repo.reported_results(destination) as reported, \
                client.queue_repo.reported_results(unique("another run")) as others:
            job = wf.submit_sync(destination=destination)
            item = job.wait(timeout=300)
            made = reported.item_of(job)
            assert made is not None and others.item_of(job) is None  # another destination keeps nothing
        assert (made.item_id, made.batch_id, made.status) == (item.item_id, item.batch_id, "completed")
        assert made.started_at == item.started_at and made.completed_at == item.completed_at
        fetched = wf.map_outputs_to_images(item, roles=("output", "intermediate"))
        assert [o["node_id"] for o in wf.map_outputs_to_images(made)] == [
            "base-latents_to_image", "refine-output_image", "upscale-upscale"]
        assert wf.map_outputs_to_images(made, roles=("output", "intermediate")) == fetched
        for name in {n for o in fetched for n in o["image_names"]}:
            client.image_repo.delete_image(name)
