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

from .._exceptions import InvokeAIError, ValidationError
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
        **base_params: Any,
    ) -> Iterator[dict[str, Any]]:
        """Yield ``{"stage", "prompt", "image"}`` as each stage of each prompt finishes.

        Every base generation is queued before the first is awaited, so the server
        works on the next prompt while this one is refined and upscaled.
        """
        unknown = [s for s in stages if s not in ("base", "refine", "upscale")]
        if unknown or "base" not in stages:
            raise ValueError(f"stages must include 'base' and come from base/refine/upscale, got {list(stages)}")
        queued = [(p, self.submit_base(p, **base_params)) for p in prompts]
        for prompt, base_job in queued:
            current, _ = self._finish(base_job)
            yield {"stage": "base", "prompt": prompt, "image": current}
            if "refine" in stages:
                refined, _ = self.refine_image(current, prompt)
                self.cleanup_image(current)
                current = refined
                yield {"stage": "refined", "prompt": prompt, "image": current}
            if "upscale" in stages:
                upscaled, _ = self.upscale_image(current)
                self.cleanup_image(current)
                yield {"stage": "upscaled", "prompt": prompt, "image": upscaled}
