"""Face and detail passes: the seed's FaceRefiner and DetailEnhancer over the bundled workflows.

The face pass runs `face_restore.json` (face_off detection on the server, img2img of
the crop with an SDXL refiner model, pasted back through the face mask). InvokeAI 6.x
has no CodeFormer/GFPGAN node: the seed's "CodeFormer"/"GFPGAN" method names are
refused with the installed candidates.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Unpack

from .._exceptions import ValidationError
from .._flow import AsyncRunner, Flow, Runner
from .._resource import operation
from ..queue_models import QueueItem
from ..workflows.face import face_detected
from .refine import MultiStageRefiner, PipelineOptions, base_values, refine_values
from .stage import DictView, image_name_flow

if TYPE_CHECKING:
    from ..client import _Client

__all__ = [
    "DETAIL_LEVELS",
    "TEXTURE_PROMPTS",
    "AsyncDetailEnhancer",
    "AsyncFaceRefiner",
    "DetailEnhancer",
    "FaceRefiner",
    "FaceResult",
    "PortraitResult",
]

log = logging.getLogger("invokeai_py_client.pipelines")

DETAIL_LEVELS: Mapping[str, Mapping[str, float]] = {
    "low": {"steps": 10, "strength": 0.3, "cfg": 5.0},
    "medium": {"steps": 15, "strength": 0.5, "cfg": 7.0},
    "high": {"steps": 20, "strength": 0.7, "cfg": 8.0},
    "ultra": {"steps": 30, "strength": 0.9, "cfg": 10.0},
}

TEXTURE_PROMPTS: Mapping[str, str] = {
    "fabric": "detailed fabric texture, visible weave, cloth material",
    "metal": "metallic surface, reflective, detailed metal texture",
    "skin": "detailed skin texture, pores, natural skin",
    "wood": "wood grain, detailed wood texture, natural pattern",
    "stone": "stone texture, rough surface, detailed rock",
}


def _choice(value: str, allowed: Mapping[str, Any], what: str) -> Any:
    if value not in allowed:
        raise ValidationError(f"unknown {what} {value!r}; one of: {', '.join(allowed)}")
    return allowed[value]


@dataclass(frozen=True)
class FaceResult:
    """A face pass: its image, queue item and whether a face was found (unpacks as a 3-tuple)."""

    image: str
    item: QueueItem
    found: bool
    """False: no face, and `image` is an unchanged copy of the input."""

    def __iter__(self) -> Any:
        return iter((self.image, self.item, self.found))


@dataclass(frozen=True)
class PortraitResult(DictView):
    """What `portrait_pipeline` made: image names by stage (reads as the seed's dict too)."""

    base: str
    refined: str
    face_enhanced: str | None = None
    """None when the face pass was not asked for."""
    metadata: dict[str, QueueItem] = field(default_factory=dict)


class FaceRefiner(MultiStageRefiner[Runner]):
    """The multi-stage pipeline plus a face pass (detect, redraw the face crop, paste back).

    `face_model`: SDXL refiner model (name or key) for the face pass; None keeps the synced one.
    """

    def __init__(self, client: _Client[Runner], face_model: str | None = None, **options: Unpack[PipelineOptions]) -> None:
        super().__init__(client, **options)  # type: ignore[arg-type]  # mypy checks each constraint of Runner apart
        self.face_model = face_model
        self.stages["face"] = self.make_stage("face_restore.json", board=self.boards.face_enhanced)

    def _face_flow(
        self, image: str | os.PathLike[str] | Any, enhancement_strength: float, model: str | None, prompt: str | None
    ) -> Flow[FaceResult]:
        name = yield from image_name_flow(self.client, image)
        values: dict[int | str, Any] = {"Input image": name, "Enhancement strength": enhancement_strength}
        if model or self.face_model:
            values["Face model"] = model or self.face_model
        if prompt:
            values["Face prompt"] = prompt
        result, item = yield from self.stages["face"]._run_flow(values)
        found = face_detected(item)
        if not found:
            log.info("no face found in %s; the image is unchanged", name)
        return FaceResult(result, item, found)

    @operation
    def enhance_face(
        self, image: str | os.PathLike[str] | Any, enhancement_strength: float = 0.5, model: str | None = None,
        prompt: str | None = None,
    ) -> Flow[FaceResult]:
        """Run the face pass; returns (image name, queue item, whether a face was found).

        With no face the server returns the image unchanged; the name then points at
        that unchanged copy.
        """
        return self._face_flow(image, enhancement_strength, model, prompt)

    def _detect_flow(self, image: str | os.PathLike[str] | Any, enhancement_strength: float) -> Flow[str]:
        original = yield from image_name_flow(self.client, image)
        result = yield from self._face_flow(original, enhancement_strength, None, None)
        return result.image if result.found else original

    @operation
    def detect_and_enhance_faces(self, image: str | os.PathLike[str] | Any, enhancement_strength: float = 0.5) -> Flow[str]:
        """The seed's method: the enhanced image, or the input's name when there is no face."""
        return self._detect_flow(image, enhancement_strength)

    @operation
    def portrait_pipeline(
        self,
        prompt: str,
        negative_prompt: str = "",
        enhance_face: bool = True,
        face_strength: float = 0.5,
        *,
        seed: int | None = None,
        steps: int = 35,
        width: int = 1024,
        height: int = 1024,
    ) -> Flow[PortraitResult]:
        """Base portrait, refinement, then the face pass; image names by stage."""
        metadata: dict[str, QueueItem] = {}
        base, metadata["base"] = yield from self.stages["base"]._run_flow(base_values(
            prompt + ", portrait, face focus", negative_prompt + ", bad face, distorted face",
            seed, steps, 7.5, width, height,
        ))
        refined, metadata["refined"] = yield from self.stages["refine"]._run_flow(
            refine_values(base, prompt, negative_prompt, 15, 0.3, 7.0)
        )
        face = None
        if enhance_face:
            face = yield from self._detect_flow(refined, face_strength)
        return PortraitResult(base, refined, face, metadata)


class DetailEnhancer(FaceRefiner[Runner]):
    """Masked region passes, texture passes and chains of them (faces included)."""

    def __init__(self, client: _Client[Runner], face_model: str | None = None, **options: Unpack[PipelineOptions]) -> None:
        super().__init__(client, face_model, **options)  # type: ignore[arg-type]  # mypy checks each constraint of Runner apart
        self.stages["masked"] = self.make_stage("masked_refine.json", board=self.boards.detail)

    def _region_flow(
        self, image: str | os.PathLike[str] | Any, mask: str | os.PathLike[str] | Any, prompt: str, detail_level: str
    ) -> Flow[str]:
        config = _choice(detail_level, DETAIL_LEVELS, "detail level")
        name = yield from image_name_flow(self.client, image)
        mask_name = yield from image_name_flow(self.client, mask)
        result, _ = yield from self.stages["masked"]._run_flow(
            {"Input image": name, "Mask image": mask_name, "Prompt": prompt, "Steps": int(config["steps"]),
             "Strength": config["strength"], "CFG scale": config["cfg"]}
        )
        return result

    @operation
    def enhance_region(
        self, image: str | os.PathLike[str] | Any, mask: str | os.PathLike[str] | Any, prompt: str,
        detail_level: str = "high",
    ) -> Flow[str]:
        """Refine where the mask is black (InvokeAI's convention); other pixels stay identical.

        `image` and `mask` may be image names, local files or PIL images (uploaded).
        """
        return self._region_flow(image, mask, prompt, detail_level)

    def _texture_flow(self, image: str | os.PathLike[str] | Any, texture_type: str) -> Flow[str]:
        prompt = _choice(texture_type, TEXTURE_PROMPTS, "texture type")
        name = yield from image_name_flow(self.client, image)
        result, _ = yield from self.stages["refine"]._run_flow(refine_values(name, prompt, "", 15, 0.4, 8.0))
        return result

    @operation
    def enhance_textures(self, image: str | os.PathLike[str] | Any, texture_type: str = "fabric") -> Flow[str]:
        """A refiner pass with a texture prompt (`TEXTURE_PROMPTS`)."""
        return self._texture_flow(image, texture_type)

    @operation
    def multi_detail_enhancement(
        self, image: str | os.PathLike[str] | Any, enhancements: Sequence[Mapping[str, Any]]
    ) -> Flow[str]:
        """Apply enhancements in order: ``{"type": "face"|"texture"|"masked", ...}``.

        Every entry is checked before the first pass runs.
        """
        problems = []
        for i, e in enumerate(enhancements):
            kind = e.get("type", "general")
            if kind not in ("face", "texture", "masked"):
                problems.append(f"enhancement {i}: unknown type {kind!r}; one of: face, texture, masked")
            elif kind == "masked" and not ("mask" in e and "prompt" in e):
                problems.append(f"enhancement {i}: a masked enhancement needs 'mask' and 'prompt'")
            elif kind == "texture" and e.get("texture_type", "fabric") not in TEXTURE_PROMPTS:
                problems.append(f"enhancement {i}: unknown texture type {e.get('texture_type')!r}")
            elif kind == "masked" and e.get("detail_level", "high") not in DETAIL_LEVELS:
                problems.append(f"enhancement {i}: unknown detail level {e.get('detail_level')!r}")
        if problems:
            raise ValidationError("bad enhancement list", problems)
        current = yield from image_name_flow(self.client, image)
        for e in enhancements:
            if e["type"] == "face":
                current = yield from self._detect_flow(current, e.get("strength", 0.5))
            elif e["type"] == "texture":
                current = yield from self._texture_flow(current, e.get("texture_type", "fabric"))
            else:
                current = yield from self._region_flow(current, e["mask"], e["prompt"], e.get("detail_level", "high"))
        return current


AsyncFaceRefiner = FaceRefiner[AsyncRunner]
"""`FaceRefiner` of an `AsyncInvokeAIClient`: the same methods, awaited."""
AsyncDetailEnhancer = DetailEnhancer[AsyncRunner]
"""`DetailEnhancer` of an `AsyncInvokeAIClient`: the same methods, awaited."""
