"""The peer's side of the benchmark workloads: scripts written for invokeai-py-client 1.1.1.

    benchmarks/.peer-venv/bin/python benchmarks/workload_peer.py SPEC.json

Run with the venv holding PyPI's ``invokeai-py-client==1.1.1`` (same import name as
ours, hence a process of its own). Written the way its docs drive it, correctly:
seeds >= 0, its lowercase statuses, `submit_sync()` then
`wait_for_completion_sync(poll_interval=..., timeout=...)`, images through
`map_outputs_to_images(item)[0]["image_names"][0]`. Where 1.1.1 cannot do a step on
this server the script does what its user would (each place says why).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import benchlib  # before the client library: it notes the CPU used before that import

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.workflow import WorkflowDefinition

BASE, REFINE, UPSCALE = "sdxl_base.json", "sdxl_refiner.json", "esrgan_upscale.json"


def load(client: Any, path: Path) -> Any:
    """A workflow handle; 1.1.1's validation refuses the GUI's current format 4.0.0
    ("may not be fully compatible"), so it is skipped. The workflow files' model keys are
    this server's already: 1.1.1's `sync_dnn_model` fails here (it cannot parse a model
    record whose description is null)."""
    return client.workflow_repo.create_workflow(WorkflowDefinition.from_file(str(path)), validate=False)


def set_values(wf: Any, values: dict[str, Any]) -> None:
    """Set Form inputs by label (1.1.1 addresses inputs by index; labels found once)."""
    index = {inp.label or inp.field_name: inp.input_index for inp in wf.list_inputs()}
    for label, value in values.items():
        wf.get_input_value(index[label]).value = value


def output_image(wf: Any, item: dict[str, Any]) -> str:
    """The run's saved image. 1.1.1 maps outputs only for l2i/save_image/... nodes; the
    refine (img_resize) and upscale (spandrel) stages' outputs are read from the finished
    item's own results instead, as its users do (no extra request)."""
    mapped = [m for m in wf.map_outputs_to_images(item) if m["image_names"]]
    if mapped:
        return str(mapped[0]["image_names"][0])
    session = item["session"]
    saved = {n["id"] for n in wf.definition.nodes if n["data"].get("isIntermediate") is False}
    for prepared, source in session["prepared_source_mapping"].items():
        result = session["results"].get(prepared) or {}
        if source in saved and "image" in result:
            return str(result["image"]["image_name"])
    raise RuntimeError(f"queue item {item['item_id']} has no saved image")


def wait_options(spec: dict[str, Any]) -> dict[str, Any]:
    """`poll` None: 1.1.1's default poll interval (0.5 s). Its default timeout (60 s) is
    raised so that other clients' jobs on a shared server cannot fail the run."""
    options: dict[str, Any] = {"timeout": spec["timeout"]}
    if spec.get("poll") is not None:
        options["poll_interval"] = spec["poll"]
    return options


def chain(spec: dict[str, Any], clock: benchlib.Clock) -> dict[str, Any]:
    """The seed's sequential flow: each prompt through base, refine, upscale, one job at a time."""
    p, workflows, waiting = spec["params"], Path(spec["workflows"]), wait_options(spec)
    values = benchlib.stage_values(p)
    with InvokeAIClient.from_url(spec["url"]) as client:
        base, refine, upscale = (load(client, workflows / f) for f in (BASE, REFINE, UPSCALE))
        for wf, name in ((base, BASE), (refine, REFINE), (upscale, UPSCALE)):
            set_values(wf, values[name])
        set_values(base, {"Seed": p["seed"]})
        setup_cpu = benchlib.cpu_seconds() - clock.cpu0
        t0 = time.time()
        item_ids = []
        for prompt in spec["prompts"]:
            image = None
            for wf, inputs in ((base, {"Positive prompt": prompt}), (refine, {"Prompt": prompt}), (upscale, {})):
                set_values(wf, inputs if image is None else {**inputs, "Input image": image})
                wf.submit_sync()
                item = wf.wait_for_completion_sync(**waiting)
                item_ids.append(item["item_id"])
                image = output_image(wf, item)
    return clock.result(t0=t0, item_ids=item_ids, setup_cpu_s=setup_cpu)


def latency(spec: dict[str, Any], clock: benchlib.Clock) -> dict[str, Any]:
    """Single jobs one after the other: when did each wait return?"""
    waiting = wait_options(spec)
    with InvokeAIClient.from_url(spec["url"]) as client:
        wf = load(client, Path(spec["workflows"]) / BASE)
        set_values(wf, {**benchlib.stage_values(spec["params"])[BASE], "Positive prompt": spec["prompts"][0]})
        jobs = []
        for k in range(spec["jobs"]):
            set_values(wf, {"Seed": k})
            submitted = time.time()
            submission = wf.submit_sync()
            wf.wait_for_completion_sync(**waiting)
            jobs.append({"item_id": submission["item_ids"][0], "submitted": submitted, "returned": time.time()})
    return clock.result(t0=jobs[0]["submitted"], item_ids=[j["item_id"] for j in jobs], jobs=jobs)


def sweep(spec: dict[str, Any], clock: benchlib.Clock) -> dict[str, Any]:
    """N variants of one workflow from a fresh client: 1.1.1 has no batch data, so N submits."""
    t0 = time.time()
    with InvokeAIClient.from_url(spec["url"]) as client:
        wf = load(client, Path(spec["workflows"]) / BASE)
        set_values(wf, benchlib.stage_values(spec["params"])[BASE])
        seed = {inp.label: inp.input_index for inp in wf.list_inputs()}["Seed"]
        first_submit = time.time()
        item_ids, batch_ids = [], []
        for k in range(spec["variants"]):
            wf.get_input_value(seed).value = k
            submission = wf.submit_sync()
            item_ids += submission["item_ids"]
            batch_ids.append(submission["batch_id"])
        enqueued = time.time()
        benchlib.mark("enqueued")
        # 1.1.1 cancels one item per request (handle.cancel()); its raw request path does it at once.
        client._make_request("PUT", "/queue/default/cancel_by_batch_ids", json={"batch_ids": batch_ids})
    return clock.result(t0=t0, first_submit=first_submit, enqueued=enqueued, item_ids=item_ids,
                        batch_ids=batch_ids)


def download(spec: dict[str, Any], clock: benchlib.Clock) -> dict[str, Any]:
    """Download full-size images N times through a board handle, written to files."""
    with InvokeAIClient.from_url(spec["url"]) as client:
        board = client.board_repo.get_board_handle(spec["board_id"])

        def fetch(name: str, dest: Path) -> None:
            dest.write_bytes(board.download_image(name, full_resolution=True))

        return benchlib.download_loop(spec, clock, fetch)


WORKLOADS = {"chain": chain, "latency": latency, "sweep": sweep, "download": download}


def main() -> int:
    spec = benchlib.load_spec()
    clock = benchlib.Clock()
    benchlib.emit(WORKLOADS[spec["workload"]](spec, clock))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
