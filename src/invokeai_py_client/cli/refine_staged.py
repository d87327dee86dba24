"""`invokeai-py refine --no-fused`: every prompt's stages on the scheduler, resumable.

Each prompt is a chain: base -> refined (-> progressive passes, gated by a quality
score) (-> face) (-> upscaled). A stage is enqueued at the queue's front the moment the
previous one finishes, so the prompts' stages interleave and the queue never runs
dry. Every stage run is tagged with its own destination, ``<run>:<prompt>:<stage>``,
and recorded in the manifest before and after it is enqueued, so a rerun with
`--resume` finishes from the last finished stage of each prompt and re-attaches a
stage run found on the server by its destination instead of enqueueing it again.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from rich.progress import Progress, TaskID

from .._exceptions import JobCanceledError, JobError
from .._flow import Flow
from ..client import InvokeAIClient
from ..images import download_flow
from ..jobs import Job
from ..pipelines.progressive import gap_strength
from ..pipelines.quality import sharpness
from ..pipelines.refine import base_values, refine_values, upscale_values
from ..pipelines.scheduler import Next, StageOutcome, schedule_flow, stream_sync
from ..pipelines.stage import Stage, flow_of
from ..queue import QueueRepository
from ._watch import OutageWatch

__all__ = ["run_staged"]

log = logging.getLogger("invokeai_py_client.cli")

PROGRESSIVE = "progressive"


def _stages(client: InvokeAIClient, args: argparse.Namespace) -> dict[str, Stage[Any]]:
    """The stages of the run, with the run's settings set once, when each is loaded."""
    timeout = args.timeout
    stages: dict[str, Stage[Any]] = {
        "base": Stage(client, "sdxl_base.json", timeout=timeout, values={
            "Steps": args.base_steps, "CFG scale": args.cfg_scale, "Width": args.width, "Height": args.height,
            "Model": args.base_model}),
        "refined": Stage(client, "sdxl_refiner.json", timeout=timeout, values={"Model": args.refiner_model}),
    }
    if args.enhance_face:
        stages["face"] = Stage(client, "face_restore.json", timeout=timeout, values={
            "Enhancement strength": args.face_strength, "Face model": args.refiner_model})
    if args.upscale:
        stages["upscaled"] = Stage(client, "esrgan_upscale.json", timeout=timeout, values={
            "Upscaling model": args.upscale_model})
    return stages


def _pass_number(name: str) -> int:
    """0 for ``refined``, k for ``progressive-k``."""
    return int(name.rsplit("-", 1)[1]) if name.startswith(PROGRESSIVE + "-") else 0


class _Chains:
    """The decisions of a staged run: what follows each finished stage of a prompt."""

    def __init__(self, client: InvokeAIClient, args: argparse.Namespace, run: Any, stages: dict[str, Stage[Any]],
                 scorer: Callable[[bytes], float]) -> None:
        self.client, self.args, self.run, self.stages, self.scorer = client, args, run, stages, scorer
        self.queue: QueueRepository[Any] = client.queue_repo

    def destination(self, index: int, name: str) -> str:
        return f"{self.run.destination}:{index}:{name}"

    def _next(self, index: int, name: str, values: dict[int | str, Any]) -> Flow[Next]:
        """The stage run `name` of prompt `index`; on a resumed run, its queue item if it exists."""
        stage = self.stages["refined" if name.startswith(PROGRESSIVE) else name]
        destination = self.destination(index, name)
        nxt = Next(stage, values, name, destination)
        if not self.args.resume:
            return nxt
        items = yield from flow_of(QueueRepository.items_by_destination)(self.queue, destination)
        alive = [i for i in items if i.status not in ("failed", "canceled")]
        if not alive:
            return nxt
        log.info("prompt %d: %s is on the queue already (item %d): re-attached", index, name, alive[0].item_id)
        job: Job[Any] = yield from flow_of(QueueRepository.attach_job)(self.queue, alive[0].item_id)
        return Next(stage, values, name, destination, attach=job)

    def first(self, index: int) -> Flow[Next | None]:
        row = self.run.rows[index]
        done = [name for name, entry in row.runs.items() if entry.get("status") == "completed"]
        if not done:
            values = base_values(row.prompt, row.negative, row.seed, self.args.base_steps, self.args.cfg_scale,
                                 self.args.width, self.args.height)
            return (yield from self._next(index, "base", values))
        last = done[-1]  # the runs are recorded in chain order
        return (yield from self.after(index, last, row.runs[last]["image_name"]))

    def decide(self, outcome: StageOutcome) -> Flow[Next | None]:
        row = self.run.rows[outcome.chain]
        entry = row.runs.setdefault(outcome.name, {})
        entry.update(status="completed", item_id=outcome.item_id, image_name=outcome.image)
        stem = PROGRESSIVE if outcome.name.startswith(PROGRESSIVE) else outcome.name
        row.images[stem] = {"image_name": outcome.image}
        entry["seconds"] = _item_seconds(outcome.item)
        row.seconds = round(sum(_seconds(r) for r in row.runs.values()), 3)
        return self.after(outcome.chain, outcome.name, outcome.image)

    def after(self, index: int, name: str, image: str) -> Flow[Next | None]:
        """What follows stage run `name` (its image `image`) of prompt `index`; None: done."""
        row, args = self.run.rows[index], self.args
        if name == "base":
            values = refine_values(image, row.prompt, row.negative, args.refine_steps, args.refine_strength,
                                   args.cfg_scale)
            return (yield from self._next(index, "refined", values))
        if args.progressive and (name == "refined" or name.startswith(PROGRESSIVE)):
            png = yield from download_flow(image, True)
            score = round(float(self.scorer(png)), 4)
            passes = _pass_number(name)
            row.scores["refined" if passes == 0 else PROGRESSIVE] = score
            row.runs.setdefault(name, {})["score"] = score
            if score < args.quality_threshold and passes < args.progressive:
                values = refine_values(image, row.prompt, row.negative, args.refine_steps,
                                       gap_strength(score, args.quality_threshold), args.cfg_scale)
                return (yield from self._next(index, f"{PROGRESSIVE}-{passes + 1}", values))
            row.images[PROGRESSIVE] = {"image_name": image}  # the gate's stop: the last pass (or refined)
            row.scores[PROGRESSIVE] = score
        if args.enhance_face and name != "face" and "face" in self.stages and name != "upscaled":
            return (yield from self._next(index, "face", {"Input image": image}))
        if args.upscale and name != "upscaled":
            return (yield from self._next(index, "upscaled", upscale_values(image, args.upscale_factor, None)))
        return None


def _item_seconds(item: Any) -> float | None:
    from .refine import _seconds as item_span

    return item_span(item)


def _seconds(entry: dict[str, Any]) -> float:
    return float(entry.get("seconds") or 0.0)


def run_staged(
    client: InvokeAIClient, args: argparse.Namespace, run: Any, progress: Progress, watch: OutageWatch,
    scorer: Callable[[bytes], float] | None = None,
) -> None:
    """Every prompt through its stages on the scheduler (see the module doc); the manifest kept current.

    `scorer` gates the progressive passes (default `quality.sharpness`). A stage run a
    server restart canceled (`watch`) is submitted again, once.
    """
    stages = _stages(client, args)
    chains = _Chains(client, args, run, stages, scorer or sharpness)
    pending = [k for k, row in enumerate(run.rows) if not _finished(row, run.stages)]
    overall = progress.add_task("prompts", total=len(run.rows), completed=len(run.rows) - len(pending), node="")
    bars: dict[str, TaskID] = {}

    enqueued_at: dict[tuple[int, str], float] = {}
    retried: set[tuple[int, str]] = set()

    def on_enqueued(chain: int, nxt: Next, job: Job[Any]) -> None:
        index = pending[chain]
        enqueued_at.setdefault((chain, nxt.name), time.monotonic())
        entry = run.rows[index].runs.setdefault(nxt.name, {})
        entry.update(status="queued", destination=nxt.destination, item_id=job.item_id)
        if job.item_id not in run.rows[index].item_ids:
            run.rows[index].item_ids.append(job.item_id)
        run.save()  # the item exists now: a rerun re-attaches it, never enqueues it twice

    def first(chain: int) -> Flow[Next | None]:
        return chains.first(pending[chain])

    def decide(outcome: StageOutcome) -> Flow[Next | None]:
        index = pending[outcome.chain]
        nxt = yield from chains.decide(_for_row(outcome, index))
        if nxt is None:
            progress.advance(overall)
        run.save()
        return nxt

    def retry(chain: int, nxt: Next, error: JobError) -> Next | None:
        key = (chain, nxt.name)
        if not isinstance(error, JobCanceledError) or key in retried or not watch.down_since(enqueued_at[key]):
            return None
        retried.add(key)
        progress.console.print(f"the server restarted: {nxt.name} of prompt {pending[chain] + 1} is submitted again")
        return replace(nxt, attach=None)

    started = time.monotonic()
    schedule = schedule_flow(len(pending), first, decide, look_ahead=args.look_ahead, timeout=args.timeout,
                             on_enqueued=on_enqueued, retry=retry)
    for outcome in stream_sync(client._runner, schedule):
        stem = PROGRESSIVE if outcome.name.startswith(PROGRESSIVE) else outcome.name
        if stem not in bars:
            bars[stem] = progress.add_task(stem, total=None, node="")
        progress.advance(bars[stem])
    log.info("staged run of %d prompts took %.1f s", len(pending), time.monotonic() - started)


def _for_row(outcome: StageOutcome, index: int) -> StageOutcome:
    """The outcome with `chain` as the row's index (the schedule counts only the pending rows)."""
    return replace(outcome, chain=index)


def _finished(row: Any, stages: list[str]) -> bool:
    return set(stages) <= set(row.images)
