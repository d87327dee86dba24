"""Multi-stage pipelines over the bundled stage workflows: base -> refine -> upscale.

    >>> from invokeai_py_client import InvokeAIClient
    >>> from invokeai_py_client.pipelines import MultiStageRefiner
    >>> refiner = MultiStageRefiner(InvokeAIClient())                       # doctest: +SKIP
    >>> results = refiner.full_pipeline("a castle on a hill", seed=42)     # doctest: +SKIP
    >>> results["upscaled"]                                                 # doctest: +SKIP
    'c0ffee....png'

The async twin takes an `AsyncInvokeAIClient`; its methods are the same, awaited:

    >>> refiner = AsyncMultiStageRefiner(AsyncInvokeAIClient())               # doctest: +SKIP
    >>> results = await refiner.full_pipeline("a castle on a hill", seed=42)  # doctest: +SKIP

A pipeline is made of `Stage` objects (``refiner.stages["refine"]``), each loading its
workflow the first time it runs. Each stage method returns ``(image_name, queue_item)``
and raises the typed job errors (`JobFailedError`, ...) instead of returning None.
Each run works on its own copy of the stage's workflow, so stage methods may run from
several threads or tasks at once.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from .._exceptions import InvokeAIError, JobError
from .._flow import AsyncRunner, Flow, Runner
from .._resource import Resource, operation
from ..jobs import EventCallback
from ..queue_models import QueueItem
from .stage import DictView, Stage, StageJob, StageResult, image_name_flow, pick_seed

if TYPE_CHECKING:
    from ..client import _Client

__all__ = [
    "AsyncMultiStageRefiner",
    "MultiStageRefiner",
    "PipelineOptions",
    "PipelineResult",
    "StageBoards",
    "StageJob",
    "StageModels",
    "pick_seed",
]

log = logging.getLogger("invokeai_py_client.pipelines")


@dataclass(frozen=True)
class StageBoards:
    """Board names (created when missing) where each stage's final image goes."""

    base: str = "base_stage"
    refined: str = "refined_stage"
    upscaled: str = "upscaled_stage"
    face_enhanced: str = "face_enhanced"
    detail: str = "detail_stage"


@dataclass(frozen=True)
class StageModels:
    """Model names (or keys) per stage; None keeps the workflow's, re-matched by base."""

    base: str | None = None
    refiner: str | None = None
    upscaler: str | None = None


class PipelineOptions(TypedDict, total=False):
    """What every pipeline class takes besides the client."""

    boards: StageBoards
    models: StageModels
    workflows_dir: str | os.PathLike[str] | None
    """A folder with the stage workflows (same file names) to use instead of the bundled ones."""
    timeout: float | None
    """Seconds to wait for each stage run."""
    on_event: EventCallback | None
    """Called with every event of every stage run."""


@dataclass(frozen=True)
class PipelineResult(DictView):
    """What `full_pipeline` made: image names by stage (reads as the seed's dict too)."""

    base: str | None = None
    refined: str | None = None
    upscaled: str | None = None
    metadata: dict[str, QueueItem] = field(default_factory=dict)
    """The finished queue item of each stage that ran."""
    errors: dict[str, InvokeAIError] = field(default_factory=dict)
    """Stages that failed and were passed over (a failed refinement: the base goes on)."""


def base_values(
    prompt: str, negative_prompt: str, seed: int | None, steps: int, cfg_scale: float, width: int, height: int
) -> dict[int | str, Any]:
    """The base stage's Form values (bundled `sdxl_base.json` labels)."""
    return {"Positive prompt": prompt, "Negative prompt": negative_prompt, "Seed": pick_seed(seed),
            "Steps": steps, "CFG scale": cfg_scale, "Width": width, "Height": height}


def refine_values(
    image: str, prompt: str, negative_prompt: str, steps: int, strength: float, cfg_scale: float
) -> dict[int | str, Any]:
    """The refine stage's Form values (bundled `sdxl_refiner.json` labels)."""
    return {"Input image": image, "Prompt": prompt, "Negative prompt": negative_prompt,
            "Refinement steps": steps, "Strength": strength, "CFG scale": cfg_scale}


def upscale_values(image: str, scale: int, model: str | None) -> dict[int | str, Any]:
    """The upscale stage's Form values (bundled `esrgan_upscale.json` labels)."""
    values: dict[int | str, Any] = {"Input image": image, "Scale": scale}
    if model:
        values["Upscaling model"] = model
    return values


class MultiStageRefiner(Resource[Runner]):
    """Base generation, refinement and upscaling, each a `Stage` of a bundled workflow."""

    def __init__(self, client: _Client[Runner], **options: Unpack[PipelineOptions]) -> None:
        self._runner = client._runner
        self.client: _Client[Runner] = client
        self.boards: StageBoards = options.get("boards") or StageBoards()
        self.models: StageModels = options.get("models") or StageModels()
        folder = options.get("workflows_dir")
        self.workflows_dir = Path(folder) if folder is not None else None
        self.timeout: float | None = options.get("timeout", 600.0)
        self.on_event: EventCallback | None = options.get("on_event")
        self.stages: dict[str, Stage[Runner]] = {
            "base": self.make_stage("sdxl_base.json", board=self.boards.base, values={"Model": self.models.base}),
            "refine": self.make_stage(
                "sdxl_refiner.json", board=self.boards.refined, values={"Model": self.models.refiner}
            ),
            "upscale": self.make_stage(
                "esrgan_upscale.json", board=self.boards.upscaled, values={"Upscaling model": self.models.upscaler}
            ),
        }
        """The pipeline's stages by name; each loads its workflow when first used."""

    def make_stage(self, filename: str, **kwargs: Any) -> Stage[Runner]:
        """A stage of this pipeline: `filename` from `workflows_dir` (or bundled), its settings."""
        workflow = (self.workflows_dir / filename) if self.workflows_dir else filename
        return Stage(self.client, workflow, timeout=self.timeout, on_event=self.on_event, **kwargs)

    @operation
    def setup_workflows(self) -> Flow[None]:
        """Load every stage's workflow now (otherwise each loads when first used)."""
        for stage in self.stages.values():
            yield from stage._handle_flow()

    @operation
    def ensure_image_name(self, image: str | os.PathLike[str] | Any) -> Flow[str]:
        """An image name on the server: names pass through; local files and PIL images are uploaded."""
        return image_name_flow(self.client, image)

    # -- base ------------------------------------------------------------------------------

    @operation
    def generate_base(
        self,
        prompt: str,
        negative_prompt: str = "",
        seed: int | None = None,
        steps: int = 30,
        cfg_scale: float = 7.0,
        width: int = 1024,
        height: int = 1024,
    ) -> Flow[StageResult]:
        """Stage 1: txt2img. Returns (image name, finished queue item)."""
        log.info("stage 1: base generation")
        values = base_values(prompt, negative_prompt, seed, steps, cfg_scale, width, height)
        return self.stages["base"]._run_flow(values)

    @operation
    def submit_base(
        self,
        prompt: str,
        negative_prompt: str = "",
        seed: int | None = None,
        steps: int = 30,
        cfg_scale: float = 7.0,
        width: int = 1024,
        height: int = 1024,
    ) -> Flow[StageJob[Runner]]:
        """Enqueue a base generation without waiting (see `generate_base`); ``.wait()`` for its result."""
        values = base_values(prompt, negative_prompt, seed, steps, cfg_scale, width, height)
        return self.stages["base"]._submit_flow(values)

    # -- refine ----------------------------------------------------------------------------

    @operation
    def refine_image(
        self,
        base_image: str,
        prompt: str,
        negative_prompt: str = "",
        refiner_steps: int = 15,
        refiner_strength: float = 0.3,
        cfg_scale: float = 7.0,
    ) -> Flow[StageResult]:
        """Stage 2: img2img with the SDXL refiner at `refiner_strength` (0..1)."""
        log.info("stage 2: refinement (strength %.2f)", refiner_strength)
        image = yield from image_name_flow(self.client, base_image)
        values = refine_values(image, prompt, negative_prompt, refiner_steps, refiner_strength, cfg_scale)
        return (yield from self.stages["refine"]._run_flow(values))

    @operation
    def submit_refine(
        self,
        base_image: str,
        prompt: str,
        negative_prompt: str = "",
        refiner_steps: int = 15,
        refiner_strength: float = 0.3,
        cfg_scale: float = 7.0,
        *,
        prepend: bool = False,
    ) -> Flow[StageJob[Runner]]:
        """Enqueue a refinement without waiting (see `refine_image`); `prepend`: at the queue's front."""
        image = yield from image_name_flow(self.client, base_image)
        values = refine_values(image, prompt, negative_prompt, refiner_steps, refiner_strength, cfg_scale)
        return (yield from self.stages["refine"]._submit_flow(values, prepend=prepend))

    # -- upscale ---------------------------------------------------------------------------

    @operation
    def upscale_image(self, image: str, scale: int = 2, model: str | None = None) -> Flow[StageResult]:
        """Stage 3: upscale by an integer `scale` with a spandrel model (name or key)."""
        log.info("stage 3: upscaling x%d", scale)
        name = yield from image_name_flow(self.client, image)
        return (yield from self.stages["upscale"]._run_flow(upscale_values(name, scale, model)))

    @operation
    def submit_upscale(
        self, image: str, scale: int = 2, model: str | None = None, *, prepend: bool = False
    ) -> Flow[StageJob[Runner]]:
        """Enqueue an upscale without waiting (see `upscale_image`); `prepend`: at the queue's front."""
        name = yield from image_name_flow(self.client, image)
        return (yield from self.stages["upscale"]._submit_flow(upscale_values(name, scale, model), prepend=prepend))

    # -- all of them -----------------------------------------------------------------------

    @operation
    def full_pipeline(
        self,
        prompt: str,
        negative_prompt: str = "",
        seed: int | None = None,
        base_steps: int = 30,
        refiner_steps: int = 15,
        upscale: bool = True,
        upscale_factor: int = 2,
        *,
        refiner_strength: float = 0.3,
        cfg_scale: float = 7.0,
        width: int = 1024,
        height: int = 1024,
    ) -> Flow[PipelineResult]:
        """Run every stage; a failed refinement falls back to the base image (recorded in `errors`).

        Returns a `PipelineResult`: ``result.upscaled`` or, as the seed reads it, ``result["upscaled"]``.
        """
        metadata: dict[str, QueueItem] = {}
        errors: dict[str, InvokeAIError] = {}
        base, metadata["base"] = yield from self.stages["base"]._run_flow(
            base_values(prompt, negative_prompt, seed, base_steps, cfg_scale, width, height)
        )
        current, refined, upscaled = base, None, None
        try:
            refined, metadata["refined"] = yield from self.stages["refine"]._run_flow(
                refine_values(base, prompt, negative_prompt, refiner_steps, refiner_strength, cfg_scale)
            )
        except JobError as exc:
            log.warning("refinement failed (%s); continuing with the base image", exc)
            errors["refined"] = exc
        else:
            current = refined
        if upscale:
            upscaled, metadata["upscaled"] = yield from self.stages["upscale"]._run_flow(
                upscale_values(current, upscale_factor, None)
            )
        return PipelineResult(base, refined, upscaled, metadata, errors)


AsyncMultiStageRefiner = MultiStageRefiner[AsyncRunner]
"""`MultiStageRefiner` of an `AsyncInvokeAIClient`: the same methods, awaited."""
