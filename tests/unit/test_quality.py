"""The offline sharpness score: real, deterministic, ordered."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from invokeai_py_client.pipelines.progressive import default_strength_schedule
from invokeai_py_client.pipelines.quality import laplacian_variance, sharpness


def checkerboard(size: int = 64, cell: int = 4) -> Image.Image:
    y, x = np.mgrid[0:size, 0:size]
    board = (((x // cell) + (y // cell)) % 2 * 255).astype(np.uint8)
    return Image.fromarray(board).convert("RGB")


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_blurring_lowers_the_score() -> None:
    sharp = checkerboard()
    blurred = sharp.filter(ImageFilter.GaussianBlur(2))
    assert sharpness(png(sharp)) > sharpness(png(blurred)) > 0
    assert sharpness(sharp) == sharpness(png(sharp))  # PIL image or PNG bytes alike


def test_flat_image_scores_zero_and_scale_sets_the_midpoint() -> None:
    assert sharpness(Image.new("RGB", (16, 16), (90, 90, 90))) == 0.0
    v = laplacian_variance(checkerboard())
    assert sharpness(checkerboard(), scale=v) == pytest.approx(0.5)


def test_tiny_images_are_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        sharpness(Image.new("RGB", (2, 2)))


def test_default_strength_schedule() -> None:
    assert default_strength_schedule(2) == [0.5, 0.3]
    assert default_strength_schedule(5) == [0.5, 0.3, 0.15, 0.075, 0.0375]
    with pytest.raises(ValueError):
        default_strength_schedule(0)
