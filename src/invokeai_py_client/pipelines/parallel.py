"""Keeping the server busy: many refinements queued at once, and a streaming pipeline.

The seed ran refinements in threads sharing one workflow handle (each thread could
submit another thread's values). Here every refinement is enqueued first, on its own
copy of the handle, and then waited for: the server's queue is never empty while
work remains, and no thread is needed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._exceptions import InvokeAIError, JobTimeoutError, ValidationError
from .._flow import SyncRunner
from ..jobs import Job
from .refine import MultiStageRefiner, StageJob

__all__ = ["EfficientRefiner", "ParallelRefiner"]

log = logging.getLogger("invokeai_py_client.pipelines")


@dataclass
class ParallelRefiner(MultiStageRefiner):
    """Refine many images or prompt variations with everything queued up front.

    `max_workers` (the seed's argument) bounds how many refinements this refiner has on
    the server's queue at once, so one client does not flood a shared server; None
    queues them all. No threads are used either way.
    """

    max_workers: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_workers is not None and self.max_workers < 1:
            raise ValidationError(f"max_workers must be >= 1 (or None), got {self.max_workers}")

    def _bounded(self, submits: Sequence[Callable[[], StageJob]]) -> list[str]:
        """Submit in order with at most `max_workers` in flight; the images, in order."""
        limit = self.max_workers or max(len(submits), 1)
        jobs: list[StageJob] = []
        for submit in submits:
            if len(jobs) >= limit:
                concurrent.futures.wait([jobs[-limit].job], timeout=self.timeout)
            jobs.append(submit())
        return [self._finish(job)[0] for job in jobs]

    def batch_refine(
        self, images: Sequence[str], prompt: str, parallel: bool = True, *, refiner_steps: int = 15,
        refiner_strength: float = 0.3,
    ) -> list[str]:
        """Refine every image; results in input order. `parallel=False` runs one at a time."""
        if not parallel:
            return [self.refine_image(i, prompt, refiner_steps=refiner_steps, refiner_strength=refiner_strength)[0]
                    for i in images]
        return self._bounded([
            functools.partial(self.submit_refine, i, prompt, refiner_steps=refiner_steps,
                              refiner_strength=refiner_strength)
            for i in images
        ])

    def refine_variations(
        self, base_image: str, prompts: Sequence[str], common_params: Mapping[str, Any] | None = None
    ) -> list[str]:
        """One refinement of `base_image` per prompt, all queued at once."""
        params = dict(common_params or {})
        return self._bounded([
            functools.partial(
                self.submit_refine, base_image, prompt, params.get("negative_prompt", ""), params.get("steps", 15),
                params.get("strength", 0.4), params.get("cfg_scale", 7.0),
            )
            for prompt in prompts
        ])

    async def parallel_variations(
        self, base_image: str, prompts: Sequence[str], common_params: Mapping[str, Any] | None = None
    ) -> list[str]:
        """The seed's coroutine: `refine_variations` on a worker thread."""
        return await asyncio.to_thread(self.refine_variations, base_image, prompts, common_params)


@dataclass
class EfficientRefiner(MultiStageRefiner):
    """Stream prompts through the stages, deleting each superseded intermediate image."""

    cleanup_intermediate: bool = True

    def cleanup_image(self, image_name: str) -> bool:
        """Delete an image from the server; False (logged) when it could not be deleted."""
        if not self.cleanup_intermediate:
            return False
        try:
            self.client.image_repo.delete_image(image_name)
        except InvokeAIError as exc:
            log.warning("could not delete %s: %s", image_name, exc)
            return False
        return True

    def streaming_pipeline(
        self,
        prompts: Sequence[str],
        stages: Sequence[str] = ("base", "refine", "upscale"),
        *,
        look_ahead: int = 2,
        **params: Any,
    ) -> Iterator[dict[str, Any]]:
        """Yield ``{"stage", "prompt", "image", "item_id"}`` as each stage of each prompt finishes.

        A scheduler, not a loop: a prompt's next stage is enqueued at the FRONT of the
        queue the moment its previous stage finishes, so finished images come early,
        while up to `look_ahead` base generations wait behind it so the server never
        runs dry (and one client does not flood a shared server). Images move between
        stages by name on the server. Each superseded image is deleted once the next
        stage has it (`cleanup_intermediate`).

        Keywords reach the stage they name: ``refiner_steps``, ``refiner_strength`` and
        ``refine_cfg_scale`` the refinement; ``scale`` and ``upscale_model`` the upscale;
        the rest (``negative_prompt``, ``seed``, ``steps``, ``cfg_scale``, ``width``,
        ``height``) the base generation.
        """
        order = [s for s in ("base", "refine", "upscale") if s in stages]
        unknown = [s for s in stages if s not in ("base", "refine", "upscale")]
        if unknown or "base" not in stages:
            raise ValidationError(f"stages must include 'base' and come from base/refine/upscale, got {list(stages)}")
        if look_ahead < 1:
            raise ValidationError(f"look_ahead must be >= 1, got {look_ahead}")
        refine_kw = {
            "refiner_steps": params.pop("refiner_steps", 15),
            "refiner_strength": params.pop("refiner_strength", 0.3),
            "cfg_scale": params.pop("refine_cfg_scale", params.get("cfg_scale", 7.0)),
            "negative_prompt": params.get("negative_prompt", ""),
        }
        upscale_kw = {"scale": params.pop("scale", 2), "model": params.pop("upscale_model", None)}
        base_kw = params
        labels = {"base": "base", "refine": "refined", "upscale": "upscaled"}
        pending: dict[Job[SyncRunner], tuple[int, str, StageJob, str | None]] = {}
        next_prompt = 0

        def top_up() -> None:
            nonlocal next_prompt
            while next_prompt < len(prompts) and sum(1 for p in pending.values() if p[1] == "base") < look_ahead:
                stage_job = self.submit_base(prompts[next_prompt], **base_kw)
                pending[stage_job.job] = (next_prompt, "base", stage_job, None)
                next_prompt += 1

        def pending_done(done: set[Any]) -> list[Job[SyncRunner]]:
            return [job for job in pending if job in done]

        top_up()
        while pending:
            done, _ = concurrent.futures.wait(list(pending), timeout=self.timeout,
                                              return_when=concurrent.futures.FIRST_COMPLETED)
            if not done:
                raise JobTimeoutError(f"no stage finished within {self.timeout}s", None)
            for job in sorted(pending_done(done), key=lambda j: j.item_id):
                index, stage, stage_job, superseded = pending.pop(job)
                image, item = self._finish(stage_job)
                if superseded is not None:
                    self.cleanup_image(superseded)
                yield {"stage": labels[stage], "prompt": prompts[index], "image": image, "item_id": item.item_id}
                follow = order[order.index(stage) + 1] if stage != order[-1] else None
                if follow == "refine":
                    nxt = self.submit_refine(image, prompts[index], prepend=True, **refine_kw)
                elif follow == "upscale":
                    nxt = self.submit_upscale(image, prepend=True, **upscale_kw)
                else:
                    continue
                pending[nxt.job] = (index, follow, nxt, image)
            top_up()
