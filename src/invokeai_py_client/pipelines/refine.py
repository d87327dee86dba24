"""Multi-stage pipelines over the bundled stage workflows: base -> refine -> upscale.

    >>> from invokeai_py_client import InvokeAIClient
    >>> from invokeai_py_client.pipelines import MultiStageRefiner
    >>> refiner = MultiStageRefiner(InvokeAIClient())                       # doctest: +SKIP
    >>> results = refiner.full_pipeline("a castle on a hill", seed=42)     # doctest: +SKIP
    >>> results["upscaled"]                                                 # doctest: +SKIP
    'c0ffee....png'

Each stage method returns ``(image_name, queue_item)`` and raises the typed job
errors (`JobFailedError`, ...) instead of returning None. Each call works on its
own copy of the stage's workflow handle, so stage methods may run from several
threads at once.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._exceptions import InvokeAIError, JobError, ValidationError
from .._flow import SyncRunner
from ..client import InvokeAIClient
from ..events import Event
from ..jobs import Job
from ..queue_models import QueueItem
from ..workflow.definition import WorkflowDefinition
from ..workflow.handle import WorkflowHandle
from ..workflows import bundled_workflow_path

__all__ = ["MultiStageRefiner", "StageBoards", "StageJob", "StageModels", "first_image", "pick_seed"]

log = logging.getLogger("invokeai_py_client.pipelines")

MAX_SEED = 4294967295


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


@dataclass(frozen=True)
class StageJob:
    """A submitted stage run: the handle copy it used and its job."""

    handle: WorkflowHandle[SyncRunner]
    job: Job[SyncRunner]


def pick_seed(seed: int | None) -> int:
    """A valid seed: the one given, or a random one when None or negative (logged)."""
    if seed is not None and 0 <= seed <= MAX_SEED:
        return seed
    if seed is not None and seed > MAX_SEED:
        raise ValidationError(f"seed {seed} is above the maximum {MAX_SEED}")
    chosen = random.randint(0, MAX_SEED)
    log.info("seed %s -> random seed %d", seed, chosen)
    return chosen


def first_image(handle: WorkflowHandle[SyncRunner], item: QueueItem) -> str:
    """The stage's final image: the first image of a non-intermediate output node."""
    outputs = handle.map_outputs_to_images(item)
    finals = [o for o in outputs if o.get("is_intermediate") is False] or outputs
    for out in finals:
        if out["image_names"]:
            return str(out["image_names"][-1])
    raise InvokeAIError(f"queue item {item.item_id} of {handle.name!r} produced no image")


@dataclass
class MultiStageRefiner:
    """Base generation, refinement and upscaling with the bundled stage workflows."""

    client: InvokeAIClient
    boards: StageBoards = field(default_factory=StageBoards)
    models: StageModels = field(default_factory=StageModels)
    workflows_dir: Path | None = None
    timeout: float | None = 600.0
    on_event: Callable[[Event], None] | None = None

    def __post_init__(self) -> None:
        self.setup_workflows()

    def _load(self, filename: str) -> WorkflowHandle[SyncRunner]:
        path = (self.workflows_dir / filename) if self.workflows_dir else bundled_workflow_path(filename)
        return self.client.workflow_repo.create_workflow(WorkflowDefinition.from_file(path))

    def setup_workflows(self) -> None:
        """Load the stage workflows and point their models at installed ones."""
        self.base_wf = self._load("sdxl_base.json")
        self.refiner_wf = self._load("sdxl_refiner.json")
        self.upscale_wf = self._load("esrgan_upscale.json")
        for handle in (self.base_wf, self.refiner_wf, self.upscale_wf):
            handle.sync_dnn_model(by_name=True, by_base=True)
        if self.models.base:
            self.base_wf.get_input_value("Model").value = self.models.base
        if self.models.refiner:
            self.refiner_wf.get_input_value("Model").value = self.models.refiner

    def _submit(
        self, handle: WorkflowHandle[SyncRunner], values: Mapping[int | str, Any], *, prepend: bool = False
    ) -> StageJob:
        """Enqueue one stage run on a private copy of the stage's handle (no waiting)."""
        wf = handle.clone()
        for key, value in values.items():
            wf.get_input_value(key).value = value
        return StageJob(wf, wf.submit_sync(prepend=prepend))

    def _finish(self, stage: StageJob) -> tuple[str, QueueItem]:
        """Wait for a stage run; its final image name and queue item (typed errors on failure)."""
        item = stage.job.wait(timeout=self.timeout, on_event=self.on_event)
        return first_image(stage.handle, item), item

    def _run(self, handle: WorkflowHandle[SyncRunner], values: Mapping[int | str, Any]) -> tuple[str, QueueItem]:
        return self._finish(self._submit(handle, values))

    def ensure_image_name(self, image: str | Path | Any) -> str:
        """An image name on the server: names pass through; local files and PIL images are uploaded."""
        if isinstance(image, str) and not Path(image).is_file():
            return image
        source = Path(image) if isinstance(image, str) else image
        return self.client.image_repo.upload_image(source, is_intermediate=True).image_name

    def generate_base(
        self,
        prompt: str,
        negative_prompt: str = "",
        seed: int | None = None,
        steps: int = 30,
        cfg_scale: float = 7.0,
        width: int = 1024,
        height: int = 1024,
    ) -> tuple[str, QueueItem]:
        """Stage 1: txt2img. Returns (image name, finished queue item)."""
        log.info("stage 1: base generation")
        return self._finish(self.submit_base(prompt, negative_prompt, seed, steps, cfg_scale, width, height))

    def submit_base(
        self,
        prompt: str,
        negative_prompt: str = "",
        seed: int | None = None,
        steps: int = 30,
        cfg_scale: float = 7.0,
        width: int = 1024,
        height: int = 1024,
    ) -> StageJob:
        """Enqueue a base generation without waiting (see `generate_base`)."""
        return self._submit(
            self.base_wf,
            {"Positive prompt": prompt, "Negative prompt": negative_prompt, "Seed": pick_seed(seed),
             "Steps": steps, "CFG scale": cfg_scale, "Width": width, "Height": height, "Output board": self.boards.base},
        )

    def refine_image(
        self,
        base_image: str,
        prompt: str,
        negative_prompt: str = "",
        refiner_steps: int = 15,
        refiner_strength: float = 0.3,
        cfg_scale: float = 7.0,
    ) -> tuple[str, QueueItem]:
        """Stage 2: img2img with the SDXL refiner at `refiner_strength` (0..1)."""
        log.info("stage 2: refinement (strength %.2f)", refiner_strength)
        return self._finish(
            self.submit_refine(base_image, prompt, negative_prompt, refiner_steps, refiner_strength, cfg_scale)
        )

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
    ) -> StageJob:
        """Enqueue a refinement without waiting (see `refine_image`); `prepend`: at the queue's front."""
        return self._submit(
            self.refiner_wf,
            {"Input image": self.ensure_image_name(base_image), "Prompt": prompt, "Negative prompt": negative_prompt,
             "Refinement steps": refiner_steps, "Strength": refiner_strength, "CFG scale": cfg_scale,
             "Output board": self.boards.refined},
            prepend=prepend,
        )

    def upscale_image(self, image: str, scale: int = 2, model: str | None = None) -> tuple[str, QueueItem]:
        """Stage 3: upscale by an integer `scale` with a spandrel model (name or key)."""
        log.info("stage 3: upscaling x%d", scale)
        return self._finish(self.submit_upscale(image, scale, model))

    def submit_upscale(
        self, image: str, scale: int = 2, model: str | None = None, *, prepend: bool = False
    ) -> StageJob:
        """Enqueue an upscale without waiting (see `upscale_image`); `prepend`: at the queue's front."""
        values: dict[int | str, Any] = {
            "Input image": self.ensure_image_name(image), "Scale": scale, "Output board": self.boards.upscaled,
        }
        if model or self.models.upscaler:
            values["Upscaling model"] = model or self.models.upscaler
        return self._submit(self.upscale_wf, values, prepend=prepend)

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
    ) -> dict[str, Any]:
        """Run every stage; a failed refinement falls back to the base image (recorded).

        Returns ``{'base', 'refined', 'upscaled', 'metadata', 'errors'}`` with image names.
        """
        results: dict[str, Any] = {"base": None, "refined": None, "upscaled": None, "metadata": {}, "errors": {}}
        base_image, base_item = self.generate_base(
            prompt, negative_prompt, seed=seed, steps=base_steps, cfg_scale=cfg_scale, width=width, height=height
        )
        results["base"] = base_image
        results["metadata"]["base"] = base_item
        current = base_image
        try:
            refined, refine_item = self.refine_image(
                base_image, prompt, negative_prompt, refiner_steps=refiner_steps,
                refiner_strength=refiner_strength, cfg_scale=cfg_scale,
            )
        except JobError as exc:
            log.warning("refinement failed (%s); continuing with the base image", exc)
            results["errors"]["refined"] = exc
        else:
            results["refined"] = refined
            results["metadata"]["refined"] = refine_item
            current = refined
        if upscale:
            upscaled, upscale_item = self.upscale_image(current, scale=upscale_factor)
            results["upscaled"] = upscaled
            results["metadata"]["upscaled"] = upscale_item
        return results
