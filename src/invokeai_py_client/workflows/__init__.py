"""The stage workflows shipped with the package (real InvokeAI exports, schema 4.0.0).

    >>> from invokeai_py_client.workflows import bundled_workflow_path
    >>> bundled_workflow_path("sdxl_base.json").name
    'sdxl_base.json'
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .face import face_box, face_detected

__all__ = ["BUNDLED_WORKFLOWS", "bundled_workflow_path", "face_box", "face_detected"]

BUNDLED_WORKFLOWS = (
    "sdxl_base.json",
    "sdxl_refiner.json",
    "esrgan_upscale.json",
    "face_restore.json",
    "masked_refine.json",
    "sdxl_with_refiner.json",
)


def bundled_workflow_path(filename: str) -> Path:
    """The path of a bundled workflow file, e.g. ``sdxl_base.json``."""
    if filename not in BUNDLED_WORKFLOWS:
        raise ValueError(f"no bundled workflow {filename!r}; bundled: {', '.join(BUNDLED_WORKFLOWS)}")
    return Path(str(resources.files(__package__).joinpath(filename)))
