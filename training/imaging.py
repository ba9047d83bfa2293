"""Sample grids and 2D scatter pictures as PNG (numpy + Pillow, no torchvision)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from service import imaging


def grid(images: np.ndarray, cols: int, pad: int = 2) -> np.ndarray:
    """float [N,C,H,W] in [-1,1] -> uint8 RGB [H',W',3] with `cols` columns and black gaps:
    the service's pixels and grid (service.imaging), grey repeated into three channels."""
    pixels = imaging.to_uint8(images)
    if pixels.ndim == 3:
        pixels = np.repeat(pixels[..., None], 3, axis=-1)
    return imaging.grid(pixels, pad, cols)


def scatter(points: np.ndarray, extent: float, size: int = 256) -> np.ndarray:
    """2D points as white dots on black, axes spanning [-extent, extent]."""
    canvas = np.zeros((size, size, 3), np.uint8)
    ij = ((points / extent + 1) / 2 * (size - 1)).round().astype(int)
    ok = (ij >= 0).all(1) & (ij < size).all(1)
    canvas[size - 1 - ij[ok, 1], ij[ok, 0]] = 255
    return canvas


def save_png(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
