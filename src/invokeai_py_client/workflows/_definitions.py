"""How the bundled stage workflows are made: one builder function per file.

The JSON files next to this module are generated from here; never edit them by hand.
Regenerate them after a change with::

    python -m invokeai_py_client.workflows._definitions --write

Each Form lists its inputs in a fixed order that the pipelines rely on (extra inputs
only ever go after the documented ones). Every model is the local test server's tiny
model (`tiny-sdxl`, `tiny-sdxl-refiner`, `tiny-esrgan-x4`); a real server re-matches
them with ``sync_dnn_model(by_name=True, by_base=True)``.

Server facts the graphs are built around (InvokeAI 6.14):

- `sdxl_refiner_compel_prompt` has no `prompt` input: the text goes into `style`.
- img2img strength is ``denoising_start = 1 - strength``; a `float_math` SUB node
  computes it so the Form field is the strength itself.
- The fused base+refiner graph hands the base latents to the refiner at the switch
  point without decoding; the refiner's denoise gets no noise (it would add it twice).
- `l2i` re-decodes every pixel, so the masked and face passes resize the result back
  and paste it with the mask (black = change): pixels outside the mask stay identical.
- `face_off` passes an image without a face through with an all-white mask at x=y=0
  (see `face_detected`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..workflow.builder import NodeRef, WorkflowBuilder
from .face import FACE_OFF_NODE_ID, INPUT_IMAGE_NODE_ID

__all__ = [
    "build_all",
    "esrgan_upscale",
    "face_restore",
    "masked_refine",
    "sdxl_base",
    "sdxl_refiner",
    "sdxl_with_refiner",
]

WORKFLOWS_DIR = Path(__file__).resolve().parent
AUTHOR = "invokeai-py-client"
VERSION = "1.0.0"

# The tiny models of the package's local test server (`invokeai_py_client.server`).
# Keys are per install; hashes are stable (the models are built from fixed seeds).
TINY_SDXL = {
    "key": "0b8f0a2d-7f33-4ed1-a723-168048167a74",
    "hash": "blake3:c4dad34399efd3d22b984627c61b16cfe1b19106bf439a599a980c301b65f25e",
    "name": "tiny-sdxl",
    "base": "sdxl",
    "type": "main",
}
TINY_SDXL_REFINER = {
    "key": "25119eff-2edd-4b3f-a73a-847da5b784d5",
    "hash": "blake3:6e72ca9ccc1d7b50294fc4a6d875ae8fc0d5d47258979276bf54caa02ad75305",
    "name": "tiny-sdxl-refiner",
    "base": "sdxl-refiner",
    "type": "main",
}
TINY_ESRGAN_X4 = {
    "key": "be9a7684-015a-448a-bfa7-ee4edd15dad9",
    "hash": "blake3:9ab3521636e54ce72d48169bdca4fcd7356c8bdccb5d74141f6ee265763d32a4",
    "name": "tiny-esrgan-x4",
    "base": "any",
    "type": "spandrel_image_to_image",
}


_TEXTAREA = {"component": "textarea"}
_UNIT = {"min": 0, "max": 1}
_STEPS = {"min": 1, "max": 150}
_CFG = {"min": 1, "max": 30}
_SIZE = {"min": 64, "max": 4096}
_SEED = {"min": 0, "max": 4294967295, "showShuffle": True}
_NEGATIVE_AESTHETIC_SCORE = 2.5  # the GUI's default for the refiner's negative prompt


def _strength_to_start(b: WorkflowBuilder, node_id: str, strength: float) -> NodeRef:
    """A `float_math` node computing ``1 - strength`` (its `b` input is the strength)."""
    return b.add_node(
        "float_math", node_id, label="1 - strength", operation="SUB", a=1.0, b=strength
    )


def _sdxl_prompts(
    b: WorkflowBuilder, loader: NodeRef, size: NodeRef, positive: str, negative: str
) -> tuple[NodeRef, NodeRef, NodeRef, NodeRef]:
    """Prompt strings and the SDXL base conditioning (the text goes to prompt and style)."""
    pos_text = b.add_node("string", "positive_prompt", label="Positive prompt", value=positive)
    neg_text = b.add_node("string", "negative_prompt", label="Negative prompt", value=negative)
    pos = b.add_node("sdxl_compel_prompt", "positive_conditioning", label="Positive conditioning")
    neg = b.add_node("sdxl_compel_prompt", "negative_conditioning", label="Negative conditioning")
    for text, cond in ((pos_text, pos), (neg_text, neg)):
        b.connect(text, "value", cond, "prompt")
        b.connect(text, "value", cond, "style")
        b.connect(loader, "clip", cond, "clip")
        b.connect(loader, "clip2", cond, "clip2")
        for field in ("original_width", "target_width"):
            b.connect(size, "width", cond, field)
        for field in ("original_height", "target_height"):
            b.connect(size, "height", cond, field)
    return pos_text, neg_text, pos, neg


def _refiner_prompts(
    b: WorkflowBuilder,
    loader: NodeRef,
    size: NodeRef,
    positive: NodeRef | str,
    negative: NodeRef | str,
    *,
    prefix: str = "refiner_",
) -> tuple[NodeRef, NodeRef]:
    """The refiner's conditioning; a prompt is a string node's output or a fixed text."""
    pos = b.add_node(
        "sdxl_refiner_compel_prompt",
        f"{prefix}positive_conditioning",
        label="Refiner positive conditioning",
    )
    neg = b.add_node(
        "sdxl_refiner_compel_prompt",
        f"{prefix}negative_conditioning",
        label="Refiner negative conditioning",
        aesthetic_score=_NEGATIVE_AESTHETIC_SCORE,
    )
    for text, cond in ((positive, pos), (negative, neg)):
        if isinstance(text, NodeRef):
            b.connect(text, "value", cond, "style")  # the refiner's prompt input is `style`
        else:
            b.set_values(cond, style=text)
        b.connect(loader, "clip2", cond, "clip2")
        b.connect(size, "width", cond, "original_width")
        b.connect(size, "height", cond, "original_height")
    return pos, neg


def sdxl_base() -> dict[str, Any]:
    """Text to image with an SDXL model.

    Form: 0 positive prompt, 1 negative prompt, 2 seed, 3 steps, 4 CFG scale, 5 width,
    6 height, 7 output board, 8 model, 9 scheduler.
    """
    b = WorkflowBuilder(
        "SDXL base (text to image)",
        description="Text to image with an SDXL main model; the image goes to the output board.",
        author=AUTHOR,
        version=VERSION,
        tags="sdxl, text to image, stage",
    )
    loader = b.add_node("sdxl_model_loader", "model_loader", label="SDXL model", model=TINY_SDXL)
    noise = b.add_node(
        "noise", "noise", label="Noise", seed=0, width=1024, height=1024, use_cpu=True
    )
    pos_text, neg_text, pos, neg = _sdxl_prompts(b, loader, noise, "", "")
    denoise = b.add_node(
        "denoise_latents",
        "denoise",
        label="Denoise",
        steps=30,
        cfg_scale=7.5,
        scheduler="euler",
        denoising_start=0.0,
        denoising_end=1.0,
    )
    l2i = b.add_node(
        "l2i", "latents_to_image", label="Output image", is_intermediate=False, board="auto"
    )
    b.connect(loader, "unet", denoise, "unet")
    b.connect(pos, "conditioning", denoise, "positive_conditioning")
    b.connect(neg, "conditioning", denoise, "negative_conditioning")
    b.connect(noise, "noise", denoise, "noise")
    b.connect(denoise, "latents", l2i, "latents")
    b.connect(loader, "vae", l2i, "vae")

    b.expose(pos_text, "value", label="Positive prompt", settings=_TEXTAREA)
    b.expose(neg_text, "value", label="Negative prompt", settings=_TEXTAREA)
    b.expose(noise, "seed", label="Seed", settings=_SEED)
    b.expose(denoise, "steps", label="Steps", settings=_STEPS)
    b.expose(denoise, "cfg_scale", label="CFG scale")  # float | list: no Form settings
    b.expose(noise, "width", label="Width", settings=_SIZE)
    b.expose(noise, "height", label="Height", settings=_SIZE)
    b.expose(l2i, "board", label="Output board")
    b.expose(loader, "model", label="Model")
    b.expose(denoise, "scheduler", label="Scheduler")
    return b.build()


def _connect_img2img(
    b: WorkflowBuilder,
    *,
    loader: NodeRef,
    i2l: NodeRef,
    noise: NodeRef,
    pos: NodeRef,
    neg: NodeRef,
    denoise: NodeRef,
    start: NodeRef,
    l2i: NodeRef,
    denoise_mask: NodeRef | None = None,
) -> None:
    """The img2img core shared by the refiner, face and masked workflows.

    Encoded latents and noise (sized by i2l, a multiple of 8 as noise requires) go
    into a denoise that starts at `start` (1 - strength), then l2i decodes.
    """
    b.connect(i2l, "width", noise, "width")
    b.connect(i2l, "height", noise, "height")
    b.connect(loader, "unet", denoise, "unet")
    b.connect(pos, "conditioning", denoise, "positive_conditioning")
    b.connect(neg, "conditioning", denoise, "negative_conditioning")
    b.connect(noise, "noise", denoise, "noise")
    b.connect(i2l, "latents", denoise, "latents")
    if denoise_mask is not None:
        b.connect(denoise_mask, "denoise_mask", denoise, "denoise_mask")
    b.connect(start, "value", denoise, "denoising_start")
    b.connect(denoise, "latents", l2i, "latents")
    b.connect(loader, "vae", l2i, "vae")


def sdxl_refiner() -> dict[str, Any]:
    """Image to image with an SDXL refiner model; the output has the input's size.

    Form: 0 input image, 1 prompt, 2 negative prompt, 3 refinement steps, 4 strength
    (0 keeps the image, 1 redraws it), 5 CFG scale, 6 output board, 7 model.
    """
    b = WorkflowBuilder(
        "SDXL refiner (image to image)",
        description=(
            "Refines an image with an SDXL refiner model. Strength 0..1 is how much is redrawn "
            "(denoising starts at 1 - strength); the output has the input's size."
        ),
        author=AUTHOR,
        version=VERSION,
        tags="sdxl, refiner, image to image, stage",
    )
    image = b.add_node("image", INPUT_IMAGE_NODE_ID, label="Input image")
    loader = b.add_node(
        "sdxl_refiner_model_loader",
        "model_loader",
        label="SDXL refiner model",
        model=TINY_SDXL_REFINER,
    )
    pos_text = b.add_node("string", "positive_prompt", label="Prompt", value="")
    neg_text = b.add_node("string", "negative_prompt", label="Negative prompt", value="")
    pos, neg = _refiner_prompts(b, loader, image, pos_text, neg_text, prefix="")
    i2l = b.add_node("i2l", "image_to_latents", label="Encode")
    noise = b.add_node("noise", "noise", label="Noise", seed=0, use_cpu=True)
    start = _strength_to_start(b, "strength_to_start", 0.3)
    denoise = b.add_node(
        "denoise_latents",
        "denoise",
        label="Refine",
        steps=20,
        cfg_scale=7.5,
        scheduler="euler",
        denoising_end=1.0,
    )
    l2i = b.add_node("l2i", "latents_to_image", label="Decode")
    resize = b.add_node(
        "img_resize",
        "output_image",
        label="Output image",
        is_intermediate=False,
        board="auto",
        resample_mode="lanczos",
    )
    b.connect(image, "image", i2l, "image")
    b.connect(loader, "vae", i2l, "vae")
    _connect_img2img(b, loader=loader, i2l=i2l, noise=noise, pos=pos, neg=neg, denoise=denoise, start=start, l2i=l2i)
    # Latents are 1/8 of the image: sizes that are not multiples of 8 come back smaller.
    b.connect(l2i, "image", resize, "image")
    b.connect(image, "width", resize, "width")
    b.connect(image, "height", resize, "height")

    b.expose(image, "image", label="Input image")
    b.expose(pos_text, "value", label="Prompt", settings=_TEXTAREA)
    b.expose(neg_text, "value", label="Negative prompt", settings=_TEXTAREA)
    b.expose(denoise, "steps", label="Refinement steps", settings=_STEPS)
    b.expose(
        start,
        "b",
        label="Strength",
        description="0 keeps the image, 1 redraws it entirely.",
        settings=_UNIT,
    )
    b.expose(denoise, "cfg_scale", label="CFG scale")  # float | list: no Form settings
    b.expose(resize, "board", label="Output board")
    b.expose(loader, "model", label="Model")
    return b.build()


def esrgan_upscale() -> dict[str, Any]:
    """Upscale by an integer factor with any spandrel image-to-image model.

    Form: 0 input image, 1 scale, 2 upscaling model, 3 output board. The model's own
    factor does not have to match: the node runs it as often as needed, then resizes.
    """
    b = WorkflowBuilder(
        "ESRGAN upscale",
        description=(
            "Upscales an image by an integer factor (1-16) with a spandrel image-to-image model "
            "(ESRGAN, ...); the model is run as often as needed and the result resized to the exact factor."
        ),
        author=AUTHOR,
        version=VERSION,
        tags="upscale, esrgan, spandrel, stage",
    )
    scale = b.add_node("integer", "scale", label="Scale", value=4)
    upscale = b.add_node(
        "spandrel_image_to_image_autoscale",
        "upscale",
        label="Upscaled image",
        is_intermediate=False,
        board="auto",
        image_to_image_model=TINY_ESRGAN_X4,
        tile_size=512,
        fit_to_multiple_of_8=False,
    )
    # The node's scale is a float; the Form's is an integer (InvokeAI connects int to float).
    b.connect(scale, "value", upscale, "scale")

    b.expose(upscale, "image", label="Input image")
    b.expose(scale, "value", label="Scale", settings={"min": 1, "max": 16})
    b.expose(upscale, "image_to_image_model", label="Upscaling model")
    b.expose(upscale, "board", label="Output board")
    return b.build()


def face_restore() -> dict[str, Any]:
    """Redraw the (first) face of an image with an SDXL refiner model; nothing else changes.

    InvokeAI 6.x has no CodeFormer/GFPGAN node. The method here is an img2img pass on
    the face: `face_off` crops a square around the face (mediapipe, offline) with a
    mask; the crop is re-noised from ``1 - strength`` and denoised by the face model,
    resized back to the crop's size and pasted at the crop's position through the
    mask, so only the face's pixels change.

    Form: 0 input image, 1 enhancement strength, 2 face model (the method: any
    installed main model of base sdxl-refiner), 3 output board, 4 face prompt.
    Without a face the image comes back unchanged (see `face_detected`).
    """
    b = WorkflowBuilder(
        "Face restore",
        description=(
            "Finds the first face (mediapipe) and redraws only it with an SDXL refiner model "
            "(img2img at the given strength), then pastes it back through the face mask. "
            "An image without a face comes back unchanged."
        ),
        author=AUTHOR,
        version=VERSION,
        tags="face, restore, refiner, stage",
    )
    image = b.add_node("image", INPUT_IMAGE_NODE_ID, label="Input image")
    face = b.add_node(
        "face_off", FACE_OFF_NODE_ID, label="Face crop and mask", minimum_confidence=0.5, padding=0
    )
    start = _strength_to_start(b, "strength_to_start", 0.5)
    loader = b.add_node(
        "sdxl_refiner_model_loader", "model_loader", label="Face model", model=TINY_SDXL_REFINER
    )
    prompt = b.add_node(
        "string",
        "face_prompt",
        label="Face prompt",
        value="a detailed, sharp photo of a face, natural skin, clear eyes",
    )
    pos, neg = _refiner_prompts(
        b, loader, face, prompt, "blurry, deformed, distorted face", prefix=""
    )
    i2l = b.add_node("i2l", "image_to_latents", label="Encode face")
    noise = b.add_node("noise", "noise", label="Noise", seed=0, use_cpu=True)
    denoise = b.add_node(
        "denoise_latents",
        "denoise",
        label="Redraw face",
        steps=20,
        cfg_scale=5.0,
        scheduler="euler",
        denoising_end=1.0,
    )
    l2i = b.add_node("l2i", "latents_to_image", label="Decode face")
    resize = b.add_node(
        "img_resize", "face_resized", label="Face at crop size", resample_mode="lanczos"
    )
    paste = b.add_node(
        "img_paste",
        "output_image",
        label="Output image",
        is_intermediate=False,
        board="auto",
        crop=True,
    )
    b.connect(image, "image", face, "image")
    b.connect(face, "image", i2l, "image")
    b.connect(loader, "vae", i2l, "vae")
    _connect_img2img(b, loader=loader, i2l=i2l, noise=noise, pos=pos, neg=neg, denoise=denoise, start=start, l2i=l2i)
    b.connect(l2i, "image", resize, "image")
    b.connect(face, "width", resize, "width")
    b.connect(face, "height", resize, "height")
    b.connect(image, "image", paste, "base_image")
    b.connect(resize, "image", paste, "image")
    b.connect(face, "mask", paste, "mask")  # black = face: only the face is pasted
    b.connect(face, "x", paste, "x")
    b.connect(face, "y", paste, "y")

    b.expose(image, "image", label="Input image")
    b.expose(
        start,
        "b",
        label="Enhancement strength",
        description="How much of the face is redrawn: 0 keeps it, 1 redraws it entirely.",
        settings=_UNIT,
    )
    b.expose(
        loader,
        "model",
        label="Face model",
        description="The method: the SDXL refiner model that redraws the face crop (img2img).",
    )
    b.expose(paste, "board", label="Output board")
    b.expose(prompt, "value", label="Face prompt", settings=_TEXTAREA)
    return b.build()


def masked_refine() -> dict[str, Any]:
    """Refine only the masked region of an image (mask: black = change) with an SDXL refiner.

    Form: 0 input image, 1 mask image, 2 prompt, 3 steps, 4 strength, 5 CFG scale,
    6 output board, 7 model. Pixels outside the mask come back identical.
    """
    b = WorkflowBuilder(
        "Masked refine",
        description=(
            "Refines the region of an image where the mask is black (InvokeAI's convention) with an "
            "SDXL refiner model; pixels where the mask is white come back identical."
        ),
        author=AUTHOR,
        version=VERSION,
        tags="mask, inpaint, refiner, stage",
    )
    image = b.add_node("image", INPUT_IMAGE_NODE_ID, label="Input image")
    mask = b.add_node("image", "mask_image", label="Mask (black = refine)")
    loader = b.add_node(
        "sdxl_refiner_model_loader",
        "model_loader",
        label="SDXL refiner model",
        model=TINY_SDXL_REFINER,
    )
    prompt = b.add_node("string", "positive_prompt", label="Prompt", value="")
    pos, neg = _refiner_prompts(b, loader, image, prompt, "", prefix="")
    i2l = b.add_node("i2l", "image_to_latents", label="Encode")
    denoise_mask = b.add_node("create_denoise_mask", "denoise_mask", label="Denoise mask")
    noise = b.add_node("noise", "noise", label="Noise", seed=0, use_cpu=True)
    start = _strength_to_start(b, "strength_to_start", 0.5)
    denoise = b.add_node(
        "denoise_latents",
        "denoise",
        label="Refine masked region",
        steps=20,
        cfg_scale=7.5,
        scheduler="euler",
        denoising_end=1.0,
    )
    l2i = b.add_node("l2i", "latents_to_image", label="Decode")
    resize = b.add_node(
        "img_resize", "refined_resized", label="Refined at input size", resample_mode="lanczos"
    )
    paste = b.add_node(
        "canvas_paste_back",
        "output_image",
        label="Output image",
        is_intermediate=False,
        board="auto",
        mask_blur=0,
    )
    b.connect(image, "image", i2l, "image")
    b.connect(loader, "vae", i2l, "vae")
    b.connect(loader, "vae", denoise_mask, "vae")
    b.connect(image, "image", denoise_mask, "image")
    b.connect(mask, "image", denoise_mask, "mask")
    _connect_img2img(
        b, loader=loader, i2l=i2l, noise=noise, pos=pos, neg=neg, denoise=denoise, start=start, l2i=l2i,
        denoise_mask=denoise_mask,
    )
    b.connect(l2i, "image", resize, "image")
    b.connect(image, "width", resize, "width")
    b.connect(image, "height", resize, "height")
    # l2i re-decodes every pixel: paste the refined image back through the mask.
    b.connect(image, "image", paste, "source_image")
    b.connect(resize, "image", paste, "target_image")
    b.connect(mask, "image", paste, "mask")

    b.expose(image, "image", label="Input image")
    b.expose(
        mask, "image", label="Mask image", description="Black = refine, white = keep unchanged."
    )
    b.expose(prompt, "value", label="Prompt", settings=_TEXTAREA)
    b.expose(denoise, "steps", label="Steps", settings=_STEPS)
    b.expose(
        start,
        "b",
        label="Strength",
        description="0 keeps the region, 1 redraws it entirely.",
        settings=_UNIT,
    )
    b.expose(denoise, "cfg_scale", label="CFG scale")  # float | list: no Form settings
    b.expose(paste, "board", label="Output board")
    b.expose(loader, "model", label="Model")
    return b.build()


def sdxl_with_refiner() -> dict[str, Any]:
    """Text to image with an SDXL base model handing over to a refiner, in one graph.

    The base denoises until the switch point (`denoising_end`), the refiner continues
    from the same latents (`denoising_start`), and only the final latents are decoded.

    Form: 0 positive prompt, 1 negative prompt, 2 seed, 3 base steps, 4 refiner steps,
    5 switch point, 6 width, 7 height, 8 CFG scale, 9 output board, 10 base model,
    11 refiner model.
    """
    b = WorkflowBuilder(
        "SDXL base + refiner",
        description=(
            "Text to image: an SDXL base model denoises up to the switch point (0..1), an SDXL refiner "
            "finishes from the same latents; only the final image is saved to the output board."
        ),
        author=AUTHOR,
        version=VERSION,
        tags="sdxl, refiner, text to image, stage",
    )
    loader = b.add_node("sdxl_model_loader", "model_loader", label="SDXL model", model=TINY_SDXL)
    refiner_loader = b.add_node(
        "sdxl_refiner_model_loader",
        "refiner_model_loader",
        label="SDXL refiner model",
        model=TINY_SDXL_REFINER,
    )
    noise = b.add_node(
        "noise", "noise", label="Noise", seed=0, width=1024, height=1024, use_cpu=True
    )
    pos_text, neg_text, pos, neg = _sdxl_prompts(b, loader, noise, "", "")
    refiner_pos, refiner_neg = _refiner_prompts(b, refiner_loader, noise, pos_text, neg_text)
    switch = b.add_node("float", "switch_point", label="Switch point", value=0.8)
    cfg = b.add_node("float", "cfg_scale", label="CFG scale", value=7.5)
    base = b.add_node(
        "denoise_latents",
        "base_denoise",
        label="Base denoise",
        steps=30,
        scheduler="euler",
        denoising_start=0.0,
    )
    refiner = b.add_node(
        "denoise_latents",
        "refiner_denoise",
        label="Refiner denoise",
        steps=20,
        scheduler="euler",
        denoising_end=1.0,
    )
    l2i = b.add_node(
        "l2i", "latents_to_image", label="Output image", is_intermediate=False, board="auto"
    )
    b.connect(loader, "unet", base, "unet")
    b.connect(pos, "conditioning", base, "positive_conditioning")
    b.connect(neg, "conditioning", base, "negative_conditioning")
    b.connect(noise, "noise", base, "noise")
    b.connect(switch, "value", base, "denoising_end")
    b.connect(cfg, "value", base, "cfg_scale")
    # The refiner continues the base's latents; no noise (it would be added twice).
    b.connect(refiner_loader, "unet", refiner, "unet")
    b.connect(refiner_pos, "conditioning", refiner, "positive_conditioning")
    b.connect(refiner_neg, "conditioning", refiner, "negative_conditioning")
    b.connect(base, "latents", refiner, "latents")
    b.connect(switch, "value", refiner, "denoising_start")
    b.connect(cfg, "value", refiner, "cfg_scale")
    b.connect(refiner, "latents", l2i, "latents")
    b.connect(refiner_loader, "vae", l2i, "vae")

    b.expose(pos_text, "value", label="Positive prompt", settings=_TEXTAREA)
    b.expose(neg_text, "value", label="Negative prompt", settings=_TEXTAREA)
    b.expose(noise, "seed", label="Seed", settings=_SEED)
    b.expose(base, "steps", label="Base steps", settings=_STEPS)
    b.expose(refiner, "steps", label="Refiner steps", settings=_STEPS)
    b.expose(
        switch,
        "value",
        label="Switch point",
        description="The fraction of denoising done by the base model before the refiner takes over.",
        settings=_UNIT,
    )
    b.expose(noise, "width", label="Width", settings=_SIZE)
    b.expose(noise, "height", label="Height", settings=_SIZE)
    b.expose(cfg, "value", label="CFG scale", settings=_CFG)
    b.expose(l2i, "board", label="Output board")
    b.expose(loader, "model", label="Base model")
    b.expose(refiner_loader, "model", label="Refiner model")
    return b.build()


_BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "sdxl_base.json": sdxl_base,
    "sdxl_refiner.json": sdxl_refiner,
    "esrgan_upscale.json": esrgan_upscale,
    "face_restore.json": face_restore,
    "masked_refine.json": masked_refine,
    "sdxl_with_refiner.json": sdxl_with_refiner,
}


def build_all() -> dict[str, dict[str, Any]]:
    """Every bundled workflow by file name, freshly built."""
    return {name: build() for name, build in _BUILDERS.items()}


def dumps(workflow: Mapping[str, Any]) -> str:
    """A workflow's file text: indented JSON in the export's key order, newline-terminated."""
    return json.dumps(workflow, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the bundled stage workflows.")
    parser.add_argument(
        "--write", action="store_true", help=f"write the JSON files into {WORKFLOWS_DIR}"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a file differs from its definition"
    )
    args = parser.parse_args(argv)
    stale = []
    for name, workflow in build_all().items():
        path = WORKFLOWS_DIR / name
        text = dumps(workflow)
        if args.write:
            path.write_text(text, encoding="utf-8")
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    if args.check and stale:
        sys.stderr.write(f"out of date: {', '.join(stale)} (run with --write)\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
