"""Sample grids and 2D scatter pictures as PNG (numpy + Pillow, no torchvision)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def grid(images: np.ndarray, cols: int, pad: int = 2) -> np.ndarray:
    """float [N,C,H,W] in [-1,1] -> uint8 [H',W',3] with `cols` columns and black gaps."""
    n, c, h, w = images.shape
    rows = -(-n // cols)
    x = ((np.clip(images, -1, 1) + 1) * 127.5).round().astype(np.uint8)
    if c == 1:
        x = np.repeat(x, 3, axis=1)
    canvas = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), np.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        canvas[top : top + h, left : left + w] = x[i].transpose(1, 2, 0)
    return canvas


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
