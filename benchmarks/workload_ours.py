"""Our client's side of the benchmark workloads (run with our venv; started by bench.py).

    .venv/bin/python benchmarks/workload_ours.py SPEC.json

SPEC names the workload (chain, latency, sweep, download), the proxy URL to talk
through and its parameters; the RESULT line carries what only the client knows (when
it started, what it enqueued, when each wait returned, its CPU and memory). Queue
item timestamps are read back from the server by the driver.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import benchlib  # before the client library: it notes the CPU used before that import

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.pipelines import EfficientRefiner, MultiStageRefiner
from invokeai_py_client.workflow.chain import chain_workflows
from invokeai_py_client.workflow.definition import WorkflowDefinition

STAGES = ("sdxl_base.json", "sdxl_refiner.json", "esrgan_upscale.json")


def chain(spec: dict[str, Any], clock: benchlib.Clock) -> dict[str, Any]:
    """8 prompts x base -> refine -> upscale: scheduled (streaming), staged (one by one) or fused."""
    p, prompts, mode = spec["params"], spec["prompts"], spec["mode"]
    workflows = Path(spec["workflows"])
    with InvokeAIClient(spec["url"], use_events=spec.get("use_events", True)) as client:
        if mode == "fused":
            wf = client.workflow_repo.create_workflow(chain_workflows(
                [WorkflowDefinition.from_file(workflows / f) for f in STAGES],
                names=("Base", "Refine", "Upscale"), keep_stages=True,  # each stage's image saved, as staged
            ))
            wf.sync_dnn_model(by_name=True, by_base=True)
            titles = dict(zip(STAGES, ("Base", "Refine", "Upscale"), strict=True))
            for stage, values in benchlib.stage_values(p).items():
                for label, value in values.items():
                    wf.get_input_value(f"{titles[stage]}: {label}").value = value
            wf.get_input_value("Base: Seed").value = p["seed"]
            wf.get_input_value("Base: Positive prompt").values = prompts
            wf.get_input_value("Refine: Prompt").values = prompts
            setup_cpu = benchlib.cpu_seconds() - clock.cpu0
            t0 = time.time()
            batch = wf.submit_batch_sync(zipped=[("Base: Positive prompt", "Refine: Prompt")])
            item_ids = [item.item_id for item in batch.wait(timeout=spec["timeout"])]
        elif mode == "scheduled":
            refiner = EfficientRefiner(client, workflows_dir=workflows, cleanup_intermediate=False,
                                       timeout=spec["timeout"])
            refiner.setup_workflows()  # stages load on first use: load them before the clock starts
            setup_cpu = benchlib.cpu_seconds() - clock.cpu0
            t0 = time.time()
            item_ids = [
                out["item_id"] for out in refiner.streaming_pipeline(
                    prompts, seed=p["seed"], steps=p["steps"], width=p["width"], height=p["height"],
                    refiner_steps=p["refiner_steps"], refiner_strength=p["refiner_strength"], scale=p["scale"],
                )
            ]
        elif mode == "staged":
            refiner = MultiStageRefiner(client, workflows_dir=workflows, timeout=spec["timeout"])
            refiner.setup_workflows()  # stages load on first use: load them before the clock starts
            setup_cpu = benchlib.cpu_seconds() - clock.cpu0
            t0 = time.time()
            item_ids = []
            for prompt in prompts:
                image, item = refiner.generate_base(prompt, seed=p["seed"], steps=p["steps"],
                                                    width=p["width"], height=p["height"])
                item_ids.append(item.item_id)
                image, item = refiner.refine_image(image, prompt, refiner_steps=p["refiner_steps"],
                                                   refiner_strength=p["refiner_strength"])
                item_ids.append(item.item_id)
                _, item = refiner.upscale_image(image, scale=p["scale"])
                item_ids.append(item.item_id)
        else:
            raise SystemExit(f"unknown chain mode {mode!r}")
    return clock.result(t0=t0, item_ids=item_ids, setup_cpu_s=setup_cpu)


def latency(spec: dict[str, Any], clock: benchlib.Clock) -> dict[str, Any]:
    """Single jobs one after the other: when did each `wait` return?"""
    p = spec["params"]
    with InvokeAIClient(spec["url"], use_events=spec.get("use_events", True)) as client:
        wf = client.workflow_repo.create_workflow(WorkflowDefinition.from_file(Path(spec["workflows"]) / STAGES[0]))
        for label, value in benchlib.stage_values(p)[STAGES[0]].items():
            wf.get_input_value(label).value = value
        wf.get_input_value("Positive prompt").value = spec["prompts"][0]
        jobs = []
        for k in range(spec["jobs"]):
            wf.get_input_value("Seed").value = k
            submitted = time.time()
            job = wf.submit_sync()
            job.wait(timeout=spec["timeout"])
            jobs.append({"item_id": job.item_id, "submitted": submitted, "returned": time.time()})
    return clock.result(t0=jobs[0]["submitted"], item_ids=[j["item_id"] for j in jobs], jobs=jobs)


def sweep(spec: dict[str, Any], clock: benchlib.Clock) -> dict[str, Any]:
    """N variants of one workflow (a seed sweep) enqueued from a fresh client; then canceled."""
    p = spec["params"]
    t0 = time.time()
    with InvokeAIClient(spec["url"], use_events=spec.get("use_events", True)) as client:
        wf = client.workflow_repo.create_workflow(WorkflowDefinition.from_file(Path(spec["workflows"]) / STAGES[0]))
        for label, value in benchlib.stage_values(p)[STAGES[0]].items():
            wf.get_input_value(label).value = value
        wf.get_input_value("Seed").values = list(range(spec["variants"]))
        first_submit = time.time()
        batch = wf.submit_batch_sync(destination=spec["destination"])
        enqueued = time.time()
        benchlib.mark("enqueued")
        batch.cancel()
    return clock.result(t0=t0, first_submit=first_submit, enqueued=enqueued, item_ids=batch.item_ids,
                        batch_ids=batch.batch_ids)


def download(spec: dict[str, Any], clock: benchlib.Clock) -> dict[str, Any]:
    """Download full-size images N times (to files, streamed; or as bytes), watching memory."""
    with InvokeAIClient(spec["url"], use_events=False) as client:
        client.image_repo.get_image(spec["images"][0])  # connected, first request done, before the baseline

        def fetch(name: str, dest: Path) -> None:
            if spec["mode"] == "bytes":
                dest.write_bytes(client.image_repo.download_image(name))
            else:
                client.image_repo.download_to(name, dest)

        return benchlib.download_loop(spec, clock, fetch)


WORKLOADS = {"chain": chain, "latency": latency, "sweep": sweep, "download": download}


def main() -> int:
    spec = benchlib.load_spec()
    clock = benchlib.Clock()
    benchlib.emit(WORKLOADS[spec["workload"]](spec, clock))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
