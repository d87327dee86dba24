"""Face and detail passes: the seed's FaceRefiner and DetailEnhancer over the bundled workflows.

The face pass runs `face_restore.json` (face_off detection on the server, img2img of
the crop with an SDXL refiner model, pasted back through the face mask). InvokeAI 6.x
has no CodeFormer/GFPGAN node: the seed's "CodeFormer"/"GFPGAN" method names are
refused with the installed candidates.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._exceptions import ValidationError
from ..queue_models import QueueItem
from ..workflows.face import face_detected
from .refine import MultiStageRefiner

__all__ = ["DETAIL_LEVELS", "TEXTURE_PROMPTS", "DetailEnhancer", "FaceRefiner"]

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


@dataclass
class FaceRefiner(MultiStageRefiner):
    """Adds a face pass (detect, redraw the face crop, paste back) to the multi-stage pipeline."""

    face_model: str | None = None
    """SDXL refiner model (name or key) for the face pass; None keeps the synced one."""

    def setup_workflows(self) -> None:
        super().setup_workflows()
        self.setup_face_workflows()

    def setup_face_workflows(self) -> None:
        """Load the face workflow and point its model at an installed one."""
        self.face_restore_wf = self._load("face_restore.json")
        self.face_restore_wf.sync_dnn_model(by_name=True, by_base=True)

    def enhance_face(
        self, image: str | Path | Any, enhancement_strength: float = 0.5, model: str | None = None,
        prompt: str | None = None,
    ) -> tuple[str, QueueItem, bool]:
        """Run the face pass; returns (image name, queue item, whether a face was found).

        With no face the server returns the image unchanged; the name then points at
        that unchanged copy.
        """
        values: dict[int | str, Any] = {
            "Input image": self.ensure_image_name(image), "Enhancement strength": enhancement_strength,
            "Output board": self.boards.face_enhanced,
        }
        if model or self.face_model:
            values["Face model"] = model or self.face_model
        if prompt:
            values["Face prompt"] = prompt
        name, item = self._run(self.face_restore_wf, values)
        found = face_detected(item)
        if not found:
            log.info("no face found in %s; the image is unchanged", values["Input image"])
        return name, item, found

    def detect_and_enhance_faces(self, image: str | Path | Any, enhancement_strength: float = 0.5) -> str:
        """The seed's method: the enhanced image, or the input's name when there is no face."""
        original = self.ensure_image_name(image)
        name, _, found = self.enhance_face(original, enhancement_strength)
        return name if found else original

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
    ) -> dict[str, Any]:
        """Base portrait, refinement, then the face pass; image names by stage."""
        results: dict[str, Any] = {}
        base, _ = self.generate_base(
            prompt + ", portrait, face focus", negative_prompt + ", bad face, distorted face",
            seed=seed, steps=steps, cfg_scale=7.5, width=width, height=height,
        )
        results["base"] = base
        refined, _ = self.refine_image(base, prompt, negative_prompt, refiner_steps=15, refiner_strength=0.3)
        results["refined"] = refined
        if enhance_face:
            results["face_enhanced"] = self.detect_and_enhance_faces(refined, face_strength)
        return results


@dataclass
class DetailEnhancer(FaceRefiner):
    """Masked region passes, texture passes and chains of them (faces included)."""

    def setup_workflows(self) -> None:
        super().setup_workflows()
        self.masked_wf = self._load("masked_refine.json")
        self.masked_wf.sync_dnn_model(by_name=True, by_base=True)

    def enhance_region(self, image: str | Path | Any, mask: str | Path | Any, prompt: str, detail_level: str = "high") -> str:
        """Refine where the mask is black (InvokeAI's convention); other pixels stay identical.

        `image` and `mask` may be image names, local files or PIL images (uploaded).
        """
        config = _choice(detail_level, DETAIL_LEVELS, "detail level")
        name, _ = self._run(
            self.masked_wf,
            {"Input image": self.ensure_image_name(image), "Mask image": self.ensure_image_name(mask), "Prompt": prompt,
             "Steps": int(config["steps"]), "Strength": config["strength"], "CFG scale": config["cfg"],
             "Output board": self.boards.detail},
        )
        return name

    def enhance_textures(self, image: str | Path | Any, texture_type: str = "fabric") -> str:
        """A refiner pass with a texture prompt (`TEXTURE_PROMPTS`)."""
        prompt = _choice(texture_type, TEXTURE_PROMPTS, "texture type")
        return self.refine_image(
            self.ensure_image_name(image), prompt, refiner_steps=15, refiner_strength=0.4, cfg_scale=8.0
        )[0]

    def multi_detail_enhancement(self, image: str | Path | Any, enhancements: Sequence[Mapping[str, Any]]) -> str:
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
        current = self.ensure_image_name(image)
        for e in enhancements:
            if e["type"] == "face":
                current = self.detect_and_enhance_faces(current, e.get("strength", 0.5))
            elif e["type"] == "texture":
                current = self.enhance_textures(current, e.get("texture_type", "fabric"))
            else:
                current = self.enhance_region(current, e["mask"], e["prompt"], e.get("detail_level", "high"))
        return current
