"""Keeping the server busy: many refinements queued at once, and a streaming pipeline.

The seed ran refinements in threads sharing one workflow handle (each thread could
submit another thread's values). Here every refinement is enqueued first, on its own
copy of the stage's workflow, and then waited for: the server's queue is never empty
while work remains, and no thread is needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Unpack, overload

from .._exceptions import InvokeAIError, JobTimeoutError, ValidationError
from .._flow import AsyncRunner, Flow, Runner, SyncRunner
from .._resource import operation
from ..images import delete_image_flow
from ..queue_models import QueueItem
from .refine import MultiStageRefiner, PipelineOptions, base_values, refine_values, upscale_values
from .scheduler import Next, StageOutcome, _AnyDone, schedule_flow, stream_async, stream_sync
from .stage import DictView, StageJob

if TYPE_CHECKING:
    from ..client import _Client

__all__ = ["AsyncEfficientRefiner", "AsyncParallelRefiner", "EfficientRefiner", "ParallelRefiner", "StreamResult"]

log = logging.getLogger("invokeai_py_client.pipelines")


class ParallelRefiner(MultiStageRefiner[Runner]):
    """Refine many images or prompt variations with everything queued up front.

    `max_workers` (the seed's argument) bounds how many refinements this refiner has on
    the server's queue at once, so one client does not flood a shared server; None
    queues them all. No threads are used either way.
    """

    def __init__(self, client: _Client[Runner], max_workers: int | None = None, **options: Unpack[PipelineOptions]) -> None:
        if max_workers is not None and max_workers < 1:
            raise ValidationError(f"max_workers must be >= 1 (or None), got {max_workers}")
        super().__init__(client, **options)  # type: ignore[arg-type]  # mypy checks each constraint of Runner apart
        self.max_workers = max_workers

    def _bounded(self, runs: Sequence[Mapping[int | str, Any]]) -> Flow[list[str]]:
        """Submit refinements in order with at most `max_workers` in flight; the images, in order."""
        limit = self.max_workers or max(len(runs), 1)
        stage = self.stages["refine"]
        jobs: list[StageJob[Runner]] = []
        for values in runs:
            while sum(1 for j in jobs if not j.job.done()) >= limit:
                if not (yield _AnyDone([j.job for j in jobs if not j.job.done()], self.timeout)):
                    raise JobTimeoutError(f"no refinement finished within {self.timeout}s", None)
            jobs.append((yield from stage._submit_flow(values)))
        images = []
        for stage_job in jobs:
            image, _ = yield from stage._wait_flow(stage_job)
            images.append(image)
        return images

    @operation
    def batch_refine(
        self, images: Sequence[str], prompt: str, parallel: bool = True, *, refiner_steps: int = 15,
        refiner_strength: float = 0.3,
    ) -> Flow[list[str]]:
        """Refine every image; results in input order. `parallel=False` runs one at a time."""
        runs = [refine_values(i, prompt, "", refiner_steps, refiner_strength, 7.0) for i in images]
        if parallel:
            return (yield from self._bounded(runs))
        images = []
        for values in runs:
            image, _ = yield from self.stages["refine"]._run_flow(values)
            images.append(image)
        return images

    def _variation_runs(
        self, base_image: str, prompts: Sequence[str], common_params: Mapping[str, Any] | None
    ) -> list[dict[int | str, Any]]:
        p = dict(common_params or {})
        return [
            refine_values(base_image, prompt, p.get("negative_prompt", ""), p.get("steps", 15), p.get("strength", 0.4),
                          p.get("cfg_scale", 7.0))
            for prompt in prompts
        ]

    @operation
    def refine_variations(
        self, base_image: str, prompts: Sequence[str], common_params: Mapping[str, Any] | None = None
    ) -> Flow[list[str]]:
        """One refinement of `base_image` per prompt, all queued at once."""
        return self._bounded(self._variation_runs(base_image, prompts, common_params))

    async def parallel_variations(
        self, base_image: str, prompts: Sequence[str], common_params: Mapping[str, Any] | None = None
    ) -> list[str]:
        """The seed's coroutine (on either client): `refine_variations`, awaited."""
        flow = self._bounded(self._variation_runs(base_image, prompts, common_params))
        if isinstance(self._runner, AsyncRunner):
            return await self._runner.run(flow)
        runner = self._runner
        return await asyncio.to_thread(runner.run, flow)


@dataclass(frozen=True)
class StreamResult(DictView):
    """One finished stage of `streaming_pipeline` (reads as the seed's dict: ``result["image"]``)."""

    stage: str
    """``"base"``, ``"refined"`` or ``"upscaled"``."""
    prompt: str
    image: str
    item_id: int
    item: QueueItem


STREAM_STAGES = ("base", "refine", "upscale")


class EfficientRefiner(MultiStageRefiner[Runner]):
    """Stream prompts through the stages, deleting each superseded intermediate image."""

    def __init__(self, client: _Client[Runner], cleanup_intermediate: bool = True, **options: Unpack[PipelineOptions]) -> None:
        super().__init__(client, **options)  # type: ignore[arg-type]  # mypy checks each constraint of Runner apart
        self.cleanup_intermediate = cleanup_intermediate

    def _cleanup_flow(self, image_name: str) -> Flow[bool]:
        if not self.cleanup_intermediate:
            return False
        try:
            yield from delete_image_flow(image_name)
        except InvokeAIError as exc:
            log.warning("could not delete %s: %s", image_name, exc)
            return False
        return True

    @operation
    def cleanup_image(self, image_name: str) -> Flow[bool]:
        """Delete an image from the server; False (logged) when it could not be deleted."""
        return self._cleanup_flow(image_name)

    def _stream_schedule(
        self, prompts: Sequence[str], stages: Sequence[str], look_ahead: int, params: dict[str, Any]
    ) -> Any:
        unknown = [s for s in stages if s not in STREAM_STAGES]
        if unknown or "base" not in stages:
            raise ValidationError(f"stages must include 'base' and come from base/refine/upscale, got {list(stages)}")
        if look_ahead < 1:
            raise ValidationError(f"look_ahead must be >= 1, got {look_ahead}")
        order = [s for s in STREAM_STAGES if s in stages]
        negative = params.get("negative_prompt", "")
        refine_kw = (params.pop("refiner_steps", 15), params.pop("refiner_strength", 0.3),
                     params.pop("refine_cfg_scale", params.get("cfg_scale", 7.0)))
        upscale_kw = (params.pop("scale", 2), params.pop("upscale_model", None))
        base_kw = {"negative_prompt": negative, "seed": None, "steps": 30, "cfg_scale": 7.0, "width": 1024,
                   "height": 1024}
        extra = set(params) - set(base_kw)
        if extra:
            raise ValidationError(f"streaming_pipeline got unknown keywords: {', '.join(sorted(extra))}")
        base_kw.update(params)

        def start(index: int) -> Next:
            values = base_values(prompts[index], base_kw["negative_prompt"], base_kw["seed"], base_kw["steps"],
                                 base_kw["cfg_scale"], base_kw["width"], base_kw["height"])
            return Next(self.stages["base"], values, "base")

        def decide(outcome: StageOutcome) -> Flow[Next | None]:
            done_stage = order[outcome.step]
            follow = order[outcome.step + 1] if outcome.step + 1 < len(order) else None
            nxt = None
            if follow == "refine":
                nxt = Next(self.stages["refine"], refine_values(outcome.image, prompts[outcome.chain], negative,
                                                                *refine_kw), "refined")
            elif follow == "upscale":
                nxt = Next(self.stages["upscale"], upscale_values(outcome.image, *upscale_kw), "upscaled")
            if outcome.previous is not None:
                yield from self._cleanup_flow(outcome.previous)  # the next stage has its image now
            log.debug("%s of prompt %d done; next: %s", done_stage, outcome.chain, follow)
            return nxt

        def emit(o: StageOutcome) -> StreamResult:
            return StreamResult(o.name, prompts[o.chain], o.image, o.item_id, o.item)

        return schedule_flow(len(prompts), start, decide, look_ahead=look_ahead, timeout=self.timeout, emit=emit)

    @overload
    def streaming_pipeline(
        self: EfficientRefiner[SyncRunner], prompts: Sequence[str], stages: Sequence[str] = ...,
        *, look_ahead: int = 2, **params: Any,
    ) -> Iterator[StreamResult]: ...
    @overload
    def streaming_pipeline(
        self: EfficientRefiner[AsyncRunner], prompts: Sequence[str], stages: Sequence[str] = ...,
        *, look_ahead: int = 2, **params: Any,
    ) -> AsyncIterator[StreamResult]: ...
    def streaming_pipeline(
        self,
        prompts: Sequence[str],
        stages: Sequence[str] = STREAM_STAGES,
        *,
        look_ahead: int = 2,
        **params: Any,
    ) -> Iterator[StreamResult] | AsyncIterator[StreamResult]:
        """Yield a `StreamResult` (``stage``, ``prompt``, ``image``, ``item_id``) as each stage of each prompt finishes.

        An iterator on the sync client, an async iterator on the async one. A scheduler,
        not a loop: a prompt's next stage is enqueued at the FRONT of the queue the moment
        its previous stage finishes, so finished images come early, while up to
        `look_ahead` base generations wait behind it so the server never runs dry (and
        one client does not flood a shared server). Images move between stages by name
        on the server. Each superseded image is deleted once the next stage has finished
        with it (`cleanup_intermediate`).

        Keywords reach the stage they name: ``refiner_steps``, ``refiner_strength`` and
        ``refine_cfg_scale`` the refinement; ``scale`` and ``upscale_model`` the upscale;
        the rest (``negative_prompt``, ``seed``, ``steps``, ``cfg_scale``, ``width``,
        ``height``) the base generation.
        """
        schedule = self._stream_schedule(prompts, stages, look_ahead, dict(params))
        if isinstance(self._runner, AsyncRunner):
            return stream_async(self._runner, schedule)
        return stream_sync(self._runner, schedule)


AsyncParallelRefiner = ParallelRefiner[AsyncRunner]
"""`ParallelRefiner` of an `AsyncInvokeAIClient`: the same methods, awaited."""
AsyncEfficientRefiner = EfficientRefiner[AsyncRunner]
"""`EfficientRefiner` of an `AsyncInvokeAIClient`: `streaming_pipeline` is an async iterator."""
