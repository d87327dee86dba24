"""Progressive and adaptive refinement: several refiner passes with falling strength.

    >>> refiner = ProgressiveRefiner(client)                                   # doctest: +SKIP
    >>> names = refiner.progressive_refine(base, "a warrior", passes=3)        # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .._exceptions import JobError
from .quality import sharpness
from .refine import MultiStageRefiner

__all__ = ["ProgressiveRefiner", "default_strength_schedule"]

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


@dataclass
class ProgressiveRefiner(MultiStageRefiner):
    """Refine an image several times; adaptively until a quality score is reached."""

    scorer: Callable[[bytes], float] = sharpness
    """Scores downloaded PNG bytes in [0, 1]; the default is `quality.sharpness`."""

    def progressive_refine(
        self,
        image: str,
        prompt: str,
        passes: int = 3,
        strength_schedule: Sequence[float] | None = None,
        *,
        refiner_steps: int = 10,
    ) -> list[str]:
        """Run one refiner pass per strength, each on the previous result.

        Returns the image of every pass that succeeded; a failed pass is logged and
        skipped (the next pass starts from the last good image), as in the seed.
        """
        schedule = list(strength_schedule) if strength_schedule else default_strength_schedule(passes)
        bad = [s for s in schedule if not 0.0 <= s <= 1.0]
        if bad:
            raise ValueError(f"strengths must be within 0..1, got {bad}")
        refined: list[str] = []
        current = self.ensure_image_name(image)
        for i, strength in enumerate(schedule, start=1):
            log.info("refinement pass %d/%d (strength %.2f)", i, len(schedule), strength)
            try:
                current, _ = self.refine_image(current, prompt, refiner_strength=strength, refiner_steps=refiner_steps)
            except JobError as exc:
                log.warning("pass %d failed (%s); skipping it", i, exc)
                continue
            refined.append(current)
        return refined

    def assess_quality(self, image: str) -> float:
        """The scorer's value for a server image (downloaded at full resolution)."""
        return float(self.scorer(self.client.image_repo.download_image(image)))

    def adaptive_refinement(
        self,
        image: str,
        prompt: str,
        quality_threshold: float = 0.8,
        *,
        max_passes: int = 5,
        refiner_steps: int = 12,
    ) -> str:
        """Refine until `assess_quality` reaches `quality_threshold` (at most `max_passes`).

        The strength of each pass follows the gap: ``min(0.5, (threshold - quality) * 0.8)``.
        Returns the last image (the input when it already met the threshold).
        """
        current = self.ensure_image_name(image)
        for passes in range(max_passes):
            quality = self.assess_quality(current)
            if quality >= quality_threshold:
                log.info("quality %.3f met the threshold %.3f after %d passes", quality, quality_threshold, passes)
                return current
            strength = min(0.5, (quality_threshold - quality) * 0.8)
            log.info("pass %d: quality %.3f, strength %.2f", passes + 1, quality, strength)
            current, _ = self.refine_image(current, prompt, refiner_strength=strength, refiner_steps=refiner_steps)
        log.info("stopped after %d passes without reaching %.3f", max_passes, quality_threshold)
        return current

