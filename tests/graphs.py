"""Small graphs for integration tests (enqueue_batch bodies built by hand)."""

from __future__ import annotations

import uuid
from typing import Any

RUN = uuid.uuid4().hex[:8]
"""A suffix for names tests create (boards), unique to this test run."""


def unique(name: str) -> str:
    """`name` made unique to this test run."""
    return f"{name}-{RUN}"


def blank_image_body(width: int = 64, height: int = 64, red: int = 0) -> dict[str, Any]:
    """A graph of one `blank_image` node: no model, ~10 ms of work on the server."""
    return {
        "batch": {
            "graph": {
                "id": f"blank-{width}x{height}-{red}",
                "nodes": {
                    "blank": {
                        "id": "blank",
                        "type": "blank_image",
                        "width": width,
                        "height": height,
                        "color": {"r": red, "g": 0, "b": 0, "a": 255},
                        "use_cache": False,
                        "is_intermediate": True,
                    }
                },
                "edges": [],
            }
        }
    }


def slow_body(width: int = 2400) -> dict[str, Any]:
    """A graph of no model that runs a second or two on a CPU server (a big gaussian blur)."""
    nodes = {
        "blank": {
            "id": "blank", "type": "blank_image", "width": width, "height": 2400,
            "use_cache": False, "is_intermediate": True,
        },
        "blur": {
            "id": "blur", "type": "img_blur", "radius": 50, "blur_type": "gaussian",
            "use_cache": False, "is_intermediate": True,
        },
    }
    edges = [{"source": {"node_id": "blank", "field": "image"}, "destination": {"node_id": "blur", "field": "image"}}]
    return {"batch": {"graph": {"id": f"slow-{width}", "nodes": nodes, "edges": edges}}}


def failing_body() -> dict[str, Any]:
    """A graph that the server accepts but that fails when run (the image does not exist)."""
    return {
        "batch": {
            "graph": {
                "id": "fails",
                "nodes": {
                    "resize": {
                        "id": "resize",
                        "type": "img_resize",
                        "image": {"image_name": "no-such-image-invokeai-py-test.png"},
                        "width": 64,
                        "height": 64,
                        "use_cache": False,
                    }
                },
                "edges": [],
            }
        }
    }


def sdxl_txt2img_body(model: dict[str, Any], *, seed: int = 1, steps: int = 3, size: int = 64) -> dict[str, Any]:
    """A txt2img graph on an SDXL main model (denoise emits progress events)."""

    def edge(src: str, sf: str, dst: str, df: str) -> dict[str, Any]:
        return {"source": {"node_id": src, "field": sf}, "destination": {"node_id": dst, "field": df}}

    nodes: dict[str, dict[str, Any]] = {
        "loader": {"id": "loader", "type": "sdxl_model_loader", "model": model},
        "pos": {"id": "pos", "type": "sdxl_compel_prompt", "prompt": "a cat", "style": "a cat"},
        "neg": {"id": "neg", "type": "sdxl_compel_prompt", "prompt": "", "style": ""},
        "noise": {"id": "noise", "type": "noise", "seed": seed, "width": size, "height": size},
        "denoise": {
            "id": "denoise", "type": "denoise_latents", "steps": steps, "cfg_scale": 5.0,
            "scheduler": "euler", "denoising_start": 0.0, "denoising_end": 1.0,
        },
        "l2i": {"id": "l2i", "type": "l2i", "is_intermediate": False, "use_cache": False},
    }
    for node in nodes.values():
        node.setdefault("use_cache", False)
    edges = [
        edge("loader", "clip", "pos", "clip"),
        edge("loader", "clip2", "pos", "clip2"),
        edge("loader", "clip", "neg", "clip"),
        edge("loader", "clip2", "neg", "clip2"),
        edge("loader", "unet", "denoise", "unet"),
        edge("pos", "conditioning", "denoise", "positive_conditioning"),
        edge("neg", "conditioning", "denoise", "negative_conditioning"),
        edge("noise", "noise", "denoise", "noise"),
        edge("denoise", "latents", "l2i", "latents"),
        edge("loader", "vae", "l2i", "vae"),
    ]
    return {"batch": {"graph": {"id": f"txt2img-{seed}", "nodes": nodes, "edges": edges}}}


def model_identifier(client: Any, name: str) -> dict[str, Any]:
    """The identifier dict of an installed model, looked up by name (sync client)."""
    answer = client.request("GET", "/api/v2/models/", params={"model_name": name})
    for record in answer["models"]:
        if record["name"] == name:
            return {k: record[k] for k in ("key", "hash", "name", "base", "type")}
    raise LookupError(f"model {name!r} is not installed")
