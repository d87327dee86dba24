"""How busy does a run keep the server? 8 prompts x base -> refine -> upscale, side by side.

Busy fraction = union of the queue items' started..completed spans / the run's wall time
(first request sent .. last item completed), all read from the server's own timestamps
except the start. Modes, run one after the other in this process on the same server:

- floor:  the fused queue items enqueued at once with raw HTTP (what the server can do)
- fused:  `chain_workflows` + one `submit_batch_sync` (what `invokeai-py refine` does)
- staged: one request per prompt and stage, each waited for (`refine --no-fused`)

    python benchmarks/busy_fraction.py [--url URL] [--prompts 8] [--out benchmarks/results/busy_fraction.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.pipelines import MultiStageRefiner
from invokeai_py_client.queue_models import QueueItem
from invokeai_py_client.workflow.chain import chain_workflows
from invokeai_py_client.workflow.definition import WorkflowDefinition
from invokeai_py_client.workflows import bundled_workflow_path

STAGES = ("sdxl_base.json", "sdxl_refiner.json", "esrgan_upscale.json")
SMALL = {"Base: Width": 64, "Base: Height": 64, "Base: Steps": 4, "Refine: Refinement steps": 4,
         "Refine: Strength": 0.5, "Upscale: Scale": 2}


def _time(value: Any) -> float:
    text = str(value)
    stamp = dt.datetime.fromisoformat(text if "+" in text or text.endswith("Z") else text + "+00:00")
    return stamp.timestamp()


def busy(items: list[QueueItem], started: float) -> dict[str, float]:
    spans = sorted((_time(i.started_at), _time(i.completed_at)) for i in items)
    union, end = 0.0, -1.0
    for a, b in spans:
        if b > end:
            union += b - max(a, end)
            end = b
    wall = max(b for _, b in spans) - started
    return {"items": len(items), "wall_s": round(wall, 3), "busy_s": round(union, 3),
            "busy_fraction": round(union / wall, 4), "idle_per_item_ms": round(1000 * (wall - union) / len(items), 1)}


def fused_handle(client: InvokeAIClient, prompts: list[str]) -> Any:
    wf = client.workflow_repo.create_workflow(chain_workflows(
        [WorkflowDefinition.from_file(bundled_workflow_path(f)) for f in STAGES], names=("Base", "Refine", "Upscale"),
    ))
    wf.sync_dnn_model(by_name=True, by_base=True)
    for label, value in SMALL.items():
        wf.get_input_value(label).value = value
    wf.get_input_value("Base: Positive prompt").values = prompts
    wf.get_input_value("Refine: Prompt").values = prompts
    wf.get_input_value("Base: Seed").values = list(range(len(prompts)))
    return wf


def run_floor(client: InvokeAIClient, url: str, prompts: list[str]) -> dict[str, float]:
    """The same fused items, enqueued at once with raw HTTP, then polled."""
    from invokeai_py_client.workflow.submit import load_uploads, prepare_flow

    wf = fused_handle(client, prompts)
    snapshot = wf._snapshot(1, [("Base: Positive prompt", "Refine: Prompt", "Base: Seed")])
    (body,) = client._runner.run(prepare_flow(wf.definition, snapshot, load_uploads(snapshot), False, {}))
    with httpx.Client(timeout=60) as http:
        started = time.time()
        answer = http.post(f"{url}/api/v1/queue/default/enqueue_batch", json=body).json()
        ids = answer["item_ids"]
        while True:
            raw = http.post(f"{url}/api/v1/queue/default/items_by_ids", json={"item_ids": ids}).json()
            if all(i["status"] in ("completed", "failed", "canceled") for i in raw):
                break
            time.sleep(0.05)
    return busy([QueueItem.model_validate(i) for i in raw], started)


def run_fused(client: InvokeAIClient, prompts: list[str]) -> dict[str, float]:
    wf = fused_handle(client, prompts)
    started = time.time()
    batch = wf.submit_batch_sync(zipped=[("Base: Positive prompt", "Refine: Prompt", "Base: Seed")])
    return busy(batch.wait(timeout=900), started)


def run_staged(client: InvokeAIClient, prompts: list[str]) -> dict[str, float]:
    refiner = MultiStageRefiner(client)
    items: list[QueueItem] = []
    started = time.time()
    for seed, prompt in enumerate(prompts):
        base, item = refiner.generate_base(prompt, seed=seed, steps=4, width=64, height=64)
        items.append(item)
        refined, item = refiner.refine_image(base, prompt, refiner_steps=4, refiner_strength=0.5)
        items.append(item)
        _, item = refiner.upscale_image(refined, scale=2)
        items.append(item)
    return busy(items, started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:9090")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "busy_fraction.json")
    args = parser.parse_args()
    prompts = [f"prompt {k}: a lighthouse, detail {k}" for k in range(args.prompts)]
    with InvokeAIClient(args.url) as client:
        client.request("DELETE", "/api/v1/app/invocation_cache")  # every item really runs
        client.request("PUT", "/api/v1/app/invocation_cache/disable")
        try:
            run_fused(client, prompts[:2])  # warm-up: models loaded, caches filled (not measured)
            results = {
                "floor": run_floor(client, args.url, prompts),
                "fused": run_fused(client, prompts),
                "staged": run_staged(client, prompts),
            }
        finally:
            client.request("PUT", "/api/v1/app/invocation_cache/enable")
    report = {"prompts": args.prompts, "stages": list(STAGES), "server": args.url,
              "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for mode, figures in results.items():
        sys.stdout.write(f"{mode:>7}: busy {figures['busy_fraction']:.3f}  wall {figures['wall_s']:.1f} s  "
                         f"idle/item {figures['idle_per_item_ms']:.0f} ms  ({figures['items']} items)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
