"""No-reference image quality scores that run offline (needs the `quality` extra).

The seed's `assess_quality` returned a random number. These scores are real and
deterministic, and cheap enough to run between refinement passes:

- `sharpness`: the variance of the Laplacian of the grey image (a classic focus
  measure), mapped to [0, 1) with `v / (v + scale)`. 0.5 means a Laplacian variance of
  `scale`. Higher is sharper. It does not judge content: noise is "sharp" too.
"""

from __future__ import annotations

import io
from typing import Any

__all__ = ["DEFAULT_SHARPNESS_SCALE", "laplacian_variance", "sharpness"]

DEFAULT_SHARPNESS_SCALE = 100.0
"""The Laplacian variance that scores 0.5 (8-bit grey levels)."""


def _grey(image: bytes | Any) -> Any:
    try:
        import numpy as np
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("quality scores need numpy and pillow: pip install 'invokeai-py-client[quality]'") from exc
    if isinstance(image, (bytes, bytearray)):
        with Image.open(io.BytesIO(image)) as img:
            return np.asarray(img.convert("L"), dtype=np.float64)
    return np.asarray(image.convert("L"), dtype=np.float64)


def laplacian_variance(image: bytes | Any) -> float:
    """Variance of the 4-neighbour Laplacian of an image (PNG bytes or a PIL image)."""
    grey = _grey(image)
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        raise ValueError(f"image of {grey.shape[1]}x{grey.shape[0]} is too small to score")
    lap = (
        grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4.0 * grey[1:-1, 1:-1]
    )
    return float(lap.var())


def sharpness(image: bytes | Any, scale: float = DEFAULT_SHARPNESS_SCALE) -> float:
    """Sharpness in [0, 1): ``v / (v + scale)`` for the Laplacian variance ``v``."""
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    v = laplacian_variance(image)
    return v / (v + scale)
