"""Progressive and adaptive refinement: several refiner passes with falling strength.

    >>> refiner = ProgressiveRefiner(client)                                   # doctest: +SKIP
    >>> names = refiner.progressive_refine(base, "a warrior", passes=3)        # doctest: +SKIP

`adaptive_many` gates the passes of many images at once on the scheduler: each
image's next pass is decided by its score the moment its previous pass finishes, and
the passes of all images interleave on the queue.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Unpack, overload

from .._exceptions import JobError, ValidationError
from .._flow import AsyncRunner, Flow, Runner, SyncRunner
from .._resource import operation
from ..images import download_flow
from .quality import sharpness
from .refine import MultiStageRefiner, PipelineOptions, refine_values
from .scheduler import Emit, Next, StageOutcome, schedule_flow, stream_async, stream_sync
from .stage import DictView, image_name_flow

if TYPE_CHECKING:
    from ..client import _Client

__all__ = ["AdaptivePass", "AsyncProgressiveRefiner", "ProgressiveRefiner", "default_strength_schedule", "gap_strength"]

log = logging.getLogger("invokeai_py_client.pipelines")

DEFAULT_SCHEDULE = (0.5, 0.3, 0.15)


def default_strength_schedule(passes: int) -> list[float]:
    """The default schedule: 0.5, 0.3, 0.15, then halving for further passes."""
    if passes < 1:
        raise ValueError(f"passes must be >= 1, got {passes}")
    schedule = list(DEFAULT_SCHEDULE[:passes])
    while len(schedule) < passes:
        schedule.append(round(schedule[-1] / 2, 4))
    return schedule


def gap_strength(quality: float, threshold: float) -> float:
    """The strength of an adaptive pass: ``min(0.5, (threshold - quality) * 0.8)``."""
    return min(0.5, (threshold - quality) * 0.8)


@dataclass(frozen=True)
class AdaptivePass(DictView):
    """One image's state in `adaptive_many`: its image after `passes` passes and its score."""

    index: int
    """Which input image."""
    image: str
    passes: int
    score: float
    done: bool
    """No further pass: the threshold is met or `max_passes` ran."""
    item_id: int | None = None
    """The queue item of the pass that made `image` (None for the input image)."""


class ProgressiveRefiner(MultiStageRefiner[Runner]):
    """Refine an image several times; adaptively until a quality score is reached.

    `scorer` scores downloaded PNG bytes in [0, 1]; the default is `quality.sharpness`.
    """

    def __init__(
        self, client: _Client[Runner], scorer: Callable[[bytes], float] = sharpness, **options: Unpack[PipelineOptions]
    ) -> None:
        super().__init__(client, **options)  # type: ignore[arg-type]  # mypy checks each constraint of Runner apart
        self.scorer = scorer

    @operation
    def progressive_refine(
        self,
        image: str,
        prompt: str,
        passes: int = 3,
        strength_schedule: Sequence[float] | None = None,
        *,
        refiner_steps: int = 10,
    ) -> Flow[list[str]]:
        """Run one refiner pass per strength, each on the previous result.

        Returns the image of every pass that succeeded; a failed pass is logged and
        skipped (the next pass starts from the last good image), as in the seed.
        """
        schedule = list(strength_schedule) if strength_schedule else default_strength_schedule(passes)
        bad = [s for s in schedule if not 0.0 <= s <= 1.0]
        if bad:
            raise ValueError(f"strengths must be within 0..1, got {bad}")
        refined: list[str] = []
        current = yield from image_name_flow(self.client, image)
        for i, strength in enumerate(schedule, start=1):
            log.info("refinement pass %d/%d (strength %.2f)", i, len(schedule), strength)
            try:
                current, _ = yield from self.stages["refine"]._run_flow(
                    refine_values(current, prompt, "", refiner_steps, strength, 7.0)
                )
            except JobError as exc:
                log.warning("pass %d failed (%s); skipping it", i, exc)
                continue
            refined.append(current)
        return refined

    def _score_flow(self, image: str) -> Flow[float]:
        png = yield from download_flow(image, True)
        return float(self.scorer(png))

    @operation
    def assess_quality(self, image: str) -> Flow[float]:
        """The scorer's value for a server image (downloaded at full resolution)."""
        return self._score_flow(image)

    @operation
    def adaptive_refinement(
        self,
        image: str,
        prompt: str,
        quality_threshold: float = 0.8,
        *,
        max_passes: int = 5,
        refiner_steps: int = 12,
    ) -> Flow[str]:
        """Refine until `assess_quality` reaches `quality_threshold` (at most `max_passes`).

        The strength of each pass follows the gap (`gap_strength`). Returns the last
        image (the input when it already met the threshold).
        """
        current = yield from image_name_flow(self.client, image)
        for passes in range(max_passes):
            quality = yield from self._score_flow(current)
            if quality >= quality_threshold:
                log.info("quality %.3f met the threshold %.3f after %d passes", quality, quality_threshold, passes)
                return current
            strength = gap_strength(quality, quality_threshold)
            log.info("pass %d: quality %.3f, strength %.2f", passes + 1, quality, strength)
            current, _ = yield from self.stages["refine"]._run_flow(
                refine_values(current, prompt, "", refiner_steps, strength, 7.0)
            )
        log.info("stopped after %d passes without reaching %.3f", max_passes, quality_threshold)
        return current

    def _adaptive_schedule(
        self, images: Sequence[str], prompts: Sequence[str] | str, quality_threshold: float, max_passes: int,
        refiner_steps: int, look_ahead: int,
    ) -> Any:
        if isinstance(prompts, str):
            prompts = [prompts] * len(images)
        if len(prompts) != len(images):
            raise ValidationError(f"give one prompt per image ({len(images)}), got {len(prompts)}")
        stage = self.stages["refine"]

        def gate(index: int, image: str, passes: int, item_id: int | None) -> Flow[Next | None]:
            score = yield from self._score_flow(image)
            done = score >= quality_threshold or passes >= max_passes
            yield Emit(AdaptivePass(index, image, passes, score, done, item_id))
            if done:
                return None
            values = refine_values(image, prompts[index], "", refiner_steps, gap_strength(score, quality_threshold), 7.0)
            return Next(stage, values, f"pass {passes + 1}")

        def start(index: int) -> Flow[Next | None]:
            image = yield from image_name_flow(self.client, images[index])
            return (yield from gate(index, image, 0, None))

        def decide(outcome: StageOutcome) -> Flow[Next | None]:
            return gate(outcome.chain, outcome.image, outcome.step + 1, outcome.item_id)

        return schedule_flow(
            len(images), start, decide, look_ahead=look_ahead, timeout=self.timeout, emit=None
        )

    @overload
    def adaptive_many(
        self: ProgressiveRefiner[SyncRunner], images: Sequence[str], prompts: Sequence[str] | str,
        quality_threshold: float = 0.8, *, max_passes: int = 5, refiner_steps: int = 12, look_ahead: int = 2,
    ) -> Iterator[AdaptivePass]: ...
    @overload
    def adaptive_many(
        self: ProgressiveRefiner[AsyncRunner], images: Sequence[str], prompts: Sequence[str] | str,
        quality_threshold: float = 0.8, *, max_passes: int = 5, refiner_steps: int = 12, look_ahead: int = 2,
    ) -> AsyncIterator[AdaptivePass]: ...
    def adaptive_many(
        self, images: Sequence[str], prompts: Sequence[str] | str, quality_threshold: float = 0.8, *,
        max_passes: int = 5, refiner_steps: int = 12, look_ahead: int = 2,
    ) -> Iterator[AdaptivePass] | AsyncIterator[AdaptivePass]:
        """`adaptive_refinement` of many images at once, their passes interleaved on the queue.

        Yields an `AdaptivePass` each time an image is scored: after 0, 1, 2... passes;
        the one with ``done=True`` is its final image. Each image's next pass is enqueued
        at the queue's front the moment the gate lets it through, while up to
        `look_ahead` images' first passes wait behind it.
        """
        schedule = self._adaptive_schedule(images, prompts, quality_threshold, max_passes, refiner_steps, look_ahead)
        return _drain(self._runner, schedule)


def _drain(runner: SyncRunner | AsyncRunner, flow: Any) -> Iterator[Any] | AsyncIterator[Any]:
    return stream_async(runner, flow) if isinstance(runner, AsyncRunner) else stream_sync(runner, flow)


AsyncProgressiveRefiner = ProgressiveRefiner[AsyncRunner]
"""`ProgressiveRefiner` of an `AsyncInvokeAIClient`: the same methods, awaited."""
